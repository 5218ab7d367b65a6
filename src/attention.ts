/**
 * `attention()`: validates the caller's tensors and options at the boundary, reduces them
 * to one AttentionPlan (src/plan.ts) and runs it on a backend.
 */
import { checkFloat32, checkIntegerArray, formatShape, rangeError, typeError } from './errors.js';
import { halfArrayToFloat32, halfResult, isFloat16Array } from './float16.js';
import { resolveLayout } from './layout.js';
import { limitError, MAX_BYTES } from './limits.js';
import { resolveMaskOption } from './mask.js';
import { resolveAlibi } from './alibi.js';
import { outOverlapsInputs, type AttentionPlan, type Backend, type PinnedBuffers } from './plan.js';
import { typedArrayLength, viewOf } from './typed-array.js';
import { checkNotDetached, checkViewNotDetached, PinnedTensorImpl } from './cache/pinned.js';
import { callOptions, checkBoolean, checkTensor, dtypeOfData } from './tensor-input.js';
import type { AttentionOptions, AttentionResult, CausalOption, Dtype, TensorData } from './types.js';
import type { Workspace } from './workspace.js';
import { planWindow, positionOffsetsFor, type KeyWindow } from './key-range.js';
import { planRotary } from './positions/apply.js';

/** The options of attention() and decode(). */
export const OPTION_KEYS = ['layout', 'numHeads', 'kvHeads', 'dtype', 'scale', 'causal', 'mask', 'keyLengths', 'softcap', 'returnWeights', 'out', 'window', 'alibi', 'returnLse', 'rotary'] as const;

/** `options.causal` of attention and decode, resolved to its alignment. */
export function checkCausal(value: unknown): 'none' | 'top-left' | 'bottom-right' {
  if (value === undefined || value === false) return 'none';
  if (value === true || value === 'bottom-right') return 'bottom-right';
  if (value === 'top-left') return 'top-left';
  throw typeError('options.causal', "true | false | 'top-left' | 'bottom-right'", value as CausalOption);
}

/** One bound of `options.window`: a non-negative integer or Infinity. */
function checkWindowBound(name: string, value: unknown): number {
  if (value === Infinity) return value;
  if (typeof value !== 'number') throw typeError(name, 'a non-negative integer or Infinity', value);
  if (!Number.isInteger(value) || value < 0) throw rangeError(name, 'a non-negative integer or Infinity', `${value}`);
  return value;
}

/** `options.window` of attention and decode: `[left, right]`, or n = `[n, 0]`; undefined: none. */
export function checkWindow(value: unknown): KeyWindow | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') return { left: checkWindowBound('options.window', value), right: 0 };
  if (!Array.isArray(value)) throw typeError('options.window', 'a non-negative integer or [left, right]', value);
  if (value.length !== 2) throw rangeError('options.window', '[left, right] (2 entries)', `length ${value.length}`);
  return { left: checkWindowBound('options.window[0]', value[0]), right: checkWindowBound('options.window[1]', value[1]) };
}

function checkDtype(value: unknown): Dtype | undefined {
  if (value === undefined) return undefined;
  if (value !== 'float32' && value !== 'float16') throw typeError('options.dtype', "'float32' | 'float16'", value);
  return value;
}

/** `options.out` of attention and decode: its data (a PinnedTensor's view), checked against the output. */
export function checkOut(value: unknown, dtype: Dtype, length: number, shape: readonly number[]): TensorData | undefined {
  if (value === undefined) return undefined;
  if (value instanceof PinnedTensorImpl) {
    if (value.disposed) throw new TypeError('options.out: expected a live PinnedTensor, got a disposed PinnedTensor');
    if (dtype !== 'float32') throw typeError('options.out', 'a Uint16Array or Float16Array (float16 output; PinnedTensors are float32)', value);
    value = value.data;
  }
  const kind = dtypeOfData(value);
  if (kind !== dtype) {
    throw typeError('options.out', dtype === 'float32' ? 'a Float32Array or PinnedTensor' : 'a Uint16Array or Float16Array (float16)', value);
  }
  checkViewNotDetached('options.out', value, length);
  const got = typedArrayLength(value);
  if (got !== length) throw rangeError('options.out', `length ${length} (output shape ${formatShape(shape)})`, `length ${got}`);
  return value as TensorData;
}

