/**
 * The `rotary` option at the boundary of attention and decode: q and k are rotated by
 * their positions into workspace arrays of the same strides (the caller's arrays, and
 * PinnedTensors, are never written), and the plan reads those. One pass of O(L·D) per
 * tensor per call, before any backend runs, so every backend (JS, WASM, threads) sees
 * the same rotated f32 values and gives the same answer as without rotary on them.
 */
import type { AttentionDims, HeadStrides } from '../plan.js';
import type { Workspace } from '../workspace.js';
import { resolvePositions, resolveRotation } from './options.js';
import { rotateHeads, type Rotation } from './rotate.js';

/**
 * Where query row i of batch item b sits among the keys, the shared rule of issue #12:
 * `i + offsets[b]`, 0 for `causal: 'top-left'`, else bottom-right,
 * `(keyLengths ? keyLengths[b] : seqLenK) − seqLenQ` (also when not causal).
 */
export function positionOffsets(causal: string, batch: number, seqLenQ: number, seqLenK: number, keyLengths: Int32Array | null): Int32Array {
  const offsets = new Int32Array(batch);
  if (causal !== 'top-left') for (let b = 0; b < batch; b++) offsets[b] = (keyLengths ? keyLengths[b]! : seqLenK) - seqLenQ;
  return offsets;
}

/** Rotates `src` (a `[batch, heads, seq, headDim]` view) into the workspace `slot`. */
export function rotateInto(workspace: Workspace, slot: string, src: Float32Array, dims: { batch: number; heads: number; seqLen: number; headDim: number }, strides: HeadStrides, rotation: Rotation, positions: Int32Array): Float32Array {
  const dst = workspace.f32(slot, src.length);
  rotateHeads(dst, src, dims, strides, rotation, positions);
  return dst;
}

/**
 * Applies `options.rotary` of attention: the rotated q and k (new workspace arrays).
 * @throws TypeError / RangeError from the option's validation
 */
export function rotaryAttention(
  workspace: Workspace,
  value: unknown,
  dims: AttentionDims,
  q: Float32Array,
  qStrides: HeadStrides,
  k: Float32Array,
  kStrides: HeadStrides,
  offsets: Int32Array,
): { q: Float32Array; k: Float32Array } {
  const { batch, qHeads, kvHeads, seqLenQ, seqLenK, headDim } = dims;
  const { rotation, own } = resolveRotation('options.rotary', value, headDim, ['queryPositions', 'keyPositions']);
  const queryPositions = resolvePositions('options.rotary.queryPositions', own.queryPositions, batch, seqLenQ, offsets, rotation);
  const keyPositions = resolvePositions('options.rotary.keyPositions', own.keyPositions, batch, seqLenK, new Int32Array(batch), rotation);
  return {
    q: rotateInto(workspace, 'rotary-q', q, { batch, heads: qHeads, seqLen: seqLenQ, headDim }, qStrides, rotation, queryPositions),
    k: rotateInto(workspace, 'rotary-k', k, { batch, heads: kvHeads, seqLen: seqLenK, headDim }, kStrides, rotation, keyPositions),
  };
}
