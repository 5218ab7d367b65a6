// Scratch layout of the decode kernel (decode/decode.ts), reused for every row block:
//   state  m, l, alpha (f32), key limit and start (i32) per row, a sink word  STATE_BYTES
//   qp     the block's query rows, [ROWS][dimPad] f32          4·ROWS·dimPad bytes
//   s      score/probability chunk, [ROWS][CHUNK_KEYS] f32     4·ROWS·CHUNK_KEYS bytes
//   o      output accumulators, [ROWS][valueDimPad] f32        4·ROWS·valueDimPad bytes
//   tile   (float16, int8 caches) one chunk of K or V rows in f32, 4·CHUNK_KEYS·max(dimPad, valueDimPad)
//          (int8 builds: one row's i16 weights, i8-pv-dot-2x16)
//   scales (int8 caches) the chunk's row scales (int8 builds: the rows' query scales)  4·CHUNK_KEYS
// dimPad/valueDimPad round the dims up to the row padding of the cache (4 f32 or 8 halves),
// so every row is whole vectors. Extra memory is O(ROWS·(dim + CHUNK)), independent of the
// cache length.
import { paramI32, HEAD_DIM, VALUE_DIM } from '../abi';

/** Query rows (group heads × queries) that share one pass over a KV head's cache. */
export const ROWS: i32 = 16;
/**
 * Keys per chunk of the online softmax. 64 keys: the f32 tile of a float16 chunk (D ≤ 128)
 * is ≤ 32 KiB and stays in L1 (48 KiB here) between conversion and use; chunks of 16 to
 * 512 keys measured within noise for both dtypes (H32, D128, 2k and 8k tokens).
 */
export const CHUNK_KEYS: i32 = 64;

export const STATE_M: usize = 0;
export const STATE_L: usize = <usize>ROWS << 2;
export const STATE_ALPHA: usize = <usize>ROWS << 3;
export const STATE_LIMIT: usize = <usize>ROWS * 12;
export const STATE_START: usize = <usize>ROWS << 4;
/** One word the chunk touch loads are OR'd into (decode/rows.ts touchRows), so no compiler drops them. */
export const STATE_SINK: usize = <usize>ROWS * 20;
export const STATE_BYTES: usize = <usize>ROWS * 20 + 16;

/** Element padding of cache rows: 4 f32 (one v128) or 8 halves (one v128). */
// @ts-ignore: decorator
@inline export function padDim(dim: i32, half: bool): i32 {
  return half ? (dim + 7) & ~7 : (dim + 3) & ~3;
}

/** Element padding of cache rows of kvDtype (0 f32, 1/2 f16, 3 int8: 16 bytes, one v128). */
// @ts-ignore: decorator
@inline export function padDimOf(dim: i32, kvDtype: i32): i32 {
  return kvDtype == 3 ? (dim + 15) & ~15 : padDim(dim, kvDtype != 0);
}

/** log2 of the element bytes of kvDtype (K/V strides count elements). */
// @ts-ignore: decorator
@inline export function elementShiftOf(kvDtype: i32): usize {
  return kvDtype == 0 ? 2 : kvDtype == 3 ? 0 : 1;
}

/** Bytes of an int8 cache row past its padded data: the f32 scale (cache/i8.ts). */
// @ts-ignore: decorator
@inline export function rowExtraBytes(kvDtype: i32): i32 {
  return kvDtype == 3 ? 4 : 0;
}

/** Byte offsets of the regions, for padded dims. */
// @ts-ignore: decorator
@inline export function qpOffset(): usize {
  return STATE_BYTES;
}
// @ts-ignore: decorator
@inline export function sOffset(dimPad: i32): usize {
  return STATE_BYTES + (<usize>(ROWS * dimPad) << 2);
}
// @ts-ignore: decorator
@inline export function oOffset(dimPad: i32): usize {
  return sOffset(dimPad) + (<usize>(ROWS * CHUNK_KEYS) << 2);
}
// @ts-ignore: decorator
@inline export function tileOffset(dimPad: i32, valueDimPad: i32): usize {
  return oOffset(dimPad) + (<usize>(ROWS * valueDimPad) << 2);
}
// @ts-ignore: decorator
@inline export function scalesOffset(dimPad: i32, valueDimPad: i32): usize {
  return tileOffset(dimPad, valueDimPad) + (<usize>(CHUNK_KEYS * max(dimPad, valueDimPad)) << 2);
}

/**
 * Bytes of scratch the decode kernel needs for the plan at `params`.
 * @param params byte address of the parameter block (abi.ts)
 * @param kvDtype 0: float32 K/V, 1 or 2: float16 K/V, 3: int8 K/V
 * @returns a byte count, a multiple of 16
 */
export function decodeScratchBytes(params: usize, kvDtype: i32): i32 {
  const dimPad = padDimOf(max(paramI32(params, HEAD_DIM), 0), kvDtype);
  const valueDimPad = padDimOf(max(paramI32(params, VALUE_DIM), 0), kvDtype);
  const tile = kvDtype != 0 ? (CHUNK_KEYS * max(dimPad, valueDimPad)) << 2 : 0;
  const scales = kvDtype == 3 ? CHUNK_KEYS << 2 : 0;
  return <i32>tileOffset(dimPad, valueDimPad) + tile + scales;
}
