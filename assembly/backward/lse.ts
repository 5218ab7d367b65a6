// The log-sum-exp of every row of one unit (b, KV head), for a backward call given no
// `lse`: the forward's scores again (scoreRow), folded with the online softmax of
// Milakov & Gimelshein (2018): per row a running maximum m and sum Σ exp(s − m), rescaled
// by exp(m_old − m_new) when a block raises the maximum. Cost: one Q·Kᵀ pass, 2·Lq·Lk·D
// FLOPs per head, a fifth of the backward's 10·Lq·Lk·D.
import { Call, BLOCK_KEYS } from './layout';
import { scoreRow } from './row';
import { scores4 } from './rows4';
import { packBlock, prepareRow, fillMasked } from './block';
import { expNonPositive } from '../inline/exp';

/** Folds the scores of row buffer `row` into the running max and sum of unit row r. */
function foldRow(c: Call, r: i32, row: usize): void {
  const scores = c.sRow + (row << 6);
  // f32x4.max, not pmax: a NaN score must reach the maximum (and so the row's lse).
  const m4 = f32x4.max(f32x4.max(v128.load(scores), v128.load(scores, 16)), f32x4.max(v128.load(scores, 32), v128.load(scores, 48)));
  const blockMax = max(max(f32x4.extract_lane(m4, 0), f32x4.extract_lane(m4, 1)), max(f32x4.extract_lane(m4, 2), f32x4.extract_lane(m4, 3)));
  if (blockMax == -Infinity) return; // every key of the block masked for this row
  const at = <usize>r << 2;
  const m = load<f32>(c.delta + at);
  const newMax = max(m, blockMax); // NaN propagates: a NaN score makes the row NaN
  let sum = m == -Infinity ? <f32>0 : load<f32>(c.rowSum + at) * Mathf.exp(m - newMax);
  const vmax = f32x4.splat(newMax);
  let acc = f32x4.splat(0);
  for (let j = 0; j < BLOCK_KEYS; j += 4) acc = f32x4.add(acc, expNonPositive(f32x4.sub(v128.load(scores + (<usize>j << 2)), vmax)));
  sum += f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  store<f32>(c.delta + at, newMax);
  store<f32>(c.rowSum + at, sum);
}

/** Writes lse[b, h, i] for the query heads of unit (b, kvHead): -Infinity for a row with no allowed key. */
export function lseUnit(c: Call, b: i32, kvHead: i32): void {
  const group = c.qHeads / c.kvHeads;
  const firstHead = kvHead * group;
  const keyLength = c.keyLength(b);
  const offset = c.offset(b);
  const rows = group * c.seqLenQ;
  for (let r = 0; r < rows; r++) {
    store<f32>(c.delta + (<usize>r << 2), -Infinity);
    store<f32>(c.rowSum + (<usize>r << 2), 0);
  }
  const kHead = c.k + <usize>b * c.kB + <usize>kvHead * c.kH;
  for (let j0 = 0; j0 < keyLength; j0 += BLOCK_KEYS) {
    const n = min(BLOCK_KEYS, keyLength - j0);
    packBlock(c.kt, kHead + <usize>j0 * c.kS, c.kS, c.headDim, n);
    const firstRow = c.firstRow(j0, offset);
    for (let hh = 0; hh < group; hh++) {
      const h = firstHead + hh;
      let i = firstRow;
      // Four rows at a time (shared kt loads, rows4.ts); a masked key's lane is -Infinity
      // and exp(-Infinity − m) = 0, so a NaN K at a masked key cannot reach the sum.
      // Groups that see none of the block are skipped, and the block's second 8 keys when no
      // row of the four sees them (scores4: the causal diagonal).
      for (; i + 4 <= c.seqLenQ; i += 4) {
        let keys = 0;
        for (let r = 0; r < 4; r++) {
          const lim = prepareRow(c, b, h, i + r, j0, n, offset, keyLength, <usize>r);
          if (lim == 0) fillMasked(c, <usize>r);
          keys = max(keys, lim);
        }
        if (keys == 0) continue;
        scores4(c, c.q + <usize>b * c.qB + <usize>h * c.qH + <usize>i * c.qS, keys);
        for (let r = 0; r < 4; r++) foldRow(c, hh * c.seqLenQ + i + r, <usize>r);
      }
      for (; i < c.seqLenQ; i++) {
        if (prepareRow(c, b, h, i, j0, n, offset, keyLength, 0) == 0) continue;
        scoreRow(c, c.q + <usize>b * c.qB + <usize>h * c.qH + <usize>i * c.qS);
        foldRow(c, hh * c.seqLenQ + i, 0);
      }
    }
  }
  for (let hh = 0; hh < group; hh++) {
    const rowBase = (b * c.qHeads + firstHead + hh) * c.seqLenQ;
    for (let i = 0; i < c.seqLenQ; i++) {
      const r = <usize>(hh * c.seqLenQ + i) << 2;
      const m = load<f32>(c.delta + r);
      store<f32>(c.lse + (<usize>(rowBase + i) << 2), m == -Infinity ? -Infinity : m + Mathf.log(load<f32>(c.rowSum + r)));
    }
  }
}
