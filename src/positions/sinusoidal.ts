/**
 * Fixed sinusoidal position encodings of "Attention Is All You Need" (Vaswani et al. 2017,
 * section 3.5): PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d)).
 */
import { checkInteger, rangeError } from '../errors.js';

/** A `[length, dim]` table of position encodings. */
export interface PositionalEncoding {
  /** Row-major float32: `data[pos * dim + d]`. */
  readonly data: Float32Array;
  /** `[length, dim]`. */
  readonly shape: [number, number];
}

/**
 * The sinusoidal position encoding table, to add to token embeddings.
 * @param length positions 0 … length − 1 (a non-negative integer)
 * @param dim the model dimension (a positive even integer)
 * @returns `{ data, shape: [length, dim] }`, row-major float32, computed in float64
 * @throws TypeError when an argument is not a number, RangeError for a negative length or
 *   an odd or non-positive dim
 * @example
 * const { data } = sinusoidalPositionalEncoding(128, 512); // data[pos * 512 + d]
 */
export function sinusoidalPositionalEncoding(length: number, dim: number): PositionalEncoding {
  checkInteger('length', length, 0);
  checkInteger('dim', dim, 1);
  if (dim % 2 !== 0) throw rangeError('dim', 'an even number (sin and cos pairs)', `${dim}`);
  const data = new Float32Array(length * dim);
  for (let i = 0; i < dim / 2; i++) {
    const freq = 10000 ** ((-2 * i) / dim);
    for (let pos = 0; pos < length; pos++) {
      data[pos * dim + 2 * i] = Math.sin(pos * freq);
      data[pos * dim + 2 * i + 1] = Math.cos(pos * freq);
    }
  }
  return { data, shape: [length, dim] };
}
