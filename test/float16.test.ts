/**
 * IEEE 754 binary16 conversions (`halfToFloat`, `floatToHalf` and their array forms),
 * exhaustively where the domain allows it (all 65,536 half bit patterns, every tie between
 * adjacent halves), against oracles written here from the format definition: a decoder
 * (test/helpers.ts `decodeHalf`) and a nearest-half search over the sorted list of all
 * halves. `Math.f16round` and `Float16Array` are third oracles where the runtime has them
 * (Node >= 24; these tests are skipped, visibly, on Node 20).
 */
import { describe, expect, it } from 'vitest';
import { float32ArrayToHalf, floatToHalf, halfArrayToFloat32, halfToFloat } from '../src/index.js';
import { decodeHalf, Float16ArrayCtor } from './helpers.js';
import { mulberry32 } from './reference.js';

const ALL_BITS = Uint16Array.from({ length: 65536 }, (_, n) => n);
const isNaNBits = (bits: number) => (bits & 0x7c00) === 0x7c00 && (bits & 0x03ff) !== 0;
const hex = (bits: number) => `0x${bits.toString(16).padStart(4, '0')}`;
const f16round = (Math as { f16round?: (x: number) => number }).f16round;

/** Every finite non-negative half, ascending (bits 0x0000..0x7bff are ordered like their values). */
const POSITIVE_HALVES = Float64Array.from({ length: 0x7c00 }, (_, bits) => decodeHalf(bits));
const MAX_HALF = 65504;
/** Halfway between 65504 and the next binade's first value 2^16: from here on, rounding overflows. */
const OVERFLOW_THRESHOLD = 65520;

/**
 * The nearest half to `x` (exact arithmetic: neighbours of x are doubles whose differences
 * with x are exact by Sterbenz's lemma), ties to the even bit pattern; ±Infinity beyond
 * the overflow threshold; NaN → a NaN pattern.
 */
function nearestHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= OVERFLOW_THRESHOLD) return sign | 0x7c00;
  if (a >= MAX_HALF) return sign | 0x7bff;
  // Largest lo with POSITIVE_HALVES[lo] <= a.
  let lo = 0, hi = POSITIVE_HALVES.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (POSITIVE_HALVES[mid]! <= a) lo = mid;
    else hi = mid - 1;
  }
  if (POSITIVE_HALVES[lo] === a) return sign | lo;
  const below = a - POSITIVE_HALVES[lo]!;
  const above = POSITIVE_HALVES[lo + 1]! - a;
  if (below < above) return sign | lo;
  if (above < below) return sign | (lo + 1);
  return sign | (lo % 2 === 0 ? lo : lo + 1);
}

function expectBits(got: number, want: number, input: number, what: string): void {
  const same = got === want || (isNaNBits(got) && isNaNBits(want));
  if (!same) expect.fail(`${what}: floatToHalf(${input}) expected ${hex(want)} (${decodeHalf(want)}), got ${hex(got)} (${decodeHalf(got)})`);
}

describe('halfToFloat', () => {
  it('decodes_all_65536_bit_patterns_exactly', () => {
    for (const bits of ALL_BITS) {
      const got = halfToFloat(bits);
      const want = decodeHalf(bits);
      const ok = isNaNBits(bits) ? Number.isNaN(got) : Object.is(got, want);
      if (!ok) expect.fail(`halfToFloat(${hex(bits)}) expected ${want}, got ${got}`);
    }
  });

  it('special_values', () => {
    expect(halfToFloat(0x0000)).toBe(0);
    expect(Object.is(halfToFloat(0x8000), -0), 'halfToFloat(0x8000) is -0').toBe(true);
    expect(halfToFloat(0x3c00)).toBe(1);
    expect(halfToFloat(0xc000)).toBe(-2);
    expect(halfToFloat(0x7bff)).toBe(65504);
    expect(halfToFloat(0x0001), 'smallest subnormal').toBe(2 ** -24);
    expect(halfToFloat(0x03ff), 'largest subnormal').toBe(1023 * 2 ** -24);
    expect(halfToFloat(0x0400), 'smallest normal').toBe(2 ** -14);
    expect(halfToFloat(0x7c00)).toBe(Infinity);
    expect(halfToFloat(0xfc00)).toBe(-Infinity);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect(halfToFloat(0x7c01)).toBeNaN();
    expect(halfToFloat(0xffff)).toBeNaN();
  });

  it('halfArrayToFloat32_matches_the_scalar_decoder_on_all_patterns', () => {
    const decoded = halfArrayToFloat32(ALL_BITS);
    expect(decoded).toBeInstanceOf(Float32Array);
    for (const bits of ALL_BITS) {
      const got = decoded[bits]!;
      const ok = isNaNBits(bits) ? Number.isNaN(got) : Object.is(got, decodeHalf(bits));
      if (!ok) expect.fail(`halfArrayToFloat32 at ${hex(bits)}: expected ${decodeHalf(bits)}, got ${got}`);
    }
    // Into a caller's array.
    const into = new Float32Array(3);
    expect(halfArrayToFloat32(Uint16Array.of(0x3c00, 0xc000, 0x0001), into)).toBe(into);
    expect([...into]).toEqual([1, -2, 2 ** -24]);
  });

  it.runIf(Float16ArrayCtor !== undefined)('agrees_with_Float16Array (needs a runtime with Float16Array, Node >= 24)', () => {
    const values = new Float16ArrayCtor!(ALL_BITS.buffer);
    for (const bits of ALL_BITS) {
      const got = halfToFloat(bits), want = values[bits]!;
      if (!(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)))) expect.fail(`halfToFloat(${hex(bits)}) = ${got}, Float16Array says ${want}`);
    }
  });
});

