/**
 * Conformance vectors of the multi-head attention layer (`op: "multi_head_attention"`,
 * test/fixtures/conformance/multi-head-attention/README.md): PyTorch float64 forward,
 * weights and every gradient of `nn.MultiheadAttention(E, H, bias, batch_first=True)`.
 * PyTorch's masks (1 = ignore) are converted with `torchMask` (src/layer/masks.ts).
 */
import type { OnnxTensor } from '../onnx/index.js';
import type { Tensor } from '../types.js';
import { torchMask } from '../layer/masks.js';
import type { LayerWeights, MultiHeadAttention, MultiHeadAttentionOptions } from '../layer/types.js';
import { compareTensors } from './compare.js';
import { decodeTensor } from './vector.js';
import type { OutputResult, VectorResult } from './run-vector.js';

/** The outputs compared, in order (the README's names). */
export const MHA_OUTPUTS = ['out', 'weights', 'd_query', 'd_key', 'd_value', 'd_in_proj_weight', 'd_in_proj_bias', 'd_out_proj_weight', 'd_out_proj_bias'] as const;

export interface MhaVector {
  readonly name: string;
  readonly numHeads: number;
  readonly selfAttention: boolean;
  readonly needWeights: boolean;
  readonly averageWeights: boolean;
  readonly inputs: Readonly<Record<string, OnnxTensor | null>>;
  readonly outputs: Readonly<Record<string, OnnxTensor | null>>;
}

/**
 * Parses one `multi_head_attention` vector.
 * @param json - `JSON.parse` of the file
 * @param source - names the file in error messages
 * @returns the vector
 * @throws TypeError for a malformed vector
 * @example
 * const vector = parseMhaVector(JSON.parse(readFileSync(path, 'utf8')), path);
 */
export function parseMhaVector(json: unknown, source = 'vector'): MhaVector {
  const raw = json as { case?: unknown; options?: Record<string, unknown>; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> };
  if (typeof raw !== 'object' || raw === null || typeof raw.case !== 'string') throw new TypeError(`${source}.case: expected a string`);
  if (typeof raw.inputs !== 'object' || raw.inputs === null || typeof raw.outputs !== 'object' || raw.outputs === null) throw new TypeError(`${source}: expected inputs and outputs objects`);
  const name = raw.case;
  const decode = (group: Record<string, unknown>, kind: string) =>
    Object.fromEntries(Object.entries(group).map(([key, value]) => [key, value === null || value === undefined ? null : decodeTensor(value, `${name} ${kind}.${key}`)]));
  const o = raw.options ?? {};
  if (!Number.isInteger(o.numHeads)) throw new TypeError(`${source}.options.numHeads: expected an integer`);
  return {
    name,
    numHeads: o.numHeads as number,
    selfAttention: o.selfAttention === true,
    needWeights: o.needWeights !== false,
    averageWeights: o.averageWeights !== false,
    inputs: decode(raw.inputs, 'inputs'),
    outputs: decode(raw.outputs, 'outputs'),
  };
}

/** Makes a layer on the implementation under test (`attn.createMultiHeadAttention`). */
export type MhaFactory = (options: MultiHeadAttentionOptions) => MultiHeadAttention;

const f32 = (t: OnnxTensor | null | undefined) => (t ? (t.data as Float32Array) : undefined);

/**
 * Runs a vector: builds the layer from its parameters, runs forward (with `train`) and
 * backward, and compares each tensor with the README's bound, max |got − ref| ≤
 * 1e-4 · max(1, max |ref|).
 * @param vector - a parsed vector
 * @param create - the layer factory of the implementation under test
 * @returns per-tensor comparisons
 * @throws nothing: an exception is reported in the result
 * @example
 * const result = runMhaVector(vector, (o) => attn.createMultiHeadAttention(o));
 */
export function runMhaVector(vector: MhaVector, create: MhaFactory): VectorResult {
  const input = vector.inputs;
  let produced: Record<string, Tensor<Float32Array> | Float32Array | undefined>;
  let layer: MultiHeadAttention | undefined;
  try {
    const query = input.query!;
    const [B, L, E] = query.shape as number[];
    const key = vector.selfAttention ? undefined : input.key!;
    const S = key ? key.shape[1]! : L!;
    const bias = input.in_proj_bias !== null && input.in_proj_bias !== undefined;
    layer = create({
      embedDim: E!,
      numHeads: vector.numHeads,
      bias,
      weights: { inProj: f32(input.in_proj_weight)!, outProj: f32(input.out_proj_weight)!, ...(bias ? { inProjBias: f32(input.in_proj_bias), outProjBias: f32(input.out_proj_bias) } : {}) },
    });
    const padding = input.key_padding_mask ? (input.key_padding_mask.data as unknown as Uint8Array) : null;
    const attnMask = input.attn_mask ? (input.attn_mask.data as unknown as Uint8Array | Float32Array) : null;
    const mask = torchMask(B!, L!, S, padding, attnMask);
    const tensor = (t: OnnxTensor) => ({ data: t.data as Float32Array, shape: [...t.shape] });
    const { output, weights } = layer.forward(tensor(query), {
      ...(key ? { key: tensor(key), value: tensor(input.value!) } : {}),
      ...(mask ? { mask } : {}),
      needWeights: vector.needWeights,
      averageWeights: vector.averageWeights,
      train: true,
    });
    const grads = layer.backward(tensor(input.dout!));
    const w: LayerWeights = grads.weights;
    produced = {
      out: output,
      weights,
      d_query: grads.dx,
      d_key: grads.dKey,
      d_value: grads.dValue,
      d_in_proj_weight: w.inProj,
      d_in_proj_bias: w.inProjBias,
      d_out_proj_weight: w.outProj,
      d_out_proj_bias: w.outProjBias,
    };
  } catch (error) {
    return { name: vector.name, ok: false, outputs: [], maxError: Infinity, error };
  } finally {
    layer?.dispose();
  }
  const outputs: OutputResult[] = [];
  MHA_OUTPUTS.forEach((key, index) => {
    const want = vector.outputs[key];
    if (!want) return;
    const got = produced[key];
    let max = 0;
    const values = want.data as unknown as ArrayLike<number>;
    for (let n = 0; n < values.length; n++) if (Number.isFinite(values[n]!)) max = Math.max(max, Math.abs(values[n]!));
    const tolerance = { atol: 1e-4 * Math.max(1, max), rtol: 0 };
    const data = got instanceof Float32Array ? got : got?.data;
    const tensor = data ? { data, shape: [...want.shape], dtype: 'float32' as const } : null;
    outputs.push({ index, name: key as never, comparison: compareTensors(tensor, { ...want, dtype: 'float32' }, tolerance) });
  });
  const maxError = outputs.reduce((worst, output) => Math.max(worst, output.comparison.maxError), 0);
  return { name: vector.name, ok: outputs.every((output) => output.comparison.ok), outputs, maxError };
}
