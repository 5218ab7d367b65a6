// The key block's shared steps of the backward and the lse pass: K and V transposed into
// scratch, and one row's bias lanes.
import { Call, BLOCK_KEYS } from './layout';

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

/** Fills row `row` of c.biasRow: the bias (or 0) of keys [j0, j0+lim), -Infinity for lanes past lim. */
export function fillBias(c: Call, biasSrc: usize, lim: i32, row: usize = 0): void {
  const dst = c.biasRow + (row << 6);
  for (let j = 0; j < BLOCK_KEYS; j++) {
    const value: f32 = j >= lim ? -Infinity : biasSrc != 0 ? load<f32>(biasSrc + (<usize>j << 2)) : 0;
    store<f32>(dst + (<usize>j << 2), value);
  }
}

