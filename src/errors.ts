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

/** Checks that `value` is a finite number (optionally > 0 or >= 0). */
export function checkFinite(name: string, value: unknown, sign: 'any' | 'positive' | 'non-negative' = 'any'): number {
  if (typeof value !== 'number') throw typeError(name, 'a number', value);
  const ok = Number.isFinite(value) && (sign === 'any' || (sign === 'positive' ? value > 0 : value >= 0));
  if (!ok) throw rangeError(name, sign === 'any' ? 'a finite number' : `a finite ${sign} number`, `${value}`);
  return value;
}
