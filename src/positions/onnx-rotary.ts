/**
 * The ONNX `RotaryEmbedding` operator (opset 23): rotary embeddings with cos/sin caches,
 * either tables indexed by `position_ids` or already gathered per token.
 */
import { checkInteger, formatShape, rangeError, typeError } from '../errors.js';
import { float32ArrayToHalf, halfArrayToFloat32 } from '../float16.js';
import { checkAxis, checkOnnxTensor, checkRank, type CheckedOnnxTensor } from '../onnx/tensors.js';
import type { OnnxTensor } from '../onnx/types.js';
import { stridesFor } from '../layout.js';
import { ownOptions } from '../tensor-input.js';
import { gatherAngles, rotateHeads, type Rotation } from './rotate.js';

/** Attributes of the ONNX `RotaryEmbedding` node; absent ones take the operator's default. */
export interface OnnxRotaryAttributes {
  /** 1: rotate pairs (x0, x1), (x2, x3)…; 0 (default): rotate half (x_i, x_{i+dim/2}). */
  readonly interleaved?: 0 | 1 | boolean;
  /** Rotated dims of each head (even); 0 (default) = the whole head. */
  readonly rotary_embedding_dim?: number;
  /** Heads of a 3-D X `[batch, seq, heads·head_size]`; required then. Default 0. */
  readonly num_heads?: number;
}

const FLOATS = ['float32', 'float16'] as const;

function checkAttributes(attrs: unknown): { interleaved: boolean; rotaryDim: number; numHeads: number } {
  if (attrs === undefined || attrs === null) attrs = {};
  if (typeof attrs !== 'object') throw typeError('attrs', 'an object', attrs);
  const own = ownOptions<OnnxRotaryAttributes>('attrs', attrs as object, ['interleaved', 'rotary_embedding_dim', 'num_heads']);
  const interleaved = own.interleaved ?? 0;
  if (interleaved !== 0 && interleaved !== 1 && typeof interleaved !== 'boolean') {
    throw (typeof interleaved === 'number' ? rangeError('attrs.interleaved', '0 or 1', `${interleaved}`) : typeError('attrs.interleaved', '0 | 1', interleaved));
  }
  return {
    interleaved: Boolean(interleaved),
    rotaryDim: own.rotary_embedding_dim === undefined ? 0 : checkInteger('attrs.rotary_embedding_dim', own.rotary_embedding_dim, 0),
    numHeads: own.num_heads === undefined ? 0 : checkInteger('attrs.num_heads', own.num_heads, 0),
  };
}

const asFloat32 = (tensor: CheckedOnnxTensor) => (tensor.dtype === 'float16' ? halfArrayToFloat32(tensor.data as Uint16Array) : (tensor.data as Float32Array));

/**
 * Runs ONNX `RotaryEmbedding` (opset 23) exactly as its reference implementation: X is
 * 4-D `[batch, heads, seq, head_size]` or 3-D `[batch, seq, heads·head_size]` (with
 * `num_heads`); the first `rotary_embedding_dim` dims of each head rotate, the rest pass.
 * @param inputs `[X, cos_cache, sin_cache, position_ids?]`: with `position_ids` `[batch, seq]`
 *   (int64 or int32), the caches are `[max_position, rotary_dim/2]` tables; without it, they
 *   are gathered, `[batch, seq, rotary_dim/2]`. X and the caches are float32 or float16 (the same)
 * @param attrs `interleaved`, `rotary_embedding_dim`, `num_heads` ({@link OnnxRotaryAttributes})
 * @returns `[Y]`: a new tensor of X's shape and dtype
 * @throws TypeError for a wrong kind of input or attribute, RangeError for a wrong shape,
 *   an odd or too large rotary dim, or a position id outside the caches
 * @example
 * const X = { data: new Float32Array(1 * 2 * 3 * 4), shape: [1, 2, 3, 4] };
 * const cos = { data: new Float32Array(8).fill(1), shape: [4, 2] };
 * const sin = { data: new Float32Array(8), shape: [4, 2] };
 * const ids = { data: BigInt64Array.of(0n, 1n, 2n), shape: [1, 3] };
 * const [Y] = onnxRotaryEmbedding([X, cos, sin, ids]); // angle 0: Y equals X
 */
