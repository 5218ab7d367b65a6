/**
 * `runOnnxAttention`: the ONNX `Attention` operator (opsets 23 and 24) reduced to one
 * AttentionPlan (src/plan.ts) and run on a backend.
 */
import { checkInteger, rangeError, typeError } from '../errors.js';
import { float32ArrayToHalf, halfArrayToFloat32 } from '../float16.js';
import { stridesFor } from '../layout.js';
import { limitError, MAX_BYTES } from '../limits.js';
import type { AttentionPlan, Backend, BiasStrides, HeadStrides } from '../plan.js';
import { planWindow, type KeyWindow } from '../key-range.js';
import { checkAttributes, STAGE_OF_MODE } from './attributes.js';
import { concatKv } from './kv-cache.js';
import { resolveOnnxMask } from './mask.js';
import { resolveOnnxLayout, type OnnxDims, type OnnxLayout } from './shapes.js';
import { checkOnnxTensor, checkRank, type CheckedOnnxTensor } from './tensors.js';
import type { OnnxAttributes, OnnxDtype, OnnxOutputs, OnnxRunOptions, OnnxTensor } from './types.js';

const FLOATS: readonly OnnxDtype[] = ['float32', 'float16'];
const FLOATS_TEXT = "'float32' (Float32Array) or 'float16' (Uint16Array of half bits)";

type FloatData = Float32Array | Uint16Array;

function present(value: unknown): boolean {
  return value !== undefined && value !== null;
}

/** Checks one float input whose dtype must equal `like` (when given). */
function checkFloat(name: string, tensor: unknown, like?: { name: string; dtype: OnnxDtype }): CheckedOnnxTensor {
  const checked = checkOnnxTensor(name, tensor, FLOATS, FLOATS_TEXT);
  if (like && checked.dtype !== like.dtype) {
    throw typeError(`${name}.dtype`, `'${like.dtype}' (the dtype of ${like.name})`, checked.dtype);
  }
  return checked;
}

/** f32 data for the plan: float16 bits are decoded (exactly), float32 is used as is. */
function toFloat32(dtype: OnnxDtype, data: FloatData): Float32Array {
  return dtype === 'float16' ? halfArrayToFloat32(data as Uint16Array) : (data as Float32Array);
}

function output(values: Float32Array, dtype: OnnxDtype, shape: number[]): OnnxTensor {
  return { data: dtype === 'float16' ? float32ArrayToHalf(values) : values, shape, dtype };
}

/** Reads `nonpad_kv_seqlen` (`[batch]`, int64 or int32), each value in [0, total]. */
function checkNonpad(tensor: unknown, dims: OnnxDims): Int32Array {
  const checked = checkOnnxTensor('nonpad_kv_seqlen', tensor, ['int64', 'int32'], "'int64' (BigInt64Array) or 'int32' (Int32Array)");
  checkRank('nonpad_kv_seqlen', checked.shape, 1, '[batch]');
  if (checked.shape[0] !== dims.batch) {
    throw rangeError('nonpad_kv_seqlen.shape[0]', `${dims.batch} (batch of Q)`, `${checked.shape[0]}`);
  }
  const lengths = new Int32Array(dims.batch);
  for (let b = 0; b < dims.batch; b++) {
    const raw = checked.data[b]!;
    const value = typeof raw === 'bigint' ? Number(raw) : raw;
    lengths[b] = checkInteger(`nonpad_kv_seqlen[${b}]`, value, 0, dims.totalSeqLen);
  }
  return lengths;
}

interface Masking {
  readonly bias: Float32Array | null;
  readonly biasStrides: BiasStrides;
  readonly keyLengths: Int32Array | null;
  readonly positionOffsets: Int32Array;
  readonly window: KeyWindow;
}

/**
 * attn_mask → bias, nonpad_kv_seqlen → key lengths, is_causal → the window [∞, 0] over
 * the per-batch position offsets (src/key-range.ts): the past length (internal cache),
 * else nonpad_kv_seqlen[b] − Lq (external cache; may be negative), else 0.
 */
function resolveMasking(maskInput: unknown, nonpadInput: unknown, qDtype: OnnxDtype, dims: OnnxDims, isCausal: boolean, hasPast: boolean): Masking {
  const { batch, qHeads, seqLenQ, totalSeqLen } = dims;
  let bias: Float32Array | null = null;
  let biasStrides: BiasStrides = { batch: 0, head: 0, query: 0 };
  if (present(maskInput)) {
    const maskText = `'bool' (Uint8Array) or '${qDtype}' (the dtype of Q, additive)`;
    const mask = checkOnnxTensor('attn_mask', maskInput, ['bool', qDtype], maskText);
    ({ bias, strides: biasStrides } = resolveOnnxMask(mask, [batch, qHeads, seqLenQ, totalSeqLen]));
  }
  const keyLengths = present(nonpadInput) ? checkNonpad(nonpadInput, dims) : null;
  const positionOffsets = new Int32Array(batch);
  for (let b = 0; b < batch; b++) positionOffsets[b] = hasPast ? dims.pastSeqLen : keyLengths ? keyLengths[b]! - seqLenQ : 0;
  return { bias, biasStrides, keyLengths, positionOffsets, window: planWindow(undefined, isCausal) };
}

