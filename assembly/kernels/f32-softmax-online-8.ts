// Online softmax update for 8 queries over one transposed score tile (FlashAttention-2,
// Dao 2023, Alg. 1; the same steps as ggml's flash-attn-ext CPU kernel):
//   m_new = max(m, max_j s[j])                 running row max
//   alpha = 2^(m − m_new)                      rescales what was accumulated so far
//   p[j]  = 2^(s[j] − m_new)                   unnormalised probabilities (in place)
//   l     = l·alpha + Σ_j p[j]                 running denominator
// The scores (and m) are in log2 units, s = logit·log2e (fused/block.ts), so 2^(s − m) is
// e^(logit − max): 2^x needs no Cody–Waite reduction (inline/exp.ts). Measured (H8 N1024
// D64, best median of 3 processes, CPU time): 57.4 → 56.1 ms simd, 45.3 → 44.2 ms relaxed.
// All vectors hold 8 queries as 2 f32x4 (A: queries 0..3, B: 4..7): no horizontal reduction.
// Guard for rows with no allowed key so far (m_new = -Infinity): subtract 0 instead of m_new,
// so p = 2^-Inf = 0 and alpha = 2^-Inf = 0 (O and l are still 0), never NaN.
// Max via f32x4.pmax (one maxps in V8; f32x4.max is ~8 instructions): pmax skips a NaN
// score, but that NaN still reaches p = 2^(NaN − m) = NaN, so a NaN row stays NaN.
import { exp2NonPositive } from '../inline/exp';
import { cst, C_NEG_INF, C_ZERO } from '../inline/consts';

/** Byte offsets of the softmax state (6 f32x4) inside its scratch block. */
export const STATE_M_A: usize = 0;
export const STATE_M_B: usize = 16;
export const STATE_L_A: usize = 32;
export const STATE_L_B: usize = 48;
export const STATE_ALPHA_A: usize = 64;
export const STATE_ALPHA_B: usize = 80;
export const STATE_BYTES: usize = 96;

/** Resets the state: m = -Infinity, l = 0. */
export function softmaxReset(state: usize): void {
  v128.store(state, cst(C_NEG_INF), STATE_M_A);
  v128.store(state, cst(C_NEG_INF), STATE_M_B);
  v128.store(state, cst(C_ZERO), STATE_L_A);
  v128.store(state, cst(C_ZERO), STATE_L_B);
}

/** Turns s[0..keys)[8] into p in place and updates m, l; writes alpha to the state. */
export function softmaxTile(s: usize, keys: i32, state: usize): void {
  const end = s + (<usize>keys << 5);
  let ta = cst(C_NEG_INF);
  let tb = ta;
  // Two keys per step into 4 running maxima: one chain of pmax (latency 4) per f32x4 made
  // this pass latency-bound. Measured (H8 N1024 D64, best median of 4 processes, CPU time):
  // 56.7 → 56.3 ms simd, 45.2 → 43.8 ms relaxed.
  let tc = ta;
  let td = ta;
  let p = s;
  for (; p + 64 <= end; p += 64) {
    ta = f32x4.pmax(ta, v128.load(p));
    tb = f32x4.pmax(tb, v128.load(p, 16));
    tc = f32x4.pmax(tc, v128.load(p, 32));
    td = f32x4.pmax(td, v128.load(p, 48));
  }
  // leftovers: an odd key count
  if (p < end) {
    ta = f32x4.pmax(ta, v128.load(p));
    tb = f32x4.pmax(tb, v128.load(p, 16));
  }
  ta = f32x4.pmax(ta, tc);
  tb = f32x4.pmax(tb, td);
  const ma = v128.load(state, STATE_M_A);
  const mb = v128.load(state, STATE_M_B);
  const na = f32x4.pmax(ma, ta);
  const nb = f32x4.pmax(mb, tb);
  const negInf = cst(C_NEG_INF);
  const ua = v128.andnot(na, f32x4.eq(na, negInf));
  const ub = v128.andnot(nb, f32x4.eq(nb, negInf));
  let la = f32x4.splat(0);
  let lb = f32x4.splat(0);
  for (p = s; p < end; p += 32) {
    const pa = exp2NonPositive(f32x4.sub(v128.load(p), ua));
    const pb = exp2NonPositive(f32x4.sub(v128.load(p, 16), ub));
    v128.store(p, pa);
    v128.store(p, pb, 16);
    la = f32x4.add(la, pa);
    lb = f32x4.add(lb, pb);
  }
  const alphaA = exp2NonPositive(f32x4.sub(ma, ua));
  const alphaB = exp2NonPositive(f32x4.sub(mb, ub));
  v128.store(state, na, STATE_M_A);
  v128.store(state, nb, STATE_M_B);
  v128.store(state, f32x4.add(f32x4.mul(v128.load(state, STATE_L_A), alphaA), la), STATE_L_A);
  v128.store(state, f32x4.add(f32x4.mul(v128.load(state, STATE_L_B), alphaB), lb), STATE_L_B);
  v128.store(state, alphaA, STATE_ALPHA_A);
  v128.store(state, alphaB, STATE_ALPHA_B);
}
