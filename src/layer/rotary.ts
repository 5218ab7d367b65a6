/**
 * RoPE in the layer (issue #14): q and k are rotated after their projections, q' = R(θ)·q,
 * k' = R(θ)·k per head row. Forward and `step` leave the rotation to attention() (the
 * `rotary` option) and the KV cache (`createKVCache({ rotary })`, keys rotated on append).
 * The backward needs the gradient with respect to the unrotated projections,
 * dq = R(θ)ᵀ·dq' = R(−θ)·dq' (a rotation is orthogonal), likewise dk: attentionBackward's
 * own `rotary` option returns exactly that (src/backward/rotary.ts), so the layer passes it on.
 */
import { resolveRotation } from '../positions/options.js';
import type { Rotation } from '../positions/rotate.js';
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
