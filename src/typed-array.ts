/**
 * Typed arrays identified by their brand, never by anything a caller can set.
 *
 * `Object.prototype.toString` reads `Symbol.toStringTag` through the prototype chain, so an
 * `Int8Array` with an own `Symbol.toStringTag` of "Float16Array" passed for one (issue #10:
 * it was read as float16, and 80 bytes past its view were read). `instanceof` can be fooled
 * the other way (`Object.setPrototypeOf`), and an own `length` property can lie. The getters
 * of `%TypedArray%.prototype` (`Symbol.toStringTag`, `buffer`, `byteOffset`, `length`),
 * called on the value, read its internal slots: a caller cannot spoof them, and they work on
 * typed arrays of any realm. Every view handed below the boundary is re-made from those
 * slots, so no kernel reads outside the caller's view.
 */

const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;

function intrinsicGetter(key: PropertyKey): (this: unknown) => unknown {
  return Object.getOwnPropertyDescriptor(TypedArrayPrototype, key)!.get! as (this: unknown) => unknown;
}

const brandGetter = intrinsicGetter(Symbol.toStringTag);
const bufferGetter = intrinsicGetter('buffer');
const byteOffsetGetter = intrinsicGetter('byteOffset');
const lengthGetter = intrinsicGetter('length');

/** The constructor name of a typed array from its internal slot ("Float32Array", ...), or undefined for anything else. */
export function typedArrayBrand(value: unknown): string | undefined {
  return brandGetter.call(value) as string | undefined;
}

/** The element count of a typed array, from its internal slot (0 once its buffer is detached). */
export function typedArrayLength(value: unknown): number {
  return lengthGetter.call(value) as number;
}

const VIEW_OF_BRAND: Readonly<Record<string, new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ArrayBufferView>> = {
  Float32Array,
  Uint16Array,
  Float16Array: Uint16Array, // float16 data is handled as its half bits
  Uint8Array,
  Int32Array,
  BigInt64Array,
};

/**
 * A fresh view over exactly the elements of `value`, a typed array whose brand the caller
 * has checked (Float32Array, Uint16Array, Float16Array — viewed as Uint16Array half bits —,
 * Uint8Array, Int32Array, BigInt64Array), made from its internal slots: the same memory, so
 * writes reach the caller's array, but no own property or prototype of the caller's object
 * is read again below the boundary. Costs one view allocation per tensor per call.
 */
export function viewOf<T extends ArrayBufferView>(value: unknown): T {
  const Ctor = VIEW_OF_BRAND[brandGetter.call(value) as string]!;
  const length = lengthGetter.call(value) as number;
  // A detached buffer has length 0 and cannot be viewed; an empty view is the same data.
  return new Ctor(length ? (bufferGetter.call(value) as ArrayBufferLike) : new ArrayBuffer(0), length ? (byteOffsetGetter.call(value) as number) : 0, length) as T;
}
