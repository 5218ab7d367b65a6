/**
 * The WASM kernel ABI: one parameter block of 32-bit fields in linear memory, written by
 * `src/backends/wasm/` and read by `assembly/`. The same field table is declared in
 * `assembly/abi.ts`; change both together (the backend tests exercise every field).
 *
 * Pointers are byte offsets into linear memory; strides and sizes count f32 elements.
 * Fields are i32 except `SCALE` and `SOFTCAP`, which are f32.
 */
export const PARAM = {
  BATCH: 0,
  Q_HEADS: 1,
  KV_HEADS: 2,
  SEQ_LEN_Q: 3,
  SEQ_LEN_K: 4,
  HEAD_DIM: 5,
  VALUE_DIM: 6,
  Q_PTR: 7,
  Q_BATCH_STRIDE: 8,
  Q_HEAD_STRIDE: 9,
  Q_SEQ_STRIDE: 10,
  K_PTR: 11,
  K_BATCH_STRIDE: 12,
  K_HEAD_STRIDE: 13,
  K_SEQ_STRIDE: 14,
  V_PTR: 15,
  V_BATCH_STRIDE: 16,
  V_HEAD_STRIDE: 17,
  V_SEQ_STRIDE: 18,
  OUT_PTR: 19,
  OUT_BATCH_STRIDE: 20,
  OUT_HEAD_STRIDE: 21,
  OUT_SEQ_STRIDE: 22,
  /** f32 */
  SCALE: 23,
  /** f32; 0 = off */
  SOFTCAP: 24,
  /** 0 or 1 */
  CAUSAL: 25,
  /** i32[batch]; read only when CAUSAL = 1 */
  CAUSAL_OFFSETS_PTR: 26,
  /** i32[batch], or 0 for none */
  KEY_LENGTHS_PTR: 27,
  /** f32 additive bias, or 0 for none; rows contiguous over keys */
  BIAS_PTR: 28,
  BIAS_BATCH_STRIDE: 29,
  BIAS_HEAD_STRIDE: 30,
  BIAS_QUERY_STRIDE: 31,
  /** f32[batch·qHeads·seqLenQ·seqLenK] contiguous, or 0 for none */
  WEIGHTS_PTR: 32,
  /** WEIGHTS_STAGE_CODE in src/plan.ts: 0 logits, 1 capped, 2 biased, 3 probs */
  WEIGHTS_STAGE: 33,
  /** scratch region for the kernel, at least `scratchBytes(params)` bytes, 16-byte aligned */
  SCRATCH_PTR: 34,
  SCRATCH_BYTES: 35,
  /**
   * Decode kernel only (`decodeRange`, `decodeMerge`): key ranges each row block is split
   * into (flash-decoding, src/threads/README.md); 0 or 1 = no split, as `decode` always.
   */
  KEY_SPLITS: 36,
  /** Decode kernel with KEY_SPLITS > 1: the ranges' partial softmax states, `decodePartialsBytes(params)` bytes, 16-byte aligned */
  PARTIALS_PTR: 37,
} as const;

/** Number of 32-bit fields in the parameter block. */
export const PARAM_COUNT = 38;
/** Size of the parameter block in bytes. */
export const PARAM_BYTES = PARAM_COUNT * 4;

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

/** Exports of the decode split among threads: threads builds only (assembly/threads.ts). */
export interface DecodeRangeExports {
  /**
   * One thread's share of a decode plan (src/threads/decode.ts): the units
   * u % stride == first; with KEY_SPLITS > 1 it leaves partial states for {@link decodeMerge}.
   */
  decodeRange(params: number, kvDtype: number, first: number, stride: number): number;
  /** Merges a key-split plan's partial states into its outputs (and weights), after every thread's `decodeRange`. 0 on success. */
  decodeMerge(params: number): number;
  /** Bytes of the partials region a key-split plan needs (0 when KEY_SPLITS <= 1). */
  decodePartialsBytes(params: number): number;
}

/** `kvDtype` codes of {@link DecodeExports.decode}: float16 is 1 when the cache holds no Inf/NaN (fast conversion), else 2 (exact). */
export const KV_DTYPE = { float32: 0, float16: 1, float16NonFinite: 2 } as const;
