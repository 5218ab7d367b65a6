// Scratch harness for the assembly/ kernels: loads a build/*.wasm directly, lays a plan out
// in its linear memory through the ABI of src/backends/wasm/abi.ts, and provides a naive
// float64 reference of the src/plan.ts semantics.
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { PARAM, PARAM_BYTES } from '../../src/backends/wasm/abi';
import { nodeFlags } from '../../scripts/node-flags.mjs';

// Node 20 needs a flag for relaxed SIMD (read when a module is compiled); Node 22+ has no
// such flag and prints an error for it (scripts/node-flags.mjs says which).
for (const flag of nodeFlags()) v8.setFlagsFromString(flag);

export interface Kernel {
  memory: WebAssembly.Memory;
  heapBase(): number;
  scratchBytes(params: number): number;
  attention(params: number): number;
  vexp(ptr: number, count: number): void;
  vexp2(ptr: number, count: number): void;
}

export const BUILDS = ['simd', 'relaxed'] as const;

export function loadKernel(build: string): Kernel {
  const bytes = readFileSync(new URL(`../../build/attention-testing-${build}.wasm`, import.meta.url));
  const module = new WebAssembly.Module(bytes);
  return new WebAssembly.Instance(module, {}).exports as unknown as Kernel;
}

export interface Strides { batch: number; head: number; seq: number }

export interface Case {
  batch: number; qHeads: number; kvHeads: number; seqLenQ: number; seqLenK: number;
  headDim: number; valueDim: number;
  q: Float32Array; qStrides: Strides;
  k: Float32Array; kStrides: Strides;
  v: Float32Array; vStrides: Strides;
  outStrides: Strides; outLength: number;
  scale: number; softcap: number; causal: boolean; positionOffsets: Int32Array;
  /** WINDOW_LEFT/WINDOW_RIGHT as the kernel reads them: -1 = unbounded (causal makes right min(right, 0)). */
  window: [number, number];
  keyLengths: Int32Array | null;
  bias: Float32Array | null; biasStrides: { batch: number; head: number; query: number };
  weights: boolean; weightsStage: number;
}

export interface Result { code: number; out: Float32Array; weights: Float32Array | null }

