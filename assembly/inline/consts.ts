// Vector constants, each splatted over 4 lanes in a 16-byte-aligned data segment.
//
// Why a table: V8 (Node 20) re-materialises every `v128.const` inside a loop on each
// iteration (several instructions for a non-trivial pattern; measured on this machine),
// while a v128.load of a constant address is one instruction that can fold into the
// arithmetic as a memory operand.

/** Byte offsets into {@link CONSTS}; each entry is one f32x4 (16 bytes). */
export const C_LOG2E: usize = 0;
export const C_EXP_MAGIC: usize = 16;
export const C_NEG_LN2_HI: usize = 32;
export const C_NEG_LN2_LO: usize = 48;
export const C_EXP_C5: usize = 64;
export const C_EXP_C4: usize = 80;
export const C_EXP_C3: usize = 96;
export const C_EXP_C2: usize = 112;
export const C_EXP_C1: usize = 128;
export const C_EXP_LO: usize = 144;
export const C_EXP_HI: usize = 160;
export const C_INF: usize = 176;
export const C_NEG_INF: usize = 192;
export const C_ONE: usize = 208;
export const C_MINUS_TWO: usize = 224;
export const C_SIGN: usize = 240;
export const C_TANH_SMALL: usize = 256;
export const C_TANH_C3: usize = 272;
export const C_TANH_C5: usize = 288;
export const C_TANH_C7: usize = 304;
export const C_TANH_C9: usize = 320;
export const C_ZERO: usize = 336;
export const C_EXP2_LO: usize = 352;
export const C_EXP2_C5: usize = 368;
export const C_EXP2_C4: usize = 384;
export const C_EXP2_C3: usize = 400;
export const C_EXP2_C2: usize = 416;
export const C_EXP2_C1: usize = 432;
export const C_SCORE_MAX: usize = 448;
export const C_SCORE_MIN: usize = 464;
export const C_SCORE_MAX_LOG2: usize = 480;
export const C_SCORE_MIN_LOG2: usize = 496;
export const C_EXP_BITS: usize = 512;