export function onnxRotaryEmbedding(inputs: readonly (OnnxTensor | null | undefined)[], attrs?: OnnxRotaryAttributes): [OnnxTensor] {
  if (!Array.isArray(inputs)) throw typeError('inputs', 'an array [X, cos_cache, sin_cache, position_ids?]', inputs);
  if (inputs.length < 3 || inputs.length > 4) throw rangeError('inputs.length', '3 or 4 ([X, cos_cache, sin_cache, position_ids?])', `${inputs.length}`);
  const { interleaved, rotaryDim, numHeads } = checkAttributes(attrs);
  const x = checkOnnxTensor('X', inputs[0], FLOATS, "'float32' or 'float16'");
  const sameAsX = [x.dtype] as const;
  const cosCache = checkOnnxTensor('cos_cache', inputs[1], sameAsX, `'${x.dtype}' (the dtype of X)`);
  const sinCache = checkOnnxTensor('sin_cache', inputs[2], sameAsX, `'${x.dtype}' (the dtype of X)`);
  const ids = inputs[3] ? checkOnnxTensor('position_ids', inputs[3], ['int64', 'int32'], "'int64' or 'int32'") : null;

  checkRank('X', x.shape, [3, 4], '[batch, heads, seq, head_size] or [batch, seq, heads·head_size]');
  const [batch] = x.shape as [number];
  let heads: number, seqLen: number, headDim: number;
  if (x.shape.length === 4) {
    [, heads, seqLen, headDim] = x.shape as [number, number, number, number];
    if (numHeads !== 0 && numHeads !== heads) throw rangeError('attrs.num_heads', `0 or the heads of X (${heads})`, `${numHeads}`);
  } else {
    if (numHeads === 0) throw typeError('attrs.num_heads', 'the head count (required for a 3-D X)', undefined);
    [, seqLen] = x.shape as [number, number];
    heads = numHeads;
    headDim = x.shape[2]! / heads;
    if (!Number.isInteger(headDim)) throw rangeError('X.shape[2]', `a multiple of num_heads = ${heads}`, `${x.shape[2]} (X.shape ${formatShape(x.shape)})`);
  }
  const dim = rotaryDim === 0 ? headDim : rotaryDim;
  if (dim % 2 !== 0 || dim > headDim || dim < 2) {
    throw rangeError('attrs.rotary_embedding_dim', `0 or an even number in [2, head_size = ${headDim}]`, `${rotaryDim}${rotaryDim === 0 ? ` (head_size ${headDim} is odd)` : ''}`);
  }
  const half = dim / 2;
  const positions = new Int32Array(batch * seqLen);
  if (ids) {
    checkRank('position_ids', ids.shape, 2, '[batch, seq]');
    checkAxis('position_ids', ids.shape, 0, batch, 'batch of X');
    checkAxis('position_ids', ids.shape, 1, seqLen, 'seq of X');
    for (const [name, cache] of [['cos_cache', cosCache], ['sin_cache', sinCache]] as const) {
      checkRank(name, cache.shape, 2, '[max_position, rotary_dim/2] with position_ids');
      checkAxis(name, cache.shape, 1, half, 'rotary_dim/2');
    }
    const rows = cosCache.shape[0]!;
    checkAxis('sin_cache', sinCache.shape, 0, rows, 'rows of cos_cache');
    for (let n = 0; n < positions.length; n++) {
      const id = Number(ids.data[n]!);
      if (!(id >= 0 && id < rows)) throw rangeError(`position_ids[${n}]`, `a row of the caches, in [0, ${rows - 1}]`, `${id}`);
      positions[n] = id;
    }
  } else {
    for (const [name, cache] of [['cos_cache', cosCache], ['sin_cache', sinCache]] as const) {
      checkRank(name, cache.shape, 3, '[batch, seq, rotary_dim/2] without position_ids');
      checkAxis(name, cache.shape, 0, batch, 'batch of X');
      checkAxis(name, cache.shape, 1, seqLen, 'seq of X');
      checkAxis(name, cache.shape, 2, half, 'rotary_dim/2');
    }
    for (let n = 0; n < positions.length; n++) positions[n] = n; // row (b, s) of the gathered caches
  }
  const rotation: Rotation = { dim, interleaved, cos: asFloat32(cosCache), sin: asFloat32(sinCache), invFreq: new Float64Array(0) };
  const values = asFloat32(x);
  const y = new Float32Array(values.length);
  const kind = x.shape.length === 4 ? 'bhsd' : 'packed';
  rotateHeads(y, values, { batch, heads, seqLen, headDim }, stridesFor(kind, heads, seqLen, headDim), rotation, gatherAngles(rotation, positions));
  return [{ data: x.dtype === 'float16' ? float32ArrayToHalf(y) : y, shape: x.shape.slice(), dtype: x.dtype }];
}
