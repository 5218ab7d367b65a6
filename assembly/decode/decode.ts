// Entry point of the decode kernel: attention of a few query rows per head (decode, Lq = 1,
// or a short chunk) against K/V that live in linear memory (a KV cache), in float32 or
// float16. Same parameter block as `attention` (abi.ts); K/V strides count elements of the
// K/V dtype. Walks batch × KV head × row blocks; the query heads of a GQA group and the
// queries of the chunk are the rows of one block (decode/rows.ts), so each KV head's cache
// is read once per block. decodeRange shares the walk among threads, by row blocks or, with
// KEY_SPLITS > 1, by (row block, key range) units (flash-decoding, decode/partials.ts).
import {
  paramI32, BATCH, Q_HEADS, KV_HEADS, SEQ_LEN_Q, SEQ_LEN_K, HEAD_DIM, VALUE_DIM,
  K_PTR, K_BATCH_STRIDE, K_HEAD_STRIDE, K_SEQ_STRIDE, V_PTR, V_BATCH_STRIDE, V_HEAD_STRIDE,
  V_SEQ_STRIDE, KEY_LENGTHS_PTR, WEIGHTS_STAGE, WEIGHTS_PTR,
  SCRATCH_PTR, SCRATCH_BYTES, KEY_SPLITS, PARTIALS_PTR,
} from '../abi';
import { OK, ERR_BAD_SHAPE, ERR_SCRATCH_TOO_SMALL, ERR_SCRATCH_MISALIGNED, ERR_BAD_RANGE } from '../errors';
import { ROWS, padDim, decodeScratchBytes } from './scratch';
import { attendRows, attendRowsPartial } from './rows';
import { partialRecordBytes } from './partials';
import { positionOffset } from '../key-range';

/**
 * Runs the plan in the parameter block at `params` with K/V of dtype `kvDtype`.
 * Contract (beyond attention.ts's): K/V rows hold padDim(dim) elements (4 f32 or 8 halves),
 * the padding zero (K_SEQ_STRIDE, V_SEQ_STRIDE >= that); weights, when present, are of
 * stage 'probs' (3).
 * @param params byte address of the parameter block (PARAM_COUNT 32-bit fields, abi.ts)
 * @param kvDtype 0: float32 K/V; 1: float16 K/V (IEEE half bits) holding no Inf/NaN (the fast
 *   conversion); 2: float16 K/V that may hold Inf/NaN (exact conversion)
 * @returns 0 on success; 1 scratch too small; 2 bad shape; 3 scratch not 16-byte aligned
 */
export function decode(params: usize, kvDtype: i32): i32 {
  // Every unit, no key split; with constants 0/1/1 the unit test and the key-range loop
  // below fold away (binaryen inlines decodeUnits here), so the single-thread walk costs
  // nothing for the split. KEY_SPLITS is ignored: one thread needs no merge.
  return decodeUnits(params, kvDtype, 0, 1, 1);
}

/**
 * Runs the share `first` of `stride` threads of the decode plan at `params`.
 * Units are row blocks (batch × KV head × row block) or, when KEY_SPLITS = S > 1, (row
 * block, key range c < S) pairs in the order row block × c (flash-decoding: a block's keys
 * cut into S ranges, decode/rows.ts attendRowsPartial); thread `first` runs the units
 * u with u % stride == first. With S > 1 the units leave partial states at PARTIALS_PTR
 * (decode/partials.ts) and write no output: the host merges them once every thread is
 * done (src/threads/decode.ts mergeKeySplits). With S = 0 or 1 the walk is exactly `decode`'s.
 * Contract: `decode`'s; the parameter block's scratch is this thread's own; with S > 1,
 * PARTIALS_PTR holds decodePartialsBytes(params) bytes, 16-byte aligned.
 * @param params byte address of the parameter block
 * @param kvDtype as `decode` (0 float32, 1 float16, 2 float16 with Inf/NaN)
 * @param first this thread's index, in [0, stride)
 * @param stride number of threads sharing the plan, >= 1
 * @returns as `decode`; 4 for a bad range; 2 (bad shape) for S > 1 without an aligned PARTIALS_PTR
 */
