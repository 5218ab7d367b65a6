/**
 * ALiBi (Press, Smith, Lewis, "Train Short, Test Long", ICLR 2022): each query head h adds
 * −slope_h · |i + positionOffsets[b] − j| to the score of key j (FlashAttention's
 * `alibi_slopes` definition, src/plan.ts), computed in the kernels, never materialised.
 */
import { rangeError, typeError } from './errors.js';
import { typedArrayBrand, typedArrayLength, viewOf } from './typed-array.js';

/**
 * Largest slope magnitude accepted: |slope · distance| < 2^96 for any distance < 2^32, so the
 * term never overflows float32, even in the fused kernel's log2 units, and next to a score
 * clamped at ±2^127 (ulp 2^104) it cannot carry the sum past the clamp bound. Real models use
 * slopes in [2^-8, 1].
 */
const SLOPE_MAX = 2 ** 64;

/**
 * The ALiBi paper's slopes for `heads` heads, as its reference code `get_slopes` computes them
 * (github.com/ofirpress/attention_with_linear_biases, fairseq/models/transformer.py): for
 * p = 2^⌊log2 heads⌋, heads h < p get 2^(−8(h+1)/p); the others, when heads is not a power of
 * two, take every other slope of 2p heads, 2^(−4(2(h−p)+1)/p) (closed form of its recursion).
 */
export function standardSlopes(heads: number): Float32Array {
  const p = 2 ** Math.floor(Math.log2(heads));
  return Float32Array.from({ length: heads }, (_, h) => 2 ** (h < p ? (-8 * (h + 1)) / p : (-4 * (2 * (h - p) + 1)) / p));
}

/**
 * `options.alibi`: `true` (the standard slopes for `qHeads` heads), a Float32Array of
 * `qHeads` slopes, or `false`/absent (none).
 * @returns the slopes, or null
 * @throws TypeError for another kind, RangeError for a wrong length or a slope that is not
 *   finite or of magnitude above 2^64
 */
export function resolveAlibi(value: unknown, qHeads: number): Float32Array | null {
  if (value === undefined || value === false) return null;
  if (value === true) return standardSlopes(qHeads);
  if (typedArrayBrand(value) !== 'Float32Array') {
    throw typeError('options.alibi', `true, false or a Float32Array of ${qHeads} slopes (one per query head)`, value);
  }
  const length = typedArrayLength(value);
  if (length !== qHeads) throw rangeError('options.alibi', `a Float32Array of length ${qHeads} (one slope per query head)`, `length ${length}`);
  const slopes = Float32Array.from(viewOf<Float32Array>(value)); // a copy: the plan owns it
  slopes.forEach((slope, h) => {
    if (!(Math.abs(slope) <= SLOPE_MAX)) throw rangeError(`options.alibi[${h}]`, `a finite slope of magnitude at most 2^64`, `${slope}`);
  });
  return slopes;
}
