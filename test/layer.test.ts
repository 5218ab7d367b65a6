// The multi-head attention layer (issue #14) on every backend: its GEMM against float64,
// the 6 PyTorch conformance vectors, a finite-difference check of every gradient, `step`
// over a prompt against `forward` over it, and the boundary's errors.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type BackendName } from '../src/index.js';
import { createGemm, withBackward, type LayerWeights, type MultiHeadAttention } from '../src/backward/index.js';
import type { RotaryRotationOptions } from '../src/positions/types.js';
import { formatResult, parseMhaVector, runMhaVector } from '../src/conformance/index.js';
import { mulberry32, randomFloat32 } from './reference.js';
import { rotate64 } from './rotary-reference.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);
const VECTORS = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'conformance', 'multi-head-attention');
const U = 2 ** -24;

const layerOn = async (backend: BackendName) => withBackward(await createAttention({ backend }));

/** Σ_k product(k) in float64 and Σ_k |product(k)|: an entry's exact value and its error scale. */
function sumOf(K: number, product: (k: number) => number): { sum: number; magnitude: number } {
  let sum = 0;
  let magnitude = 0;
  for (let k = 0; k < K; k++) {
    const p = product(k);
    sum += p;
    magnitude += Math.abs(p);
  }
  return { sum, magnitude };
}

describe.each(BACKENDS)('layer GEMM on %s', (backend) => {
  // Each entry sums K products in order (f32, fused or not, on WASM; f64 on JS): the
  // classic bound |fl(Σ) − Σ| ≤ γ_K·Σ|a·b|, γ_K = K·u/(1 − K·u), u = 2⁻²⁴, plus one
  // rounding of the bias add (u·|C|). M = 1 and 3 are the GEMV path (the 1x8 tile).
  const shapes: [number, number, number][] = [[1, 13, 7], [3, 8, 16], [5, 17, 33], [37, 70, 129], [1, 64, 256]];
  it.each(shapes)('M %i N %i K %i, packed and once, with bias', (M, N, K) => {
    const random = mulberry32(M * 1000 + N * 10 + K);
    const a = randomFloat32(M * K, random);
    const w = randomFloat32(N * K, random); // [N][K]: C = A·Wᵀ
    const bias = randomFloat32(N, random);
    const gemm = createGemm(backend);
    const c = gemm.matmul(a, M, gemm.pack(w, K, N, true), bias);
    const wt = new Float32Array(K * N);
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) wt[k * N + n] = w[n * K + k]!;
    const once = gemm.matmulOnce(a, M, wt, K, N);
    const gamma = (K * U) / (1 - K * U);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        const { sum, magnitude } = sumOf(K, (k) => a[m * K + k]! * w[n * K + k]!);
        expect(Math.abs(once[m * N + n]! - sum)).toBeLessThanOrEqual(gamma * magnitude + U * Math.abs(sum));
        expect(Math.abs(c[m * N + n]! - (sum + bias[n]!))).toBeLessThanOrEqual(gamma * magnitude + 2 * U * (Math.abs(sum) + Math.abs(bias[n]!)));
      }
    }
    gemm.dispose();
  });
});

