/**
 * The `rotary` option of attention, decode and createKVCache, checked at the boundary and
 * resolved to a {@link Rotation} plus the position of every row. Kept terse: it is in the
 * default entry, whose gzip size is budgeted (test/runtimes/size.test.ts).
 */
import { checkInteger, rangeError, typeError } from '../errors.js';
import { checkBoolean, ownOptions } from '../tensor-input.js';
import { typedArrayBrand } from '../typed-array.js';
import { inverseFrequencies, type Rotation } from './rotate.js';

/** A finite number > 0 (`base`, `scaling.factor`). */
function checkPositive(name: string, value: unknown): number {
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  if (!(value > 0 && value < Infinity)) throw rangeError(name, 'a finite number > 0', `${value}`);
  return value;
}

/**
 * Checks `value` as rotary options for heads of `headDim`; `extraKeys` are the other keys
 * the caller allows (queryPositions, keyPositions), returned unchecked in `own`.
 * @throws TypeError for a wrong kind or an unknown key, RangeError for a value out of range
 */
export function resolveRotation(name: string, value: unknown, headDim: number, extraKeys: readonly string[] = []): { rotation: Rotation; own: Record<string, unknown> } {
  if (typeof value !== 'object' || value === null) throw typeError(name, '{ base } or { cos, sin }', value);
  const own = ownOptions<Record<string, unknown>>(name, value, ['base', 'cos', 'sin', 'dim', 'interleaved', 'scaling', ...extraKeys]) as Record<string, unknown>;
  const dim = own.dim === undefined ? headDim : checkInteger(`${name}.dim`, own.dim, 2, headDim);
  if (dim % 2 || dim < 2) throw rangeError(`${name}.dim`, `an even number in [2, headDim = ${headDim}]`, `${dim}`);
  const interleaved = checkBoolean(`${name}.interleaved`, own.interleaved);
  const half = dim / 2;
  if (own.cos !== undefined || own.sin !== undefined) {
    // Tables [maxPos, dim/2], the ONNX cos_cache/sin_cache; base and scaling are theirs.
    if (own.base !== undefined || own.scaling !== undefined) throw typeError(`${name}.${own.base !== undefined ? 'base' : 'scaling'}`, 'none with cos/sin tables', own.base ?? own.scaling);
    const table = (key: 'cos' | 'sin'): Float32Array => {
      const t = own[key] as Float32Array;
      if (typedArrayBrand(t) !== 'Float32Array') throw typeError(`${name}.${key}`, `a Float32Array [maxPos, ${half}]`, t);
      if (!t.length || t.length % half || t.length !== (own.cos as Float32Array).length) throw rangeError(`${name}.${key}`, `[maxPos, ${half}] like cos`, `length ${t.length}`);
      return t;
    };
    return { rotation: { dim, interleaved, cos: table('cos'), sin: table('sin'), invFreq: new Float64Array(0) }, own };
  }
  const base = own.base === undefined ? 10000 : checkPositive(`${name}.base`, own.base);
  let factor = 1;
  if (own.scaling !== undefined) {
    const scaling = own.scaling;
    if (typeof scaling !== 'object' || scaling === null) throw typeError(`${name}.scaling`, "{ type: 'linear', factor }", scaling);
    const s = ownOptions<Record<string, unknown>>(`${name}.scaling`, scaling, ['type', 'factor']) as Record<string, unknown>;
    if (s.type !== 'linear') throw typeError(`${name}.scaling.type`, "'linear'", s.type);
    factor = checkPositive(`${name}.scaling.factor`, s.factor);
  }
  return { rotation: { dim, interleaved, cos: null, sin: null, invFreq: inverseFrequencies(base, dim, factor) }, own };
}

/** The positions a table covers (rows of cos), or Infinity when computed from a base. */
export function maxPositions(rotation: Rotation): number {
  return rotation.cos ? rotation.cos.length / (rotation.dim / 2) : Infinity;
}

/** Largest |position| (and offset): angles stay exact multiples of a frequency in float64. */
const LIMIT = 2 ** 30;

/**
 * The position of every row `[batch, seqLen]`: from `value` (an integer offset added to the
 * row index, or `batch·seqLen` integers), else `s + offsets[b]`. With tables, each must be
 * a row of the table.
 * @throws TypeError / RangeError naming `name`
 */
export function resolvePositions(name: string, value: unknown, batch: number, seqLen: number, offsets: Int32Array, rotation: Rotation): Int32Array {
  const positions = new Int32Array(batch * seqLen);
  const given = value as ArrayLike<number>;
  if (value !== undefined && typeof value !== 'number' && (typeof value !== 'object' || typeof given?.length !== 'number')) {
    throw typeError(name, `an integer offset or an Int32Array [batch, seq] of ${batch * seqLen}`, value);
  }
  if (typeof value === 'object' && given.length !== batch * seqLen) throw rangeError(name, `length ${batch}·${seqLen} = ${batch * seqLen}`, `length ${given.length}`);
  const offset = typeof value === 'number' ? checkInteger(name, value, -LIMIT, LIMIT) : 0;
  const rows = maxPositions(rotation);
  for (let n = 0; n < positions.length; n++) {
    const b = Math.floor(n / seqLen);
    const s = n - b * seqLen;
    const p = typeof value === 'object' ? checkInteger(`${name}[${n}]`, given[n], -LIMIT, LIMIT) : s + (value === undefined ? offsets[b]! : offset);
    if (p < 0 ? rows < Infinity : p >= rows) throw rangeError(value === undefined ? `${name} (default)` : name, `a row of the cos/sin tables, in [0, ${rows - 1}]`, `position ${p} (batch ${b}, row ${s})`);
    positions[n] = p;
  }
  return positions;
}
