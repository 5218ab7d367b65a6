// The key block's shared steps of the backward and the lse pass: K and V transposed into
// scratch, and one row's bias lanes.
import { Call, BLOCK_KEYS } from './layout';
import { keyRangeEnd, keyRangeStart } from '../key-range';

/**
 * Transposes rows [j0, j0+n) of a [keys][dim] head into dst[dim][BLOCK_KEYS], zero past n.
 * Returns whether every value is finite (Σ x·0 is 0 unless some x is ±Infinity or NaN).
 */
export function packBlock(dst: usize, src: usize, rowStride: usize, dim: i32, n: i32): bool {
  let probe: f32 = 0;
  for (let d = 0; d < dim; d++) {
    const row = dst + (<usize>d << 6);
    for (let j = 0; j < BLOCK_KEYS; j++) {
      const x: f32 = j < n ? load<f32>(src + <usize>j * rowStride + (<usize>d << 2)) : 0;
      probe += x * 0;
      store<f32>(row + (<usize>j << 2), x);
    }
  }
  return probe == 0;
}

/**
 * Fills row `row` of c.biasRow for the block at j0: lanes [lo, hi) (the row's key range,
 * src/key-range.ts) get the bias (or 0) plus ALiBi, −slope·|pos − j| with pos = i + offset − j0;
 * the others -Infinity (masked). ALiBi enters the scores as a constant, like the bias: the
 * same lanes carry both (the forward adds alibi then bias; here their sum, one rounding apart).
 */
export function fillBias(c: Call, biasSrc: usize, lo: i32, hi: i32, row: usize, slope: f32, pos: i32): void {
  const dst = c.biasRow + (row << 6);
  for (let j = 0; j < BLOCK_KEYS; j++) {
    let value: f32 = -Infinity;
    if (j >= lo && j < hi) {
      value = biasSrc != 0 ? load<f32>(biasSrc + (<usize>j << 2)) : 0;
      if (slope != 0) value += -slope * <f32>abs<i64>(<i64>pos - <i64>j);
    }
    store<f32>(dst + (<usize>j << 2), value);
  }
}

/**
 * Prepares row `row` of the row buffers for query i of head h (item b) in the block at j0
 * of n keys: its bias lanes (fillBias) over its key range (the key-range rule,
 * assembly/key-range.ts: window, causal, key length). Returns the lanes to visit, hi
 * (lanes [hi, 16) are masked), or 0 when the row sees none of the block.
 */
export function prepareRow(c: Call, b: i32, h: i32, i: i32, j0: i32, n: i32, offset: i32, keyLength: i32, row: usize): i32 {
  const end = keyRangeEnd(i, offset, c.right, keyLength);
  const start = keyRangeStart(i, offset, c.left, end);
  const lo = max(0, start - j0);
  const hi = min(n, end - j0);
  if (hi <= lo) return 0;
  const biasSrc = c.bias != 0 ? c.bias + <usize>b * c.biasB + <usize>h * c.biasH + <usize>i * c.biasQ + (<usize>j0 << 2) : 0;
  fillBias(c, biasSrc, lo, hi, row, c.slope(h), i + offset - j0);
  return hi;
}

/** Masks every lane of row buffer `row` (a row with no gradient in a group of four). */
export function fillMasked(c: Call, row: usize): void {
  for (let j = 0; j < BLOCK_KEYS; j++) store<f32>(c.biasRow + (row << 6) + (<usize>j << 2), -Infinity);
}

