/**
 * The attention backward of the layer on the layer's own memory (./kernel.ts): q, k, v, the
 * forward's output and dL/d(output) are read where the forward and the output projection's
 * backward GEMM left them, and dQ, dK, dV are written into PinnedTensors that the
 * input-projection GEMMs read in place. The steps are those of src/backward/wasm.ts (the
 * log-sum-exp pass, then the gradients, on one parameter block), so the bits are the same;
 * only the copies in and out are gone, and the lse stays in memory between the two passes.
 *
 *   [kept blocks …] ← top → [params][position offsets][key lengths][alibi slopes][bias][lse][scratch]
 */
import type { PinnedTensor } from '../cache/types.js';
import { BACKWARD_PARAM_BYTES } from '../backward/abi-params.js';
import type { BackwardPlan } from '../backward/plan.js';
import { writeBackwardParams, type BackwardExports, type BackwardLayout } from '../backward/wasm.js';
import type { LayerKernel } from './kernel.js';

const align = (bytes: number) => Math.ceil(bytes / 16) * 16;

/**
 * Runs `plan` (from prepareBackward over tensors of `kernel`'s memory: no rotary, so q and k
 * are the tensors themselves) with its gradients written into `dq`, `dk`, `dv`.
 * @param plan the plan; its q, k, v, out, dout must be views of `kernel`'s memory
 */
export function backwardInPlace(kernel: LayerKernel, plan: BackwardPlan, dq: PinnedTensor, dk: PinnedTensor, dv: PinnedTensor): void {
  const memory = kernel.exports.memory;
  const exports = kernel.exports as unknown as BackwardExports;
  // Addresses first: growing memory below detaches the plan's views, not the bytes.
  const at = (name: string, a: Float32Array) => {
    if (a.buffer !== memory.buffer) throw new Error(`createMultiHeadAttention: internal error, ${name} is not in the layer's memory`);
    return a.byteOffset;
  };
  const inPlace = { q: at('q', plan.q), k: at('k', plan.k), v: at('v', plan.v), out: at('out', plan.out), dout: at('dout', plan.dout), dq: at('dq', dq.data), dk: at('dk', dk.data), dv: at('dv', dv.data) };
  let cursor = align(kernel.top());
  const take = (elements: number) => {
    const start = cursor;
    cursor = align(cursor + elements * 4);
    return start;
  };
  const layout: BackwardLayout = {
    ...inPlace,
    params: take(BACKWARD_PARAM_BYTES / 4),
    positionOffsets: take(plan.batch),
    keyLengths: plan.keyLengths ? take(plan.batch) : 0,
    alibiSlopes: plan.alibiSlopes ? take(plan.qHeads) : 0,
    bias: plan.bias ? take(plan.bias.length) : 0,
    lse: take(plan.lse.length),
    // dS of an additive mask: the layer returns no mask gradient, so none is computed.
    dbias: 0,
    scratch: 0,
  };
  const scratch = cursor;
  const full = { ...layout, scratch };
  kernel.ensure(scratch, 'createMultiHeadAttention: backward');
  let i32 = new Int32Array(memory.buffer);
  let f32 = new Float32Array(memory.buffer);
  writeBackwardParams(i32, f32, plan, full, 0);
  const scratchBytes = exports.backwardScratchBytes(full.params);
  kernel.ensure(scratch + scratchBytes, 'createMultiHeadAttention: backward');
  i32 = new Int32Array(memory.buffer);
  f32 = new Float32Array(memory.buffer);
  writeBackwardParams(i32, f32, plan, full, scratchBytes);
  i32.set(plan.positionOffsets, full.positionOffsets >>> 2);
  if (plan.alibiSlopes) f32.set(plan.alibiSlopes, full.alibiSlopes >>> 2);
  if (plan.keyLengths) i32.set(plan.keyLengths, full.keyLengths >>> 2);
  if (plan.bias) f32.set(plan.bias, full.bias >>> 2);
  // As src/backward/wasm.ts: the gradients start at zero (untouched key blocks stay 0).
  // Lengths from the PinnedTensors, not from plan.q/k/v: those are views the `ensure` calls above
  // may have detached (length 0), which left dq, dk, dv holding the previous backward's sums
  // (dx, dWq, dbq wrong after a createCache or a new key length between two backwards).
  for (const [ptr, length] of [[full.dq, dq.data.length], [full.dk, dk.data.length], [full.dv, dv.data.length]] as const) f32.fill(0, ptr >>> 2, (ptr >>> 2) + length);
  const units = plan.batch * plan.kvHeads;
  exports.attentionLse(full.params, 0, units);
  exports.attentionBackward(full.params, 0, units);
}
