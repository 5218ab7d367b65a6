/**
 * `attentionBackward` at the boundary: checks the inputs, reduces them to a BackwardPlan
 * (./plan.ts) with the forward's own validation (src/attention.ts `prepareAttention`, so
 * every option means exactly what it means in the forward), and turns the plan's
 * gradients into the result.
 */
import { prepareAttention, OPTION_KEYS } from '../attention.js';
import { formatShape, rangeError, typeError } from '../errors.js';
import { halfArrayToFloat32 } from '../float16.js';
import { resolveLayout } from '../layout.js';
import { maskKindOf } from '../mask.js';
import { checkShape, checkTensor, ownOptions } from '../tensor-input.js';
import { typedArrayBrand, viewOf } from '../typed-array.js';
import type { AttentionInstance } from '../instance.js';
import type { AttentionOptions, Tensor } from '../types.js';
import { Workspace } from '../workspace.js';
import type { BackwardBackend, BackwardPlan } from './plan.js';
import { rotatePlan, unrotateGradients } from './rotary.js';
import type { BackwardResult } from './types.js';

/** The options of the backward: the forward's but `returnWeights` and `out` (`returnLse` is accepted and ignored: one options object serves both calls). */
export const BACKWARD_OPTION_KEYS = OPTION_KEYS.filter((key) => key !== 'returnWeights' && key !== 'out');

const INPUT_KEYS = ['q', 'k', 'v', 'dout', 'output', 'lse'];

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((dim, i) => dim === b[i]);

/** A validated backward call: its plan and how to make the result once it ran. */
export interface PreparedBackward {
  readonly plan: BackwardPlan;
  /** The plan's lse must be computed first (none was given). */
  readonly needsLse: boolean;
  finish(): BackwardResult;
}

function checkLse(value: unknown, batch: number, qHeads: number, seqLenQ: number): Float32Array {
  const length = batch * qHeads * seqLenQ;
  const shape = [batch, qHeads, seqLenQ];
  let data = value;
  if (typedArrayBrand(value) !== 'Float32Array') {
    if (typeof value !== 'object' || value === null || !('data' in value) || !('shape' in value)) {
      throw typeError('inputs.lse', `a Float32Array or a tensor { data: Float32Array, shape: ${formatShape(shape)} }`, value);
    }
    const dims = checkShape('inputs.lse.shape', (value as Tensor).shape);
    if (!sameShape(dims, shape)) throw rangeError('inputs.lse.shape', `${formatShape(shape)} ([batch, qHeads, seqLenQ])`, formatShape(dims));
    data = (value as Tensor).data;
    if (typedArrayBrand(data) !== 'Float32Array') throw typeError('inputs.lse.data', 'a Float32Array', data);
  }
  const lse = viewOf<Float32Array>(data);
  if (lse.length !== length) throw rangeError('inputs.lse', `length ${length} (${formatShape(shape)})`, `length ${lse.length}`);
  return lse;
}

/**
 * The forward's output for a backward called without it. float16 inputs run the forward on
 * their float32 values: a float16 output would carry its rounding (2^-11 relative) into
 * delta = rowsum(dO ∘ O) and every gradient.
 */
function recomputeOutput(instance: AttentionInstance, q: Tensor, k: Tensor, v: Tensor, opts: AttentionOptions, dtype: string): Float32Array {
  if (dtype !== 'float16') return instance.attention(q, k, v, opts).output.data as Float32Array;
  const widen = (name: string, t: Tensor): Tensor => ({ data: halfArrayToFloat32(checkTensor(name, t, dtype).data as Uint16Array), shape: t.shape });
  return instance.attention(widen('q', q), widen('k', k), widen('v', v), { ...opts, dtype: 'float32' }).output.data as Float32Array;
}

/**
 * Validates one backward call on `instance` (whose forward recomputes a missing output).
 * @throws TypeError / RangeError as the forward does, naming the input
 */
