/**
 * The `rotary` option of attention, decode and createKVCache, checked at the boundary and
 * resolved to a {@link Rotation} plus the position of every row.
 */
import { checkInteger, rangeError, typeError } from '../errors.js';
import { checkBoolean, ownOptions } from '../tensor-input.js';
import { typedArrayBrand } from '../typed-array.js';
import { inverseFrequencies, type Rotation } from './rotate.js';

/** The keys that describe a rotation (the rest of `rotary` are positions). */
const ROTATION_KEYS = ['base', 'cos', 'sin', 'dim', 'interleaved', 'scaling'] as const;

/** The default base of the frequencies, base^(−2i/dim) (RoFormer, Llama 1–2). */
export const DEFAULT_BASE = 10000;

function checkTable(name: string, value: unknown, half: number): Float32Array {
  if (typedArrayBrand(value) !== 'Float32Array') throw typeError(name, `a Float32Array [maxPos, dim/2 = ${half}]`, value);
  const table = value as Float32Array;
  if (table.length === 0 || table.length % half !== 0) {
    throw rangeError(name, `a positive multiple of dim/2 = ${half} elements ([maxPos, dim/2])`, `length ${table.length}`);
  }
  return table;
}

/**
 * Checks `value` as rotary options for heads of `headDim`; `extraKeys` are the other keys
 * the caller allows (queryPositions, keyPositions), returned unchecked in `own`.
 * @throws TypeError for a wrong kind or an unknown key, RangeError for a value out of range
 */
export function resolveRotation(name: string, value: unknown, headDim: number, extraKeys: readonly string[] = []): { rotation: Rotation; own: Record<string, unknown> } {
  if (typeof value !== 'object' || value === null) throw typeError(name, '{ base } or { cos, sin } (rotary options)', value);
  const own = ownOptions<Record<string, unknown>>(name, value, [...ROTATION_KEYS, ...extraKeys]) as Record<string, unknown>;
  const dim = own.dim === undefined ? headDim : checkInteger(`${name}.dim`, own.dim, 2, headDim);
  if (dim % 2 !== 0 || dim < 2) {
    throw rangeError(`${name}.dim`, `an even number of rotated dims in [2, headDim = ${headDim}]`, own.dim === undefined ? `headDim ${headDim} (default)` : `${dim}`);
  }
  const interleaved = checkBoolean(`${name}.interleaved`, own.interleaved);
  const half = dim / 2;
  if (own.cos !== undefined || own.sin !== undefined) {
    if (own.base !== undefined) throw typeError(`${name}.base`, 'no base with cos/sin tables (one or the other)', own.base);
    if (own.scaling !== undefined) throw typeError(`${name}.scaling`, 'no scaling with cos/sin tables (scale the tables instead)', own.scaling);
    const cos = checkTable(`${name}.cos`, own.cos, half);
    const sin = checkTable(`${name}.sin`, own.sin, half);
    if (sin.length !== cos.length) throw rangeError(`${name}.sin`, `length ${cos.length} (like cos)`, `length ${sin.length}`);
    return { rotation: { dim, interleaved, cos, sin, invFreq: new Float64Array(0) }, own };
  }
  let base = DEFAULT_BASE;
  if (own.base !== undefined) {
    if (typeof own.base !== 'number') throw typeError(`${name}.base`, 'a number', own.base);
    if (!(own.base > 0 && Number.isFinite(own.base))) throw rangeError(`${name}.base`, 'a finite number > 0', `${own.base}`);
    base = own.base;
  }
  let factor = 1;
  if (own.scaling !== undefined) {
    const scaling = own.scaling as { type?: unknown; factor?: unknown } | null;
    if (typeof scaling !== 'object' || scaling === null) throw typeError(`${name}.scaling`, "{ type: 'linear', factor }", scaling);
    const checked = ownOptions<Record<string, unknown>>(`${name}.scaling`, scaling, ['type', 'factor']) as Record<string, unknown>;
    if (checked.type !== 'linear') throw typeError(`${name}.scaling.type`, "'linear'", checked.type);
    if (typeof checked.factor !== 'number') throw typeError(`${name}.scaling.factor`, 'a number', checked.factor);
    if (!(checked.factor > 0 && Number.isFinite(checked.factor))) throw rangeError(`${name}.scaling.factor`, 'a finite number > 0', `${checked.factor}`);
    factor = checked.factor;
  }
  return { rotation: { dim, interleaved, cos: null, sin: null, invFreq: inverseFrequencies(base, dim, factor) }, own };
}

/** The positions a table covers (rows of cos), or Infinity when computed from a base. */
export function maxPositions(rotation: Rotation): number {
  return rotation.cos ? rotation.cos.length / (rotation.dim / 2) : Infinity;
}

/** Largest |position|: angles stay exact integers times a frequency in float64. */
const POSITION_LIMIT = 2 ** 30;

/**
 * The position of every row `[batch, seqLen]`: from `value` (an integer offset added to the
 * row index, or `batch·seqLen` integers), else `s + offsets[b]`. With tables, each must be
 * a row of the table.
 * @throws TypeError / RangeError naming `name`
 */
export function resolvePositions(name: string, value: unknown, batch: number, seqLen: number, offsets: Int32Array, rotation: Rotation): Int32Array {
  const positions = new Int32Array(batch * seqLen);
  if (value === undefined || typeof value === 'number') {
    const offset = value === undefined ? 0 : checkInteger(name, value, -POSITION_LIMIT, POSITION_LIMIT);
    for (let b = 0; b < batch; b++) for (let s = 0; s < seqLen; s++) positions[b * seqLen + s] = s + offset + (value === undefined ? offsets[b]! : 0);
  } else {
    if (typeof value !== 'object' || value === null || typeof (value as ArrayLike<number>).length !== 'number') {
      throw typeError(name, `an integer offset or an Int32Array [batch, seq] of ${batch * seqLen} positions`, value);
    }
    const given = value as ArrayLike<number>;
    if (given.length !== batch * seqLen) throw rangeError(name, `length ${batch}·${seqLen} = ${batch * seqLen} ([batch, seq])`, `length ${given.length}`);
    for (let n = 0; n < positions.length; n++) positions[n] = checkInteger(`${name}[${n}]`, given[n], -POSITION_LIMIT, POSITION_LIMIT);
  }
  const rows = maxPositions(rotation);
  for (let n = 0; n < positions.length; n++) {
    const p = positions[n]!;
    if (p < 0 || p >= rows) {
      if (rows !== Infinity) throw rangeError(value === undefined ? `${name} (default)` : `${name}[${n}]`, `a row of the cos/sin tables, in [0, ${rows - 1}]`, `position ${p} (batch ${Math.floor(n / seqLen)}, row ${n % seqLen})`);
      if (Math.abs(p) > POSITION_LIMIT) throw rangeError(name, `positions within ±2^30`, `${p}`);
    }
  }
  return positions;
}
