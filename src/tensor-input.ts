/**
 * Checks user tensors at the public boundary: kind of data, shape, dtype, length.
 */
import { describe, formatShape, rangeError, typeError } from './errors.js';
import { typedArrayBrand, typedArrayLength, viewOf } from './typed-array.js';
import type { Dtype } from './types.js';

/** Product of a shape's dimensions (1 for a scalar shape). */
export function sizeOf(shape: readonly number[]): number {
  let size = 1;
  for (const dim of shape) size *= dim;
  return size;
}

/** Checks that `shape` is an array of safe integers >= `min` (0, or 1: positive); returns a copy. */
export function checkShape(name: string, shape: unknown, min = 0): number[] {
  if (!Array.isArray(shape) && !(ArrayBuffer.isView(shape) && !(shape instanceof DataView))) {
    throw typeError(name, 'an array of dimensions', shape);
  }
  const dims = Array.from(shape as ArrayLike<number>);
  for (let i = 0; i < dims.length; i++) {
    const dim = dims[i];
    if (typeof dim !== 'number') throw typeError(`${name}[${i}]`, 'a number', dim);
    if (!Number.isSafeInteger(dim) || dim < min) throw rangeError(`${name}[${i}]`, min ? 'a positive integer' : 'a non-negative integer', `${dim}`);
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
  // By brand (src/typed-array.ts): neither Symbol.toStringTag nor the prototype can fool it.
  const brand = typedArrayBrand(data);
  if (brand === 'Float32Array') return 'float32';
  if (brand === 'Uint16Array' || brand === 'Float16Array') return 'float16';
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
  const length = typedArrayLength(data); // the internal length: an own `length` property cannot lie
  if (length !== sizeOf(dims)) {
    throw rangeError(`${name}.data`, `length ${sizeOf(dims)} (the product of shape ${formatShape(dims)})`, `length ${length}`);
  }
  // A fresh view of exactly the caller's elements: nothing below reads the caller's object.
  return { dtype: kind, data: kind === 'float16' ? viewOf<Uint16Array>(data) : viewOf<Float32Array>(data), shape: dims };
}

/** Checks an optional boolean option. */
export function checkBoolean(name: string, value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw typeError(name, 'a boolean', value);
  return value;
}

/**
 * The caller's options as a snapshot of their OWN enumerable keys (`Object.keys`), each read
 * once; throws a TypeError for any key not in `known` (catches typos such as `casual`).
 * Inherited keys are neither read nor validated: `{ __proto__: { causal: true } }` is `{}`
 * (issue #10: an inherited `causal` was applied and an inherited typo went unnoticed), and
 * a getter runs once, so the value validated is the value used.
 * @returns a null-prototype object holding the own keys of `options` (all of them known)
 */
export function ownOptions<T extends object = Record<string, unknown>>(name: string, options: object, known: readonly string[]): Partial<T> {
  const own = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(options)) {
    const value = (options as Record<string, unknown>)[key];
    if (!known.includes(key)) throw new TypeError(`${name}.${key}: expected one of ${known.join(', ')}, got an unknown option (${describe(value)})`);
    own[key] = value;
  }
  return own as Partial<T>;
}

/** A call's `options` argument: undefined or null read as {}, else an object of `known` own keys ({@link ownOptions}). */
export function callOptions<T extends object>(options: unknown, known: readonly string[]): Partial<T> {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw typeError('options', 'an object', options);
  return ownOptions<T>('options', options as object, known);
}
