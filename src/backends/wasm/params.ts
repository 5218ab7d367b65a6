/**
 * Writes parameter blocks (the ABI of src/backends/wasm/abi.ts): one writer for the
 * single-thread backend, the thread pool, and plans over KV caches. The block is
 * zero-filled first, so fields appended to the ABI later default to 0 instead of a stale
 * value from an earlier call.
 */
import { WEIGHTS_STAGE_CODE, type AttentionDims, type AttentionPlan, type BiasStrides, type HeadStrides, type WeightsStage } from '../../plan.js';
import { PARAM, PARAM_BYTES } from './abi.js';
import type { CallLayout } from './memory-plan.js';
import type { KeyWindow } from '../../key-range.js';

/** A tensor as the kernel sees it: a byte address and element strides. */
export interface KernelTensor {
  readonly ptr: number;
  readonly strides: HeadStrides;
}

/** The plan's part of a parameter block: shapes, scale, softcap, window, mask strides. */
export interface ParamShape extends AttentionDims {
  readonly scale: number;
  readonly softcap: number;
  readonly window: KeyWindow;
  readonly biasStrides: BiasStrides;
}

/**
 * The call's part: where its tensors and regions are in linear memory. Kept apart from the
 * plan rather than spread over a copy of it: `{ ...plan, q, out, ...pointers }` costs 42–69 µs
 * per block in Node 20 (V8 adds each property after a spread of a large object on a slow
 * path: bench/spread-cost.mjs); a decode step over 512 cached tokens took 0.74× the time
 * without it (bench/results/2026-12-06-node20-amd-epyc-call-overhead.txt).
 */
export interface ParamPlacement {
  readonly q: KernelTensor;
  readonly k: KernelTensor;
  readonly v: KernelTensor;
  readonly out: KernelTensor;
  readonly positionOffsetsPtr: number;
  readonly keyLengthsPtr: number;
  readonly biasPtr: number;
  readonly weightsPtr: number;
  readonly weightsStage: WeightsStage;
  /** f32[qHeads] ALiBi slopes, or 0; f32[rows·2] (m, l) per row for the log-sum-exp, or 0. */
  readonly alibiSlopesPtr?: number;
  readonly lsePtr?: number;
  readonly scratchPtr: number;
  readonly scratchBytes: number;
  /** Decode kernel, threads only: key ranges per row block (0 or 1: none) and their partial states' region. */
  readonly keySplits?: number;
  readonly partialsPtr?: number;
}

/**
 * A window bound as the kernels read it: -1 for Infinity (unbounded), else the bound capped
 * at 2^31 − 1 (the kernels add it in i64: assembly/key-range.ts; a bound past seqLenQ +
 * seqLenK already reaches every key of a plan made by the API).
 */
function windowBound(bound: number): number {
  return bound === Infinity ? -1 : Math.min(bound, 0x7fffffff);
}