interface KeysValues {
  readonly k: FloatData;
  readonly kStrides: HeadStrides;
  readonly v: FloatData;
  readonly vStrides: HeadStrides;
  /** Present only when a past cache was given. */
  readonly presentKey: FloatData | null;
  readonly presentValue: FloatData | null;
}

/** The KV cache update: with a past, the attention reads present = Concat(past, K|V), always bhsd. */
function updateCache(k: FloatData, v: FloatData, pastKey: FloatData | null, pastValue: FloatData | null, layout: OnnxLayout): KeysValues {
  const { kStrides, vStrides } = layout;
  if (!pastKey || !pastValue) return { k, kStrides, v, vStrides, presentKey: null, presentValue: null };
  const { batch, kvHeads, pastSeqLen, kvSeqLen, totalSeqLen, headDim, valueDim } = layout.dims;
  const presentKey = concatKv(pastKey, k, kStrides, batch, kvHeads, pastSeqLen, kvSeqLen, headDim);
  const presentValue = concatKv(pastValue, v, vStrides, batch, kvHeads, pastSeqLen, kvSeqLen, valueDim);
  return {
    k: presentKey,
    kStrides: stridesFor('bhsd', kvHeads, totalSeqLen, headDim),
    v: presentValue,
    vStrides: stridesFor('bhsd', kvHeads, totalSeqLen, valueDim),
    presentKey,
    presentValue,
  };
}

/**
 * Runs the ONNX `Attention` operator (opsets 23 and 24) on `backend`.
 *
 * Semantics, for query i and key j of batch item b (all reduced to one AttentionPlan):
 * - `logits = scale · Q·Kᵀ` (scale default `1/sqrt(head_size)`), K and V being
 *   `present = Concat(past, K)` along the sequence when `past_key`/`past_value` are given;
 * - `softcap > 0` caps the logits, `softcap · tanh(x / softcap)`, *before* the mask (opset
 *   24 order: a -inf mask stays -inf);
 * - `attn_mask` (bool: true = attend; or float additive, of Q's dtype) broadcasts to
 *   `[B, Hq, Lq, Ltotal]`; a last axis shorter than Ltotal is padded with false / -inf;
 * - `is_causal`: bottom-right aligned, j <= i + offset with offset = past length when
 *   `past_key` is given, else `nonpad_kv_seqlen[b] − Lq` when that is given (it may be
 *   negative: rows before the frontier see no key), else 0;
 * - `nonpad_kv_seqlen[b]` masks keys j >= nonpad_kv_seqlen[b];
 * - GQA: query head h reads key/value head `floor(h / (Hq / Hkv))`;
 * - a row with no key left (decided on the masks, never on the logits) gives Y = 0 and
 *   probabilities 0, never NaN; masked positions are selected away, so NaN or ±Infinity
 *   under a mask cannot leak.
 * Everything is computed in float32; float16 tensors are decoded on entry and the outputs
 * rounded to float16 (ties to even), returned as `Uint16Array` half bits. `softmax_precision` is validated and satisfied by the
 * f32 softmax (see src/onnx/attributes.ts).
 *
 * Outputs: Y has Q's dtype and layout (`[B, Hq, Lq, Dv]` or 3-D `[B, Lq, Hq·Dv]`);
 * `present_key`/`present_value` (`[B, Hkv, Ltotal, D|Dv]`, dtypes of K and V) are produced
 * when `past_key`/`past_value` are given, else null; `qk_matmul_output`
 * (`[B, Hq, Lq, Ltotal]`, Q's dtype) is produced when `attrs.qk_matmul_output_mode` is set
 * or `options.outputs` is 4, else null. Its content by mode: 0 = scaled Q·Kᵀ (before
 * softcap, also when softcap is set: the spec text and the ONNX function body, see
 * `STAGE_OF_MODE`), 1 = after softcap, 2 = after softcap and mask (-inf where masked),
 * 3 = softmax probabilities (0 on fully masked rows).
 *
 * @param backend - the backend that executes the plan
 * @param inputs - `[Q, K, V, attn_mask?, past_key?, past_value?, nonpad_kv_seqlen?]`; an
 *   absent optional input is null, undefined or left off the end
 * @param attrs - ONNX attributes (absent = the operator's default)
 * @param options - `{ outputs }`: the node's output count, see {@link OnnxRunOptions}
 * @returns `[Y, present_key | null, present_value | null, qk_matmul_output | null]`
 * @throws TypeError for an input or attribute of the wrong kind (not a tensor, wrong dtype,
 *   unknown attribute, missing `q_num_heads` for 3-D inputs, past_key without past_value),
 *   with the input's name in the message.
 * @throws RangeError for a wrong size or shape (rank, mismatched axes, mask not
 *   broadcastable or longer than the total sequence, nonpad_kv_seqlen out of [0, total],
 *   attribute out of range), e.g. "attn_mask.shape: expected …, got …".
 * @example
 * const [y, , , probs] = runOnnxAttention(createJsBackend(), [q, k, v, mask], {
 *   is_causal: 1,
 *   qk_matmul_output_mode: 3,
 * });
 */
