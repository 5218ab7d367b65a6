// Partial softmax states of a key-split decode (flash-decoding, Dao et al. 2023): each
// range of a row block's keys is attended alone (decode/rows.ts, attendRowsPartial) and
// leaves, per row, its running max m, its sum l and its *unnormalized* output
// acc = Σ_j e^(s_j − m)·v_j; the host's merge (src/threads/decode.ts mergeKeySplits, with the
// one merge function of mergeAttention, src/merge.ts) rescales them to the common max
//   M = max_c m_c,  out = Σ_c e^(m_c − M)·acc_c / Σ_c e^(m_c − M)·l_c
// which is the single pass's result with the sum reordered. acc is kept unnormalized so
// that, as in the single pass (out = o / l), each output element is divided once.
//
// Layout at PARTIALS_PTR: one record per unit (row block rb of the walk batch × KV head ×
// row block, key range c: record rb·KEY_SPLITS + c), each ROWS rows of
//   header  m (f32), l (f32), limit, start (i32: the row's key range, key-range.ts) 16 bytes
//   acc     valueDim f32 in column order, padded to a multiple of 4               4·valueDim4
// Every unit writes only its own record, so no two threads write the same byte.
import { paramI32, BATCH, Q_HEADS, KV_HEADS, SEQ_LEN_Q, VALUE_DIM, KEY_SPLITS } from '../abi';
import { ROWS, STATE_M, STATE_L, STATE_LIMIT, STATE_START } from './scratch';

const HEADER_BYTES: usize = 16;

/** Bytes of one row of a record. */
// @ts-ignore: decorator
@inline export function partialRowBytes(valueDim: i32): usize {
  return HEADER_BYTES + (<usize>((valueDim + 3) & ~3) << 2);
}

/** Bytes of one unit's record. */
// @ts-ignore: decorator
@inline export function partialRecordBytes(valueDim: i32): usize {
  return <usize>ROWS * partialRowBytes(valueDim);
}

/**
 * Bytes of the partials region of the plan at `params`: 0 without a key split.
 * @param params byte address of the parameter block (abi.ts)
 * @returns a byte count, a multiple of 16
 */
export function decodePartialsBytes(params: usize): i32 {
  const splits = paramI32(params, KEY_SPLITS);
  const kvHeads = paramI32(params, KV_HEADS);
  if (splits <= 1 || kvHeads <= 0) return 0;
  const rowsPerKvHead = (paramI32(params, Q_HEADS) / kvHeads) * paramI32(params, SEQ_LEN_Q);
  const blocks = paramI32(params, BATCH) * kvHeads * ((rowsPerKvHead + ROWS - 1) / ROWS);
  return blocks * splits * <i32>partialRecordBytes(max(paramI32(params, VALUE_DIM), 0));
}

/**
 * Stores the state of `rows` rows (scratch's m, l, limit; accumulators `o`) into `record`.
 * @param o accumulators, row t at o + t·oRowBytes
 * @param fast float16 fast conversion: column c sits at its de-interleaved position in its group of 8
 */
export function storePartials(
  record: usize, scratch: usize, o: usize, oRowBytes: usize, rows: i32, valueDim: i32, fast: bool,
): void {
  const rowBytes = partialRowBytes(valueDim);
  for (let t = 0; t < rows; t++) {
    const dst = record + <usize>t * rowBytes;
    const src = o + <usize>t * oRowBytes;
    store<f32>(dst, load<f32>(scratch + STATE_M + (<usize>t << 2)));
    store<f32>(dst, load<f32>(scratch + STATE_L + (<usize>t << 2)), 4);
    store<i32>(dst, load<i32>(scratch + STATE_LIMIT + (<usize>t << 2)), 8);
    store<i32>(dst, load<i32>(scratch + STATE_START + (<usize>t << 2)), 12);
    const acc = dst + HEADER_BYTES;
    if (fast) {
      for (let c = 0; c < valueDim; c++) {
        const at = (c & ~7) | ((c & 1) << 2) | ((c & 7) >> 1);
        store<f32>(acc + (<usize>c << 2), load<f32>(src + (<usize>at << 2)));
      }
    } else {
      memory.copy(acc, src, <usize>valueDim << 2);
    }
  }
}
