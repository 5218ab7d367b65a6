// f32-pv-4x8-splat: the output update Oᵀ = Oᵀ·diag(alpha) + Vᵀ·P of the online softmax.
//
// Oᵀ is kept transposed in scratch, [valueDim][8 queries], so that the rescaling by alpha
// (one factor per query) is a plain vector multiply and any valueDim works with the same
// vector code (leftover columns use a 1x8 kernel, still vectorized across queries).
// Micro-kernel 4 value columns x 8 queries: per key j, 2 vector loads of P[j] and 4
// load32_splat of V[j][c..c+3], 8 multiply-adds; same register budget as f32-qk-4x8.
import { madd } from '../inline/madd';
import { cst, C_EXP_BITS } from '../inline/consts';
import { keyRangeEnd, keyRangeStart } from '../key-range';

/**
 * ot[c][0..8) = ot[c][0..8) · alpha + Σ_j p[j][0..8) · V[j][c] for c in [0, valueDim).
 * @param ot output accumulator, [valueDim][8] f32, 16-byte aligned
 * @param p probabilities, [keys][8] f32, 16-byte aligned
 * @param vRow byte address of value row 0 of the tile
 * @param vSeqBytes byte stride between value rows
 * @param alpha byte address of the 8 rescale factors (2 f32x4: queries 0..3, 4..7)
 */
export function valueTile(
  ot: usize, p: usize, vRow: usize, vSeqBytes: usize, keys: i32, valueDim: i32,
  alpha: usize,
): void {
  const alphaA = v128.load(alpha);
  const alphaB = v128.load(alpha, 16);
  const pEnd = p + (<usize>keys << 5);
  let c = 0;
  for (; c + 4 <= valueDim; c += 4) {
    const o = ot + (<usize>c << 5);
    let a0 = f32x4.mul(v128.load(o), alphaA), b0 = f32x4.mul(v128.load(o, 16), alphaB);
    let a1 = f32x4.mul(v128.load(o, 32), alphaA), b1 = f32x4.mul(v128.load(o, 48), alphaB);
    let a2 = f32x4.mul(v128.load(o, 64), alphaA), b2 = f32x4.mul(v128.load(o, 80), alphaB);
    let a3 = f32x4.mul(v128.load(o, 96), alphaA), b3 = f32x4.mul(v128.load(o, 112), alphaB);
    let v = vRow + (<usize>c << 2);
    let pp = p;
    while (pp < pEnd) {
      const pa = v128.load(pp);
      const pb = v128.load(pp, 16);
      let x = v128.load32_splat(v);
      a0 = madd(pa, x, a0);
      b0 = madd(pb, x, b0);
      x = v128.load32_splat(v, 4);
      a1 = madd(pa, x, a1);
      b1 = madd(pb, x, b1);
      x = v128.load32_splat(v, 8);
      a2 = madd(pa, x, a2);
      b2 = madd(pb, x, b2);
      x = v128.load32_splat(v, 12);
      a3 = madd(pa, x, a3);
      b3 = madd(pb, x, b3);
      pp += 32;
      v += vSeqBytes;
    }
    v128.store(o, a0);
    v128.store(o, b0, 16);
    v128.store(o, a1, 32);
    v128.store(o, b1, 48);
    v128.store(o, a2, 64);
    v128.store(o, b2, 80);
    v128.store(o, a3, 96);
    v128.store(o, b3, 112);
  }
  // leftovers: one value column at a time
  for (; c < valueDim; c++) {
    const o = ot + (<usize>c << 5);
    let a0 = f32x4.mul(v128.load(o), alphaA), b0 = f32x4.mul(v128.load(o, 16), alphaB);
    let v = vRow + (<usize>c << 2);
    let pp = p;
    while (pp < pEnd) {
      const x = v128.load32_splat(v);
      a0 = madd(v128.load(pp), x, a0);
      b0 = madd(v128.load(pp, 16), x, b0);
      pp += 32;
      v += vSeqBytes;
    }
    v128.store(o, a0);
    v128.store(o, b0, 16);
  }
}

/**
 * True when every value of rows [0, keys), columns [0, valueDim) is finite. Called only for
 * tiles with a masked (query, key) (fused/block.ts): there p = 0 at the masked lanes, and
 * 0 · NaN would leak a NaN/Inf value row into the queries that must not see it.
 * 3 vector ops per 4 values, next to the 8 multiply-adds per 4 values of valueTile.
 */
export function valuesFinite(vRow: usize, vSeqBytes: usize, keys: i32, valueDim: i32): bool {
  const bits = cst(C_EXP_BITS);
  let bad = v128.xor(bits, bits);
  const vecBytes = <usize>(valueDim & ~3) << 2;
  let row = vRow;
  for (let j = 0; j < keys; j++, row += vSeqBytes) {
    for (let c: usize = 0; c < vecBytes; c += 16) bad = v128.or(bad, i32x4.eq(v128.and(v128.load(row + c), bits), bits));
    // leftovers: the last valueDim mod 4 columns
    for (let c = valueDim & ~3; c < valueDim; c++) {
      if ((load<u32>(row + (<usize>c << 2)) & 0x7f800000) == 0x7f800000) return false;
    }
  }
  return !v128.any_true(bad);
}

/**
 * valueTile for a tile holding a masked (query, key) *and* a value row that is not finite:
 * masked lanes are skipped (src/plan.ts: a masked key never contributes, however it is
 * masked), recomputing the masks of fused/block.ts (key-range select, -Infinity bias). Scalar
 * and slow, but only ever run for such tiles, so the common path pays nothing.
 * @param firstKey key index of the tile's row 0; firstQuery, offset, left, right, keyEnd: as rangeTile
 * @param diagonal whether the key-range select applies to the tile
 * @param bias byte address of bias[query 0][key 0 of the tile], or 0
 * @param rows valid queries of the block (the bias has no rows for the padding lanes)
 */
export function valueTileMasked(
  ot: usize, p: usize, vRow: usize, vSeqBytes: usize, keys: i32, valueDim: i32, alpha: usize,
  firstKey: i32, firstQuery: i32, offset: i32, left: i32, right: i32, keyEnd: i32, diagonal: bool,
  bias: usize, biasQueryBytes: usize, rows: i32,
): void {
  const alphaA = v128.load(alpha);
  const alphaB = v128.load(alpha, 16);
  for (let c = 0; c < valueDim; c++) {
    const o = ot + (<usize>c << 5);
    v128.store(o, f32x4.mul(v128.load(o), alphaA));
    v128.store(o, f32x4.mul(v128.load(o, 16), alphaB), 16);
  }
  for (let j = 0; j < keys; j++) {
    const v = vRow + <usize>j * vSeqBytes;
    for (let q = 0; q < 8; q++) {
      if (diagonal) {
        const key = firstKey + j;
        const end = keyRangeEnd(firstQuery + q, offset, right, keyEnd);
        if (key >= end || key < keyRangeStart(firstQuery + q, offset, left, end)) continue;
      }
      if (bias != 0 && q < rows && load<f32>(bias + <usize>q * biasQueryBytes + (<usize>j << 2)) == -Infinity) continue;
      const pq = load<f32>(p + (<usize>j << 5) + (<usize>q << 2));
      for (let c = 0; c < valueDim; c++) {
        const o = ot + (<usize>c << 5) + (<usize>q << 2);
        store<f32>(o, load<f32>(o) + pq * load<f32>(v + (<usize>c << 2)));
      }
    }
  }
}
