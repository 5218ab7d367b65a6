/**
 * TODO(alibi-lse): delete this adapter once branch `alibi-lse` (the `alibi` option of
 * `attention`, issue #12) is merged here; the explorer then passes `alibi: true` alone. It
 * was not mergeable in time: `alibi-lse` and `range` conflict in 19 files (kernels, ABI) that
 * their owners resolve. Until then, when the library rejects `alibi`, the same bias goes in
 * as an additive mask `[1, heads, Lq, Lk]`: `−slope_h · |i + off − j|`, with the ALiBi
 * paper's slopes (`get_slopes` of github.com/ofirpress/attention_with_linear_biases).
 */
import type { AttentionInstance, AttentionOptions } from '../../src/index.js';

/** The ALiBi paper's slopes for `heads` heads (powers of two and not). */
export function alibiSlopes(heads: number): Float32Array {
  const p = 2 ** Math.floor(Math.log2(heads));
  return Float32Array.from({ length: heads }, (_, h) => 2 ** (h < p ? (-8 * (h + 1)) / p : (-4 * (2 * (h - p) + 1)) / p));
}

const tiny = { data: new Float32Array(1), shape: [1, 1, 1, 1] };

/** Whether this library build takes the `alibi` option (an unknown option throws a TypeError). */
export function libraryHasAlibi(instance: AttentionInstance): boolean {
  try {
    instance.attention(tiny, tiny, tiny, { alibi: true } as AttentionOptions);
    return true;
  } catch {
    return false;
  }
}

/**
 * The options that add ALiBi to a call of one batch item.
 * @param offset where query 0 sits among the keys (the key-range rule's positionOffsets[0])
 */
export function alibiOptions(instance: AttentionInstance, heads: number, seqLenQ: number, seqLenK: number, offset: number): AttentionOptions {
  if (libraryHasAlibi(instance)) return { alibi: true } as AttentionOptions;
  const slopes = alibiSlopes(heads);
  const data = new Float32Array(heads * seqLenQ * seqLenK);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < seqLenQ; i++) {
      for (let j = 0; j < seqLenK; j++) data[(h * seqLenQ + i) * seqLenK + j] = -slopes[h]! * Math.abs(i + offset - j);
    }
  }
  return { mask: { data, shape: [1, heads, seqLenQ, seqLenK] } };
}
