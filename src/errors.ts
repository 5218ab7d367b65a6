/**
 * Boundary validation helpers. Every public entry point checks its input exactly and
 * throws a `TypeError` for a wrong kind or a `RangeError` for a wrong size or shape,
 * with a message of the form "NAME: expected X, got Y" (the style of noble-hashes).
 * Kernels below the boundary trust their input.
 */

/** Describes any value for an error message: its type, typed-array kind and length, or value. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (ArrayBuffer.isView(value)) {
    const name = value.constructor?.name ?? 'ArrayBufferView';
    const length = (value as { length?: number }).length;
    return length === undefined ? name : `${name} of length ${length}`;
  }
  if (Array.isArray(value)) return `Array of length ${value.length}`;
  if (typeof value === 'number') return `${value}`;
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

/** Formats a shape as `[2, 3, 4]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export function typeError(name: string, expected: string, got: unknown): TypeError {
  return new TypeError(`${name}: expected ${expected}, got ${describe(got)}`);
}

export function rangeError(name: string, expected: string, got: string): RangeError {
  return new RangeError(`${name}: expected ${expected}, got ${got}`);
}

/** Checks that `value` is an integer in [min, max]. */
export function checkInteger(name: string, value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number') throw typeError(name, 'an integer', value);
  if (!Number.isInteger(value) || value < min || value > max) {
    const bounds = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw rangeError(name, `an integer ${bounds}`, `${value}`);
  }
  return value;
}

/** The largest finite float32, (2 − 2^-23)·2^127. */
export const FLOAT32_MAX = 3.4028234663852886e38;
/** The smallest normal float32, 2^-126. */
export const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;

/**
 * Checks a float option that reaches the kernels as a float32 (`scale`, `softcap`): a
 * finite number (optionally > 0 or >= 0) whose float32 value is 0 or normal, i.e. of
 * magnitude in [2^-126, FLT_MAX] after rounding to float32. A value that is finite in
 * float64 but infinite in float32 (1e39), or nonzero but 0 in float32 (1e-46), would
 * silently change meaning on the WASM backends (a NaN row, a softcap switched off); a
 * subnormal one would make the kernels' 1/softcap infinite. All are rejected here, on
 * every path (attention, decode, onnxAttention), so every backend sees the same value.
 * @returns `value` unchanged (backends round it to float32 themselves)
 */
export function checkFloat32(name: string, value: unknown, sign: 'any' | 'positive' | 'non-negative' = 'any'): number {
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  const signText = sign === 'any' ? '' : ` ${sign}`;
  const expected = `a finite${signText} number that is 0 or of magnitude in [${FLOAT32_MIN_NORMAL}, ${FLOAT32_MAX}] in float32`;
  const rounded = Math.fround(value);
  const magnitude = Math.abs(rounded);
  const signOk = sign === 'any' || (sign === 'positive' ? value > 0 : value >= 0);
  const rangeOk = Number.isFinite(rounded) && (value === 0 || magnitude >= FLOAT32_MIN_NORMAL);
  if (!signOk || !rangeOk) throw rangeError(name, expected, `${value}`);
  return value;
}

/**
 * Checks a per-sequence array (`options.keyLengths`, `options.lengths`): an array or typed
 * array of `count` integers, entry b in [0, max] (or [0, max[b]]); bigint entries are read
 * as numbers when `bigints` is set.
 * @param per what one entry stands for, for the length message ("one per sequence")
 */
export function checkIntegerArray(name: string, value: unknown, count: number, per: string, max: number | ArrayLike<number>, bigints = true): Int32Array {
  if (typeof value !== 'object' || typeof (value as ArrayLike<number>).length !== 'number') {
    throw typeError(name, `an array or typed array of ${count} integers`, value);
  }
  const entries = value as ArrayLike<number | bigint>;
  if (entries.length !== count) throw rangeError(name, `length ${count} (${per})`, `length ${entries.length}`);
  const result = new Int32Array(count);
  for (let b = 0; b < count; b++) {
    const entry = bigints && typeof entries[b] === 'bigint' ? Number(entries[b]) : entries[b];
    result[b] = checkInteger(`${name}[${b}]`, entry, 0, typeof max === 'number' ? max : max[b]!);
  }
  return result;
}
