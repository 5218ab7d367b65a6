/**
 * The backward of the `rotary` option (issue #13: "RoPE's gradient is the inverse rotation").
 * The forward attends with q' = R q and k' = R k, R a block-diagonal rotation per row (src/positions/rotate.ts).
 * The attention backward on q', k' gives dq' and dk'; since R is orthogonal,
 *
 *   dq = Rᵀ dq',   dk = Rᵀ dk',   dv unchanged,
 *
 * and Rᵀ is the same rotation with every sin negated: (x1, x2) → (x1·c + x2·s, −x1·s + x2·c).
 * Both directions go through `rotateHeads`, the rotation every backend's forward uses (the
 * WASM pass of assembly/rotary/ reads the same f64 angles and makes the same f32 roundings:
 * q', k' here are bit-identical to the forward's, so a given `lse` matches them exactly).
 * Backend-independent: the backends then see a plan without rotary. The host rotation is
 * O(L·D) per tensor and call, against the O(Lq·Lk·D) backward.
 */
import type { PlanRotary } from '../plan.js';
import type { Angles } from '../positions/rotate.js';
import { rotatedInputs } from '../positions/apply.js';
import { rotateHeads } from '../positions/rotate.js';
import type { Workspace } from '../workspace.js';
import type { BackwardPlan } from './plan.js';

/**
 * `plan` with q and k replaced by their rotated copies (workspace scratch: never the caller's
 * arrays) and no `rotary`: what every backward backend runs.
 */
export function rotatePlan<P extends BackwardPlan>(plan: P, rotary: PlanRotary, workspace: Workspace): P {
  const { q, k } = rotatedInputs(plan, rotary, workspace.f32('backward-rotary-q', plan.q.length), workspace.f32('backward-rotary-k', plan.k.length));
  return { ...plan, q, k, rotary: null };
}

/** The angles of `angles` with sin negated: the transpose of their rotation. */
function transposed(angles: Angles, workspace: Workspace, slot: string): Angles {
  const sin = workspace.f64(slot, angles.sin.length);
  for (let n = 0; n < sin.length; n++) sin[n] = -angles.sin[n]!;
  return { cos: angles.cos, sin };
}

/**
 * dq = Rᵀ dq', dk = Rᵀ dk' in place on the plan's gradients (each element computed in float64
 * from the f32 gradient pair and rounded once).
 */
export function unrotateGradients(plan: BackwardPlan, rotary: PlanRotary, workspace: Workspace): void {
  const { batch, qHeads, kvHeads, seqLenQ, seqLenK, headDim } = plan;
  const q = transposed(rotary.q, workspace, 'backward-rotary-q-sin');
  const k = transposed(rotary.k, workspace, 'backward-rotary-k-sin');
  rotateHeads(plan.dq, plan.dq, { batch, heads: qHeads, seqLen: seqLenQ, headDim }, plan.qStrides, rotary, q);
  rotateHeads(plan.dk, plan.dk, { batch, heads: kvHeads, seqLen: seqLenK, headDim }, plan.kStrides, rotary, k);
}
