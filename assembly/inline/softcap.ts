// Vectorized soft-capping: cap · tanh(x / cap) (Gemma 2 style logit capping).
//
// tanh(t) for |t| >= 0.25: (1 − e)/(1 + e) with e = e^(−2|t|) from expNonPositive, then the
// sign of t. The exp error (≈2 ulp) is amplified by e/(1 − e) <= 1.54 at |t| = 0.25.
// tanh(t) for |t| < 0.25: Taylor series to t⁹ (truncation < 1e-8 relative), avoiding the
// cancellation of 1 − e near 0.
// Error (measured by test/kernel/vexp.test.ts through stage 'capped', cap 1, x in [-20, 20]
// vs float64 Math.tanh): max relative error 3.07e-7 (2.6·2^-23), at |x| ≈ 0.27 just above
// the series/exp switch, both builds. x/cap is computed as x·(1/cap) (one more half-ulp).
// Special values: ±Infinity → ±cap, NaN → NaN.
import { madd } from './madd';
import { expNonPositive } from './exp';
import {
  cst, C_ONE, C_MINUS_TWO, C_SIGN, C_TANH_SMALL, C_TANH_C3, C_TANH_C5, C_TANH_C7, C_TANH_C9,
} from './consts';

/** cap · tanh(x · invCap), lane-wise. */
// @ts-ignore: decorator
@inline export function softcapVec(x: v128, cap: v128, invCap: v128): v128 {
  const t = f32x4.mul(x, invCap);
  const a = f32x4.abs(t);
  const e = expNonPositive(f32x4.mul(a, cst(C_MINUS_TWO)));
  const one = cst(C_ONE);
  const big = f32x4.div(f32x4.sub(one, e), f32x4.add(one, e));
  const a2 = f32x4.mul(a, a);
  let p = madd(a2, cst(C_TANH_C9), cst(C_TANH_C7));
  p = madd(p, a2, cst(C_TANH_C5));
  p = madd(p, a2, cst(C_TANH_C3));
  const small = madd(f32x4.mul(a, a2), p, a);
  const th = v128.bitselect(small, big, f32x4.lt(a, cst(C_TANH_SMALL)));
  // copysign(th, t): th >= 0, so xor-ing t's sign bit in is enough.
  return f32x4.mul(v128.xor(th, v128.and(t, cst(C_SIGN))), cap);
}
