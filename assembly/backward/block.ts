// The key block's shared steps of the backward and the lse pass: K and V transposed into
// scratch, and one row's bias lanes.
import { Call, BLOCK_KEYS } from './layout';
import { keyRangeEnd, keyRangeStart } from '../key-range';
import { cst, C_NEG_INF, C_ZERO } from '../inline/consts';

/** The key lanes 0..15 as i32 (fillBias's ALiBi distances, four at a time). */
const LANE_INDEX: usize = memory.data<i32>([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], 16);

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

/** Lane values `lo..hi` of one key (scalar): the bias (or 0) plus ALiBi's −slope·|pos − j|. */
@inline function biasLane(biasSrc: usize, j: i32, slope: f32, pos: i32): f32 {
  let value: f32 = biasSrc != 0 ? load<f32>(biasSrc + (<usize>j << 2)) : 0;
  if (slope != 0) value += -slope * <f32>abs<i64>(<i64>pos - <i64>j);
  return value;
}

/**
 * Fills row `row` of c.biasRow for the block at j0: lanes [lo, hi) (the row's key range,
 * src/key-range.ts) get the bias (or 0) plus ALiBi, −slope·|pos − j| with pos = i + offset − j0;
 * the others -Infinity (masked). ALiBi enters the scores as a constant, like the bias: the
 * same lanes carry both (the forward adds alibi then bias; here their sum, one rounding apart).
 * Four lanes at a time: a chunk wholly inside or outside [lo, hi) is one vector store (the
 * scalar fill was one branchy store per score, run for every row of every block); the one or
 * two chunks that straddle a bound take the scalar rule. Distances are i32 lanes when
 * |pos| < 2^30 (exact in f32 up to 2^24 as in the scalar rule, and no i32 wrap).
 */
export function fillBias(c: Call, biasSrc: usize, lo: i32, hi: i32, row: usize, slope: f32, pos: i32): void {
  const dst = c.biasRow + (row << 6);
  const negInf = cst(C_NEG_INF);
  const vectorAlibi = slope == 0 || (pos > -(1 << 30) && pos < (1 << 30));
  const vpos = i32x4.splat(pos);
  const vslope = f32x4.splat(-slope);
  for (let j = 0; j < BLOCK_KEYS; j += 4) {
    const at = dst + (<usize>j << 2);
    if (j + 4 <= lo || j >= hi) {
      v128.store(at, negInf);
    } else if (j >= lo && j + 4 <= hi && vectorAlibi) {
      let value = biasSrc != 0 ? v128.load(biasSrc + (<usize>j << 2)) : cst(C_ZERO);
      if (slope != 0) {
        const distance = i32x4.abs(i32x4.sub(vpos, v128.load(LANE_INDEX + (<usize>j << 2))));
        value = f32x4.add(value, f32x4.mul(vslope, f32x4.convert_i32x4_s(distance)));
      }
      v128.store(at, value);
    } else {
      for (let k = j; k < j + 4; k++) {
        store<f32>(dst + (<usize>k << 2), k >= lo && k < hi ? biasLane(biasSrc, k, slope, pos) : -Infinity);
      }
    }
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
  const negInf = cst(C_NEG_INF);
  for (let j = 0; j < BLOCK_KEYS; j += 4) v128.store(c.biasRow + (row << 6) + (<usize>j << 2), negInf);
}

