// Vectorized e^x for f32x4.
//
// Method (Cody–Waite range reduction + polynomial, as XNNPACK f32-vexp "rr2-p5"):
//   n = round(x·log2e)            via the magic-number add (C_EXP_MAGIC), no float→int convert
//   r = x − n·ln2_hi − n·ln2_lo   |r| <= ln2/2 (+ a rounding ulp without FMA)
//   s = 2^n                       shift of the magic sum's low bits into the exponent field
//   e = s + (s·r)·(c1 + c2 r + c3 r² + c4 r³ + c5 r⁴)
// Error (measured by test/kernel/vexp.test.ts, dense sweep of [-87, 88] against float64
// Math.exp): max relative error 1.79e-7 (simd, mul+add) and 1.63e-7 (relaxed, FMA), i.e.
// < 1.5·2^-23.
// Special values: x < -87.33 (incl. -Infinity) → +0 (results below ~1.19e-38 are flushed,
// so no denormals reach the softmax sums); NaN → NaN; in expVec only, x > 88.37 → +Infinity
// (true overflow is at 88.72, so exp is reported as +Infinity on (88.37, 88.72]).
import { madd } from './madd';
import {
  cst, C_LOG2E, C_EXP_MAGIC, C_NEG_LN2_HI, C_NEG_LN2_LO, C_EXP_C5, C_EXP_C4, C_EXP_C3,
  C_EXP_C2, C_EXP_C1, C_EXP_LO, C_EXP_HI, C_INF,
  C_EXP2_LO, C_EXP2_C5, C_EXP2_C4, C_EXP2_C3, C_EXP2_C2, C_EXP2_C1,
} from './consts';

/** e^x for x <= 88.37 (the softmax only ever needs x <= 0). -Infinity → 0, NaN → NaN. */
// @ts-ignore: decorator
@inline export function expNonPositive(x: v128): v128 {
  // pmax(a, b) = a < b ? b : a: one maxps in V8 (f32x4.max is ~8 instructions); a NaN x
  // compares false and passes through.
  const lo = cst(C_EXP_LO);
  const xc = f32x4.pmax(x, lo);
  const magic = cst(C_EXP_MAGIC);
  const t = madd(xc, cst(C_LOG2E), magic);
  const s = i32x4.shl(t, 23);
  const n = f32x4.sub(t, magic);
  let r = madd(n, cst(C_NEG_LN2_HI), xc);
  r = madd(n, cst(C_NEG_LN2_LO), r);
  let q = madd(cst(C_EXP_C5), r, cst(C_EXP_C4));
  q = madd(q, r, cst(C_EXP_C3));
  q = madd(q, r, cst(C_EXP_C2));
  q = madd(q, r, cst(C_EXP_C1));
  const e = madd(f32x4.mul(s, r), q, s);
  // x < lo (incl. -Infinity) → exactly +0: a masked logit must contribute nothing.
  return v128.andnot(e, f32x4.lt(x, lo));
}

/** e^x over the whole float range (see the header for the special values). */
// @ts-ignore: decorator
@inline export function expVec(x: v128): v128 {
  const hi = cst(C_EXP_HI);
  // pmin(a, b) = b < a ? b : a: +Infinity → hi, NaN passes through.
  const e = expNonPositive(f32x4.pmin(x, hi));
  return v128.bitselect(cst(C_INF), e, f32x4.gt(x, hi));
}

/**
 * 2^x for x <= 127 (the fused softmax, whose scores are kept in log2 units, only needs
 * x <= 0). x <= -126.5 (incl. -Infinity) → exactly +0, so a masked logit contributes
 * nothing; on (-126.5, -126) the result is subnormal; NaN → NaN.
 *
 * The same method as {@link expNonPositive} without its range reduction: r = x − n is exact
 * (n = round(x) is within 1/2 of x): the x·log2e multiply-add and the two Cody–Waite
 * multiply-adds become one add and one subtract. And no compare and select for the flush to
 * 0: x is clamped at -127, where n = -127 leaves a zero exponent field, so s = +0 and
 * e = s + (s·r)·q = +0. 16 vector ops instead of 22 in the mul+add build (11 instead of 14
 * with FMA). Dropping the select measured (H8 N1024 D64, CPU time, best median of 6-8
 * processes): 42.4 → 41.6 ms relaxed; simd unchanged (53.0 vs 53.2 ms, within the noise).
 * The polynomial is the one of expNonPositive in r·ln2.
 * Error for an exact x (dense sweep of [-126, 0] against float64 2^x, the `vexp2` export in
 * test/kernel/vexp.test.ts): max relative error 1.90e-7 (mul+add), 1.69e-7 (FMA). The caller pays for
 * x being in log2 units: the product logit·log2e is one more rounding of the logit.
 */
// @ts-ignore: decorator
@inline export function exp2NonPositive(x: v128): v128 {
  const xc = f32x4.pmax(x, cst(C_EXP2_LO)); // NaN passes (see expNonPositive)
  const magic = cst(C_EXP_MAGIC);
  const t = f32x4.add(xc, magic);
  const s = i32x4.shl(t, 23);
  const r = f32x4.sub(xc, f32x4.sub(t, magic));
  let q = madd(cst(C_EXP2_C5), r, cst(C_EXP2_C4));
  q = madd(q, r, cst(C_EXP2_C3));
  q = madd(q, r, cst(C_EXP2_C2));
  q = madd(q, r, cst(C_EXP2_C1));
  return madd(f32x4.mul(s, r), q, s);
}
