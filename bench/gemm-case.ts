/**
 * The plain-GEMM reference rate of a kernel build (issue #3, fusion overhead): the two
 * GEMMs an unfused attention would run per (batch, head), S = Q·Kᵀ (Lq × Lk × D) and
 * O = S·V (Lq × D × Lk), through the build's `gemm` export (assembly/gemm/f32-gemm-3x12.ts,
 * the library's GEMM: 3x12 tiles in the relaxed build, the attention kernels' 4x8 in the simd
 * build, so the relaxed ratio sets attention against a faster tile than its own). GFLOP/s = 4·B·H·Lq·Lk·D / time, the same
 * nominal count `flopsOf` gives the attention call, so the two rates compare directly.
 *
 * Timing is bench/measure.ts's `timeCalls` (warm-up, then `runs` runs of ≥ `minMs`,
 * median and spread), as for attention; best-of-fresh-processes is the caller's job
 * (V8 sometimes keeps a process's hot wasm in its baseline tier, ≈2× slower).
 *
 * What is timed: the `gemm` calls only. B operands (Kᵀ, V) are packed into 8-column
 * panels once, before timing (packB, src/layer/pack.ts), as a GEMM library packs weights; the attention call
 * reads K and V in place but packs its 8-query Q panels inside the timed call.
 */
import { testingRelaxedBase64, testingSimdBase64 } from '../src/gen/testing-kernels.js';
import { packB } from '../src/layer/pack.js';
import { timeCalls, type Timing, type TimingOptions } from './measure.js';
import { flopsOf, makeInputs, shapeLabel, type Shape } from './shapes.js';

export type GemmBuild = 'simd' | 'relaxed';

/** The exports of a kernel build this file uses. */
export interface GemmExports {
  readonly memory: WebAssembly.Memory;
  heapBase(): number;
  gemm(aPtr: number, bPtr: number, cPtr: number, M: number, N: number, K: number): void;
}

export interface GemmRate extends Timing {
  readonly build: GemmBuild;
  /** e.g. `H8 N1024 D64`: the attention shape whose two GEMMs were timed. */
  readonly shape: string;
  /** 4·B·H·Lq·Lk·D: Q·Kᵀ and S·V, 2 FLOPs per multiply-add. */
  readonly flops: number;
  /** flops / medianMs. */
  readonly gflops: number;
  /** Largest |C − float64 reference| over the sampled entries of both GEMMs (checked before timing). */
  readonly maxAbsError: number;
  /** The Q·Kᵀ and S·V GEMMs timed apart (median ms and GFLOP/s each), when asked for. */
  readonly parts?: { readonly qk: PartRate; readonly pv: PartRate };
}

export interface PartRate {
  readonly medianMs: number;
  readonly spreadPct: number;
  readonly gflops: number;
}

/**
 * The testing build of the kernels (asconfig.json `testing-*`: the same kernels and compile
 * options as the builds the backends run, plus the `gemm` export), or `module` when given
 * (an experimental build), instantiated on its own memory.
 */
export function loadGemmKernel(build: GemmBuild, module?: WebAssembly.Module): GemmExports {
  const base64 = build === 'relaxed' ? testingRelaxedBase64 : testingSimdBase64;
  try {
    module ??= new WebAssembly.Module(Buffer.from(base64, 'base64'));
  } catch (cause) {
    const hint = build === 'relaxed' ? ' (Node 20 runs relaxed SIMD only with --experimental-wasm-relaxed-simd)' : '';
    throw new Error(`gemm-case: the '${build}' kernel build does not compile here${hint}: ${String(cause)}`);
  }
  const exports = new WebAssembly.Instance(module, {}).exports as unknown as GemmExports;
  if (typeof exports.gemm !== 'function') throw new Error(`gemm-case: the '${build}' build exports no gemm (run npm run build:wasm)`);
  return exports;
}

/** Bump allocator over a kernel's memory from heapBase, growing it as needed; 16-byte aligned. */
export class GemmHeap {
  private top: number;
  constructor(private readonly kernel: GemmExports) {
    this.top = Math.ceil(kernel.heapBase() / 16) * 16;
  }
  /** Reserves `elements` f32 and returns the byte address. */
  alloc(elements: number): number {
    const at = this.top;
    this.top += Math.ceil((elements * 4) / 16) * 16;
    const need = this.top - this.kernel.memory.buffer.byteLength;
    if (need > 0) this.kernel.memory.grow(Math.ceil(need / 65536));
    return at;
  }
  /** Copies `data` in at a new allocation; returns its byte address. */
  put(data: Float32Array): number {
    const at = this.alloc(data.length);
    new Float32Array(this.kernel.memory.buffer, at, data.length).set(data);
    return at;
  }
  view(at: number, elements: number): Float32Array {
    return new Float32Array(this.kernel.memory.buffer, at, elements);
  }
}

interface HeadBuffers {
  q: number;
  kPacked: number;
  vPacked: number;
  out: number;
}