describe.each(BACKENDS)('layer GEMM with A transposed (weight gradients) on %s', (backend) => {
  // matmulTransA(a, K, M, b, N) = aᵀ·b with a [K][M]: on WASM gemmPanelsTransA, which copies
  // each row block of A out of aᵀ (rows past the last block read in place); at K 20000 a panel
  // is 625 KiB, more than a block's 512 KiB, so each of N 17's 3 panels is a block of its own. Same bits as matmulOnce on the transposed copy, and the
  // float64 bound of the test above.
  const shapes: [number, number, number][] = [[1, 13, 7], [4, 8, 16], [5, 17, 33], [38, 70, 129], [6, 17, 20000]];
  it.each(shapes)('M %i N %i K %i', (M, N, K) => {
    const random = mulberry32(M * 7 + N * 3 + K);
    const at = randomFloat32(K * M, random); // Aᵀ [K][M]
    const b = randomFloat32(K * N, random);
    const gemm = createGemm(backend);
    const c = gemm.matmulTransA(at, K, M, b, N);
    const a = new Float32Array(M * K);
    for (let k = 0; k < K; k++) for (let m = 0; m < M; m++) a[m * K + k] = at[k * M + m]!;
    const once = gemm.matmulOnce(a, M, b, K, N);
    const gamma = (K * U) / (1 - K * U);
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        expect(Object.is(c[m * N + n], once[m * N + n]), `C[${m}][${n}]: ${c[m * N + n]} vs matmulOnce ${once[m * N + n]}`).toBe(true);
        const { sum, magnitude } = sumOf(K, (k) => at[k * M + m]! * b[k * N + n]!);
        expect(Math.abs(c[m * N + n]! - sum)).toBeLessThanOrEqual(gamma * magnitude + U * Math.abs(sum));
      }
    }
    // A or B of the wrong length: the same RangeError on every engine (a short B read past its
    // end gave NaN entries, a long one was cut, before the check)
    expect(() => gemm.matmulTransA(at.subarray(1), K, M, b, N)).toThrow(/expected A of/);
    expect(() => gemm.matmulTransA(at, K, M, b.subarray(1), N)).toThrow(/expected B of/);
    expect(() => gemm.matmulOnce(a, M, b.subarray(1), K, N)).toThrow(/expected B of/);
    expect(() => gemm.matmulOnce(a.subarray(1), M, b, K, N)).toThrow(/expected A of/);
    expect(() => gemm.matmul(a.subarray(1), M, gemm.pack(b, K, N, false))).toThrow(/expected A of/);
    expect(() => gemm.matmulTransA(at, K, M, new Float32Array(K * N + 1), N)).toThrow(RangeError);
    gemm.dispose();
  });
});

