/**
 * Elementwise comparison of an output tensor with a conformance vector's expectation:
 * |got − want| <= atol + rtol·|want|, NaN allowed only where the vector has NaN, and
 * infinities must match in sign. float16 values are compared after decoding both sides.
 */
import { formatShape } from '../errors.js';
import { halfToFloat } from '../float16.js';
import type { OnnxTensor } from '../onnx/index.js';

export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
}

/**
 * Tolerances by the dtype of the expected tensor. float32: rtol 1e-3 (the ONNX backend
 * test runner's), atol 1e-5 (looser than its 1e-7: our f32 accumulation order differs
 * from NumPy's). float16: one f16 ulp is ~1e-3 relative, and Y is rounded once more on
 * the way out, hence rtol 1e-2, atol 1e-3. Integer and bool tensors must match exactly.
 */
export const TOLERANCES: Readonly<Record<string, Tolerance>> = {
  float32: { rtol: 1e-3, atol: 1e-5 },
  float16: { rtol: 1e-2, atol: 1e-3 },
  bool: { rtol: 0, atol: 0 },
  int64: { rtol: 0, atol: 0 },
  int32: { rtol: 0, atol: 0 },
};

export interface TensorComparison {
  readonly ok: boolean;
  /** Elements out of tolerance (or of another shape / missing: then every element). */
  readonly failures: number;
  /** Largest |got − want| (Infinity for a non-finite mismatch; 0 for an empty tensor). */
  readonly maxError: number;
  /** The element furthest beyond its bound (largest error / bound), or null when empty. */
  readonly worst: { index: number; got: number; want: number; error: number; bound: number } | null;
  readonly tolerance: Tolerance;
  /** Why it failed, in one line (shape or dtype mismatch, missing output, worst element). */
  readonly message: string;
}

/**
 * The values of a tensor as numbers (float16 decoded, int64 converted).
 *
 * @param tensor - any ONNX tensor
 * @returns its elements as plain numbers (the data itself for float32, bool and int32)
 * @throws nothing
 * @example
 * tensorValues({ data: Uint16Array.of(0x3c00), shape: [1], dtype: 'float16' }); // [1]
 */
export function tensorValues(tensor: OnnxTensor): ArrayLike<number> {
  const { data } = tensor;
  if (tensor.dtype === 'float16' || data instanceof Uint16Array) {
    const bits = data as Uint16Array;
    return Float64Array.from({ length: bits.length }, (_, i) => halfToFloat(bits[i]!));
  }
  if (data instanceof BigInt64Array) return Float64Array.from(data, (value) => Number(value));
  return data as ArrayLike<number>;
}

/** Checks one element; returns [error, bound] with error Infinity for a non-finite mismatch. */
function elementError(got: number, want: number, tolerance: Tolerance): [number, number] {
  const bound = tolerance.atol + tolerance.rtol * Math.abs(want);
  if (Number.isNaN(want)) return [Number.isNaN(got) ? 0 : Infinity, bound];
  if (!Number.isFinite(want) || !Number.isFinite(got)) return [got === want ? 0 : Infinity, bound];
  return [Math.abs(got - want), bound];
}

/**
 * Compares `got` with `want` (shapes must be equal) under the tolerance of `want`'s dtype.
 *
 * @param got - the produced tensor, or null when the output was not produced
 * @param want - the expected tensor from the vector
 * @param tolerance - default {@link TOLERANCES}[want.dtype]
 * @returns the comparison, with the worst element and a one-line message
 * @throws nothing: a missing output or a shape/dtype mismatch is a failed comparison
 * @example
 * const result = compareTensors(y, vector.outputs[0]!);
 * if (!result.ok) console.log(result.message);
 */
export function compareTensors(got: OnnxTensor | null, want: OnnxTensor, tolerance?: Tolerance): TensorComparison {
  const tol = tolerance ?? TOLERANCES[want.dtype ?? 'float32'] ?? TOLERANCES.float32!;
  const wantValues = tensorValues(want);
  const fail = (message: string): TensorComparison => ({
    ok: false,
    failures: wantValues.length,
    maxError: Infinity,
    worst: null,
    tolerance: tol,
    message,
  });
  if (!got) return fail('missing: the output was not produced');
  if (formatShape(got.shape) !== formatShape(want.shape)) {
    return fail(`shape: expected ${formatShape(want.shape)}, got ${formatShape(got.shape)}`);
  }
  if (want.dtype && got.dtype && got.dtype !== want.dtype) return fail(`dtype: expected ${want.dtype}, got ${got.dtype}`);
  const gotValues = tensorValues(got);

  let failures = 0;
  let maxError = 0;
  let worst: TensorComparison['worst'] = null;
  let worstRatio = -1;
  for (let i = 0; i < wantValues.length; i++) {
    const [error, bound] = elementError(gotValues[i]!, wantValues[i]!, tol);
    if (error > bound) failures++;
    if (error > maxError) maxError = error;
    const ratio = error === 0 ? 0 : error / bound;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = { index: i, got: gotValues[i]!, want: wantValues[i]!, error, bound };
    }
  }
  const ok = failures === 0;
  const where = worst ? `worst at flat index ${worst.index}: expected ${worst.want}, got ${worst.got}, |error| ${worst.error.toExponential(2)} vs bound ${worst.bound.toExponential(2)}` : 'empty';
  const message = `${ok ? 'ok' : `${failures} of ${wantValues.length} out of tolerance`}; max error ${maxError.toExponential(2)}; ${where}; shape ${formatShape(want.shape)}; tolerance atol ${tol.atol} + rtol ${tol.rtol}·|expected|`;
  return { ok, failures, maxError, worst, tolerance: tol, message };
}
