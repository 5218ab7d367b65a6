/**
 * The contract between `attentionBackward` (src/backward/prepare.ts) and the backward
 * backends (./js.ts, ./wasm.ts): a forward plan (src/plan.ts, with `out` = the forward's
 * output O, an input here) plus the gradient tensors. Semantics, for one allowed (b, h, i, j)
 * of the forward (src/plan.ts), with s the biased score and c the capped one:
 *
 *   p     = exp(s − lse[b,h,i])
 *   delta = Σ_d dout[b,h,i,d] · out[b,h,i,d]
 *   dS    = p · (dout[b,h,i,:]·v[b,kv,j,:] − delta)          → dbias[b,h,i,j]
 *   dl    = dS · scale · (softcap > 0 ? 1 − (c/softcap)² : 1)
 *   dq[b,h,i,:]  += dl · k[b,kv,j,:]
 *   dk[b,kv,j,:] += dl · q[b,h,i,:]     (summed over the query heads h of KV head kv: GQA)
 *   dv[b,kv,j,:] += p · dout[b,h,i,:]
 *
 * A disallowed (b, h, i, j) contributes nothing (selected away, as in the forward), and a
 * row whose lse is -Infinity (no allowed key) contributes nothing. The score clamp of the
 * forward is treated as the identity (its derivative is 1 wherever scores are finite).
 */
import type { AttentionPlan } from '../plan.js';

export interface BackwardPlan extends AttentionPlan {
  /** dL/dout, strides `outStrides`. */
  readonly dout: Float32Array;
  /** `[batch, qHeads, seqLenQ]` natural log-sum-exp of each row's allowed scores. */
  readonly lse: Float32Array;
  /** Gradients, zero-filled on entry, in the layout (strides) of q, k, v. */
  readonly dq: Float32Array;
  readonly dk: Float32Array;
  readonly dv: Float32Array;
  /** Contiguous `[batch, qHeads, seqLenQ, seqLenK]` dS, zero-filled on entry, or null. */
  readonly dbias: Float32Array | null;
}

/** Runs backward plans. */
export interface BackwardBackend {
  readonly name: 'wasm-relaxed-simd' | 'wasm-simd' | 'js';
  /** Writes `plan.lse` (the forward's log-sum-exp of every row). */
  lse(plan: BackwardPlan): void;
  /** Writes `plan.dq`, `plan.dk`, `plan.dv` and `plan.dbias`. */
  run(plan: BackwardPlan): void;
}
