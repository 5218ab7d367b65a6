/**
 * Conformance vectors of the attention backward (`op: "attention_grad"`,
 * test/fixtures/conformance/attention-grad/README.md): float32 inputs, float64 references of
 * the forward output and of the gradients from an independent autograd. Loading, running
 * and comparing; no file system (scripts/conformance.ts and the tests read the files).
 */
import type { OnnxTensor } from '../onnx/index.js';
import type { AttentionOptions, MaskTensor, Tensor } from '../types.js';
import type { BackwardInputs, BackwardResult } from '../backward/types.js';
import { compareTensors } from './compare.js';
import { decodeTensor } from './vector.js';
import type { OutputResult, VectorResult } from './run-vector.js';

export interface GradVector {
  readonly name: string;
  readonly options: AttentionOptions;
  readonly inputs: { readonly q: Tensor<Float32Array>; readonly k: Tensor<Float32Array>; readonly v: Tensor<Float32Array>; readonly dout: Tensor<Float32Array> };
  /** `out`, `dq`, `dk`, `dv` and `dmask` (null where the vector has none); `lse` is not compared (not returned by the API). */
  readonly outputs: Readonly<Record<'out' | 'dq' | 'dk' | 'dv' | 'dmask', OnnxTensor | null>>;
}

/** The gradient names compared, in order. */
export const GRAD_OUTPUTS = ['out', 'dq', 'dk', 'dv', 'dmask'] as const;

/**
 * Parses one `attention_grad` vector (the parsed JSON of one file).
 * @param json - `JSON.parse` of the file
 * @param source - names the file in error messages
 * @returns the vector, its options in the form `attention()` takes
 * @throws TypeError or RangeError for a malformed vector
 * @example
 * const vector = parseGradVector(JSON.parse(readFileSync(path, 'utf8')), path);
 */
export function parseGradVector(json: unknown, source = 'vector'): GradVector {
  const raw = json as { case?: unknown; options?: Record<string, unknown>; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> };
  if (typeof raw !== 'object' || raw === null || typeof raw.case !== 'string') throw new TypeError(`${source}.case: expected a string`);
  if (typeof raw.inputs !== 'object' || raw.inputs === null || typeof raw.outputs !== 'object' || raw.outputs === null) {
    throw new TypeError(`${source}: expected inputs and outputs objects`);
  }
  const name = raw.case;
  const slot = (group: Record<string, unknown>, key: string, kind: string) => (group[key] === null || group[key] === undefined ? null : decodeTensor(group[key], `${name} ${kind}.${key}`));
  const input = (key: string) => {
    const tensor = slot(raw.inputs!, key, 'inputs');
    if (!tensor || tensor.dtype !== 'float32') throw new TypeError(`${name} inputs.${key}: expected a float32 tensor`);
    return tensor as Tensor<Float32Array>;
  };
  const given = raw.options ?? {};
  const mask = slot(raw.inputs, 'mask', 'inputs');
  const causal = given.causal;
  const options: AttentionOptions = {
    ...(typeof given.scale === 'number' ? { scale: given.scale } : {}),
    ...(causal === 'top-left' || causal === 'bottom-right' ? { causal } : causal === true ? { causal: true } : {}),
    ...(typeof given.softcap === 'number' && given.softcap > 0 ? { softcap: given.softcap } : {}),
    ...(given.layout === 'bshd' ? { layout: 'bshd' as const } : {}),
    ...(Array.isArray(given.keyLengths) ? { keyLengths: given.keyLengths as number[] } : {}),
    ...(mask ? { mask: mask as MaskTensor } : {}),
  };
  return {
    name,
    options,
    inputs: { q: input('q'), k: input('k'), v: input('v'), dout: input('dout') },
    outputs: {
      out: slot(raw.outputs, 'out', 'outputs'),
      dq: slot(raw.outputs, 'dq', 'outputs'),
      dk: slot(raw.outputs, 'dk', 'outputs'),
      dv: slot(raw.outputs, 'dv', 'outputs'),
      dmask: slot(raw.outputs, 'dmask', 'outputs'),
    },
  };
}

/** An implementation under test: a forward and a backward on one instance. */
export interface GradRunner {
  attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions): { output: Tensor };
  attentionBackward(inputs: BackwardInputs, options: AttentionOptions): BackwardResult;
}

/**
 * Runs a gradient vector: the forward (its output compared with `out`), then the backward
 * given only q, k, v and dout (so the library recomputes the output and the log-sum-exp
 * itself), compared tensor by tensor with the README's bound: max |got − ref| ≤
 * 1e-4 · max(1, max |ref|) (an absolute tolerance per tensor, from its largest reference value).
 *
 * @param vector - a parsed vector
 * @param runner - the implementation under test
 * @returns per-tensor comparisons (named out, dq, dk, dv, dmask), as {@link runVector}'s
 * @throws nothing: an exception of the runner is reported in the result
 * @example
 * const result = runGradVector(vector, withBackward(await createAttention({ backend: 'js' })));
 */
export function runGradVector(vector: GradVector, runner: GradRunner): VectorResult {
  let produced: Record<string, Tensor | undefined>;
  try {
    const { q, k, v, dout } = vector.inputs;
    const { output } = runner.attention(q, k, v, vector.options);
    const grads = runner.attentionBackward({ q, k, v, dout }, vector.options);
    produced = { out: output, ...grads };
  } catch (error) {
    return { name: vector.name, ok: false, outputs: [], maxError: Infinity, error };
  }
  const outputs: OutputResult[] = [];
  GRAD_OUTPUTS.forEach((key, index) => {
    const want = vector.outputs[key];
    const got = produced[key];
    if (!want) {
      if (got) outputs.push({ index, name: key as never, comparison: compareTensors({ data: got.data, shape: got.shape, dtype: 'float32' }, { data: new Float64Array(0) as never, shape: [0], dtype: 'float32' }) });
      return;
    }
    let max = 0;
    const values = want.data as unknown as ArrayLike<number>;
    for (let n = 0; n < values.length; n++) if (Number.isFinite(values[n]!)) max = Math.max(max, Math.abs(values[n]!));
    const tolerance = { atol: 1e-4 * Math.max(1, max), rtol: 0 };
    const tensor = got ? { data: got.data, shape: [...got.shape], dtype: 'float32' as const } : null;
    outputs.push({ index, name: key as never, comparison: compareTensors(tensor, { ...want, dtype: 'float32' }, tolerance) });
  });
  const maxError = outputs.reduce((worst, output) => Math.max(worst, output.comparison.maxError), 0);
  return { name: vector.name, ok: outputs.every((output) => output.comparison.ok), outputs, maxError };
}