/** |C − A·B| in float64 at a few spread entries (row-major A [M][K], B [K][N] given by `bAt`). */
function sampledError(c: Float32Array, a: Float32Array, bAt: (k: number, n: number) => number, M: number, N: number, K: number): number {
  let worst = 0;
  for (let s = 0; s < 64; s++) {
    const m = s === 0 ? 0 : s === 1 ? M - 1 : (s * 7919) % M;
    const n = s === 0 ? N - 1 : s === 1 ? 0 : (s * 104729) % N;
    let sum = 0;
    let magnitude = 0;
    for (let k = 0; k < K; k++) {
      const term = a[m * K + k]! * bAt(k, n);
      sum += term;
      magnitude += Math.abs(term);
    }
    // Relative to Σ|a·b|, the scale of f32 summation error (≤ K·2⁻²⁴ of it): relative to
    // |sum| an entry whose terms cancel fails a correct GEMM (H8 N2048: 1.4e-4 vs 3e-7 here).
    worst = Math.max(worst, Math.abs(c[m * N + n]! - sum) / (1e-30 + magnitude));
  }
  return worst;
}

/**
 * Times the two GEMMs of an attention shape on a kernel build.
 * @param build 'simd' or 'relaxed' (Node 20: needs --experimental-wasm-relaxed-simd)
 * @param shape an attention shape (bench/shapes.ts); `causal` is ignored (GEMMs are dense)
 * @param timing runs and minimum run length, as the attention measurement uses
 * @param options.parts also time the Q·Kᵀ and S·V GEMMs apart (two more timings)
 * @param options.module a compiled build to use instead of the embedded one
 * @returns median ms per call (all B·H head pairs), spread, GFLOP/s, sampled error
 * @throws Error when the build does not compile here, has no gemm export, or a sampled
 *   entry is off by more than 1e-4 of Σ|a·b| (a wrong result is never timed)
 * @example
 * const rate = await measureGemmRate('relaxed', SHAPE_SETS.prefill!.shapes[0]!);
 * console.log(rate.gflops);
 */
export async function measureGemmRate(
  build: GemmBuild,
  shape: Shape,
  timing: TimingOptions = { runs: 5, minMs: 200 },
  options: { parts?: boolean; module?: WebAssembly.Module } = {},
): Promise<GemmRate> {
  const kernel = loadGemmKernel(build, options.module);
  const heap = new GemmHeap(kernel);
  const { batch, heads, seqLenQ: Lq, seqLenK: Lk, headDim: D } = shape;
  const inputs = makeInputs(shape);
  const headCount = batch * heads;
  const buffers: HeadBuffers[] = [];
  for (let h = 0; h < headCount; h++) {
    const q = inputs.q.subarray(h * Lq * D, (h + 1) * Lq * D);
    const k = inputs.k.subarray(h * Lk * D, (h + 1) * Lk * D);
    const v = inputs.v.subarray(h * Lk * D, (h + 1) * Lk * D);
    buffers.push({ q: heap.put(q), kPacked: heap.put(packB(k, D, Lk, true)), vPacked: heap.put(packB(v, Lk, D)), out: heap.alloc(Lq * D) });
  }
  // One S buffer for every head, as an unfused implementation reuses its score matrix.
  const s = heap.alloc(Lq * Lk);

  const qk = (h: number) => kernel.gemm(buffers[h]!.q, buffers[h]!.kPacked, s, Lq, Lk, D);
  const pv = (h: number) => kernel.gemm(s, buffers[h]!.vPacked, buffers[h]!.out, Lq, D, Lk);

  // Correctness before timing, on the last head's pair of GEMMs.
  const last = headCount - 1;
  qk(last);
  const q0 = inputs.q.subarray(last * Lq * D, (last + 1) * Lq * D);
  const k0 = inputs.k.subarray(last * Lk * D, (last + 1) * Lk * D);
  const v0 = inputs.v.subarray(last * Lk * D, (last + 1) * Lk * D);
  const sCopy = heap.view(s, Lq * Lk).slice();
  const errQk = sampledError(sCopy, q0, (k, n) => k0[n * D + k]!, Lq, Lk, D);
  pv(last);
  const errPv = sampledError(heap.view(buffers[last]!.out, Lq * D), sCopy, (k, n) => v0[k * D + n]!, Lq, D, Lk);
  const maxAbsError = Math.max(errQk, errPv);
  if (!(maxAbsError <= 1e-4)) throw new Error(`gemm-case: ${build} gemm is wrong on ${shapeLabel(shape)}: relative error ${maxAbsError}`);

  const call = () => {
    for (let h = 0; h < headCount; h++) {
      qk(h);
      pv(h);
    }
  };
  const flops = flopsOf(shape);
  const result = await timeCalls(call, false, timing);
  let parts: GemmRate['parts'];
  if (options.parts) {
    const part = async (f: (h: number) => void): Promise<PartRate> => {
      const t = await timeCalls(() => {
        for (let h = 0; h < headCount; h++) f(h);
      }, false, timing);
      return { medianMs: t.medianMs, spreadPct: t.spreadPct, gflops: flops / 2 / t.medianMs / 1e6 };
    };
    parts = { qk: await part(qk), pv: await part(pv) };
  }
  return { build, shape: shapeLabel(shape), flops, gflops: flops / result.medianMs / 1e6, maxAbsError, ...result, parts };
}
