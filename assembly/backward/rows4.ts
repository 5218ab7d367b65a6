// Four query rows (of one query head) against one block of BLOCK_KEYS keys: the unit's
// inner step when the block's K and V are finite (unit.ts; otherwise one row at a time,
// which skips masked keys so a NaN there cannot leak through 0·NaN).
//
// S = Q·Kᵀ and dP = dO·Vᵀ as f32-dots-4x8 tiles (4 rows × 8 keys of the transposed block:
// 8 accumulators + 2 loads + 1 splat = 11 live v128; the former 4 × 16 tile held 16
// accumulators + 4 loads and spilled in V8, which allocates xmm0–14 only), the second half
// of the block skipped when no row of the four sees past key 8 (the causal diagonal). p and
// dl go to the unit's chunk buffers (dK/dV are updated per chunk, kv-tiles.ts); dQ is
// updated here (queryTileUpdate). Measured (H8 N1024 D64, one thread, bench/backward.ts,
// side by side): see the README's bench figures.
import { madd } from '../inline/madd';
import { cst, C_NEG_INF, C_ZERO } from '../inline/consts';
import { expNonPositive } from '../inline/exp';
import { Call, BLOCK_KEYS } from './layout';
import { finishScores } from './row';
import { queryTileUpdate } from './kv-tiles';

/**
 * dst[r][0..8) = Σ_d row_r[d] · t[d][0..8) for the four rows row, row + stride, …: one
 * 4 × 8 tile of dot products (t: a transposed block, 64 bytes per d, at its key offset;
 * dst: [4][16] f32 at the same key offset).
 */
function dots4x8(dst: usize, t: usize, row: usize, stride: usize, dim: i32): void {
  let a0 = f32x4.splat(0), b0 = a0, a1 = a0, b1 = a0, a2 = a0, b2 = a0, a3 = a0, b3 = a0;
  const r1 = row + stride, r2 = r1 + stride, r3 = r2 + stride;
  const end = <usize>dim << 2;
  let at = t;
  for (let off: usize = 0; off < end; off += 4) {
    const ka = v128.load(at), kb = v128.load(at, 16);
    let x = v128.load32_splat(row + off);
    a0 = madd(x, ka, a0); b0 = madd(x, kb, b0);
    x = v128.load32_splat(r1 + off);
    a1 = madd(x, ka, a1); b1 = madd(x, kb, b1);
    x = v128.load32_splat(r2 + off);
    a2 = madd(x, ka, a2); b2 = madd(x, kb, b2);
    x = v128.load32_splat(r3 + off);
    a3 = madd(x, ka, a3); b3 = madd(x, kb, b3);
    at += 64;
  }
  v128.store(dst, a0); v128.store(dst, b0, 16);
  v128.store(dst, a1, 64); v128.store(dst, b1, 80);
  v128.store(dst, a2, 128); v128.store(dst, b2, 144);
  v128.store(dst, a3, 192); v128.store(dst, b3, 208);
}

/**
 * The four rows' dot products with the block (t transposed, `dim` long) into c.dots: one
 * tile per 8 keys up to `keys`; the lanes of a skipped tile are zeroed (they are masked,
 * but a stale NaN there would reach the softcap factor).
 */
@inline function dotsOfBlock(c: Call, t: usize, row: usize, stride: usize, dim: i32, keys: i32): void {
  dots4x8(c.dots, t, row, stride, dim);
  if (keys > 8) {
    dots4x8(c.dots + 32, t + 32, row, stride, dim);
  } else {
    const zero = cst(C_ZERO);
    for (let r: usize = 0; r < 4; r++) {
      v128.store(c.dots + (r << 6), zero, 32);
      v128.store(c.dots + (r << 6), zero, 48);
    }
  }
}

/**
 * The biased scores of rows at qRow, qRow + qS, ... (four rows) into the row buffers
 * (finishScores); lanes past `keys` are masked. The row buffers' bias rows must be filled.
 */
export function scores4(c: Call, qRow: usize, keys: i32): void {
  dotsOfBlock(c, c.kt, qRow, c.qS, c.headDim, keys);
  for (let r: usize = 0; r < 4; r++) {
    const at = c.dots + (r << 6);
    finishScores(c, r, v128.load(at), v128.load(at, 16), v128.load(at, 32), v128.load(at, 48));
  }
}

/**
 * The step of rows i..i+3 of head h: scores, p and dl (into the chunk buffers at pAt/dlAt,
 * [4][16] each), dS into dbias when asked, then dQ += dL·K (in place).
 * `lseAt`/`deltaAt`: the four rows' lse and delta (contiguous); `lims` the four rows'
 * allowed key counts in the block (0 for a row with no gradient), `keys` their maximum.
 */
export function gradRows4(
  c: Call, qRow: usize, doRow: usize, dqRow: usize, lseAt: usize, deltaAt: usize,
  kBlock: usize, keys: i32, dbiasRow: usize, lims: usize, pAt: usize, dlAt: usize,
): void {
  scores4(c, qRow, keys);
  dotsOfBlock(c, c.vt, doRow, c.oS, c.valueDim, keys);
  const capped = c.softcap > 0;
  const scale = f32x4.splat(c.scale);
  for (let r: usize = 0; r < 4; r++) {
    const lse = v128.load32_splat(lseAt + (r << 2));
    const delta = v128.load32_splat(deltaAt + (r << 2));
    const at = r << 6;
    for (let lane: usize = 0; lane < 64; lane += 16) {
      lanes(c, at + lane, pAt + at + lane, dlAt + at + lane, v128.load(c.dots + at + lane), lse, delta, capped, scale);
    }
  }
  if (dbiasRow != 0) {
    for (let r = 0; r < 4; r++) {
      const lim = load<i32>(lims + (<usize>r << 2));
      const dst = dbiasRow + <usize>r * (<usize>c.seqLenK << 2);
      for (let j = 0; j < lim; j++) store<f32>(dst + (<usize>j << 2), load<f32>(c.sRow + (<usize>r << 6) + (<usize>j << 2)));
    }
  }
  queryTileUpdate(dqRow, c.qS, dlAt, kBlock, c.kS, keys, c.headDim);
}

/**
 * Four lanes at byte `at` of the row buffers (row·64 + lane·4): p to pDst, dS kept in sRow
 * (for dbias), dl to dlDst; row.ts gradLanes' rule with its outputs elsewhere.
 */
@inline function lanes(c: Call, at: usize, pDst: usize, dlDst: usize, dp: v128, lse: v128, delta: v128, capped: bool, scale: v128): void {
  const s = v128.load(c.sRow + at);
  const negInf = cst(C_NEG_INF);
  const allowed = f32x4.ne(s, negInf);
  const p = v128.and(expNonPositive(f32x4.sub(s, lse)), allowed);
  const ds = v128.and(f32x4.mul(p, f32x4.sub(dp, delta)), allowed);
  v128.store(pDst, p);
  v128.store(c.sRow + at, ds);
  v128.store(dlDst, f32x4.mul(ds, capped ? v128.load(c.dlRow + at) : scale));
}

export { BLOCK_KEYS };
