// Scratch layout. Fused path, per 8-query block (reused for every block and head):
//   state  softmax m, l, alpha                      STATE_BYTES (96, rounded to 128)
//   qp     packed query panel   [headDim][8] f32    32·headDim bytes
//   s      score/probability tile [BLOCK_KEYS][8]   32·BLOCK_KEYS bytes
//   ot     output accumulator   [valueDim][8] f32   32·valueDim bytes
// Weights path (WEIGHTS_PTR != 0), per query row:
//   row    one score row, [seqLenK rounded up to 4] f32
// Every region is a multiple of 16 bytes, so with a 16-byte-aligned SCRATCH_PTR all of
// them are aligned. Extra memory is O(tile·headDim): no seqLenQ x seqLenK buffer.
import { paramI32, HEAD_DIM, VALUE_DIM, SEQ_LEN_K, WEIGHTS_PTR } from './abi';

/** Queries per block (lanes of the transposed tiles: 2 f32x4). */
export const BLOCK_QUERIES: i32 = 8;
/**
 * Keys per tile. 64 keys x 8 queries = 2 KiB of scores stays in L1 between the score,
 * mask, softmax and value passes. Measured (H8, L1024, D64, dense): 32, 64, 128 and 256
 * keys are within 3% of each other (38-39 GFLOP/s simd, 47-49 relaxed); 64 keeps the
 * scratch small and the causal select of the diagonal tiles cheap.
 */
export const BLOCK_KEYS: i32 = 64;

export const STATE_REGION: usize = 128;

/** Byte offset of the packed query panel. */
// @ts-ignore: decorator
@inline export function qpOffset(): usize {
  return STATE_REGION;
}

/** Byte offset of the score tile. */
// @ts-ignore: decorator
@inline export function tileOffset(headDim: i32): usize {
  return STATE_REGION + (<usize>headDim << 5);
}

/** Byte offset of the transposed output accumulator. */
// @ts-ignore: decorator
@inline export function otOffset(headDim: i32): usize {
  return STATE_REGION + (<usize>headDim << 5) + (<usize>BLOCK_KEYS << 5);
}

/**
 * Bytes of scratch needed to run the plan at `params`:
 * fused: 128 + 32·(headDim + 64 + valueDim); with weights: 4·roundUp(seqLenK, 4).
 * @param params byte address of the parameter block
 * @returns a byte count, a multiple of 16
 */
export function scratchBytes(params: usize): i32 {
  if (paramI32(params, WEIGHTS_PTR) != 0) {
    return ((max(paramI32(params, SEQ_LEN_K), 1) + 3) & ~3) << 2;
  }
  const headDim = max(paramI32(params, HEAD_DIM), 0);
  const valueDim = max(paramI32(params, VALUE_DIM), 0);
  return <i32>STATE_REGION + ((headDim + BLOCK_KEYS + valueDim) << 5);
}