/** Lays the case out in the kernel's memory and runs it. */
export function runKernel(kernel: Kernel, c: Case, scratchExtra = 0): Result {
  let at = kernel.heapBase();
  const take = (bytes: number): number => {
    const ptr = at;
    at += Math.ceil(bytes / 16) * 16 + 16;
    return ptr;
  };
  const params = take(PARAM_BYTES);
  const qPtr = take(c.q.byteLength), kPtr = take(c.k.byteLength), vPtr = take(c.v.byteLength);
  const outPtr = take(c.outLength * 4);
  const offPtr = take(c.batch * 4);
  const klPtr = c.keyLengths ? take(c.batch * 4) : 0;
  const biasPtr = c.bias ? take(c.bias.byteLength) : 0;
  const weightsLength = c.weights ? c.batch * c.qHeads * c.seqLenQ * c.seqLenK : 0;
  const weightsPtr = c.weights ? take(weightsLength * 4) : 0;
  const scratchPtr = take(0);
  const grow = (end: number): void => {
    const need = end - kernel.memory.buffer.byteLength;
    if (need > 0) kernel.memory.grow(Math.ceil(need / 65536));
  };
  grow(at + 1024);
  const i32 = (): Int32Array => new Int32Array(kernel.memory.buffer);
  const f32 = (): Float32Array => new Float32Array(kernel.memory.buffer);
  const p = params / 4;
  const set = (field: number, value: number): void => { i32()[p + field] = value; };
  const setF = (field: number, value: number): void => { f32()[p + field] = value; };
  i32().fill(0, p, p + PARAM_BYTES / 4);
  set(PARAM.BATCH, c.batch); set(PARAM.Q_HEADS, c.qHeads); set(PARAM.KV_HEADS, c.kvHeads);
  set(PARAM.SEQ_LEN_Q, c.seqLenQ); set(PARAM.SEQ_LEN_K, c.seqLenK);
  set(PARAM.HEAD_DIM, c.headDim); set(PARAM.VALUE_DIM, c.valueDim);
  const tensor = (ptrF: number, bF: number, hF: number, sF: number, ptr: number, s: Strides): void => {
    set(ptrF, ptr); set(bF, s.batch); set(hF, s.head); set(sF, s.seq);
  };
  tensor(PARAM.Q_PTR, PARAM.Q_BATCH_STRIDE, PARAM.Q_HEAD_STRIDE, PARAM.Q_SEQ_STRIDE, qPtr, c.qStrides);
  tensor(PARAM.K_PTR, PARAM.K_BATCH_STRIDE, PARAM.K_HEAD_STRIDE, PARAM.K_SEQ_STRIDE, kPtr, c.kStrides);
  tensor(PARAM.V_PTR, PARAM.V_BATCH_STRIDE, PARAM.V_HEAD_STRIDE, PARAM.V_SEQ_STRIDE, vPtr, c.vStrides);
  tensor(PARAM.OUT_PTR, PARAM.OUT_BATCH_STRIDE, PARAM.OUT_HEAD_STRIDE, PARAM.OUT_SEQ_STRIDE, outPtr, c.outStrides);
  setF(PARAM.SCALE, c.scale); setF(PARAM.SOFTCAP, c.softcap);
  // Causal is the window's right bound 0 (src/key-range.ts); -1 = unbounded.
  const right = c.causal ? (c.window[1] < 0 ? 0 : Math.min(c.window[1], 0)) : c.window[1];
  set(PARAM.WINDOW_LEFT, c.window[0]); set(PARAM.WINDOW_RIGHT, right); set(PARAM.POSITION_OFFSETS_PTR, offPtr);
  set(PARAM.KEY_LENGTHS_PTR, klPtr);
  set(PARAM.BIAS_PTR, biasPtr);
  set(PARAM.BIAS_BATCH_STRIDE, c.biasStrides.batch);
  set(PARAM.BIAS_HEAD_STRIDE, c.biasStrides.head);
  set(PARAM.BIAS_QUERY_STRIDE, c.biasStrides.query);
  set(PARAM.WEIGHTS_PTR, weightsPtr); set(PARAM.WEIGHTS_STAGE, c.weightsStage);
  set(PARAM.SCRATCH_PTR, scratchPtr);
  const scratch = kernel.scratchBytes(params);
  set(PARAM.SCRATCH_BYTES, scratch + scratchExtra);
  grow(scratchPtr + scratch + scratchExtra + 64);
  f32().set(c.q, qPtr / 4); f32().set(c.k, kPtr / 4); f32().set(c.v, vPtr / 4);
  f32().fill(NaN, outPtr / 4, outPtr / 4 + c.outLength); // every output must be written
  i32().set(c.positionOffsets, offPtr / 4);
  if (c.keyLengths) i32().set(c.keyLengths, klPtr / 4);
  if (c.bias) f32().set(c.bias, biasPtr / 4);
  if (weightsPtr) f32().fill(12345, weightsPtr / 4, weightsPtr / 4 + weightsLength);
  // Garbage in the scratch: the kernel must not depend on its contents.
  f32().fill(NaN, scratchPtr / 4, (scratchPtr + scratch) / 4);
  const code = kernel.attention(params);
  const out = f32().slice(outPtr / 4, outPtr / 4 + c.outLength);
  const weights = weightsPtr ? f32().slice(weightsPtr / 4, weightsPtr / 4 + weightsLength) : null;
  return { code, out, weights };
}

export interface Reference { out: Float64Array; stages: Float64Array[] /* logits, capped, biased, probs */ }

