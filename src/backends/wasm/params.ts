/**
 * Writes a plan's parameter block (the ABI of src/backends/wasm/abi.ts), shared by the
 * single-thread backend and the thread pool. The block is zero-filled first, so fields
 * appended to the ABI later default to 0 instead of a stale value from an earlier call.
 */
import { WEIGHTS_STAGE_CODE, type AttentionPlan, type HeadStrides } from '../../plan.js';
import { PARAM, PARAM_BYTES } from './abi.js';
import type { CallLayout } from './memory-plan.js';

export function writeParams(
  i32: Int32Array,
  f32: Float32Array,
  plan: AttentionPlan,
  at: number,
  layout: CallLayout,
  scratch: number,
  scratchBytes: number,
): void {
  const p = at >> 2;
  i32.fill(0, p, p + PARAM_BYTES / 4);
  const set = (field: number, value: number) => (i32[p + field] = value);
  set(PARAM.BATCH, plan.batch);
  set(PARAM.Q_HEADS, plan.qHeads);
  set(PARAM.KV_HEADS, plan.kvHeads);
  set(PARAM.SEQ_LEN_Q, plan.seqLenQ);
  set(PARAM.SEQ_LEN_K, plan.seqLenK);
  set(PARAM.HEAD_DIM, plan.headDim);
  set(PARAM.VALUE_DIM, plan.valueDim);
  const tensor = (ptrField: number, ptr: number, strides: HeadStrides) => {
    set(ptrField, ptr);
    set(ptrField + 1, strides.batch);
    set(ptrField + 2, strides.head);
    set(ptrField + 3, strides.seq);
  };
  tensor(PARAM.Q_PTR, layout.q, plan.qStrides);
  tensor(PARAM.K_PTR, layout.k, plan.kStrides);
  tensor(PARAM.V_PTR, layout.v, plan.vStrides);
  tensor(PARAM.OUT_PTR, layout.out, plan.outStrides);
  f32[p + PARAM.SCALE] = plan.scale;
  f32[p + PARAM.SOFTCAP] = plan.softcap;
  set(PARAM.CAUSAL, plan.causal ? 1 : 0);
  set(PARAM.CAUSAL_OFFSETS_PTR, layout.causalOffsets);
  set(PARAM.KEY_LENGTHS_PTR, layout.keyLengths);
  set(PARAM.BIAS_PTR, layout.bias);
  set(PARAM.BIAS_BATCH_STRIDE, plan.biasStrides.batch);
  set(PARAM.BIAS_HEAD_STRIDE, plan.biasStrides.head);
  set(PARAM.BIAS_QUERY_STRIDE, plan.biasStrides.query);
  set(PARAM.WEIGHTS_PTR, layout.weights);
  set(PARAM.WEIGHTS_STAGE, WEIGHTS_STAGE_CODE[plan.weightsStage]);
  set(PARAM.SCRATCH_PTR, scratch);
  set(PARAM.SCRATCH_BYTES, scratchBytes);
}
