/**
 * The `rotary` option at the boundary of attention and decode. Attention: positions are
 * resolved to angles (`plan.rotary`, src/plan.ts) and every backend rotates its own copy
 * of q and k before the scores: the WASM backends in linear memory with the SIMD pass of
 * assembly/rotary/ (one O(L·D) pass per tensor per call), the JS backend into scratch
 * arrays ({@link rotatedInputs}). Decode rotates its few query rows here, on the host. The
 * caller's arrays and PinnedTensors are never written.
 */
import type { AttentionDims, AttentionPlan, HeadStrides, PlanRotary } from '../plan.js';
import type { Workspace } from '../workspace.js';
import { resolvePositions, resolveRotation } from './options.js';
import { gatherAngles, rotateHeads, type Rotation } from './rotate.js';

/** Rotates `src` (a `[batch, heads, seq, headDim]` view) into the workspace `slot`. */
export function rotateInto(workspace: Workspace, slot: string, src: Float32Array, dims: { batch: number; heads: number; seqLen: number; headDim: number }, strides: HeadStrides, rotation: Rotation, positions: Int32Array): Float32Array {
  const dst = workspace.f32(slot, src.length);
  rotateHeads(dst, src, dims, strides, rotation, gatherAngles(rotation, positions));
  return dst;
}

/**
 * Resolves `options.rotary` of attention to the plan's rotation (angles of every q and k row).
 * @throws TypeError / RangeError from the option's validation
 */
export function planRotary(value: unknown, dims: AttentionDims, offsets: Int32Array): PlanRotary {
  const { batch, seqLenQ, seqLenK, headDim } = dims;
  const { rotation, own } = resolveRotation('options.rotary', value, headDim, ['queryPositions', 'keyPositions']);
  const queryPositions = resolvePositions('options.rotary.queryPositions', own.queryPositions, batch, seqLenQ, offsets, rotation);
  const keyPositions = resolvePositions('options.rotary.keyPositions', own.keyPositions, batch, seqLenK, new Int32Array(batch), rotation);
  return { dim: rotation.dim, interleaved: rotation.interleaved, q: gatherAngles(rotation, queryPositions), k: gatherAngles(rotation, keyPositions) };
}

/**
 * The plan's q and k rotated (into `qDst`/`kDst`, same strides) by `plan.rotary`: how a
 * backend without the WASM pass (the JS backend) applies it.
 */
export function rotatedInputs(plan: AttentionPlan, rotary: PlanRotary, qDst: Float32Array, kDst: Float32Array): { q: Float32Array; k: Float32Array } {
  const { batch, qHeads, kvHeads, seqLenQ, seqLenK, headDim } = plan;
  rotateHeads(qDst, plan.q, { batch, heads: qHeads, seqLen: seqLenQ, headDim }, plan.qStrides, rotary, rotary.q);
  rotateHeads(kDst, plan.k, { batch, heads: kvHeads, seqLen: seqLenK, headDim }, plan.kStrides, rotary, rotary.k);
  return { q: qDst, k: kDst };
}
