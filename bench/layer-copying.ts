/**
 * The multi-head attention layer's forward and backward as they ran before its projections
 * fed the attention in place (src/layer/kernel.ts): the same GEMM calls through the copying
 * API (A copied into the GEMM's memory, C out) and `attention()` / `attentionBackward()` on
 * the caller's instance (q, k, v, … copied into its memory, results out). bench/layer.ts
 * times it side by side with the layer; test/layer-zero-copy.test.ts checks the layer
 * against it bit for bit. Separate q/k/v weights W [out][E] and biases (or none).
 */
import type { AttentionInstance } from '../src/instance.js';
import type { AttentionOptions } from '../src/types.js';
import { createGemm, type BackwardResult } from '../src/backward/index.js';

export interface CopyingDims {
  readonly B: number;
  readonly L: number;
  /** Key/value rows (L for self-attention). */
  readonly S: number;
  readonly E: number;
  readonly H: number;
  readonly Hkv: number;
}

type Proj = 'q' | 'k' | 'v' | 'o';
type Attn = AttentionInstance & { attentionBackward(inputs: object, options?: AttentionOptions): BackwardResult };

function transpose(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = a[r * cols + c]!;
  return t;
}

function columnSums(a: Float32Array, rows: number, cols: number): Float32Array {
  const sums = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) sums[c]! += a[r * cols + c]!;
  return Float32Array.from(sums);
}

/**
 * @param attn an instance with the backward (withBackward)
 * @param options the attention options the layer passes (numHeads, kvHeads, mask, …; no returnWeights)
 */
export function copyingLayer(attn: Attn, dims: CopyingDims, W: Record<Proj, Float32Array>, b: Record<Proj, Float32Array> | null, options: AttentionOptions) {
  const { B, L, S, E, H, Hkv } = dims;
  const KV = (E / H) * Hkv;
  const out: Record<Proj, number> = { q: E, k: KV, v: KV, o: E };
  const gemm = createGemm(attn.backend);
  const forwardPacked = { q: gemm.pack(W.q, E, E, true), k: gemm.pack(W.k, E, KV, true), v: gemm.pack(W.v, E, KV, true), o: gemm.pack(W.o, E, E, true) };
  const backwardPacked = { q: gemm.pack(W.q, E, E, false), k: gemm.pack(W.k, KV, E, false), v: gemm.pack(W.v, KV, E, false), o: gemm.pack(W.o, E, E, false) };
  const bias = (p: Proj) => (b ? b[p] : null);

  function forward(x: Float32Array, key = x, value = key, returnWeights = false) {
    const q = gemm.matmul(x, B * L, forwardPacked.q, bias('q'));
    const k = gemm.matmul(key, B * S, forwardPacked.k, bias('k'));
    const v = gemm.matmul(value, B * S, forwardPacked.v, bias('v'));
    const result = attn.attention({ data: q, shape: [B, L, E] }, { data: k, shape: [B, S, KV] }, { data: v, shape: [B, S, KV] }, { ...options, returnWeights });
    const a = result.output.data as Float32Array;
    return { output: gemm.matmul(a, B * L, forwardPacked.o, bias('o')), weights: result.weights?.data as Float32Array | undefined, saved: { x, key, value, q, k, v, a } };
  }

  function backward(s: ReturnType<typeof forward>['saved'], dy: Float32Array, selfAttention: boolean) {
    const [BL, BS] = [B * L, B * S];
    const weightGrad = (dOut: Float32Array, rows: number, width: number, input: Float32Array) => gemm.matmulOnce(transpose(dOut, rows, width), width, input, rows, E);
    const dWo = weightGrad(dy, BL, E, s.a);
    const da = gemm.matmul(dy, BL, backwardPacked.o);
    const g = attn.attentionBackward({ q: { data: s.q, shape: [B, L, E] }, k: { data: s.k, shape: [B, S, KV] }, v: { data: s.v, shape: [B, S, KV] }, dout: { data: da, shape: [B, L, E] }, output: { data: s.a, shape: [B, L, E] } }, options);
    const [dq, dk, dv] = [g.dq.data, g.dk.data, g.dv.data] as Float32Array[];
    const dx = gemm.matmul(dq!, BL, backwardPacked.q);
    const dKey = gemm.matmul(dk!, BS, backwardPacked.k);
    const dValue = gemm.matmul(dv!, BS, backwardPacked.v);
    const dW: Record<Proj, Float32Array> = { q: weightGrad(dq!, BL, E, s.x), k: weightGrad(dk!, BS, KV, s.key), v: weightGrad(dv!, BS, KV, s.value), o: dWo };
    const dB: Record<Proj, Float32Array> = { q: columnSums(dq!, BL, E), k: columnSums(dk!, BS, out.k), v: columnSums(dv!, BS, out.v), o: columnSums(dy, BL, E) };
    if (selfAttention) for (let n = 0; n < dx.length; n++) dx[n]! += dKey[n]! + dValue[n]!;
    return { dx, dKey, dValue, dW, dB };
  }

  return { forward, backward, dispose: () => gemm.dispose() };
}
