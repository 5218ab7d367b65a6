/**
 * Checks user tensors at the public boundary: kind of data, shape, dtype, length.
 */
import { describe, formatShape, rangeError, typeError } from './errors.js';
import { halfBitsOf, isFloat16Array } from './float16.js';
import type { Dtype } from './types.js';

/** Product of a shape's dimensions (1 for a scalar shape). */
export function sizeOf(shape: readonly number[]): number {
  let size = 1;
  for (const dim of shape) size *= dim;
  return size;
}

/** Checks that `shape` is an array of non-negative safe integers; returns a copy. */
export function checkShape(name: string, shape: unknown): number[] {
  if (!Array.isArray(shape) && !(ArrayBuffer.isView(shape) && !(shape instanceof DataView))) {
    throw typeError(name, 'an array of dimensions', shape);
  }
  const dims = Array.from(shape as ArrayLike<number>);
  for (let i = 0; i < dims.length; i++) {
    const dim = dims[i];
    if (typeof dim !== 'number') throw typeError(`${name}[${i}]`, 'a number', dim);
    if (!Number.isSafeInteger(dim) || dim < 0) throw rangeError(`${name}[${i}]`, 'a non-negative integer', `${dim}`);
  }
  return dims;
}

export interface CheckedTensor {
  readonly dtype: Dtype;
  /** f32 data, or the half bits for float16. */
  readonly data: Float32Array | Uint16Array;
  readonly shape: number[];
}

/** The dtype a typed array holds, or undefined when it is not a float tensor kind. */
export function dtypeOfData(data: unknown): Dtype | undefined {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Uint16Array || isFloat16Array(data)) return 'float16';
  return undefined;
}

/** Checks a `{ data, shape }` tensor of float32 or float16 data. */
export function checkTensor(name: string, tensor: unknown, dtype: Dtype | undefined): CheckedTensor {
  if (typeof tensor !== 'object' || tensor === null || !('data' in tensor) || !('shape' in tensor)) {
    throw typeError(name, 'a tensor { data, shape }', tensor);
  }
  const { data, shape } = tensor as { data: unknown; shape: unknown };
  const kind = dtypeOfData(data);
  if (!kind) {
    throw typeError(`${name}.data`, 'Float32Array (float32), or Uint16Array/Float16Array of IEEE half bits (float16)', data);
  }
  if (dtype && kind !== dtype) {
    throw typeError(`${name}.data`, `${dtype === 'float32' ? 'Float32Array' : 'Uint16Array or Float16Array'} for dtype '${dtype}'`, data);
  }
  const dims = checkShape(`${name}.shape`, shape);
  const length = (data as { length: number }).length;
  if (length !== sizeOf(dims)) {
    throw rangeError(`${name}.data`, `length ${sizeOf(dims)} (the product of shape ${formatShape(dims)})`, `length ${length}`);
  }
  return { dtype: kind, data: kind === 'float16' ? halfBitsOf(data as Uint16Array) : (data as Float32Array), shape: dims };
}

/** Checks an optional boolean option. */
export function checkBoolean(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value);
  return value;
}

/** Throws a TypeError for any key of `options` not in `known` (catches typos such as `casual`). */
export function checkKnownKeys(name: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new TypeError(`${name}.${key}: expected one of ${known.join(', ')}, got an unknown option (${describe((options as Record<string, unknown>)[key])})`);
  }
}
