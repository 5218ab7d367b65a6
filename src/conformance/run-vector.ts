/**
 * Runs one conformance vector through an ONNX operator implementation (`Attention` or
 * `RotaryEmbedding`) and compares every output the vector checks.
 */
import type { OnnxAttributes, OnnxOutputs, OnnxTensor } from '../onnx/index.js';
import { compareTensors, type TensorComparison } from './compare.js';
import type { ConformanceVector } from './vector.js';

/** The output names of ONNX `Attention`, in ONNX order. */
export const OUTPUT_NAMES = ['Y', 'present_key', 'present_value', 'qk_matmul_output'] as const;

/** The output names of each operator the runner checks, in ONNX order. */
export const OUTPUT_NAMES_BY_OP: Readonly<Record<string, readonly string[]>> = { Attention: OUTPUT_NAMES, RotaryEmbedding: ['Y'] };

/**
 * An ONNX operator implementation: `instance.onnxAttention` and `onnxRotaryEmbedding` have
 * this shape (attributes typed by the operator's own interface).
 */
export type OnnxAttentionRunner = (inputs: readonly (OnnxTensor | null)[], attrs: OnnxAttributes) => OnnxOutputs | readonly (OnnxTensor | null)[];

export interface OutputResult {
  readonly index: number;
  readonly name: string;
  readonly comparison: TensorComparison;
}

export interface VectorResult {
  readonly name: string;
  readonly ok: boolean;
  /** One per output the vector checks. */
  readonly outputs: readonly OutputResult[];
  /** Largest |got − want| over the checked outputs (Infinity on any hard failure). */
  readonly maxError: number;
  /** The exception, when the run threw. */
  readonly error?: unknown;
}

/**
 * The attributes to run a vector with. A vector that checks `qk_matmul_output` but leaves
 * `qk_matmul_output_mode` at its default gets an explicit 0 (the same value), which is how
 * `runOnnxAttention` is asked for the fourth output through a two-argument API.
 *
 * @param vector - a parsed vector
 * @returns the vector's attributes, plus `qk_matmul_output_mode: 0` when needed
 * @throws nothing
 * @example
 * instance.onnxAttention(vector.inputs, attributesFor(vector));
 */
export function attributesFor(vector: ConformanceVector): OnnxAttributes {
  const wantsQk = vector.outputs[3] !== null && vector.outputs[3] !== undefined;
  return wantsQk && vector.attrs.qk_matmul_output_mode === undefined ? { ...vector.attrs, qk_matmul_output_mode: 0 } : vector.attrs;
}

/**
 * Runs `vector` with `run` and compares each non-null expected output.
 *
 * @param vector - a parsed vector
 * @param run - the implementation under test
 * @returns per-output comparisons; `ok` only when every checked output is within tolerance
 *   and the run did not throw
 * @throws nothing: an exception of `run` is caught and reported in the result
 * @example
 * const attn = await createAttention({ backend: 'js' });
 * const result = runVector(vector, (inputs, attrs) => attn.onnxAttention(inputs, attrs));
 */
export function runVector(vector: ConformanceVector, run: OnnxAttentionRunner): VectorResult {
  let produced: readonly (OnnxTensor | null)[];
  try {
    produced = run(vector.inputs, attributesFor(vector));
  } catch (error) {
    return { name: vector.name, ok: false, outputs: [], maxError: Infinity, error };
  }
  const outputs: OutputResult[] = [];
  const names = OUTPUT_NAMES_BY_OP[vector.op] ?? OUTPUT_NAMES;
  vector.outputs.forEach((want, index) => {
    if (!want || index >= names.length) return;
    outputs.push({ index, name: names[index]!, comparison: compareTensors(produced[index] ?? null, want) });
  });
  const maxError = outputs.reduce((max, output) => Math.max(max, output.comparison.maxError), 0);
  return { name: vector.name, ok: outputs.every((output) => output.comparison.ok), outputs, maxError };
}

/**
 * One line describing a result: status, case, backend, worst error, then (on failure) each
 * failing output's worst element and tolerance, separated by ` | `.
 *
 * @param result - from {@link runVector}
 * @param backend - the backend name to show
 * @returns the line, without a trailing newline
 * @throws nothing
 * @example
 * formatResult(result, 'js'); // "PASS attention_4d [js] max error 2.38e-7"
 */
export function formatResult(result: VectorResult, backend: string): string {
  const head = `${result.ok ? 'PASS' : 'FAIL'} ${result.name} [${backend}]`;
  if (result.error !== undefined) {
    const error = result.error as { name?: string; message?: string };
    return `${head} threw ${error.name ?? 'Error'}: ${error.message ?? String(result.error)}`;
  }
  const perOutput = result.outputs.map((o) => `${o.name} ${o.comparison.maxError.toExponential(2)}`).join(', ');
  const failing = result.outputs.filter((o) => !o.comparison.ok).map((o) => ` | output ${o.index} (${o.name}): ${o.comparison.message}`);
  return `${head} max error ${result.maxError.toExponential(2)} (${perOutput})${failing.join('')}`;
}