export function runOnnxAttention(
  backend: Backend,
  inputs: readonly (OnnxTensor | null | undefined)[],
  attrs?: OnnxAttributes,
  options?: OnnxRunOptions,
): OnnxOutputs {
  if (!Array.isArray(inputs)) throw typeError('inputs', 'an array [Q, K, V, attn_mask?, past_key?, past_value?, nonpad_kv_seqlen?]', inputs);
  if (inputs.length < 3 || inputs.length > 7) {
    throw rangeError('inputs.length', '3 to 7 ([Q, K, V, attn_mask?, past_key?, past_value?, nonpad_kv_seqlen?])', `${inputs.length}`);
  }
  const resolved = checkAttributes(attrs, options);
  const [qInput, kInput, vInput, maskInput, pastKeyInput, pastValueInput, nonpadInput] = inputs as readonly unknown[];

  const q = checkFloat('Q', qInput);
  const k = checkFloat('K', kInput, { name: 'Q', dtype: q.dtype });
  const v = checkFloat('V', vInput);
  const pastKey = present(pastKeyInput) ? checkFloat('past_key', pastKeyInput, { name: 'K', dtype: k.dtype }) : null;
  const pastValue = present(pastValueInput) ? checkFloat('past_value', pastValueInput, { name: 'V', dtype: v.dtype }) : null;
  const layout = resolveOnnxLayout(q.shape, k.shape, v.shape, pastKey?.shape ?? null, pastValue?.shape ?? null, resolved);
  const { batch, qHeads, kvHeads, seqLenQ, totalSeqLen, headDim, valueDim } = layout.dims;
  const masking = resolveMasking(maskInput, nonpadInput, q.dtype, layout.dims, resolved.isCausal, pastKey !== null);

  // The size limit of every backend (src/limits.ts), from the shapes alone, before any
  // output is allocated: Y, and the call's f32 tensors (what the WASM
  // backends copy into their memory: Q, present K and V, the mask's bias, Y, qk).
  const outLength = batch * qHeads * seqLenQ * valueDim;
  const weightsLength = batch * qHeads * seqLenQ * totalSeqLen;
  if (4 * outLength > MAX_BYTES) throw limitError('Y', 'an f32 output', 4 * outLength, `Y [${batch}, ${qHeads}, ${seqLenQ}, ${valueDim}]`);
  const kvLength = batch * kvHeads * totalSeqLen * (headDim + valueDim);
  const biasLength = masking.bias ? masking.bias.length : 0;
  const callBytes = 4 * (q.data.length + kvLength + biasLength + outLength + (resolved.wantsQk ? weightsLength : 0));
  if (callBytes > MAX_BYTES) {
    const qkShape = `, qk_matmul_output [${batch}, ${qHeads}, ${seqLenQ}, ${totalSeqLen}]`;
    throw limitError('Q, K, V', 'a call (f32 Q, K, V, mask, outputs)', callBytes, `Y [${batch}, ${qHeads}, ${seqLenQ}, ${valueDim}]${resolved.wantsQk ? qkShape : ''}`);
  }
  const cache = updateCache(k.data as FloatData, v.data as FloatData, (pastKey?.data ?? null) as FloatData | null, (pastValue?.data ?? null) as FloatData | null, layout);

  const out = new Float32Array(outLength);
  const weights = resolved.wantsQk ? new Float32Array(weightsLength) : null;
  // Nothing to compute for an empty output; with no key at all every row is empty (Y = 0).
  if (out.length > 0 && totalSeqLen > 0) {
    const plan: AttentionPlan = {
      batch,
      qHeads,
      kvHeads,
      seqLenQ,
      seqLenK: totalSeqLen,
      headDim,
      valueDim,
      q: toFloat32(q.dtype, q.data as FloatData),
      qStrides: layout.qStrides,
      k: toFloat32(k.dtype, cache.k),
      kStrides: cache.kStrides,
      v: toFloat32(v.dtype, cache.v),
      vStrides: cache.vStrides,
      out,
      outStrides: layout.outStrides,
      scale: resolved.scale ?? 1 / Math.sqrt(headDim),
      softcap: resolved.softcap,
      ...masking,
      weights,
      weightsStage: STAGE_OF_MODE[resolved.qkMatmulOutputMode]!,
    };
    backend.run(plan);
  }

  const cacheShape = (dim: number) => [batch, kvHeads, totalSeqLen, dim];
  return [
    output(out, q.dtype, layout.outShape),
    cache.presentKey && resolved.outputs >= 2 ? { data: cache.presentKey, shape: cacheShape(headDim), dtype: k.dtype } : null,
    cache.presentValue && resolved.outputs >= 3 ? { data: cache.presentValue, shape: cacheShape(valueDim), dtype: v.dtype } : null,
    weights ? output(weights, q.dtype, [batch, qHeads, seqLenQ, totalSeqLen]) : null,
  ];
}
