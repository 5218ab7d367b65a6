/**
 * `rotaryEmbedding(x, options)`: rotary position embeddings applied to one tensor, outside
 * attention (e.g. to rotate keys before storing them elsewhere). Returns a new tensor.
 */
import { checkInteger, formatShape, rangeError, typeError } from '../errors.js';
import { float32ArrayToHalf, halfArrayToFloat32 } from '../float16.js';
import { stridesFor, type LayoutKind } from '../layout.js';
import { checkTensor } from '../tensor-input.js';
import type { Tensor } from '../types.js';
import { resolvePositions, resolveRotation } from './options.js';
import { gatherAngles, rotateHeads } from './rotate.js';
import type { RotaryEmbeddingOptions } from './types.js';

/**
 * Rotates `x` by rotary position embeddings (RoPE), with the semantics of ONNX
 * `RotaryEmbedding` and of the `rotary` option of `attention`.
 * @param x `[batch, heads, seq, dim]` (layout `'bhsd'`, default), `[batch, seq, heads, dim]`
 *   (`'bshd'`) or packed `[batch, seq, heads·dim]` (with `numHeads`); float32 or float16 data
 * @param options `base` (default 10000) or `cos`/`sin` tables `[maxPos, dim/2]`, `dim`
 *   (rotated dims, default the head dim), `interleaved`, `scaling`, `positions` (an integer
 *   offset or an Int32Array `[batch, seq]`; default the row index), `layout`, `numHeads`
 * @returns a new tensor of x's shape and dtype; `x` is not modified
 * @throws TypeError for a wrong kind of argument or an unknown option, RangeError for a
 *   wrong shape, an odd `dim` or a position outside the tables
 * @example
 * const q = { data: new Float32Array(2 * 8 * 64).fill(1), shape: [1, 2, 8, 64] };
 * const rotated = rotaryEmbedding(q, { base: 10000 }); // row s rotated to position s
 */
export function rotaryEmbedding(x: Tensor, options: RotaryEmbeddingOptions = {}): Tensor {
  const tensor = checkTensor('x', x, undefined);
  const { shape } = tensor;
  const own = (options ?? {}) as RotaryEmbeddingOptions;
  if (typeof own !== 'object') throw typeError('options', 'an object', own);
  const layout = own.layout ?? 'bhsd';
  if (layout !== 'bhsd' && layout !== 'bshd') throw typeError('options.layout', "'bhsd' | 'bshd'", layout);
  let kind: LayoutKind, batch: number, heads: number, seqLen: number, headDim: number;
  if (shape.length === 4) {
    kind = layout;
    [batch, heads, seqLen, headDim] = (layout === 'bhsd' ? shape : [shape[0], shape[2], shape[1], shape[3]]) as [number, number, number, number];
  } else if (shape.length === 3) {
    kind = 'packed';
    [batch, seqLen] = shape as [number, number];
    heads = checkInteger('options.numHeads', own.numHeads, 1);
    headDim = shape[2]! / heads;
    if (!Number.isInteger(headDim)) throw rangeError('x.shape[2]', `a multiple of numHeads = ${heads}`, `${shape[2]} (shape ${formatShape(shape)})`);
  } else {
    throw rangeError('x.shape', 'rank 4 ([batch, heads, seq, dim] or [batch, seq, heads, dim]) or rank 3 ([batch, seq, heads·dim])', `rank ${shape.length} ${formatShape(shape)}`);
  }
  const { rotation, own: rest } = resolveRotation('options', own, headDim, ['positions', 'layout', 'numHeads']);
  const positions = resolvePositions('options.positions', rest.positions, batch, seqLen, new Int32Array(batch), rotation);
  const half = tensor.dtype === 'float16';
  const values = half ? halfArrayToFloat32(tensor.data as Uint16Array) : (tensor.data as Float32Array);
  const rotated = new Float32Array(values.length);
  rotateHeads(rotated, values, { batch, heads, seqLen, headDim }, stridesFor(kind, heads, seqLen, headDim), rotation, gatherAngles(rotation, positions));
  return { data: half ? float32ArrayToHalf(rotated) : rotated, shape: shape.slice() };
}