/** Writes the block of `plan` placed by `placed` at byte address `at`, through views of the whole memory. */
export function writeParamBlock(i32: Int32Array, f32: Float32Array, at: number, plan: ParamShape, placed: ParamPlacement): void {
  // Unsigned: an address >= 2^31 must stay positive (a signed `>> 2` made it negative, and
  // typed-array writes at a negative index are silently dropped).
  const p = at >>> 2;
  i32.fill(0, p, p + PARAM_BYTES / 4);
  const set = (field: number, value: number) => (i32[p + field] = value);
  set(PARAM.BATCH, plan.batch);
  set(PARAM.Q_HEADS, plan.qHeads);
  set(PARAM.KV_HEADS, plan.kvHeads);
  set(PARAM.SEQ_LEN_Q, plan.seqLenQ);
  set(PARAM.SEQ_LEN_K, plan.seqLenK);
  set(PARAM.HEAD_DIM, plan.headDim);
  set(PARAM.VALUE_DIM, plan.valueDim);
  const tensor = (ptrField: number, { ptr, strides }: KernelTensor) => {
    set(ptrField, ptr);
    set(ptrField + 1, strides.batch);
    set(ptrField + 2, strides.head);
    set(ptrField + 3, strides.seq);
  };
  tensor(PARAM.Q_PTR, placed.q);
  tensor(PARAM.K_PTR, placed.k);
  tensor(PARAM.V_PTR, placed.v);
  tensor(PARAM.OUT_PTR, placed.out);
  f32[p + PARAM.SCALE] = plan.scale;
  f32[p + PARAM.SOFTCAP] = plan.softcap;
  set(PARAM.WINDOW_LEFT, windowBound(plan.window.left));
  set(PARAM.WINDOW_RIGHT, windowBound(plan.window.right));
  set(PARAM.POSITION_OFFSETS_PTR, placed.positionOffsetsPtr);
  set(PARAM.KEY_LENGTHS_PTR, placed.keyLengthsPtr);
  set(PARAM.BIAS_PTR, placed.biasPtr);
  set(PARAM.BIAS_BATCH_STRIDE, plan.biasStrides.batch);
  set(PARAM.BIAS_HEAD_STRIDE, plan.biasStrides.head);
  set(PARAM.BIAS_QUERY_STRIDE, plan.biasStrides.query);
  set(PARAM.WEIGHTS_PTR, placed.weightsPtr);
  set(PARAM.WEIGHTS_STAGE, WEIGHTS_STAGE_CODE[placed.weightsStage]);
  set(PARAM.SCRATCH_PTR, placed.scratchPtr);
  set(PARAM.SCRATCH_BYTES, placed.scratchBytes);
  set(PARAM.KEY_SPLITS, placed.keySplits ?? 0);
  set(PARAM.PARTIALS_PTR, placed.partialsPtr ?? 0);
  set(PARAM.ALIBI_SLOPES_PTR, placed.alibiSlopesPtr ?? 0);
  set(PARAM.LSE_PTR, placed.lsePtr ?? 0);
}

/**
 * Sets the scratch size in the block at `at`: the kernel sizes its scratch from the block
 * itself, so a call writes the block once with 0, asks, grows, and then sets this one field
 * (the rest stays as written; growing memory moves no bytes).
 */
export function setScratchBytes(i32: Int32Array, at: number, bytes: number): void {
  i32[(at >>> 2) + PARAM.SCRATCH_BYTES] = bytes;
}

/** Writes the block of a tensor plan whose regions are placed by `layout`. */
export function writeParams(
  i32: Int32Array,
  f32: Float32Array,
  plan: AttentionPlan,
  at: number,
  layout: CallLayout,
  scratch: number,
  scratchBytes: number,
): void {
  writeParamBlock(i32, f32, at, plan, {
    q: { ptr: layout.q, strides: plan.qStrides },
    k: { ptr: layout.k, strides: plan.kStrides },
    v: { ptr: layout.v, strides: plan.vStrides },
    out: { ptr: layout.out, strides: plan.outStrides },
    positionOffsetsPtr: layout.positionOffsets,
    keyLengthsPtr: layout.keyLengths,
    biasPtr: layout.bias,
    weightsPtr: layout.weights,
    weightsStage: plan.weightsStage,
    alibiSlopesPtr: layout.alibiSlopes,
    lsePtr: layout.lse,
    scratchPtr: scratch,
    scratchBytes,
  });
}

/** K and V of a cache: `[batch, kvHeads, capacity, rowStride]` in linear memory. */
export function cacheTensors(
  storage: { readonly keyPtr: number; readonly valuePtr: number; readonly capacity: number; readonly keyRowStride: number; readonly valueRowStride: number },
  kvHeads: number,
): { k: KernelTensor; v: KernelTensor } {
  const strides = (row: number): HeadStrides => ({ batch: kvHeads * storage.capacity * row, head: storage.capacity * row, seq: row });
  return {
    k: { ptr: storage.keyPtr, strides: strides(storage.keyRowStride) },
    v: { ptr: storage.valuePtr, strides: strides(storage.valueRowStride) },
  };
}