/** Naive float64 implementation of src/plan.ts. Output at out-stride positions. */
export function reference(c: Case): Reference {
  const { batch, qHeads, kvHeads, seqLenQ: lq, seqLenK: lk, headDim, valueDim } = c;
  const out = new Float64Array(c.outLength).fill(NaN);
  const n = batch * qHeads * lq * lk;
  const stages = [0, 1, 2, 3].map(() => new Float64Array(n));
  const group = qHeads / kvHeads;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < qHeads; h++) {
      const kh = Math.floor(h / group);
      for (let i = 0; i < lq; i++) {
        const row = ((b * qHeads + h) * lq + i) * lk;
        const biased = new Float64Array(lk);
        for (let j = 0; j < lk; j++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) {
            dot += c.q[b * c.qStrides.batch + h * c.qStrides.head + i * c.qStrides.seq + d]!
              * c.k[b * c.kStrides.batch + kh * c.kStrides.head + j * c.kStrides.seq + d]!;
          }
          const logit = Math.fround(c.scale) * dot;
          const capped = c.softcap > 0 ? c.softcap * Math.tanh(logit / c.softcap) : logit;
          const bias = c.bias ? c.bias[b * c.biasStrides.batch + h * c.biasStrides.head + i * c.biasStrides.query + j]! : 0;
          const position = i + c.positionOffsets[b]!; // exact in float64, any i32 offset
          const allowed = (!c.causal || j <= position)
            && (c.window[0] < 0 || j >= position - c.window[0]) && (c.window[1] < 0 || j <= position + c.window[1])
            && (!c.keyLengths || j < c.keyLengths[b]!) && bias !== -Infinity;
          const x = allowed ? capped + bias : -Infinity;
          biased[j] = x;
          stages[0]![row + j] = logit;
          stages[1]![row + j] = capped;
          stages[2]![row + j] = x;
        }
        let m = -Infinity;
        for (const x of biased) m = Math.max(m, x);
        let l = 0;
        const e = new Float64Array(lk);
        if (m !== -Infinity) for (let j = 0; j < lk; j++) { e[j] = Math.exp(biased[j]! - m); l += e[j]!; }
        const o = b * c.outStrides.batch + h * c.outStrides.head + i * c.outStrides.seq;
        for (let x = 0; x < valueDim; x++) out[o + x] = 0;
        for (let j = 0; j < lk; j++) {
          const p = l === 0 ? 0 : e[j]! / l;
          stages[3]![row + j] = p;
          if (p === 0) continue;
          for (let x = 0; x < valueDim; x++) {
            out[o + x]! += p * c.v[b * c.vStrides.batch + kh * c.vStrides.head + j * c.vStrides.seq + x]!;
          }
        }
      }
    }
  }
  return { out, stages };
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Shape {
  batch?: number; qHeads?: number; kvHeads?: number; seqLenQ: number; seqLenK: number;
  headDim: number; valueDim?: number;
  layout?: 'bhsd' | 'bshd'; seqPad?: number;
  scale?: number; softcap?: number; causal?: boolean; positionOffsets?: number[];
  /** [left, right], -1 = unbounded; default [-1, -1]. */
  window?: [number, number];
  keyLengths?: number[] | null; bias?: 'none' | 'full' | 'broadcast'; biasMaskRate?: number;
  weights?: boolean; weightsStage?: number; seed?: number;
}