export function prepareBackward(instance: AttentionInstance, workspace: Workspace, inputs: unknown, options: unknown): PreparedBackward {
  if (typeof inputs !== 'object' || inputs === null) throw typeError('inputs', 'an object { q, k, v, dout, output?, lse? }', inputs);
  const given = ownOptions<Record<string, unknown>>('inputs', inputs, INPUT_KEYS);
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw typeError('options', 'an object', options);
  const opts = ownOptions<AttentionOptions>('options', options as object, BACKWARD_OPTION_KEYS);

  let { plan: forward } = prepareAttention(workspace, given.q, given.k, given.v, opts);
  const q = given.q as Tensor;
  const k = given.k as Tensor;
  const v = given.v as Tensor;
  const { outShape } = resolveLayout(q.shape, k.shape, v.shape, opts);
  const dtype = checkTensor('q', q, opts.dtype).dtype;
  const toF32 = (name: string, tensor: unknown) => {
    const checked = checkTensor(name, tensor, dtype);
    if (!sameShape(checked.shape, outShape)) throw rangeError(`${name}.shape`, `${formatShape(outShape)} (the output's shape)`, formatShape(checked.shape));
    return dtype === 'float16' ? halfArrayToFloat32(checked.data as Uint16Array) : (checked.data as Float32Array);
  };
  if (given.dout === undefined) throw typeError('inputs.dout', 'a tensor { data, shape } (dL/doutput)', undefined);
  let dout = toF32('inputs.dout', given.dout);
  let out: Float32Array;
  if (given.output !== undefined) {
    out = toF32('inputs.output', given.output);
  } else {
    out = recomputeOutput(instance, q, k, v, opts, dtype);
    // That forward may have grown the instance's memory, detaching the views of PinnedTensor
    // inputs taken above (copying them then threw "detached ArrayBuffer"): take them again.
    forward = prepareAttention(workspace, given.q, given.k, given.v, opts).plan;
    dout = toF32('inputs.dout', given.dout);
  }
  const rotary = forward.rotary ?? null;
  const { batch, qHeads, seqLenQ, seqLenK } = forward;
  const needsLse = given.lse === undefined;
  const lse = needsLse ? new Float32Array(batch * qHeads * seqLenQ) : checkLse(given.lse, batch, qHeads, seqLenQ);

  const mask = opts.mask;
  const additive = mask !== undefined && mask !== null && maskKindOf('options.mask.data', mask.data) !== 'bool';
  const unrotated: BackwardPlan = {
    ...forward,
    out,
    dout,
    lse,
    dq: new Float32Array(forward.q.length),
    dk: new Float32Array(forward.k.length),
    dv: new Float32Array(forward.v.length),
    dbias: additive ? new Float32Array(batch * qHeads * seqLenQ * seqLenK) : null,
  };
  // RoPE: the backends run on rotated copies of q and k; dq and dk are rotated back (./rotary.ts).
  const plan = rotary ? rotatePlan(unrotated, rotary, workspace) : unrotated;
  const finish = (): BackwardResult => {
    if (rotary) unrotateGradients(plan, rotary, workspace);
    const result = { dq: { data: plan.dq, shape: [...q.shape] }, dk: { data: plan.dk, shape: [...k.shape] }, dv: { data: plan.dv, shape: [...v.shape] } };
    if (!plan.dbias) return result;
    return { ...result, dmask: { data: reduceToShape(plan.dbias, [batch, qHeads, seqLenQ, seqLenK], mask!.shape), shape: [...mask!.shape] } };
  };
  return { plan, needsLse, finish };
}

/**
 * Sums a contiguous `[B, H, Lq, Lk]` gradient over the axes `shape` broadcasts along (NumPy
 * rules, `shape` a suffix of rank ≤ 4). In float64, in index order: deterministic.
 */
export function reduceToShape(full: Float32Array, target: readonly number[], shape: readonly number[]): Float32Array {
  const padded = [1, 1, 1, 1];
  for (let i = 0; i < shape.length; i++) padded[4 - shape.length + i] = shape[i]!;
  const [mb, mh, mr, mk] = padded as [number, number, number, number];
  const [batch, heads, rows, keys] = target as [number, number, number, number];
  const sums = new Float64Array(mb * mh * mr * mk);
  let at = 0;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < rows; i++) {
        const base = (((mb === 1 ? 0 : b) * mh + (mh === 1 ? 0 : h)) * mr + (mr === 1 ? 0 : i)) * mk;
        for (let j = 0; j < keys; j++) sums[base + (mk === 1 ? 0 : j)]! += full[at++]!;
      }
    }
  }
  return Float32Array.from(sums);
}

/** Runs a prepared call on `backend`. */
export function runPrepared(backend: BackwardBackend, call: PreparedBackward): BackwardResult {
  if (call.needsLse) backend.lse(call.plan);
  backend.run(call.plan);
  return call.finish();
}

/**
 * The log-sum-exp of every row of `attention(q, k, v, options)`: a plan with the forward's
 * tensors only (no output, dout or gradients), for {@link BackwardBackend.lse}.
 */
export function prepareLse(workspace: Workspace, q: unknown, k: unknown, v: unknown, options: unknown): BackwardPlan {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw typeError('options', 'an object', options);
  const opts = ownOptions<AttentionOptions>('options', options as object, BACKWARD_OPTION_KEYS);
  const { plan } = prepareAttention(workspace, q, k, v, opts);
  const none = new Float32Array(0);
  const lsePlan: BackwardPlan = { ...plan, out: none, dout: none, lse: new Float32Array(plan.batch * plan.qHeads * plan.seqLenQ), dq: none, dk: none, dv: none, dbias: null };
  return plan.rotary ? rotatePlan(lsePlan, plan.rotary, workspace) : lsePlan;
}
