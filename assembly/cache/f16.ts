// IEEE binary16 ↔ binary32 with SIMD integer ops (float16 KV caches are stored as half
// bits and converted inside the kernel; attention is computed in f32).
//
// Half → float (exact for every half: normals, subnormals, ±0, ±Infinity, NaN payloads),
// the method of Fabian Giesen's `half_to_float_fast` ("float->half variants", 2012),
// vectorized:
//   x    = h << 16                   one punpcklwd/punpckhwd per 4 halves (unpack with zero)
//   sign = x & 0x80000000
//   em   = (x ^ sign) >>> 3          = (h & 0x7fff) << 13: exponent and mantissa in place
//   f    = asFloat(em) · 2^112       rebias the exponent by 127 − 15; a subnormal half is an
//                                    f32 denormal here, and the multiply normalises it exactly
//   f   |= em > 0x0F7FE000 ? 0x7F800000 : 0    Inf/NaN halves (exponent 31): all-ones
//                                    exponent, the mantissa (NaN payload) kept
//   f   |= sign
// 8 operations per 4 halves. The multiply sees a denormal operand only for subnormal
// halves (|x| < 6.1e-5), never produces one.

import { f16Const, C_SCALED_MASK } from './consts';

const SIGN_MASK: i32 = 0x80000000;
/** 2^112 as f32 bits (exponent 127 + 112 = 239). */
const REBIAS: i32 = 0x77800000;
/** (0x7bff << 13): the largest finite half, exponent/mantissa shifted into f32 position. */
const MAX_FINITE: i32 = 0x0f7fe000;
const EXP_ALL_ONES: i32 = 0x7f800000;

/** Four halves given as `h << 16` in each i32 lane → four f32. */
// @ts-ignore: decorator
@inline export function halfHighToF32(x: v128): v128 {
  const sign = v128.and(x, i32x4.splat(SIGN_MASK));
  const em = i32x4.shr_u(v128.xor(x, sign), 3);
  const f = f32x4.mul(em, i32x4.splat(REBIAS));
  const special = v128.and(i32x4.gt_s(em, i32x4.splat(MAX_FINITE)), i32x4.splat(EXP_ALL_ONES));
  return v128.or(v128.or(f, special), sign);
}

/** Halves 0..3 of 8 packed halves → f32x4. */
// @ts-ignore: decorator
@inline export function halvesLowToF32(h: v128): v128 {
  // unpack-low of (zero, h) in 16-bit lanes: lane i of the i32 result is h[i] << 16.
  return halfHighToF32(i16x8.shuffle(i16x8.splat(0), h, 0, 8, 1, 9, 2, 10, 3, 11));
}

/** Halves 4..7 of 8 packed halves → f32x4. */
// @ts-ignore: decorator
@inline export function halvesHighToF32(h: v128): v128 {
  return halfHighToF32(i16x8.shuffle(i16x8.splat(0), h, 4, 12, 5, 13, 6, 14, 7, 15));
}

/**
 * Converts a tile of `rows` half rows to f32 rows: dst[r][0..dim8) = src[r][0..dim8).
 * Contract: dim8 is a multiple of 8; source rows are `srcRowBytes` apart and hold dim8
 * halves (zero padding past the real dim); dst rows are dim8 f32, 16-byte aligned.
 */
export function halfTileToF32(dst: usize, src: usize, srcRowBytes: usize, rows: i32, dim8: i32): void {
  const rowBytes = <usize>dim8 << 1;
  for (let r = 0; r < rows; r++) {
    let s = src + <usize>r * srcRowBytes;
    const end = s + rowBytes;
    let d = dst + (<usize>r * rowBytes << 1);
    for (; s < end; s += 16, d += 32) {
      const h = v128.load(s);
      v128.store(d, halvesLowToF32(h));
      v128.store(d, halvesHighToF32(h), 16);
    }
  }
}

// Fast path (caches with no Inf/NaN, tracked by the host on append): two halves per i32
// lane, converted in place of their lane with no unpacking and no multiply:
//   even half h = x & 0xffff:  y = ((x << 16) >>s 3) & 0x8FFFE000
//   odd half  h = x >>> 16:    y = (x >>s 3) & 0x8FFFE000
// (Not taken: x << 16 as the whole vector moved up 2 bytes, one palignr, which on Intel issues
// off the two ports that shifts share with the FMAs: the float16 decode step 0.977–0.983×
// the time, bit-identical (bench/results/2026-12-06-node20-intel-xeon-f16-palignr.txt), but
// its 16-byte shuffle immediates put the default entry 14 gzipped bytes over its budget.)
// The arithmetic shift moves sign, exponent and mantissa 3 bits down (exponent to bits
// 27..23, mantissa to 22..13); the mask keeps the sign in bit 31 and clears the 3 copies of
// it. y is exactly value · 2^-112 (the half's exponent field read as an f32 exponent; a
// subnormal half becomes an f32 denormal of the same ratio). The 2^112 is folded into
// the other operand (q for scores, p for values), so a conversion costs 5 integer
// operations per 8 halves. Lanes come out de-interleaved: even halves [0, 2, 4, 6], odd
// halves [1, 3, 5, 7] of each 8; the kernels permute q and the output to match.
// Inf/NaN halves would read as finite (2^16·(1 + m)): caches holding them take the exact
// path above.

/** The mask of the fast conversion (0x8FFFE000 per lane): load it once per loop and pass it in. */
// @ts-ignore: decorator
@inline export function scaledMask(): v128 {
  return f16Const(C_SCALED_MASK);
}

/** Halves 0, 2, 4, 6 of 8 packed halves, each times 2^-112, exactly; `mask` is scaledMask(). */
// @ts-ignore: decorator
@inline export function evenHalvesScaled(x: v128, mask: v128): v128 {
  return v128.and(i32x4.shr_s(i32x4.shl(x, 16), 3), mask);
}

/** Halves 1, 3, 5, 7 of 8 packed halves, each times 2^-112, exactly; `mask` is scaledMask(). */
// @ts-ignore: decorator
@inline export function oddHalvesScaled(x: v128, mask: v128): v128 {
  return v128.and(i32x4.shr_s(x, 3), mask);
}

/**
 * Converts a tile of half rows to f32 rows times 2^-112, de-interleaved per 8 (see above):
 * dst[r][8g .. 8g+4) = even halves of group g, dst[r][8g+4 .. 8g+8) = odd halves.
 * Contract as halfTileToF32.
 */
export function halfTileToF32Scaled(dst: usize, src: usize, srcRowBytes: usize, rows: i32, dim8: i32): void {
  const rowBytes = <usize>dim8 << 1;
  const mask = scaledMask();
  for (let r = 0; r < rows; r++) {
    let s = src + <usize>r * srcRowBytes;
    const end = s + rowBytes;
    let d = dst + (<usize>r * rowBytes << 1);
    for (; s < end; s += 16, d += 32) {
      const x = v128.load(s);
      v128.store(d, evenHalvesScaled(x, mask));
      v128.store(d, oddHalvesScaled(x, mask), 16);
    }
  }
}
