// Masking and the online softmax update for one query row over one chunk of keys, in the
// order of src/plan.ts: soft-cap, the score clamp to ±2^127, the bias (clamped again), then
// masked positions *selected* to -Infinity (bias of
// -Infinity, the row's key range; never added to, so a NaN/±Infinity logit cannot leak), then
//   m_new = max(m, max_j s[j]);  alpha = exp(m − m_new);  p[j] = exp(s[j] − m_new)
//   l     = l·alpha + Σ_j p[j]
// (FlashAttention-2, Dao 2023, Alg. 1). A row with no allowed key so far (m_new = -Infinity)
// subtracts 0 instead, so p = alpha = 0 and l stays 0: never NaN (as the prefill kernel,
// kernels/f32-softmax-online-8.ts). Vectorized along the keys of the row: scores are
// [row][key] here, unlike the transposed tiles of the prefill kernel.
import { expNonPositive } from '../inline/exp';
import { softcapVec } from '../inline/softcap';
import { cst, clampAt, C_NEG_INF, C_SCORE_MAX, C_SIGN } from '../inline/consts';
import { madd } from '../inline/madd';

/** The score clamp bound, 2^127 (src/plan.ts SCORE_LIMIT; C_SCORE_MAX). */
const SCORE_MAX: f32 = 1.7014118346046923e38;

/**
 * Turns s[0..keys) into unnormalised probabilities in place and updates the row's state.
 * @param s the row's scores, 16-byte aligned, room for keys rounded up to 4
 * @param bias address of bias[j0] for this row, or 0
 * @param from keys [from, allowed) of the chunk are inside the row's key range (key-range.ts);
 *   either may be <= 0 or past the chunk
 * @param allowed see `from`
 * @param weights address of weights[j0] for this row, or 0: receives the masked scores
 * @param alibi the ALiBi term's factor, −slope_h (0: none); `distance` = the row's key position
 *   minus the chunk's first key: key j gets alibi·|distance − j|, after the clamp and before the
 *   bias (src/plan.ts; no clamp needed for it: |slope| <= 2^64, see kernels/f32-mask-tile-8.ts)
 * @param m address of the row's m; l and alpha are at `l` and `alpha`
 * @returns whether a key of the chunk is masked for this row; then its p is written as -0
 *   (+0 otherwise, as an underflow), which valueRowsMasked tells apart (f32-pv-axpy-2x4.ts)
 */
export function softmaxRow(
  s: usize, keys: i32, softcap: f32, bias: usize, from: i32, allowed: i32, weights: usize,
  m: usize, l: usize, alpha: usize, alibi: f32, distance: i32,
): bool {
  let masked = allowed < keys || from > 0;
  const padded = (keys + 3) & ~3;
  const end = s + (<usize>padded << 2);
  const negInf = cst(C_NEG_INF);
  // The clamp makes an overflowing score (±Infinity) the largest finite one: s − max stays
  // a number. One extra pass over the chunk without softcap (2 ops per 4 scores, next to
  // the headDim-long dot products that made them).
  if (softcap > 0) {
    const vcap = f32x4.splat(softcap);
    const vinv = f32x4.splat(<f32>1 / softcap);
    for (let p = s; p < end; p += 16) v128.store(p, clampAt(softcapVec(v128.load(p), vcap, vinv), C_SCORE_MAX));
  } else {
    for (let p = s; p < end; p += 16) v128.store(p, clampAt(v128.load(p), C_SCORE_MAX));
  }
  if (alibi != 0) {
    let d = i32x4.sub(i32x4.splat(distance), i32x4(0, 1, 2, 3));
    const four = i32x4.splat(4);
    const va = f32x4.splat(alibi);
    for (let p = s; p < end; p += 16) {
      v128.store(p, madd(f32x4.convert_i32x4_s(i32x4.abs(d)), va, v128.load(p)));
      d = i32x4.sub(d, four);
    }
  }
  if (bias != 0) {
    // |clamped score| <= 2^127 and |bias| <= FLT_MAX: the sum overflows only past FLT_MAX,
    // where the clamp gives 2^127 as the float64 contract does.
    let j = 0;
    for (; j + 4 <= keys; j += 4) {
      const p = s + (<usize>j << 2);
      const b = v128.load(bias + (<usize>j << 2));
      const x = clampAt(f32x4.add(v128.load(p), b), C_SCORE_MAX);
      const isMasked = f32x4.eq(b, negInf);
      masked = masked || v128.any_true(isMasked);
      v128.store(p, v128.bitselect(negInf, x, isMasked));
    }
    // leftovers
    for (; j < keys; j++) {
      const p = s + (<usize>j << 2);
      const b = load<f32>(bias + (<usize>j << 2));
      let x = load<f32>(p) + b;
      x = select<f32>(<f32>SCORE_MAX, x, x > <f32>SCORE_MAX);
      x = select<f32>(-<f32>SCORE_MAX, x, x < -<f32>SCORE_MAX);
      masked = masked || b == -Infinity;
      store<f32>(p, select<f32>(-Infinity, x, b == -Infinity));
    }
  }
  for (let j = max(allowed, 0); j < padded; j++) store<f32>(s + (<usize>j << 2), -Infinity);
  for (let j = 0; j < min(from, padded); j++) store<f32>(s + (<usize>j << 2), -Infinity);
  if (weights != 0) memory.copy(weights, s, <usize>keys << 2);

  let vmax = negInf;
  for (let p = s; p < end; p += 16) vmax = f32x4.pmax(vmax, v128.load(p));
  const chunkMax = max(
    max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)),
    max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)),
  );
  const mOld = load<f32>(m);
  const mNew = max(mOld, chunkMax);
  const u = select<f32>(0, mNew, mNew == -Infinity);
  const vu = f32x4.splat(u);
  let vsum = f32x4.splat(0);
  if (masked) {
    // Allowed scores are finite or NaN (clamped), so -Infinity is exactly a masked key.
    const sign = cst(C_SIGN);
    for (let p = s; p < end; p += 16) {
      const x = v128.load(p);
      const e = expNonPositive(f32x4.sub(x, vu));
      v128.store(p, v128.or(e, v128.and(f32x4.eq(x, negInf), sign)));
      vsum = f32x4.add(vsum, e);
    }
  } else {
    for (let p = s; p < end; p += 16) {
      const e = expNonPositive(f32x4.sub(v128.load(p), vu));
      v128.store(p, e);
      vsum = f32x4.add(vsum, e);
    }
  }
  const sum = f32x4.extract_lane(vsum, 0) + f32x4.extract_lane(vsum, 1)
    + f32x4.extract_lane(vsum, 2) + f32x4.extract_lane(vsum, 3);
  const a = f32x4.extract_lane(expNonPositive(f32x4.splat(mOld - u)), 0);
  store<f32>(m, mNew);
  store<f32>(l, load<f32>(l) * a + sum);
  store<f32>(alpha, a);
  return masked;
}
