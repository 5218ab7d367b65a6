// One query row against one block of BLOCK_KEYS keys: its scores (recomputed from Q and
// the transposed key block), probabilities from the saved log-sum-exp, and dlogits.
//
//   s  = clamp(capped(scale · q·k)) + bias, clamped      (src/plan.ts, natural log units)
//   p  = exp(s − lse)                                    (FlashAttention-2: P recomputed, never stored)
//   dP = dO · v
//   dS = p ∘ (dP − delta)                                (delta = rowsum(dO ∘ O) = Σ p·dP)
//   dl = dS · scale · (1 − (capped/cap)²)                (the softcap derivative; 1 without softcap)
//
// Disallowed lanes (past the row's last key, or a -Infinity bias) are *selected* to 0 in
// p and dS, so a NaN in K or V at a masked key inside the block cannot leak (0·NaN would).
// The bias row (c.biasRow) is filled by the caller: the bias (or 0) for allowed-by-position
// keys, -Infinity past them.
import { madd } from '../inline/madd';
import { expNonPositive } from '../inline/exp';
import { softcapVec } from '../inline/softcap';
import { cst, clampAt, C_NEG_INF, C_SCORE_MAX, C_ONE } from '../inline/consts';
import { Call } from './layout';

/**
 * Biased scores of one row into c.sRow (-Infinity where disallowed). With softcap, c.dlRow
 * receives scale·(1 − (capped/cap)²), the factor that turns dS into dlogit.
 */
export function scoreRow(c: Call, qRow: usize): void {
  const kt = c.kt;
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  const headDim = c.headDim;
  for (let d = 0; d < headDim; d++) {
    const qd = v128.load32_splat(qRow + (<usize>d << 2));
    const at = kt + (<usize>d << 6);
    s0 = madd(qd, v128.load(at), s0);
    s1 = madd(qd, v128.load(at, 16), s1);
    s2 = madd(qd, v128.load(at, 32), s2);
    s3 = madd(qd, v128.load(at, 48), s3);
  }
  finishScores(c, 0, s0, s1, s2, s3);
}

/**
 * The biased scores of row `row` (0–3) of the row buffers from its four dot-product vectors:
 * scaled, soft-capped (the softcap factor into dlRow), clamped, biased, masked.
 */
@inline export function finishScores(c: Call, row: usize, s0: v128, s1: v128, s2: v128, s3: v128): void {
  const scale = f32x4.splat(c.scale);
  s0 = f32x4.mul(s0, scale);
  s1 = f32x4.mul(s1, scale);
  s2 = f32x4.mul(s2, scale);
  s3 = f32x4.mul(s3, scale);
  const at = row << 6;
  if (c.softcap > 0) {
    const cap = f32x4.splat(c.softcap);
    const inv = f32x4.splat(<f32>1 / c.softcap);
    s0 = softcapVec(s0, cap, inv);
    s1 = softcapVec(s1, cap, inv);
    s2 = softcapVec(s2, cap, inv);
    s3 = softcapVec(s3, cap, inv);
    capFactor(c.dlRow + at, s0, inv, scale);
    capFactor(c.dlRow + at + 16, s1, inv, scale);
    capFactor(c.dlRow + at + 32, s2, inv, scale);
    capFactor(c.dlRow + at + 48, s3, inv, scale);
  }
  biasLanes(c.sRow + at, s0, c.biasRow + at);
  biasLanes(c.sRow + at + 16, s1, c.biasRow + at + 16);
  biasLanes(c.sRow + at + 32, s2, c.biasRow + at + 32);
  biasLanes(c.sRow + at + 48, s3, c.biasRow + at + 48);
}

/** dst = scale·(1 − (capped·invCap)²): d capped / d dot, times the scale. */
@inline function capFactor(dst: usize, capped: v128, inv: v128, scale: v128): void {
  const t = f32x4.mul(capped, inv);
  v128.store(dst, f32x4.mul(f32x4.sub(cst(C_ONE), f32x4.mul(t, t)), scale));
}

/** dst = bias == -Infinity ? -Infinity : clamp(clamp(s) + bias). */
@inline function biasLanes(dst: usize, s: v128, biasAt: usize): void {
  const bias = v128.load(biasAt);
  const biased = clampAt(f32x4.add(clampAt(s, C_SCORE_MAX), bias), C_SCORE_MAX);
  const negInf = cst(C_NEG_INF);
  v128.store(dst, v128.bitselect(negInf, biased, f32x4.eq(bias, negInf)));
}

/**
 * p and dl of one row into c.pRow and c.dlRow, from its scores (scoreRow first), its
 * log-sum-exp, delta and dO row. Returns nothing; dS (before the softcap factor) goes to
 * `dbiasRow` for the row's first `keys` keys when dbiasRow is not 0.
 */
export function gradRow(c: Call, doRow: usize, lse: f32, delta: f32, keys: i32, dbiasRow: usize): void {
  const vt = c.vt;
  const valueDim = c.valueDim;
  let d0 = f32x4.splat(0), d1 = f32x4.splat(0), d2 = f32x4.splat(0), d3 = f32x4.splat(0);
  for (let d = 0; d < valueDim; d++) {
    const od = v128.load32_splat(doRow + (<usize>d << 2));
    const at = vt + (<usize>d << 6);
    d0 = madd(od, v128.load(at), d0);
    d1 = madd(od, v128.load(at, 16), d1);
    d2 = madd(od, v128.load(at, 32), d2);
    d3 = madd(od, v128.load(at, 48), d3);
  }
  const vlse = f32x4.splat(lse);
  const vdelta = f32x4.splat(delta);
  const capped = c.softcap > 0;
  const scale = f32x4.splat(c.scale);
  gradLanes(c, 0, d0, vlse, vdelta, capped, scale);
  gradLanes(c, 16, d1, vlse, vdelta, capped, scale);
  gradLanes(c, 32, d2, vlse, vdelta, capped, scale);
  gradLanes(c, 48, d3, vlse, vdelta, capped, scale);
  if (dbiasRow != 0) {
    // dS itself (the bias enters the score additively): undo the factor lane by lane would
    // round twice, so it was kept in sRow by gradLanes.
    for (let j = 0; j < keys; j++) store<f32>(dbiasRow + (<usize>j << 2), load<f32>(c.sRow + (<usize>j << 2)));
  }
}

/** Four lanes of gradRow at byte `at` of the row buffers (row·64 + lane·4): p, dS (kept in sRow for dbias), dl. */
@inline export function gradLanes(c: Call, at: usize, dp: v128, lse: v128, delta: v128, capped: bool, scale: v128): void {
  const s = v128.load(c.sRow + at);
  const negInf = cst(C_NEG_INF);
  const allowed = f32x4.ne(s, negInf);
  const p = v128.and(expNonPositive(f32x4.sub(s, lse)), allowed);
  const ds = v128.and(f32x4.mul(p, f32x4.sub(dp, delta)), allowed);
  v128.store(c.pRow + at, p);
  v128.store(c.sRow + at, ds);
  v128.store(c.dlRow + at, f32x4.mul(ds, capped ? v128.load(c.dlRow + at) : scale));
}