describe.each(BACKENDS)('createMultiHeadAttention on %s', (backend) => {
  it.each(readdirSync(VECTORS).filter((f) => f.endsWith('.json')).sort())('conformance %s', async (file) => {
    const attn = await layerOn(backend);
    const vector = parseMhaVector(JSON.parse(readFileSync(join(VECTORS, file), 'utf8')), file);
    const result = runMhaVector(vector, (options) => attn.createMultiHeadAttention(options));
    expect(result.ok, formatResult(result, backend)).toBe(true);
    expect(result.outputs.length).toBeGreaterThanOrEqual(5); // out, weights, d_query, d_in_proj_weight, d_out_proj_weight at least
  });

  // Directional central differences of L = Σ out·r along a random u per input/parameter,
  // on the f32 layer itself: with ε = 1e-2, the truncation error is ε²/6·|L'''| (about 1e-5
  // here) and the rounding error about 2⁻²⁴·Σ|out·r|/ε ≈ 1e-4; the tolerance 2e-3·(1 + |dL·u|)
  // leaves a margin of ~10 over both, and a wrong gradient (a transposed or missing term)
  // is off by O(|dL·u|).
  it.each([
    ['self, causal, packed weights with bias', { cross: false, causal: true, separate: false }],
    ['cross, GQA, separate weights', { cross: true, causal: false, separate: true }],
    ['self, causal, window 2, ALiBi', { cross: false, causal: true, separate: false, window: 2, alibi: true }],
    ['self, causal, RoPE (rotate-half)', { cross: false, causal: true, separate: false, rotary: { base: 100 } }],
    ['cross (L ≠ S), GQA, RoPE (interleaved, partial dim)', { cross: true, causal: false, separate: true, rotary: { base: 10, interleaved: true, dim: 2 } }],
  ] as { cross: boolean; causal: boolean; separate: boolean; window?: number; alibi?: boolean; rotary?: RotaryRotationOptions }[] extends infer T ? T extends unknown[] ? [string, T[number]][] : never : never)('finite differences: %s', async (_, c) => {
    const attn = await layerOn(backend);
    const [B, L, S, E, H, Hkv] = [2, 4, 5, 8, 4, c.separate ? 2 : 4];
    const KV = (E / H) * Hkv;
    const random = mulberry32(11);
    const weights: Record<string, Float32Array> = c.separate
      ? { qProj: randomFloat32(E * E, random, 0.5), kProj: randomFloat32(KV * E, random, 0.5), vProj: randomFloat32(KV * E, random, 0.5), qBias: randomFloat32(E, random), kBias: randomFloat32(KV, random), vBias: randomFloat32(KV, random), outProj: randomFloat32(E * E, random, 0.5), outProjBias: randomFloat32(E, random) }
      : { inProj: randomFloat32(3 * E * E, random, 0.5), inProjBias: randomFloat32(3 * E, random), outProj: randomFloat32(E * E, random, 0.5), outProjBias: randomFloat32(E, random) };
    const inputs: Record<string, Float32Array> = { x: randomFloat32(B * L * E, random), ...(c.cross ? { key: randomFloat32(B * S * E, random), value: randomFloat32(B * S * E, random) } : {}) };
    const r = randomFloat32(B * L * E, random);
    const layer = attn.createMultiHeadAttention({ embedDim: E, numHeads: H, kvHeads: Hkv, causal: c.causal, ...(c.window ? { window: c.window } : {}), ...(c.alibi ? { alibi: true } : {}), ...(c.rotary ? { rotary: c.rotary } : {}), weights: weights as unknown as LayerWeights });
    const run = (ins: Record<string, Float32Array>, train: boolean) =>
      layer.forward({ data: ins.x!, shape: [B, L, E] }, { ...(c.cross ? { key: { data: ins.key!, shape: [B, S, E] }, value: { data: ins.value!, shape: [B, S, E] } } : {}), train }).output.data;
    const loss = (ins: Record<string, Float32Array>) => run(ins, false).reduce((sum, o, n) => sum + o * r[n]!, 0);
    run(inputs, true);
    const grads = layer.backward({ data: r, shape: [B, L, E] });
    const analytic: Record<string, Float32Array> = { x: grads.dx.data, ...(c.cross ? { key: grads.dKey!.data, value: grads.dValue!.data } : {}), ...(grads.weights as unknown as Record<string, Float32Array>) };
    expect(Object.keys(analytic).sort()).toEqual([...Object.keys(inputs), ...Object.keys(weights)].sort());
    const eps = 1e-2;
    for (const [name, g] of Object.entries(analytic)) {
      const isWeight = name in weights;
      const base = isWeight ? weights[name]! : inputs[name]!;
      const u = randomFloat32(base.length, random);
      const moved = (sign: number) => {
        const data = base.map((value, n) => value + sign * eps * u[n]!);
        if (isWeight) {
          layer.setWeights({ ...weights, [name]: data } as unknown as LayerWeights);
          return loss(inputs);
        }
        return loss({ ...inputs, [name]: data });
      };
      const numeric = (moved(1) - moved(-1)) / (2 * eps);
      if (isWeight) layer.setWeights(weights as unknown as LayerWeights);
      const exact = g.reduce((sum, value, n) => sum + value * u[n]!, 0);
      expect(Math.abs(numeric - exact), `${name}: numeric ${numeric}, analytic ${exact}`).toBeLessThanOrEqual(2e-3 * (1 + Math.abs(exact)));
    }
    layer.dispose();
  });

  // Token by token through a KV cache against one causal forward over the prompt: the same
  // projections and keys, summed in another order by the decode kernel: 1e-5·max(1, max|out|)
  // is ~100 ulps of the output's scale.
  it.each([['', {}], [', window 3 and ALiBi', { window: 3, alibi: true }], [', RoPE', { rotary: { base: 100 } }]] as const)('step over a prompt (GQA, one chunk of 3 then single tokens%s) equals a causal forward over it', async (_, positional) => {
    const attn = await layerOn(backend);
    const [B, L, E, H, Hkv] = [2, 7, 16, 4, 2];
    const KV = (E / H) * Hkv;
    const random = mulberry32(5);
    const weights = { qProj: randomFloat32(E * E, random, 0.5), kProj: randomFloat32(KV * E, random, 0.5), vProj: randomFloat32(KV * E, random, 0.5), qBias: randomFloat32(E, random), kBias: randomFloat32(KV, random), vBias: randomFloat32(KV, random), outProj: randomFloat32(E * E, random, 0.5), outProjBias: randomFloat32(E, random) };
    const layer: MultiHeadAttention = attn.createMultiHeadAttention({ embedDim: E, numHeads: H, kvHeads: Hkv, causal: true, ...positional, weights });
    const x = randomFloat32(B * L * E, random);
    const full = layer.forward({ data: x, shape: [B, L, E] }).output.data;
    const cache = layer.createCache(B, L);
    const rows = (from: number, to: number) => {
      const part = new Float32Array(B * (to - from) * E);
      for (let b = 0; b < B; b++) part.set(x.subarray((b * L + from) * E, (b * L + to) * E), b * (to - from) * E);
      return part;
    };
    const stepped = new Float32Array(B * L * E);
    const chunks: [number, number][] = [[0, 3], ...Array.from({ length: L - 3 }, (_, i): [number, number] => [3 + i, 4 + i])];
    for (const [from, to] of chunks) {
      const y = layer.step({ data: rows(from, to), shape: [B, to - from, E] }, cache).data;
      for (let b = 0; b < B; b++) stepped.set(y.subarray(b * (to - from) * E, (b + 1) * (to - from) * E), (b * L + from) * E);
    }
    expect(cache.length).toBe(L);
    const scale = Math.max(1, ...Array.from(full, Math.abs));
    for (let n = 0; n < full.length; n++) expect(Math.abs(stepped[n]! - full[n]!)).toBeLessThanOrEqual(1e-5 * scale);
    cache.dispose();
    layer.dispose();
  });

  // The positional options reach attention(): a causal window of 2 equals the same layer
  // with the band as an explicit boolean mask (both sum the same allowed keys: 1e-6).
  it('window passes through: equals the band as a mask', async () => {
    const attn = await layerOn(backend);
    const [B, L, E] = [1, 6, 8];
    const random = mulberry32(9);
    const weights = { inProj: randomFloat32(3 * E * E, random), inProjBias: randomFloat32(3 * E, random), outProj: randomFloat32(E * E, random), outProjBias: randomFloat32(E, random) };
    const x = { data: randomFloat32(B * L * E, random), shape: [B, L, E] };
    const windowed = attn.createMultiHeadAttention({ embedDim: E, numHeads: 2, causal: true, window: 2, weights }).forward(x).output.data;
    const band = Uint8Array.from({ length: L * L }, (_, n) => (Math.floor(n / L) - (n % L) >= 0 && Math.floor(n / L) - (n % L) <= 2 ? 1 : 0));
    const masked = attn.createMultiHeadAttention({ embedDim: E, numHeads: 2, weights }).forward(x, { mask: { data: band, shape: [L, L] } }).output.data;
    const plain = attn.createMultiHeadAttention({ embedDim: E, numHeads: 2, causal: true, weights }).forward(x).output.data;
    for (let n = 0; n < masked.length; n++) expect(Math.abs(windowed[n]! - masked[n]!)).toBeLessThanOrEqual(1e-6);
    expect(plain.some((value, n) => Math.abs(value - masked[n]!) > 1e-3)).toBe(true);
  });

  // RoPE reaches the attention: the layer against float64 math (projections, rotate64 of
  // test/rotary-reference.ts at positions i and j, causal softmax, output projection). Each
  // output sums E·(3 + L) f32 products of magnitude ≤ ~1: 1e-5·max(1, |out|) is ~100 ulps.
  it('rotary: forward equals float64 projections, rotation and attention', async () => {
    const attn = await layerOn(backend);
    const [B, L, E, H] = [2, 5, 8, 2];
    const D = E / H;
    const random = mulberry32(21);
    const w = { inProj: randomFloat32(3 * E * E, random, 0.5), inProjBias: randomFloat32(3 * E, random), outProj: randomFloat32(E * E, random, 0.5), outProjBias: randomFloat32(E, random) };
    const x = randomFloat32(B * L * E, random);
    const rotary = { base: 10, interleaved: true };
    const layer = attn.createMultiHeadAttention({ embedDim: E, numHeads: H, causal: true, rotary, weights: w });
    const out = layer.forward({ data: x, shape: [B, L, E] }).output.data;
    // A cache not made by the layer would take the keys unrotated.
    expect(() => layer.step({ data: x.subarray(0, E), shape: [1, 1, E] }, attn.createKVCache({ batch: 1, kvHeads: H, headDim: D, maxSeqLen: 4 }))).toThrow(/step: cache: expected the layer's createCache/);
    const proj = (input: ArrayLike<number>, weight: Float32Array, bias: Float32Array, row0: number) =>
      Float64Array.from({ length: B * L * E }, (_, n) => {
        const [r, o] = [Math.floor(n / E), n % E];
        let sum = bias[row0 + o]!;
        for (let i = 0; i < E; i++) sum += input[r * E + i]! * weight[(row0 + o) * E + i]!;
        return sum;
      });
    const strides = { batch: L * E, head: D, seq: E };
    const q = rotate64(proj(x, w.inProj, w.inProjBias, 0), strides, B, H, L, D, rotary, (_, s) => s);
    const k = rotate64(proj(x, w.inProj, w.inProjBias, E), strides, B, H, L, D, rotary, (_, s) => s);
    const v = proj(x, w.inProj, w.inProjBias, 2 * E);
    const a = new Float64Array(B * L * E);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < L; i++) {
      const at = (r: number) => (b * L + r) * E + h * D;
      const scores = Array.from({ length: i + 1 }, (_, j) => { let dot = 0; for (let d = 0; d < D; d++) dot += q[at(i) + d]! * k[at(j) + d]!; return dot / Math.sqrt(D); });
      const top = Math.max(...scores);
      const p = scores.map((s) => Math.exp(s - top));
      const total = p.reduce((sum, value) => sum + value, 0);
      for (let j = 0; j <= i; j++) for (let d = 0; d < D; d++) a[at(i) + d]! += (p[j]! / total) * v[at(j) + d]!;
    }
    const expected = proj(a, w.outProj, w.outProjBias, 0);
    const scale = Math.max(1, ...Array.from(expected, Math.abs));
    for (let n = 0; n < out.length; n++) expect(Math.abs(out[n]! - expected[n]!), `index ${n}: expected ${expected[n]}, got ${out[n]}`).toBeLessThanOrEqual(1e-5 * scale);
  });

  it('keeps activations only with train, and checks its boundary', async () => {
    const attn = await layerOn(backend);
    const E = 8;
    const weights = { inProj: new Float32Array(3 * E * E), inProjBias: new Float32Array(3 * E), outProj: new Float32Array(E * E), outProjBias: new Float32Array(E) };
    const layer = attn.createMultiHeadAttention({ embedDim: E, numHeads: 2, weights });
    const x = { data: new Float32Array(2 * E), shape: [1, 2, E] };
    layer.forward(x);
    expect(() => layer.backward(x)).toThrow(/forward\(x, \{ train: true \}\) first/);
    layer.forward(x, { train: true });
    expect(() => layer.backward(x)).not.toThrow();
    layer.forward(x);
    expect(() => layer.backward(x)).toThrow(Error);
    expect(() => layer.forward({ data: new Float32Array(6), shape: [1, 2, 3] })).toThrow(RangeError);
    layer.dispose();
    expect(() => layer.forward(x)).toThrow(/disposed/);
    expect(() => attn.createMultiHeadAttention({ embedDim: 8, numHeads: 3, weights })).toThrow(/numHeads: expected a divisor of embedDim 8, got 3/);
    expect(() => attn.createMultiHeadAttention({ embedDim: 8, numHeads: 2, weights: { ...weights, inProj: new Float32Array(5) } })).toThrow(RangeError);
    expect(() => attn.createMultiHeadAttention({ embedDim: 8, numHeads: 4, kvHeads: 2, weights })).toThrow(/separate qProj/);
    expect(() => attn.createMultiHeadAttention({ embedDim: 8, numHeads: 2, bias: false, weights: { outProj: weights.outProj } })).toThrow(TypeError);
  });
});
