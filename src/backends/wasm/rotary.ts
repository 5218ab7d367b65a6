/**
 * RoPE on the WASM backends: after copyInputs, q and k in linear memory (the call's own
 * copies, pinned tensors too: memory-plan.ts lays none out in place) are rotated in place by the kernel's
 * `rotary` export (assembly/rotary/f32-rope-f64x2.ts), with the plan's f64 angles copied
 * beside them. A module without the export (an older user-supplied build) gets the same
 * rotation from the host (src/positions/rotate.ts): the same bits either way.
 */
import type { AttentionPlan } from '../../plan.js';
import { rotateHeads } from '../../positions/rotate.js';
import type { CallLayout } from './memory-plan.js';

/** The kernel export (every build since RoPE). */
export type RotaryExport = (x: number, batch: number, heads: number, seqLen: number, strideBatch: number, strideHead: number, strideSeq: number, dim: number, interleaved: number, cos: number, sin: number) => void;

/**
 * Rotates the copies of q and k laid out by `layout`, when the plan has `rotary`.
 * @param f32 a view of the whole memory (current after any growth)
 */
export function rotateInputs(rotary: RotaryExport | undefined, f32: Float32Array, plan: AttentionPlan, layout: CallLayout): void {
  const r = plan.rotary;
  if (!r || !layout.rotary) return;
  const f64 = new Float64Array(f32.buffer);
  const { batch, headDim } = plan;
  const tensors = [
    [layout.q, plan.q.length, plan.qHeads, plan.seqLenQ, plan.qStrides, r.q, layout.rotary.qCos, layout.rotary.qSin],
    [layout.k, plan.k.length, plan.kvHeads, plan.seqLenK, plan.kStrides, r.k, layout.rotary.kCos, layout.rotary.kSin],
  ] as const;
  for (const [at, length, heads, seqLen, strides, angles, cos, sin] of tensors) {
    if (!rotary) {
      const view = f32.subarray(at >>> 2, (at >>> 2) + length);
      rotateHeads(view, view, { batch, heads, seqLen, headDim }, strides, r, angles);
      continue;
    }
    f64.set(angles.cos, cos >>> 3);
    f64.set(angles.sin, sin >>> 3);
    rotary(at, batch, heads, seqLen, strides.batch, strides.head, strides.seq, r.dim, r.interleaved ? 1 : 0, cos, sin);
  }
}