export function decodeRange(params: usize, kvDtype: i32, first: i32, stride: i32): i32 {
  if (stride < 1 || first < 0 || first >= stride) return ERR_BAD_RANGE;
  const splits = max(paramI32(params, KEY_SPLITS), 1);
  const partials = paramI32(params, PARTIALS_PTR);
  if (splits > 1 && (partials == 0 || (partials & 15) != 0)) return ERR_BAD_SHAPE;
  return decodeUnits(params, kvDtype, first, stride, splits);
}

/** The walk of `decode`, over the units u with u % stride == first (see decodeRange). */
// @ts-ignore: decorator
@inline function decodeUnits(params: usize, kvDtype: i32, first: i32, stride: i32, splits: i32): i32 {
  const batch = paramI32(params, BATCH);
  const qHeads = paramI32(params, Q_HEADS);
  const kvHeads = paramI32(params, KV_HEADS);
  const seqLenQ = paramI32(params, SEQ_LEN_Q);
  const seqLenK = paramI32(params, SEQ_LEN_K);
  const half = kvDtype != 0;
  if (
    batch < 0 || qHeads < 0 || kvHeads <= 0 || qHeads % kvHeads != 0 || seqLenQ < 0 || seqLenK < 0
    || paramI32(params, HEAD_DIM) < 0 || paramI32(params, VALUE_DIM) < 0 || (kvDtype < 0 || kvDtype > 2)
    || paramI32(params, K_SEQ_STRIDE) < padDim(paramI32(params, HEAD_DIM), half)
    || paramI32(params, V_SEQ_STRIDE) < padDim(paramI32(params, VALUE_DIM), half)
    || (paramI32(params, WEIGHTS_PTR) != 0 && paramI32(params, WEIGHTS_STAGE) != 3)
  ) return ERR_BAD_SHAPE;
  const scratch = <usize>paramI32(params, SCRATCH_PTR);
  if (paramI32(params, SCRATCH_BYTES) < decodeScratchBytes(params, kvDtype)) return ERR_SCRATCH_TOO_SMALL;
  if ((scratch & 15) != 0) return ERR_SCRATCH_MISALIGNED;

  const keyLengths = <usize>paramI32(params, KEY_LENGTHS_PTR);
  const rowsPerKvHead = (qHeads / kvHeads) * seqLenQ;
  const elementShift: usize = half ? 1 : 2;

  let unit = 0;
  for (let b = 0; b < batch; b++) {
    let keyEnd = seqLenK;
    if (keyLengths != 0) keyEnd = min(max(load<i32>(keyLengths + (<usize>b << 2)), 0), seqLenK);
    const offset = positionOffset(params, b); // the key-range rule: key-range.ts
    for (let kvHead = 0; kvHead < kvHeads; kvHead++) {
      const kHead = <usize>paramI32(params, K_PTR) + (<usize>(
        b * paramI32(params, K_BATCH_STRIDE) + kvHead * paramI32(params, K_HEAD_STRIDE)
      ) << elementShift);
      const vHead = <usize>paramI32(params, V_PTR) + (<usize>(
        b * paramI32(params, V_BATCH_STRIDE) + kvHead * paramI32(params, V_HEAD_STRIDE)
      ) << elementShift);
      for (let r = 0; r < rowsPerKvHead; r += ROWS) {
        const rows = min(ROWS, rowsPerKvHead - r);
        if (splits == 1) {
          // One unit per row block (decode: always; this branch is all that is left of it).
          if (unit % stride == first) attendRows(params, scratch, b, kvHead, r, rows, kHead, vHead, keyEnd, offset, kvDtype);
          unit++;
          continue;
        }
        // Read here, not before the walk, so that none of it is left in decode.
        const recordBytes = partialRecordBytes(paramI32(params, VALUE_DIM));
        const partials = <usize>paramI32(params, PARTIALS_PTR);
        for (let split = 0; split < splits; split++, unit++) {
          if (unit % stride != first) continue;
          const record = partials + <usize>unit * recordBytes;
          attendRowsPartial(params, scratch, b, kvHead, r, rows, kHead, vHead, keyEnd, offset, kvDtype, split, splits, record);
        }
      }
    }
  }
  return OK;
}
