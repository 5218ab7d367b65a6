// The parameter block's field table (PARAM, PARAM_COUNT, PARAM_BYTES) is generated from
// scripts/abi-spec.mjs, as assembly/abi.ts is: change it there (scripts/gen-abi.mjs).
export { PARAM, PARAM_BYTES, PARAM_COUNT } from './abi-params.js';

/**
 * Exports of the default kernel builds (`build/attention-simd.wasm`,
 * `build/attention-relaxed.wasm`, from assembly/index.ts): one ABI, several builds. The
 * threads builds (assembly/threads.ts) add {@link DecodeRangeExports} and `attentionRange`
 * (src/threads/backend.ts); the testing builds (assembly/testing.ts) add test and benchmark
 * hooks, declared by the tests that call them (test/kernel/kernel-util.ts, test/gemm.test.ts).
 */
export interface KernelExports {
  readonly memory: WebAssembly.Memory;
  /** First byte free for the host to use (after data segments and the shadow stack). */
  heapBase(): number;
  /** Bytes of scratch the kernel needs for the plan in the parameter block at `params`. */
  scratchBytes(params: number): number;
  /** Runs the plan in the parameter block at `params`. Returns 0 on success, else an error code. */
  attention(params: number): number;
  /** 1 for the relaxed-SIMD (FMA) build, 0 for the SIMD build. */
  kernelIsa(): number;
}

/**
 * Exports of the decode kernel and its helpers (assembly/decode/, assembly/cache/), in every
 * build since the KV cache API; optional so that an older user-supplied module still runs
 * the tensor API.
 */
export interface DecodeExports {
  /** Runs the plan at `params` with K/V of dtype `kvDtype` (0 float32, 1 float16; rows padded to 4 f32 / 8 halves). 0 on success. */
  decode(params: number, kvDtype: number): number;
  /** Bytes of scratch `decode` needs for the plan at `params`. */
  decodeScratchBytes(params: number, kvDtype: number): number;
}

/**
 * int8 quantisation at append (assembly/cache/f32-i8-quantize-4.ts): the int8 and threads
 * builds only. Quantises `rows` f32 rows of `dim` (`srcRowStride` elements apart) into int8
 * rows `dstRowBytes` apart: `dataBytes` of int8 then the f32 scale (src/cache/int8.ts).
 */
export interface QuantizeExports {
  quantizeI8Rows(dst: number, dstRowBytes: number, dataBytes: number, src: number, srcRowStride: number, rows: number, dim: number): void;
}

/** Exports of the decode split among threads: threads builds only (assembly/threads.ts). */
export interface DecodeRangeExports {
  /**
   * One thread's share of a decode plan (src/threads/decode.ts): the units
   * u % stride == first; with KEY_SPLITS > 1 it leaves partial states that the host merges
   * (src/threads/decode.ts mergeKeySplits).
   */
  decodeRange(params: number, kvDtype: number, first: number, stride: number): number;
  /** Bytes of the partials region a key-split plan needs (0 when KEY_SPLITS <= 1). */
  decodePartialsBytes(params: number): number;
}

/** `kvDtype` codes of {@link DecodeExports.decode}: float16 is 1 when the cache holds no Inf/NaN (fast conversion), else 2 (exact); int8 rows with their scale (assembly/cache/i8.ts) 3. */
export const KV_DTYPE = { float32: 0, float16: 1, float16NonFinite: 2, int8: 3 } as const;