/** The storages of the call's tensors given as PinnedTensors, or undefined when none is. */
function pinnedBuffers(q: unknown, k: unknown, v: unknown, out: PinnedTensorImpl | null): PinnedBuffers | undefined {
  const storage = (tensor: unknown) => (tensor instanceof PinnedTensorImpl ? (tensor.block ?? undefined) : undefined);
  const pinned = { q: storage(q), k: storage(k), v: storage(v), out: storage(out) };
  return pinned.q || pinned.k || pinned.v || pinned.out ? pinned : undefined;
}

/**
 * Adds what a plan returns beside the output: `weights` (in the output's dtype) and `lse`
 * (float32), when it computed them. Shared by attention() and decode().
 */
export function withExtras(
  result: AttentionResult,
  plan: { readonly batch: number; readonly qHeads: number; readonly seqLenQ: number; readonly seqLenK: number; readonly weights: Float32Array | null; readonly lse?: Float32Array | null },
  half: boolean,
  likeFloat16Array: boolean,
): AttentionResult {
  const { batch, qHeads, seqLenQ, seqLenK } = plan;
  const weights = plan.weights && { data: half ? halfResult(plan.weights, undefined, likeFloat16Array) : plan.weights, shape: [batch, qHeads, seqLenQ, seqLenK] };
  return {
    ...result,
    ...(weights ? { weights } : {}),
    ...(plan.lse ? { lse: { data: plan.lse, shape: [batch, qHeads, seqLenQ] } } : {}),
  };
}

/**
 * Runs attention on `backend`. See `attention` in src/index.ts for the documented contract.
 */
export function runAttention(backend: Backend, workspace: Workspace, q: unknown, k: unknown, v: unknown, options: unknown): AttentionResult {
  const call = prepareAttention(workspace, q, k, v, options);
  backend.run(call.plan);
  return call.finish();
}

/**
 * A validated call: its plan (an `AttentionPlan`, or a `CachedPlan` for decode), and how to
 * turn the plan's outputs into the result once it ran.
 */
export interface PreparedCall<Plan> {
  readonly plan: Plan;
  finish(): AttentionResult;
}

/**
 * Validates a call and reduces it to a plan, without running it (the threaded backend runs
 * it asynchronously, src/threads/). `finish` reads `plan.out`/`plan.weights`.
 */
