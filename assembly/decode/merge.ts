// The last step of a key-split decode (flash-decoding, decode/partials.ts): once every
// thread has run its units (decodeRange with KEY_SPLITS > 1), one thread merges each row's
// partial states into its output row, through the output strides (so pinned and strided
// outputs are written as the one-pass kernel writes them), and, when weights are requested,
// normalizes the masked scores the ranges left there by the merged max and sum.
import {
  paramI32, BATCH, Q_HEADS, KV_HEADS, SEQ_LEN_Q, SEQ_LEN_K, VALUE_DIM, OUT_PTR, OUT_BATCH_STRIDE,
  OUT_HEAD_STRIDE, OUT_SEQ_STRIDE, WEIGHTS_PTR, SCRATCH_PTR, SCRATCH_BYTES, KEY_SPLITS, PARTIALS_PTR,
} from '../abi';
import { OK, ERR_BAD_SHAPE, ERR_SCRATCH_TOO_SMALL, ERR_SCRATCH_MISALIGNED } from '../errors';
import { ROWS } from './scratch';
import { partialRecordBytes, mergeRow } from './partials';
import { headOf, rowAddress, weightsAddress, normalizeWeights } from './rows';

/**
 * Merges the partial states of the key-split decode plan at `params` into its outputs (and
 * weights). Run once, after every thread's decodeRange returned. Does nothing when
 * KEY_SPLITS <= 1 (the ranges wrote the outputs themselves).
 * Contract: the plan and PARTIALS_PTR of the decodeRange calls; the scratch is the caller's
 * own (12 bytes used).
 * @param params byte address of the parameter block
 * @returns 0 on success; 1 scratch too small; 2 bad shape; 3 scratch not 16-byte aligned
 */
export function decodeMerge(params: usize): i32 {
  const splits = paramI32(params, KEY_SPLITS);
  if (splits <= 1) return OK;
  const batch = paramI32(params, BATCH);
  const qHeads = paramI32(params, Q_HEADS);
  const kvHeads = paramI32(params, KV_HEADS);
  const seqLenQ = paramI32(params, SEQ_LEN_Q);
  const valueDim = paramI32(params, VALUE_DIM);
  const partials = <usize>paramI32(params, PARTIALS_PTR);
  if (
    batch < 0 || qHeads < 0 || kvHeads <= 0 || qHeads % kvHeads != 0 || seqLenQ < 0 || valueDim < 0
    || partials == 0 || (partials & 15) != 0
  ) return ERR_BAD_SHAPE;
  const scratch = <usize>paramI32(params, SCRATCH_PTR);
  if (paramI32(params, SCRATCH_BYTES) < 12) return ERR_SCRATCH_TOO_SMALL;
  if ((scratch & 15) != 0) return ERR_SCRATCH_MISALIGNED;

  const seqLenK = paramI32(params, SEQ_LEN_K);
  const weights = paramI32(params, WEIGHTS_PTR) != 0;
  const rowsPerKvHead = (qHeads / kvHeads) * seqLenQ;
  const blockBytes = <usize>splits * partialRecordBytes(valueDim);
  let records = partials;
  for (let b = 0; b < batch; b++) {
    for (let kvHead = 0; kvHead < kvHeads; kvHead++) {
      for (let r = 0; r < rowsPerKvHead; r += ROWS, records += blockBytes) {
        const rows = min(ROWS, rowsPerKvHead - r);
        for (let t = 0; t < rows; t++) {
          const h = headOf(params, kvHead, r + t);
          const i = (r + t) % seqLenQ;
          const out = rowAddress(params, OUT_PTR, OUT_BATCH_STRIDE, OUT_HEAD_STRIDE, OUT_SEQ_STRIDE, b, h, i);
          const limit = mergeRow(out, records, t, splits, valueDim, scratch);
          if (weights) normalizeWeights(weightsAddress(params, b, h, i), load<i32>(scratch, 8), limit, seqLenK, load<f32>(scratch), load<f32>(scratch, 4));
        }
      }
    }
  }
  return OK;
}
