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

/**
 * A fresh view of `Ctor` over exactly the elements of `value` (a typed array of the same
 * element size, checked by the caller), made from its internal slots: the same memory, so
 * writes reach the caller's array, but no own property or prototype of the caller's object
 * is read again below the boundary. Costs one view allocation per tensor per call.
 */
function viewAs<T>(Ctor: new (buffer: ArrayBufferLike, byteOffset: number, length: number) => T, value: unknown): T {
  const length = lengthGetter.call(value) as number;
  // A detached buffer has length 0 and cannot be viewed; an empty view is the same data.
  if (length === 0) return new Ctor(new ArrayBuffer(0), 0, 0);
  return new Ctor(bufferGetter.call(value) as ArrayBufferLike, byteOffsetGetter.call(value) as number, length);
}

/** A `Float32Array` over exactly the elements of `value`, a typed array branded Float32Array. */
export function float32View(value: unknown): Float32Array {
  return viewAs(Float32Array, value);
}

/** A `Uint16Array` over exactly the half bits of `value`, a typed array branded Uint16Array or Float16Array. */
export function uint16View(value: unknown): Uint16Array {
  return viewAs(Uint16Array, value);
}

/** A `Uint8Array` over exactly the elements of `value`, a typed array branded Uint8Array. */
export function uint8View(value: unknown): Uint8Array {
  return viewAs(Uint8Array, value);
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
 * {@link viewAs} for the brands the library reads (Float32Array, Uint16Array, Float16Array
 * as Uint16Array half bits, Uint8Array, Int32Array, BigInt64Array).
 * @throws TypeError for another brand (callers check the brand first)
 */
export function canonicalView<T extends ArrayBufferView>(value: unknown): T {
  const Ctor = VIEW_OF_BRAND[typedArrayBrand(value) ?? ''];
  if (!Ctor) throw new TypeError(`canonicalView: expected a typed array of a supported kind, got ${typedArrayBrand(value) ?? typeof value}`);
  return viewAs(Ctor, value) as T;
}

/** True when the two views share at least one byte (same buffer, intersecting byte ranges). */
export function viewsOverlap(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.buffer !== b.buffer) return false;
  return a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
}
