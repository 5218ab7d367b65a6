/**
 * The log-sum-exp merge of partial attention results over disjoint key ranges: one function,
 * {@link mergeRow}, used by `mergeAttention` (results of separate calls, each with its `lse`)
 * and by the key-split decode of the thread pool (flash-decoding, src/threads/decode.ts: the
 * ranges' partial softmax states left by the kernel, assembly/decode/partials.ts).
 */
import { formatShape, rangeError, typeError } from './errors.js';
import { halfArrayToFloat32, halfResult, isFloat16Array } from './float16.js';
import { checkTensor, ownOptions } from './tensor-input.js';
import type { Layout, Tensor, TensorData } from './types.js';

/**
 * Merges one row's partial softmax states over disjoint key ranges, parts c in [0, n):
 * log-scale m[c] (a softmax max, or a range's lse), norm l[c] (its sum, or 1 for an lse) and
 * values acc[c·dim + d] (Σ_j e^(s_j − m_c)·v_j, or a normalised output when l[c] = 1):
 *   M = max_c m_c,  w_c = e^(m_c − M),  L = Σ_c w_c·l_c,  out[d] = Σ_c w_c·acc_c[d] / L
 * which is the one pass over all keys with its sums reordered (Dao et al., flash-decoding).
 * A row whose every part is empty (M = −∞) subtracts 0 instead, so w_c = 0, L = 0: its
 * output is 0, never NaN. Float64 throughout, rounded once when stored.
 * @param out receives the row at out[outAt + d]
 * @returns the merged row's log-sum-exp, M + ln L (−Infinity for an empty row)
 */
export function mergeRow(n: number, dim: number, m: ArrayLike<number>, l: ArrayLike<number>, acc: ArrayLike<number>, out: Float32Array, outAt: number): number {
  if (scales.length < n) scales = new Float64Array(n);
  let mMax = -Infinity;
  for (let c = 0; c < n; c++) mMax = Math.max(mMax, m[c]!);
  const u = mMax === -Infinity ? 0 : mMax;
  let sum = 0;
  for (let c = 0; c < n; c++) sum += (scales[c] = Math.exp(m[c]! - u)) * l[c]!;
  const inverse = sum === 0 ? 0 : 1 / sum;
  for (let d = 0; d < dim; d++) {
    let x = 0;
    for (let c = 0; c < n; c++) x += scales[c]! * acc[c * dim + d]!;
    out[outAt + d] = x * inverse;
  }
  return mMax + Math.log(sum);
}

/** The parts' scales e^(m_c − M) of the current row (grown, never shrunk). */
let scales = new Float64Array(4);

/** A partial result of attention over some of the keys: its output and its `lse` (`returnLse`). */
export interface PartialAttention<D extends TensorData = TensorData> {
  readonly output: Tensor<D>;
  readonly lse: Tensor<Float32Array>;
}

/** Options of {@link mergeAttention}. */
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
export function mergeAttention<D extends TensorData>(parts: readonly PartialAttention<D>[], options?: MergeAttentionOptions): { output: Tensor<D>; lse: Tensor<Float32Array> } {
  if (!Array.isArray(parts)) throw typeError('parts', 'an array of { output, lse }', parts);
  if (parts.length === 0) throw rangeError('parts', 'at least one { output, lse }', 'an empty array');
  const layout = ownOptions<MergeAttentionOptions>('options', options ?? {}, ['layout']).layout ?? 'bhsd';
  if (layout !== 'bhsd' && layout !== 'bshd') throw typeError('options.layout', "'bhsd' | 'bshd'", layout);
  const checked = parts.map((part, c) => {
    if (typeof part !== 'object' || part === null) throw typeError(`parts[${c}]`, 'an { output, lse } object', part);
    const output = checkTensor(`parts[${c}].output`, part.output, undefined);
    const lse = checkTensor(`parts[${c}].lse`, part.lse, 'float32');
    return { output, lse };
  });
  const { output: first, lse: firstLse } = checked[0]!;
  const [batch, heads, seq] = firstLse.shape as [number, number, number];
  if (firstLse.shape.length !== 3) throw rangeError('parts[0].lse.shape', 'rank 3 [batch, heads, seqLen]', formatShape(firstLse.shape));
  const shape = first.shape;
  const rank4 = shape.length === 4;
  const rows = batch * heads * seq;
  const dim = rank4 ? shape[3]! : Math.floor((shape[2] ?? 0) / Math.max(heads, 1));
  const want = rank4 ? (layout === 'bhsd' ? [batch, heads, seq, dim] : [batch, seq, heads, dim]) : [batch, seq, heads * dim];
  if ((!rank4 && shape.length !== 3) || formatShape(shape) !== formatShape(want)) {
    throw rangeError('parts[0].output.shape', `a ${rank4 ? layout : 'packed [batch, seq, heads·dim]'} output of ${formatShape(firstLse.shape)} rows (its lse's shape)`, formatShape(shape));
  }
  checked.forEach(({ output, lse }, c) => {
    if (output.dtype !== first.dtype) throw typeError(`parts[${c}].output.data`, `${first.dtype} data, as parts[0]`, parts[c]!.output.data);
    if (formatShape(output.shape) !== formatShape(shape)) throw rangeError(`parts[${c}].output.shape`, `${formatShape(shape)}, as parts[0]`, formatShape(output.shape));
    if (formatShape(lse.shape) !== formatShape(firstLse.shape)) throw rangeError(`parts[${c}].lse.shape`, `${formatShape(firstLse.shape)}, as parts[0]`, formatShape(lse.shape));
  });

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
  return { output: { data: data as D, shape: [...shape] }, lse: { data: lse, shape: [batch, heads, seq] } };
}
