/**
 * RoPE in the layer (issue #14): q and k are rotated after their projections, q' = R(θ)·q,
 * k' = R(θ)·k per head row. Forward and `step` leave the rotation to attention() (the
 * `rotary` option) and the KV cache (`createKVCache({ rotary })`, keys rotated on append).
 * The backward needs the gradient with respect to the unrotated projections:
 * dq = R(θ)ᵀ·dq' = R(−θ)·dq' (a rotation is orthogonal), likewise dk. When
 * attentionBackward takes no `rotary` option (main, Dec 2026: a TypeError), the layer
 * rotates the saved q and k itself, runs the backward on them and rotates dq', dk' back.
 */
import { positionOffsetsFor } from '../key-range.js';
import { resolvePositions, resolveRotation } from '../positions/options.js';
import { gatherAngles, rotateHeads, type Rotation } from '../positions/rotate.js';
import type { RotaryRotationOptions } from '../positions/types.js';

/** The layer's resolved rotation, checked once at creation. */
export interface LayerRotary {
  readonly options: RotaryRotationOptions;
  readonly rotation: Rotation;
}

/**
 * Checks the layer's `rotary` option for heads of `headDim`.
 * @throws TypeError / RangeError as attention()'s `rotary` (positions are not the layer's to give)
 */
export function layerRotary(value: RotaryRotationOptions, headDim: number): LayerRotary {
  return { options: value, rotation: resolveRotation('createMultiHeadAttention: rotary', value, headDim).rotation };
}

/** The shape of one rotation: a packed 3-D `[batch, seqLen, heads·headDim]` tensor. */
interface Packed3d {
  readonly batch: number;
  readonly seqLen: number;
  readonly heads: number;
  readonly headDim: number;
}

/**
 * Rotates (or, with `inverse`, rotates back) every head row of a packed 3-D tensor in place,
 * at attention()'s default positions: keys at j, queries at i + offset_b (bottom-right,
 * offset keyLengths[b] or seqLenK minus seqLenQ; 0 with causal 'top-left').
 */
export function rotatePacked(data: Float32Array, shape: Packed3d, rotary: LayerRotary, offsets: Int32Array, inverse: boolean): Float32Array {
  const { batch, seqLen, heads, headDim } = shape;
  const positions = resolvePositions('createMultiHeadAttention: rotary positions', undefined, batch, seqLen, offsets, rotary.rotation);
  const angles = gatherAngles(rotary.rotation, positions);
  if (inverse) for (let n = 0; n < angles.sin.length; n++) angles.sin[n] = -angles.sin[n]!;
  const width = heads * headDim;
  rotateHeads(data, data, { batch, heads, seqLen, headDim }, { batch: seqLen * width, head: headDim, seq: width }, rotary.rotation, angles);
  return data;
}

/** attention()'s query position offsets of a call (see rotatePacked). */
export function queryOffsets(batch: number, seqLenQ: number, seqLenK: number, keyLengths: ArrayLike<number> | undefined, causal: unknown): Int32Array {
  return positionOffsetsFor(batch, seqLenQ, seqLenK, keyLengths ?? null, causal === 'top-left');
}