describe('floatToHalf', () => {
  it('round_trips_all_65536_bit_patterns (NaN stays NaN)', () => {
    for (const bits of ALL_BITS) {
      const got = floatToHalf(halfToFloat(bits));
      if (isNaNBits(bits) ? !isNaNBits(got) : got !== bits) {
        expect.fail(`floatToHalf(halfToFloat(${hex(bits)})) expected ${isNaNBits(bits) ? 'a NaN pattern' : hex(bits)}, got ${hex(got)}`);
      }
    }
    expect(isNaNBits(floatToHalf(NaN)), 'floatToHalf(NaN) is a NaN pattern').toBe(true);
  });

  it('float32ArrayToHalf_round_trips_all_patterns', () => {
    const bits = float32ArrayToHalf(halfArrayToFloat32(ALL_BITS));
    expect(bits).toBeInstanceOf(Uint16Array);
    for (let n = 0; n < 65536; n++) {
      if (isNaNBits(n) ? !isNaNBits(bits[n]!) : bits[n] !== n) expect.fail(`float32ArrayToHalf at ${hex(n)}: got ${hex(bits[n]!)}`);
    }
    const into = new Uint16Array(2);
    expect(float32ArrayToHalf(Float32Array.of(1, -0), into)).toBe(into);
    expect([...into]).toEqual([0x3c00, 0x8000]);
  });

  it('ties_round_to_nearest_even_between_every_pair_of_adjacent_halves', () => {
    // The midpoint of two adjacent halves has 12 significant bits: exact in f32 (and double).
    // Just above / below it (by one f32 ulp) must round up / down.
    const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
    const step = (x: number, direction: 1 | -1) => {
      f32[0] = x;
      u32[0] = u32[0]! + direction; // x > 0: +1 is the next f32 up
      return f32[0]!;
    };
    for (let lo = 0; lo < 0x7bff; lo++) {
      const a = decodeHalf(lo), b = decodeHalf(lo + 1);
      const mid = (a + b) / 2;
      expect(Math.fround(mid) === mid).toBe(true);
      const even = lo % 2 === 0 ? lo : lo + 1;
      for (const sign of [0, 0x8000]) {
        const s = sign ? -1 : 1;
        expectBits(floatToHalf(s * mid), sign | even, s * mid, 'tie');
        expectBits(floatToHalf(s * step(mid, 1)), sign | (lo + 1), s * step(mid, 1), 'just above a tie');
        expectBits(floatToHalf(s * step(mid, -1)), sign | lo, s * step(mid, -1), 'just below a tie');
      }
    }
  });

  it('overflow_gives_infinity', () => {
    expect(floatToHalf(65504)).toBe(0x7bff);
    expect(floatToHalf(65519.99609375), 'just below the overflow threshold (an f32)').toBe(0x7bff);
    expect(floatToHalf(65520), 'the tie between 65504 and 2^16 rounds to even: overflow').toBe(0x7c00);
    expect(floatToHalf(-65520)).toBe(0xfc00);
    expect(floatToHalf(65536)).toBe(0x7c00);
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(-3.4028234663852886e38)).toBe(0xfc00);
    expect(floatToHalf(1e300), 'beyond f32 range').toBe(0x7c00);
    expect(floatToHalf(Infinity)).toBe(0x7c00);
    expect(floatToHalf(-Infinity)).toBe(0xfc00);
  });

  it('subnormals_and_underflow', () => {
    expect(floatToHalf(2 ** -24), 'smallest subnormal').toBe(0x0001);
    expect(floatToHalf(2 ** -25), 'half the smallest subnormal: a tie, to even (zero)').toBe(0x0000);
    expect(floatToHalf(-(2 ** -25))).toBe(0x8000);
    expect(floatToHalf(2 ** -25 * 1.0000001), 'just above the tie').toBe(0x0001);
    expect(floatToHalf(3 * 2 ** -25), 'tie between 1 and 2 subnormal ulps: to even').toBe(0x0002);
    expect(floatToHalf(1023 * 2 ** -24), 'largest subnormal').toBe(0x03ff);
    expect(floatToHalf(2 ** -14 - 2 ** -25), 'tie between the largest subnormal and the smallest normal').toBe(0x0400);
    expect(floatToHalf(2 ** -14)).toBe(0x0400);
    expect(floatToHalf(1e-10), 'far below: +0').toBe(0x0000);
    expect(floatToHalf(-1e-10), 'far below, negative: -0').toBe(0x8000);
    expect(floatToHalf(1e-45), 'an f32 subnormal').toBe(0x0000);
    expect(floatToHalf(-0)).toBe(0x8000);
    expect(floatToHalf(0)).toBe(0x0000);
  });

  it('random_float32_values_round_to_the_nearest_half', () => {
    // 200,000 random f32 bit patterns: every exponent, from f32 subnormals to Infinity and NaN.
    const random = mulberry32(2024);
    const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
    for (let n = 0; n < 200_000; n++) {
      u32[0] = Math.floor(random() * 2 ** 32);
      const x = f32[0]!;
      expectBits(floatToHalf(x), nearestHalf(x), x, 'random f32');
    }
    // Concentrated on the half range, where rounding actually happens.
    for (let n = 0; n < 100_000; n++) {
      const x = Math.fround((random() * 2 - 1) * 2 ** Math.floor(random() * 44 - 27));
      expectBits(floatToHalf(x), nearestHalf(x), x, 'random f32 in the half range');
    }
  });

  it('doubles_round_once_to_the_nearest_half (no double rounding through f32)', () => {
    // "Encodes a number as the nearest half": a double just above a half tie must round up,
    // although its nearest f32 is the tie itself. 1 + 2^-11 + 2^-40 → 1 + 2^-10 (0x3c01).
    expectBits(floatToHalf(1 + 2 ** -11 + 2 ** -40), 0x3c01, 1 + 2 ** -11 + 2 ** -40, 'double just above a tie');
    expectBits(floatToHalf(1 + 3 * 2 ** -11 - 2 ** -40), 0x3c01, 1 + 3 * 2 ** -11 - 2 ** -40, 'double just below a tie');
    expectBits(floatToHalf(2 ** -25 + 2 ** -60), 0x0001, 2 ** -25 + 2 ** -60, 'double just above the smallest subnormal tie');
    expectBits(floatToHalf(65520 - 2 ** -30), 0x7bff, 65520 - 2 ** -30, 'double just below the overflow threshold');
    const random = mulberry32(7);
    for (let n = 0; n < 100_000; n++) {
      // Near a tie: a random half midpoint nudged by a random amount far below an f32 ulp.
      const lo = Math.floor(random() * 0x7bff);
      const mid = (decodeHalf(lo) + decodeHalf(lo + 1)) / 2;
      const x = (mid + (random() - 0.5) * mid * 2 ** -30) * (random() < 0.5 ? -1 : 1);
      expectBits(floatToHalf(x), nearestHalf(x), x, 'double near a tie');
      const y = (random() * 2 - 1) * 2 ** Math.floor(random() * 44 - 27);
      expectBits(floatToHalf(y), nearestHalf(y), y, 'random double');
    }
  });

  it.runIf(f16round !== undefined)('agrees_with_Math_f16round (needs a runtime with Math.f16round, Node >= 24)', () => {
    const random = mulberry32(11);
    const f32 = new Float32Array(1), u32 = new Uint32Array(f32.buffer);
    for (let n = 0; n < 200_000; n++) {
      u32[0] = Math.floor(random() * 2 ** 32);
      const x = n % 2 ? f32[0]! : (random() * 2 - 1) * 2 ** Math.floor(random() * 44 - 27);
      const want = f16round!(x);
      const got = halfToFloat(floatToHalf(x));
      if (!(Object.is(got, want) || (Number.isNaN(got) && Number.isNaN(want)))) expect.fail(`floatToHalf(${x}) decodes to ${got}, Math.f16round gives ${want}`);
    }
  });
});