export const CONSTS: usize = memory.data<f32>([
  // C_LOG2E
  1.4426950216293335, 1.4426950216293335, 1.4426950216293335, 1.4426950216293335,
  // C_EXP_MAGIC = 0x1.8000FEp23 = 1.5·2^23 + 127: adding it rounds x·log2e to an integer n
  // and leaves n + 127 (the biased exponent) in the low mantissa bits (XNNPACK trick).
  12583039.0, 12583039.0, 12583039.0, 12583039.0,
  // C_NEG_LN2_HI = -0x1.62E400p-1 (16 significant bits: n·ln2_hi is exact for |n| < 256)
  -0.693145751953125, -0.693145751953125, -0.693145751953125, -0.693145751953125,
  // C_NEG_LN2_LO = -0x1.7F7D1Cp-20
  -1.428606765330187e-6, -1.428606765330187e-6, -1.428606765330187e-6, -1.428606765330187e-6,
  // C_EXP_C5..C1: degree-5 minimax for e^r on [-ln2/2, ln2/2] (XNNPACK f32-vexp rr2-p5):
  // 0x1.0F9F9Cp-7, 0x1.573A1Ap-5, 0x1.555A80p-3, 0x1.FFFDC6p-2, 0x1.FFFFF6p-1
  0.008289290592074394, 0.008289290592074394, 0.008289290592074394, 0.008289290592074394,
  0.04189782217144966, 0.04189782217144966, 0.04189782217144966, 0.04189782217144966,
  0.16667652130126953, 0.16667652130126953, 0.16667652130126953, 0.16667652130126953,
  0.4999915063381195, 0.4999915063381195, 0.4999915063381195, 0.4999915063381195,
  0.9999997019767761, 0.9999997019767761, 0.9999997019767761, 0.9999997019767761,
  // C_EXP_LO: below this, exp flushes to 0 (e^-87.33 ≈ 1.19e-38, just above FLT_MIN
  // 1.175e-38; keeps n >= -126 so 2^n stays normal, and avoids denormal arithmetic,
  // ~100x slower on x86, in the softmax accumulators).
  -87.33, -87.33, -87.33, -87.33,
  // C_EXP_HI: above this, exp saturates to +Infinity (keeps n <= 127).
  88.37, 88.37, 88.37, 88.37,
  // C_INF, C_NEG_INF
  Infinity, Infinity, Infinity, Infinity,
  -Infinity, -Infinity, -Infinity, -Infinity,
  // C_ONE, C_MINUS_TWO
  1.0, 1.0, 1.0, 1.0,
  -2.0, -2.0, -2.0, -2.0,
  // C_SIGN: -0.0 is the sign-bit mask
  -0.0, -0.0, -0.0, -0.0,
  // C_TANH_SMALL: below this |x|, tanh uses its Taylor series (see softcap.ts)
  0.25, 0.25, 0.25, 0.25,
  // C_TANH_C3..C9: Taylor coefficients of tanh: -1/3, 2/15, -17/315, 62/2835
  -0.33333333, -0.33333333, -0.33333333, -0.33333333,
  0.13333333, 0.13333333, 0.13333333, 0.13333333,
  -0.05396825, -0.05396825, -0.05396825, -0.05396825,
  0.02186949, 0.02186949, 0.02186949, 0.02186949,
  // C_ZERO
  0.0, 0.0, 0.0, 0.0,
  // C_EXP2_LO: the clamp of 2^x: n = -127 there, the biased exponent is 0, so 2^x = +0
  // exactly (inline/exp.ts); the flush bound 2^-126.5 is about C_EXP_LO's
  -127.0, -127.0, -127.0, -127.0,
  // C_EXP2_C5..C1: the C_EXP_C* polynomial in r·ln2, i.e. C_EXP_Ck·ln2^k rounded to f32,
  // for 2^r on [-1/2, 1/2]: 0x3AADD78A, 0x3C1E7529, 0x3D635BB8, 0x3E75FCDE, 0x3F317215
  0.0013263088185340166, 0.0013263088185340166, 0.0013263088185340166, 0.0013263088185340166,
  0.009671487845480442, 0.009671487845480442, 0.009671487845480442, 0.009671487845480442,
  0.055507391691207886, 0.055507391691207886, 0.055507391691207886, 0.055507391691207886,
  0.24022242426872253, 0.24022242426872253, 0.24022242426872253, 0.24022242426872253,
  0.6931470036506653, 0.6931470036506653, 0.6931470036506653, 0.6931470036506653,
  // C_SCORE_MAX, C_SCORE_MIN: ±2^127, the clamp of an allowed score (src/plan.ts SCORE_LIMIT):
  // an overflowing logit acts as the largest finite one instead of making s − max NaN.
  1.7014118346046923e38, 1.7014118346046923e38, 1.7014118346046923e38, 1.7014118346046923e38,
  -1.7014118346046923e38, -1.7014118346046923e38, -1.7014118346046923e38, -1.7014118346046923e38,
  // C_SCORE_MAX_LOG2, C_SCORE_MIN_LOG2: the same bound in the fused kernel's log2 units,
  // ±f32(2^127·log2e) (finite: why the bound is 2^127 and not FLT_MAX).
  2.4546183835254206e38, 2.4546183835254206e38, 2.4546183835254206e38, 2.4546183835254206e38,
  -2.4546183835254206e38, -2.4546183835254206e38, -2.4546183835254206e38, -2.4546183835254206e38,
  // C_EXP_BITS: 0x7F800000, the exponent field (+Infinity's bits): x & it == it iff x is not finite
  Infinity, Infinity, Infinity, Infinity,
], 16);

/**
 * min(max(x, lo), hi) lane-wise, NaN kept, for the bounds at byte offset `hiAt` (hi) and
 * `hiAt + 16` (lo) of {@link CONSTS}. pmin(a, b) = b < a ? b : a and pmax(a, b) = a < b ? b : a
 * are one minps/maxps each in V8 (f32x4.min/max are ~8 instructions); with x first, a NaN x
 * compares false both times and passes through.
 */
// @ts-ignore: decorator
@inline export function clampAt(x: v128, hiAt: usize): v128 {
  return f32x4.pmax(f32x4.pmin(x, cst(hiAt)), cst(hiAt + 16));
}

/** Loads the f32x4 constant at byte offset `at` of {@link CONSTS}. */
// @ts-ignore: decorator
@inline export function cst(at: usize): v128 {
  return v128.load(CONSTS + at);
}
