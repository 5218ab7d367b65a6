/**
 * IEEE 754 binary16 <-> binary32 conversion for float16 tensors (`Uint16Array` of half
 * bits, or `Float16Array` where the runtime has it). Attention is computed in f32;
 * float16 is a storage format here.
 *
 * Conversion is table-free bit manipulation: exact for every half value (normals,
 * subnormals, ±0, ±Infinity, NaN) in the f16 → f32 direction, and round-to-nearest-even
 * in the f32 → f16 direction (the same rounding as `Math.f16round` and NumPy's astype).
 */

import { typedArrayBrand, viewOf } from './typed-array.js';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * Decodes one half-precision bit pattern, exactly (subnormals, ±0, ±Infinity, NaN included).
 * @param bits the 16 bits of an IEEE 754 half, as an integer in [0, 65535]
 * @returns the value as a number
 * @example
 * halfToFloat(0x3c00); // 1
 * halfToFloat(0xfc00); // -Infinity
 */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (1024 + mantissa) * 2 ** (exponent - 25);
}

/**
 * Encodes a number as the nearest half (ties to even, as `Math.f16round`); overflow gives
 * ±Infinity, NaN a quiet NaN.
 * @param value any number
 * @returns the half's 16 bits, an integer in [0, 65535]
 * @example
 * floatToHalf(1);       // 0x3c00
 * floatToHalf(65520);   // 0x7c00 (Infinity: past the largest half, 65504)
 */
export function floatToHalf(value: number): number {
  f32[0] = value;
  let x = u32[0]!;
  // A double that is not an f32 is first rounded to odd (Boldo & Melquiond, "Emulation of
  // FMA and correctly rounded sums: proved algorithms using rounding to odd", 2008): the
  // f32 neighbour on the value's side whose last bit is 1. With 24 ≥ 11 + 2 significant
  // bits, rounding that to half is then the correctly rounded half of the double, where
  // plain round-to-nearest f32 would round twice (1 + 2^-11 + 2^-40 gave 1, not 1 + 2^-10).
  if (f32[0] !== value && value === value && (x & 1) === 0) x = Math.abs(f32[0]!) > Math.abs(value) ? x - 1 : x + 1;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // Inf, NaN (quiet)
  let halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00; // overflow
  if (halfExponent <= 0) {
    // Subnormal half (or zero): shift the implicit 1 in, round to nearest even.
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    const halfway = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let half = mantissa >> shift;
    if (rest > halfway || (rest === halfway && half & 1)) half += 1;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half += 1; // may carry into the exponent: correct
  return sign | half;
}

let decodeTable: Float32Array | undefined;

/**
 * All 65,536 halves decoded once (256 KiB, built on first float16 use): a table lookup
 * per element instead of the branchy bit manipulation of `halfToFloat`.
 */
export function halfDecodeTable(): Float32Array {
  if (!decodeTable) {
    decodeTable = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) decodeTable[bits] = halfToFloat(bits);
  }
  return decodeTable;
}

/**
 * Decodes an array of half bits to float32, exactly.
 * @param bits half bits (a `Uint16Array`; view a `Float16Array`'s buffer as one)
 * @param into where to write, at least `bits.length` long; default a new Float32Array
 * @returns `into`, or the new array
 * @example
 * const values = halfArrayToFloat32(output.data as Uint16Array); // a float16 result, as numbers
 */
export function halfArrayToFloat32(bits: Uint16Array, into?: Float32Array): Float32Array {
  const out = into ?? new Float32Array(bits.length);
  const table = halfDecodeTable();
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

/**
 * Encodes float32 values as half bits (ties to even), e.g. to make float16 inputs.
 * @param values the values
 * @param into where to write, at least `values.length` long; default a new Uint16Array
 * @returns `into`, or the new array
 * @example
 * const qHalf = { data: float32ArrayToHalf(q.data), shape: q.shape };
 * attention(qHalf, kHalf, vHalf); // float16 in, float16 (Uint16Array) out
 */
export function float32ArrayToHalf(values: Float32Array, into?: Uint16Array): Uint16Array {
  const out = into ?? new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = floatToHalf(values[i]!);
  return out;
}

/** The runtime's `Float16Array` constructor, where it has one (Node ≥ 24, recent browsers, Deno, Bun). */
export const Float16ArrayCtor: (new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => ArrayBufferView) | undefined =
  (globalThis as { Float16Array?: never }).Float16Array;

/**
 * True for a `Float16Array`, by its brand (the internal slot `%TypedArray%.prototype`'s
 * `Symbol.toStringTag` getter reads; src/typed-array.ts), never by a tag a caller can set.
 * Works without the global too.
 */
export function isFloat16Array(value: unknown): value is ArrayBufferView & { length: number } {
  return typedArrayBrand(value) === 'Float16Array';
}

/**
 * Encodes f32 results as a caller's float16 kind (what `attention`/`decode` return for
 * float16 inputs): into `out` when given, else a new array, a Float16Array when the inputs
 * were one (and the runtime has it), else Uint16Array half bits.
 */
export function halfResult(values: Float32Array, out: Uint16Array | (ArrayBufferView & { length: number }) | undefined, likeFloat16Array: boolean): Uint16Array {
  if (out) {
    float32ArrayToHalf(values, viewOf<Uint16Array>(out)); // its half bits, by brand
    return out as Uint16Array;
  }
  const bits = float32ArrayToHalf(values);
  return likeFloat16Array && Float16ArrayCtor ? (new Float16ArrayCtor(bits.buffer) as unknown as Uint16Array) : bits;
}
