/**
 * Element conversion for cache rows: the caller's data (f32, or half bits) into the
 * storage's elements (f32, half bits, or half-rounded f32 for a JS float16 cache), and back
 * for `read`. Conversions go through src/float16.ts's rounding (round to nearest even).
 */
import { floatToHalf, halfDecodeTable } from '../float16.js';
import type { StorageElements } from './engine.js';

/**
 * Writes `count` elements of `src` (from `srcOffset`) into `dst` (from `dstOffset`).
 * @param srcHalf `src` holds half bits (a Uint16Array)
 * @param roundToHalf the cache is float16: f32 values are rounded to half on the way
 * @returns true when `dst` holds half bits and one of the written halves is Inf or NaN
 *   (an f32 beyond ±65504 rounds to Inf): the decode kernel's fast conversion needs to know
 */
export function writeElements(
  dst: StorageElements,
  dstOffset: number,
  src: Float32Array | Uint16Array,
  srcOffset: number,
  count: number,
  srcHalf: boolean,
  roundToHalf: boolean,
): boolean {
  const dstHalf = dst instanceof Uint16Array;
  if (dstHalf === srcHalf && (srcHalf || !roundToHalf)) {
    dst.set(src.subarray(srcOffset, srcOffset + count), dstOffset);
    return dstHalf && hasNonFiniteHalf(dst as Uint16Array, dstOffset, count);
  }
  if (dstHalf) return float32ToHalfBits(dst as Uint16Array, dstOffset, src as Float32Array, srcOffset, count);
  const table = halfDecodeTable();
  if (srcHalf) {
    // half bits → f32 (exact)
    for (let n = 0; n < count; n++) dst[dstOffset + n] = table[src[srcOffset + n]!]!;
    return false;
  }
  // f32 → f32 rounded to half (JS float16 cache)
  for (let n = 0; n < count; n++) dst[dstOffset + n] = table[floatToHalf(src[srcOffset + n]!)]!;
  return false;
}

/**
 * f32 → half bits, round to nearest even (floatToHalf of src/float16.ts, on the f32 bits
 * read through a Uint32Array view, normals rounded without a branch: 2.7 vs 9–13 ns per
 * element for floatToHalf, measured, which matters for long prompts appended to a float16
 * cache). Returns true when an
 * output is Inf or NaN.
 */
function float32ToHalfBits(dst: Uint16Array, dstOffset: number, src: Float32Array, srcOffset: number, count: number): boolean {
  const bits = new Uint32Array(src.buffer, src.byteOffset + srcOffset * 4, count);
  let special = 0;
  for (let n = 0; n < count; n++) {
    const x = bits[n]!;
    const sign = (x >>> 16) & 0x8000;
    const magnitude = x & 0x7fffffff;
    let half: number;
    if (magnitude >= 0x38800000 && magnitude < 0x47800000) {
      // Normal half (2^-14 <= |x| < 2^16): rebias, drop 13 mantissa bits rounding to nearest
      // even without a branch (+0xfff, +1 more when the kept part is odd); a carry into the
      // exponent is right, up to 0x7c00 (Inf) above 65504.
      half = (magnitude - 0x38000000 + 0xfff + ((magnitude >>> 13) & 1)) >>> 13;
    } else if (magnitude >= 0x7f800000) {
      half = 0x7c00 | (magnitude > 0x7f800000 ? 0x200 : 0); // Inf, NaN (quiet)
    } else if (magnitude >= 0x47800000) {
      half = 0x7c00; // overflow
    } else if (magnitude >= 0x33000000) {
      // Subnormal half (2^-25 <= |x| < 2^-14): shift the implicit 1 in, ties to even.
      const full = (magnitude & 0x7fffff) | 0x800000;
      const shift = 126 - (magnitude >>> 23);
      const halfway = 1 << (shift - 1);
      const rest = full & ((1 << shift) - 1);
      half = full >>> shift;
      if (rest > halfway || (rest === halfway && half & 1)) half += 1;
    } else {
      half = 0; // underflow to ±0
    }
    half |= sign;
    dst[dstOffset + n] = half;
    special |= (half & 0x7c00) === 0x7c00 ? 1 : 0;
  }
  return special !== 0;
}

/** True when one of `count` halves from `offset` has the all-ones exponent (Inf or NaN). */
function hasNonFiniteHalf(bits: Uint16Array, offset: number, count: number): boolean {
  for (let n = offset; n < offset + count; n++) if ((bits[n]! & 0x7c00) === 0x7c00) return true;
  return false;
}

/** Reads `count` storage elements as the cache dtype's public kind (f32, or half bits). */
export function readElements(
  dst: Float32Array | Uint16Array,
  dstOffset: number,
  src: StorageElements,
  srcOffset: number,
  count: number,
): void {
  if ((dst instanceof Uint16Array) === (src instanceof Uint16Array)) {
    dst.set(src.subarray(srcOffset, srcOffset + count), dstOffset);
    return;
  }
  // Half-rounded f32 storage (JS float16 cache) → half bits: exact, every value is a half.
  for (let n = 0; n < count; n++) dst[dstOffset + n] = floatToHalf(src[srcOffset + n]!);
}