/** Builds a case with random data; positions masked by key length hold NaN in K and V. */
export function makeCase(s: Shape): Case {
  const r = rng(s.seed ?? 1);
  const batch = s.batch ?? 1, qHeads = s.qHeads ?? 1, kvHeads = s.kvHeads ?? qHeads;
  const lq = s.seqLenQ, lk = s.seqLenK, headDim = s.headDim, valueDim = s.valueDim ?? s.headDim;
  const pad = s.seqPad ?? 0;
  const strides = (heads: number, len: number, dim: number): Strides =>
    s.layout === 'bshd'
      ? { batch: len * (heads * dim + pad), head: dim, seq: heads * dim + pad }
      : { batch: heads * len * (dim + pad), head: len * (dim + pad), seq: dim + pad };
  const qStrides = strides(qHeads, lq, headDim);
  const kStrides = strides(kvHeads, lk, headDim);
  const vStrides = strides(kvHeads, lk, valueDim);
  const outStrides = strides(qHeads, lq, valueDim);
  const fill = (len: number): Float32Array => Float32Array.from({ length: len }, () => r() * 2 - 1);
  const q = fill(batch * qStrides.batch);
  const k = fill(batch * kStrides.batch);
  const v = fill(batch * vStrides.batch);
  const keyLengths = s.keyLengths ? Int32Array.from(s.keyLengths) : null;
  if (keyLengths) {
    for (let b = 0; b < batch; b++) for (let h = 0; h < kvHeads; h++) for (let j = keyLengths[b]!; j < lk; j++) {
      k.fill(NaN, b * kStrides.batch + h * kStrides.head + j * kStrides.seq, b * kStrides.batch + h * kStrides.head + j * kStrides.seq + headDim);
      v.fill(NaN, b * vStrides.batch + h * vStrides.head + j * vStrides.seq, b * vStrides.batch + h * vStrides.head + j * vStrides.seq + valueDim);
    }
  }
  let bias: Float32Array | null = null;
  let biasStrides = { batch: 0, head: 0, query: 0 };
  if (s.bias && s.bias !== 'none') {
    const rate = s.biasMaskRate ?? 0.2;
    if (s.bias === 'full') biasStrides = { batch: qHeads * lq * (lk + pad), head: lq * (lk + pad), query: lk + pad };
    else biasStrides = { batch: 0, head: 0, query: lk + pad }; // broadcast over batch and heads
    const rows = s.bias === 'full' ? batch * qHeads * lq : lq;
    bias = Float32Array.from({ length: rows * (lk + pad) }, () => (r() < rate ? -Infinity : r() * 4 - 2));
    // one fully masked row per matrix
    if (lq > 1) bias.fill(-Infinity, 0, lk);
  }
  return {
    batch, qHeads, kvHeads, seqLenQ: lq, seqLenK: lk, headDim, valueDim,
    q, qStrides, k, kStrides, v, vStrides, outStrides, outLength: batch * outStrides.batch,
    scale: s.scale ?? 1 / Math.sqrt(Math.max(headDim, 1)), softcap: s.softcap ?? 0,
    causal: s.causal ?? false,
    positionOffsets: Int32Array.from(s.positionOffsets ?? Array(batch).fill(0)),
    window: s.window ?? [-1, -1],
    keyLengths, bias, biasStrides,
    weights: s.weights ?? false, weightsStage: s.weightsStage ?? 3,
  };
}

/** Max abs error over the positions the output view covers; throws a self-explaining error. */
export function compare(
  name: string, got: ArrayLike<number>, want: ArrayLike<number>, atol: number, rtol: number,
  positions?: number[],
): number {
  let worst = 0;
  const idx = positions ?? Array.from({ length: want.length }, (_, i) => i);
  for (const i of idx) {
    const w = want[i]!, g = got[i]!;
    if (Number.isNaN(w) || !Number.isFinite(w)) {
      if (!Object.is(w, g) && !(Number.isNaN(w) && Number.isNaN(g))) {
        throw new Error(`${name}: index ${i}: expected ${w}, got ${g}`);
      }
      continue;
    }
    const err = Math.abs(g - w);
    if (!(err <= atol + rtol * Math.abs(w))) {
      throw new Error(`${name}: index ${i}: expected ${w}, got ${g} (|err| ${err} > atol ${atol} + rtol ${rtol}·|expected|)`);
    }
    worst = Math.max(worst, err);
  }
  return worst;
}

/** Indices of out elements that the output view covers. */
export function outPositions(c: Case): number[] {
  const idx: number[] = [];
  for (let b = 0; b < c.batch; b++) for (let h = 0; h < c.qHeads; h++) for (let i = 0; i < c.seqLenQ; i++) {
    for (let x = 0; x < c.valueDim; x++) idx.push(b * c.outStrides.batch + h * c.outStrides.head + i * c.outStrides.seq + x);
  }
  return idx;
}
