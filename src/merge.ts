/**
 * `wasm-attention/merge`: `mergeAttention` combines attention results over disjoint key
 * ranges (each with its `lse`) with the same row merge as the thread pool's key-split decode
 * (src/merge-row.ts). A subpath of its own: 0.8 KB gzipped that the default entry's size
 * budget (test/runtimes/size.test.ts) does not carry.
 */
import { formatShape, rangeError, typeError } from './errors.js';
import { halfArrayToFloat32, halfResult, isFloat16Array } from './float16.js';
import { checkTensor, ownOptions } from './tensor-input.js';
import type { Layout, Tensor, TensorData } from './types.js';
import { mergeRow } from './merge-row.js';

/** A partial result of attention over some of the keys: its output and its `lse` (`returnLse`). */
export interface PartialAttention<D extends TensorData = TensorData> {
  /** The attention output over the part's keys, in any layout `attention` returns. */
  readonly output: Tensor<D>;
  /** Its rows' log-sum-exp `[batch, heads, seqLen]` (float32): `result.lse` of `returnLse`. */
  readonly lse: Tensor<Float32Array>;
}

/** Options of `mergeAttention` (`wasm-attention/merge`). */
export interface MergeAttentionOptions {
  /** Layout of 4-D outputs, as given to `attention` (3-D outputs are packed `[B, L, H·Dv]`). Default `'bhsd'`. */
  readonly layout?: Layout;
}

/**
 * Combines attention results computed over disjoint sets of keys (each with `returnLse`) into
 * the result of one call over all of them: output `Σ_c e^(lse_c − lse)·output_c` and
 * `lse = ln Σ_c e^(lse_c)`, row by row. Key ranges split by masks, `keyLengths`, windows or
 * slicing K and V all merge exactly (within float32 rounding); a row empty in every part
 * (lse −Infinity everywhere) gives 0.
 * @param parts at least one `{ output, lse }`, all of one shape and dtype
 * @param options `layout` of 4-D outputs
 * @returns `{ output, lse }`: output in the parts' shape and dtype, lse `[B, H, L]` float32
 * @throws TypeError for a wrong kind (not an array, not a tensor, lse not float32, mixed
 *   dtypes), RangeError for no parts or mismatched shapes
 * @example
 * const a = attention(q, k1, v1, { returnLse: true }), b = attention(q, k2, v2, { returnLse: true });
 * const { output, lse } = mergeAttention([a, b]); // = attention over the keys of k1 and k2
 */
export function mergeAttention<D extends TensorData>(parts: readonly PartialAttention<D>[], options?: MergeAttentionOptions): PartialAttention<D> {
  if (!Array.isArray(parts) || parts.length === 0) {
    throw Array.isArray(parts) ? rangeError('parts', 'at least one { output, lse }', 'an empty array') : typeError('parts', 'an array of { output, lse }', parts);
  }
  const layout = ownOptions<MergeAttentionOptions>('options', options ?? {}, ['layout']).layout ?? 'bhsd';
  if (layout !== 'bhsd' && layout !== 'bshd') throw typeError('options.layout', "'bhsd' | 'bshd'", layout);
  const checked = parts.map((part, c) => ({
    output: checkTensor(`parts[${c}].output`, (part as Partial<PartialAttention> | null)?.output, undefined),
    lse: checkTensor(`parts[${c}].lse`, (part as Partial<PartialAttention> | null)?.lse, 'float32'),
  }));
  // Every part as parts[0]: lse [batch, heads, seq], and the output of those rows in the layout.
  const first = checked[0]!.output;
  const lseShape = checked[0]!.lse.shape;
  const [batch = 0, heads = 0, seq = 0] = lseShape;
  const rank4 = first.shape.length === 4;
  const dim = rank4 ? first.shape[3]! : first.shape[2]! / heads;
  const shape = rank4 ? (layout === 'bhsd' ? [batch, heads, seq, dim] : [batch, seq, heads, dim]) : [batch, seq, heads * dim];
  checked.forEach(({ output, lse }, c) => {
    if (output.dtype !== first.dtype) throw typeError(`parts[${c}].output.data`, `${first.dtype} data, as parts[0]`, parts[c]!.output.data);
    if (lseShape.length !== 3 || !Number.isInteger(dim) || formatShape(lse.shape) !== formatShape(lseShape) || formatShape(output.shape) !== formatShape(shape)) {
      const rows = rank4 ? layout : 'packed [batch, seq, heads·dim]';
      throw rangeError(`parts[${c}]`, `lse [batch, heads, seq] and a ${rows} output of those rows, as parts[0] (lse ${formatShape(lseShape)})`, `lse ${formatShape(lse.shape)}, output ${formatShape(output.shape)}`);
    }
  });
  const rows = batch * heads * seq;

  const half = first.dtype === 'float16';
  const outputs = checked.map(({ output }) => (half ? halfArrayToFloat32(output.data as Uint16Array) : (output.data as Float32Array)));
  const n = parts.length;
  const m = new Float64Array(n);
  const ones = new Float64Array(n).fill(1);
  const acc = new Float64Array(n * dim);
  const out = new Float32Array(rows * dim);
  const lse = new Float32Array(rows);
  for (let b = 0, r = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < seq; i++, r++) {
        // Row r = (b, h, i) of the lse; its output row in the layout (bshd and packed: [b, i, h]).
        const at = (layout === 'bhsd' && rank4 ? r : (b * seq + i) * heads + h) * dim;
        for (let c = 0; c < n; c++) {
          m[c] = checked[c]!.lse.data[r]!;
          acc.set(outputs[c]!.subarray(at, at + dim), c * dim);
        }
        lse[r] = mergeRow(n, dim, m, ones, acc, out, at);
      }
    }
  }
  const data = half ? halfResult(out, undefined, isFloat16Array(parts[0]!.output.data)) : out;
  return { output: { data: data as D, shape }, lse: { data: lse, shape: [batch, heads, seq] } };
}
