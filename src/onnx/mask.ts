/**
 * `attn_mask` of ONNX `Attention` → the plan's additive bias.
 *
 * The mask broadcasts to `[batch, q_num_heads, q_seq, total_seq]`, except that its last
 * axis may be *shorter* than total_seq: it is then padded at the end with False / -inf
 * (the spec's attn_mask text; onnx/reference/ops/op_attention.py pads with `np.pad`
 * whenever the last axis is shorter, a last axis of 1 included, and so do we: a
 * `[..., 1]` mask is padded, not broadcast, when total_seq > 1).
 */
import { formatShape, rangeError } from '../errors.js';
import { resolveBias, type MaskKind, type ResolvedBias } from '../mask.js';
import { sizeOf } from '../tensor-input.js';
import type { CheckedOnnxTensor } from './tensors.js';

/** Half bits of -Infinity. */
const HALF_NEGATIVE_INFINITY = 0xfc00;

/** Copies `rows` rows of `keys` elements into rows of `total` elements, filling each tail with `fill`. */
function padLastAxis<T extends Uint8Array | Float32Array | Uint16Array>(data: T, rows: number, keys: number, total: number, fill: number): T {
  const padded = new (data.constructor as new (length: number) => T)(rows * total);
  padded.fill(fill);
  for (let row = 0; row < rows; row++) padded.set(data.subarray(row * keys, row * keys + keys), row * total);
  return padded;
}

/**
 * Pads and resolves `attn_mask` (already checked: dtype bool or the dtype of Q).
 *
 * @param mask - the checked mask tensor
 * @param target - `[batch, q_num_heads, q_seq, total_seq]`
 * @returns the additive f32 bias (−Infinity where masked) with its broadcast strides
 * @throws RangeError when the rank is not 1 to 4, the last axis is longer than total_seq,
 *   or another axis does not broadcast.
 * @example
 * // A [Lq, Lkv] bool mask with a past of P keys: padded to [Lq, P + Lkv] with false.
 * const { bias, strides } = resolveOnnxMask(mask, [batch, qHeads, seqLenQ, pastSeqLen + kvSeqLen]);
 */
export function resolveOnnxMask(mask: CheckedOnnxTensor, target: readonly [number, number, number, number]): ResolvedBias {
  const shape = mask.shape;
  const total = target[3];
  if (shape.length < 1 || shape.length > 4) {
    throw rangeError('attn_mask.shape', `rank 1 to 4, broadcastable to ${formatShape(target)}`, `rank ${shape.length} ${formatShape(shape)}`);
  }
  const keys = shape[shape.length - 1]!;
  if (keys > total) {
    throw rangeError(
      `attn_mask.shape[${shape.length - 1}]`,
      `at most total_sequence_length = ${total} (past + kv sequence)`,
      `${keys} (attn_mask.shape ${formatShape(shape)})`,
    );
  }
  const kind: MaskKind = mask.dtype === 'bool' ? 'bool' : mask.dtype === 'float16' ? 'float16' : 'float32';
  let data = mask.data as Uint8Array | Float32Array | Uint16Array;
  let dims = shape;
  if (keys < total) {
    const fill = kind === 'bool' ? 0 : kind === 'float16' ? HALF_NEGATIVE_INFINITY : -Infinity;
    dims = [...shape.slice(0, -1), total];
    data = padLastAxis(data, sizeOf(shape.slice(0, -1)), keys, total, fill);
  }
  return resolveBias('attn_mask', data, kind, dims, target);
}
