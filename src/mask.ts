/**
 * Turns a user mask into the plan's additive bias: boolean masks become 0 / -Infinity,
 * float16 masks are decoded, and broadcasting (NumPy rules, from any suffix shape of
 * `[batch, qHeads, seqLenQ, seqLenK]`) becomes zero strides, so a `[Lq, Lk]` mask is
 * never expanded per batch or head. Only a mask broadcast along the key axis is
 * materialised, because the kernels read bias rows as contiguous runs of keys.
 */
import { formatShape, rangeError, typeError } from './errors.js';
import { halfDecodeTable } from './float16.js';
import { typedArrayBrand, typedArrayLength, viewOf } from './typed-array.js';
import { checkShape, sizeOf } from './tensor-input.js';
import type { BiasStrides } from './plan.js';

export interface ResolvedBias {
  readonly bias: Float32Array;
  readonly strides: BiasStrides;
}

/** The kind of mask data: boolean (`Uint8Array`), additive f32, or additive half bits. */
export type MaskKind = 'bool' | 'float32' | 'float16';

/** Classifies mask data, or throws a TypeError naming `name`. */
export function maskKindOf(name: string, data: unknown): MaskKind {
  const brand = typedArrayBrand(data); // by brand, never by a spoofable tag (src/typed-array.ts)
  if (brand === 'Uint8Array') return 'bool';
  if (brand === 'Float32Array') return 'float32';
  if (brand === 'Uint16Array' || brand === 'Float16Array') return 'float16';
  throw typeError(name, 'Uint8Array (boolean, 1 = attend), Float32Array (additive) or Uint16Array/Float16Array (additive float16)', data);
}

/**
 * Converts `mask` (already checked: typed data whose length is the product of `shape`) to
 * an additive bias broadcast to `target` = `[batch, qHeads, seqLenQ, seqLenK]`.
 * @throws RangeError when the shape does not broadcast to `target`.
 */
export function resolveBias(
  name: string,
  data: Uint8Array | Float32Array | Uint16Array,
  kind: MaskKind,
  shape: readonly number[],
  target: readonly [number, number, number, number],
): ResolvedBias {
  if (shape.length < 1 || shape.length > 4) {
    throw rangeError(`${name}.shape`, `rank 1 to 4, broadcastable to ${formatShape(target)}`, `${formatShape(shape)}`);
  }
  // Left-pad the shape with 1s to rank 4 and check each axis broadcasts.
  const full = [1, 1, 1, 1];
  for (let i = 0; i < shape.length; i++) full[4 - shape.length + i] = shape[i]!;
  for (let axis = 0; axis < 4; axis++) {
    if (full[axis] !== 1 && full[axis] !== target[axis]) {
      throw rangeError(
        `${name}.shape`,
        `a shape broadcastable to [batch, qHeads, seqLenQ, seqLenK] = ${formatShape(target)} (each axis 1 or equal)`,
        `${formatShape(shape)}`,
      );
    }
  }
  const [maskBatch, maskHeads, maskRows, maskKeys] = full as [number, number, number, number];
  const seqLenK = target[3];
  const rows = maskBatch * maskHeads * maskRows;
  const bias = new Float32Array(rows * seqLenK);
  const decode = kind === 'float16' ? halfDecodeTable() : undefined;
  const bits = kind === 'float16' ? new Uint16Array(data.buffer, data.byteOffset, data.length) : undefined;
  for (let row = 0; row < rows; row++) {
    for (let key = 0; key < seqLenK; key++) {
      const source = row * maskKeys + (maskKeys === 1 ? 0 : key);
      let value: number;
      if (kind === 'bool') value = data[source] ? 0 : -Infinity;
      else if (decode) value = decode[bits![source]!]!;
      else value = data[source]!;
      bias[row * seqLenK + key] = value;
    }
  }
  const strides: BiasStrides = {
    batch: maskBatch === 1 ? 0 : maskHeads * maskRows * seqLenK,
    head: maskHeads === 1 ? 0 : maskRows * seqLenK,
    query: maskRows === 1 ? 0 : seqLenK,
  };
  return { bias, strides };
}

/**
 * Checks `options.mask` (absent, or a `{ data, shape }` tensor) and resolves it against
 * `target` = `[batch, qHeads, seqLenQ, seqLenK]`: the one mask check of `attention` and
 * `decode`. Returns null when there is no mask.
 * @throws TypeError for a non-tensor or a wrong data kind; RangeError for a length that is
 *   not the product of the shape, or a shape that does not broadcast.
 */
export function resolveMaskOption(mask: unknown, target: readonly [number, number, number, number]): ResolvedBias | null {
  if (mask === undefined || mask === null) return null;
  if (typeof mask !== 'object' || !('data' in mask) || !('shape' in mask)) {
    throw typeError('options.mask', 'a tensor { data, shape }', mask);
  }
  const { data, shape } = mask as { data: unknown; shape: unknown };
  const kind = maskKindOf('options.mask.data', data);
  const dims = checkShape('options.mask.shape', shape);
  const length = typedArrayLength(data);
  if (length !== sizeOf(dims)) {
    throw rangeError('options.mask.data', `length ${sizeOf(dims)} (the product of shape ${formatShape(dims)})`, `length ${length}`);
  }
  return resolveBias('options.mask', viewOf<Uint8Array>(data), kind, dims, target);
}