export function prepareAttention(workspace: Workspace, q: unknown, k: unknown, v: unknown, options: unknown): PreparedCall<AttentionPlan> {
  const opts = callOptions<AttentionOptions>(options, OPTION_KEYS);

  for (const [name, tensor] of [['q', q], ['k', k], ['v', v]] as const) {
    if (tensor instanceof PinnedTensorImpl && tensor.disposed) throw new TypeError(`${name}: expected a live PinnedTensor, got a disposed PinnedTensor`);
    checkNotDetached(name, tensor); // a stale view of a PinnedTensor: a TypeError that says so
  }
  const requestedDtype = checkDtype(opts.dtype);
  const query = checkTensor('q', q, requestedDtype);
  const key = checkTensor('k', k, query.dtype);
  const value = checkTensor('v', v, query.dtype);
  const dtype = query.dtype;

  if (opts.layout !== undefined && opts.layout !== 'bhsd' && opts.layout !== 'bshd') {
    throw typeError('options.layout', "'bhsd' | 'bshd'", opts.layout);
  }
  const layout = resolveLayout(query.shape, key.shape, value.shape, opts);
  const { batch, qHeads, kvHeads, seqLenQ, seqLenK, headDim, valueDim } = layout.dims;

  const scale = opts.scale === undefined ? 1 / Math.sqrt(headDim) : checkFloat32('options.scale', opts.scale);
  const softcap = opts.softcap === undefined ? 0 : checkFloat32('options.softcap', opts.softcap, 'non-negative');
  const causal = checkCausal(opts.causal);
  const window = checkWindow(opts.window);
  const keyLengths = opts.keyLengths == null ? null : checkIntegerArray('options.keyLengths', opts.keyLengths, batch, 'one per batch item', seqLenK);
  const returnWeights = checkBoolean('options.returnWeights', opts.returnWeights);
  const alibiSlopes = resolveAlibi(opts.alibi, qHeads);
  const returnLse = checkBoolean('options.returnLse', opts.returnLse);

  const resolvedMask = resolveMaskOption(opts.mask, [batch, qHeads, seqLenQ, seqLenK]);
  const bias = resolvedMask?.bias ?? null;
  const biasStrides = resolvedMask?.strides ?? { batch: 0, head: 0, query: 0 };

  const outLength = batch * qHeads * seqLenQ * valueDim;
  const weightsLength = batch * qHeads * seqLenQ * seqLenK;
  // The size limit of every backend (src/limits.ts), checked from the shapes alone, before
  // the output, the weights or float16 copies are allocated: the call's f32 tensors are
  // what the WASM backends copy into their memory (next to parameters and scratch).
  const callBytes = 4 * (query.data.length + key.data.length + value.data.length + (bias ? bias.length : 0) + outLength + (returnWeights ? weightsLength : 0));
  if (callBytes > MAX_BYTES) {
    throw limitError(
      returnWeights ? 'options.returnWeights' : 'q, k, v',
      `a call (f32 q, k, v, mask, output${returnWeights ? ', weights' : ''})`,
      callBytes,
      `output [${batch}, ${qHeads}, ${seqLenQ}, ${valueDim}]${returnWeights ? `, weights [${batch}, ${qHeads}, ${seqLenQ}, ${seqLenK}]` : ''}`,
    );
  }
  const out = checkOut(opts.out, dtype, outLength, layout.outShape);
  // The caller's out, viewed from its internal slots (src/typed-array.ts); returned as given.
  const outView = out && dtype === 'float32' ? viewOf<Float32Array>(out) : undefined;
  const aliased = outView !== undefined && outOverlapsInputs(outView, [query.data, key.data, value.data]);
  const pinnedOut = opts.out instanceof PinnedTensorImpl ? opts.out : null;
  // An out that overlaps an input is computed apart and copied in by finish (src/plan.ts).
  // With rotary, q and k are rotated copies (memory-plan.ts): their storages are kept all
  // the same, so that the copy re-reads the view after a growth instead of a detached one.
  const rotary = opts.rotary !== undefined;
  const pinned = pinnedBuffers(q, k, v, aliased ? null : pinnedOut);

  const half = dtype === 'float16';
  const toF32 = (slot: string, data: Float32Array | Uint16Array) =>
    half ? halfArrayToFloat32(data as Uint16Array, workspace.f32(slot, data.length)) : (data as Float32Array);

  const positionOffsets = positionOffsetsFor(batch, seqLenQ, seqLenK, keyLengths, causal === 'top-left');
  // `...layout.dims` last: V8 (Node 20) adds each property that follows a spread on a slow
  // path (42–69 µs for a literal like this one with the spread first, under 1 µs last:
  // bench/spread-cost.mjs; H8 N16 calls 0.51× the time, bench/results/*-call-overhead.txt).
  const plan: AttentionPlan = {
    q: toF32('q', query.data),
    qStrides: layout.qStrides,
    k: toF32('k', key.data),
    kStrides: layout.kStrides,
    v: toF32('v', value.data),
    vStrides: layout.vStrides,
    out: half || aliased ? workspace.f32('out', outLength) : (outView ?? new Float32Array(outLength)),
    outStrides: layout.outStrides,
    scale,
    softcap,
    positionOffsets,
    window: planWindow(window, causal !== 'none'),
    keyLengths,
    bias,
    biasStrides,
    weights: returnWeights ? (half ? workspace.f32('weights', weightsLength) : new Float32Array(weightsLength)) : null,
    weightsStage: 'probs',
    alibiSlopes,
    lse: returnLse ? new Float32Array(batch * qHeads * seqLenQ) : null,
    pinned,
    rotary: rotary ? planRotary(opts.rotary, layout.dims, positionOffsets, workspace) : null,
    ...layout.dims,
  };

  const finish = (): AttentionResult => {
    const likeFloat16Array = isFloat16Array((q as { data: unknown }).data);
    // A pinned output's view is taken again: the call may have grown memory.
    if (aliased) (pinnedOut ? pinnedOut.data : viewOf<Float32Array>(out)).set(plan.out);
    const data = pinnedOut ? pinnedOut.data : half ? halfResult(plan.out, out, likeFloat16Array) : (out ?? plan.out);
    const output = { data, shape: layout.outShape };
    return withExtras({ output }, plan, half, likeFloat16Array);
  };
  return { plan, finish };
}
