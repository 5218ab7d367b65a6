/**
 * Boundary checks of ONNX tensors: the kind of data, the dtype, the shape and the length.
 * Each message names the ONNX input ("Q", "attn_mask", ...), e.g.
 * "attn_mask.shape: expected …, got …".
 */
import { formatShape, rangeError, typeError } from '../errors.js';
import { typedArrayBrand, typedArrayLength, viewOf } from '../typed-array.js';
import { checkShape, sizeOf } from '../tensor-input.js';
import { checkNotDetached } from '../cache/pinned.js';
import type { OnnxDtype } from './types.js';

/** A tensor after the boundary checks: data of a known dtype (half bits for float16). */
export interface CheckedOnnxTensor {
  readonly dtype: OnnxDtype;
  readonly data: Float32Array | Uint16Array | Uint8Array | BigInt64Array | Int32Array;
  readonly shape: number[];
}

const DTYPES: readonly OnnxDtype[] = ['float32', 'float16', 'bool', 'int64', 'int32'];

const DATA_KIND: Readonly<Record<OnnxDtype, string>> = {
  float32: 'Float32Array',
  float16: 'Uint16Array of half bits or Float16Array',
  bool: 'Uint8Array',
  int64: 'BigInt64Array',
  int32: 'Int32Array',
};

/**
 * The dtype a typed array holds, or undefined for any other value.
 *
 * @param data - any value
 * @returns the ONNX dtype of `data`'s kind (`Float16Array` and `Uint16Array` are float16)
 * @throws nothing
 * @example
 * onnxDtypeOfData(new BigInt64Array(2)); // 'int64'
 */
export function onnxDtypeOfData(data: unknown): OnnxDtype | undefined {
  // By brand, never by a spoofable tag or prototype (src/typed-array.ts).
  switch (typedArrayBrand(data)) {
    case 'Float32Array': return 'float32';
    case 'Uint16Array': case 'Float16Array': return 'float16';
    case 'Uint8Array': return 'bool';
    case 'BigInt64Array': return 'int64';
    case 'Int32Array': return 'int32';
    default: return undefined;
  }
}

/**
 * Checks one ONNX tensor `{ data, shape, dtype? }` named `name`, whose dtype must be one of
 * `allowed` (described by `allowedText` in the message).
 *
 * @param name - the ONNX input name used in messages ('Q', 'attn_mask', ...)
 * @param tensor - the caller's value
 * @param allowed - the dtypes this input accepts
 * @param allowedText - `allowed` in words, for the message
 * @returns the tensor with its dtype resolved and float16 data viewed as half bits
 * @example
 * checkOnnxTensor('Q', q, ['float32', 'float16'], "'float32' or 'float16'");
 * @throws TypeError for a non-tensor, an unknown or disallowed dtype, or data of another kind.
 * @throws RangeError for a malformed shape or a data length that is not the shape's product.
 */
export function checkOnnxTensor(
  name: string,
  tensor: unknown,
  allowed: readonly OnnxDtype[],
  allowedText: string,
): CheckedOnnxTensor {
  if (typeof tensor !== 'object' || tensor === null || !('data' in tensor) || !('shape' in tensor)) {
    throw typeError(name, 'a tensor { data, shape, dtype? }', tensor);
  }
  const { data, shape, dtype } = tensor as { data: unknown; shape: unknown; dtype?: unknown };
  const kind = onnxDtypeOfData(data);
  if (dtype !== undefined && !DTYPES.includes(dtype as OnnxDtype)) {
    throw typeError(`${name}.dtype`, DTYPES.map((d) => `'${d}'`).join(' | '), dtype);
  }
  if (!kind) throw typeError(`${name}.data`, `a typed array (${allowedText})`, data);
  if (dtype !== undefined && dtype !== kind) {
    throw typeError(`${name}.data`, `a ${DATA_KIND[dtype as OnnxDtype]} for dtype '${dtype as string}'`, data);
  }
  if (!allowed.includes(kind)) throw typeError(`${name}.dtype`, allowedText, kind);
  const dims = checkShape(`${name}.shape`, shape);
  checkNotDetached(name, tensor); // a stale view of a PinnedTensor: a TypeError that says so
  const length = typedArrayLength(data);
  if (length !== sizeOf(dims)) {
    throw rangeError(`${name}.data`, `length ${sizeOf(dims)} (the product of shape ${formatShape(dims)})`, `length ${length}`);
  }
  const checked = viewOf<CheckedOnnxTensor['data']>(data); // float16 as half bits
  return { dtype: kind, data: checked, shape: dims };
}

/**
 * Throws unless `shape` has one of the ranks `rank`; `what` describes the expected axes.
 *
 * @returns nothing
 * @throws RangeError "NAME.shape: expected rank R (what), got rank N [..]"
 * @example
 * checkRank('past_key', shape, 4, '[batch, kv_num_heads, past_seq, head_size]');
 */
export function checkRank(name: string, shape: readonly number[], rank: number | readonly number[], what: string): void {
  const ranks = typeof rank === 'number' ? [rank] : rank;
  if (!ranks.includes(shape.length)) {
    throw rangeError(`${name}.shape`, `rank ${ranks.join(' or ')} (${what})`, `rank ${shape.length} ${formatShape(shape)}`);
  }
}

/**
 * Throws unless `shape[axis] === expected`; `why` says where `expected` comes from.
 *
 * @returns nothing
 * @throws RangeError "NAME.shape[axis]: expected E (why), got G (NAME.shape [..])"
 * @example
 * checkAxis('K', kShape, 0, batch, 'batch of Q');
 */
export function checkAxis(name: string, shape: readonly number[], axis: number, expected: number, why: string): void {
  if (shape[axis] !== expected) {
    throw rangeError(`${name}.shape[${axis}]`, `${expected} (${why})`, `${shape[axis]} (${name}.shape ${formatShape(shape)})`);
  }
}
