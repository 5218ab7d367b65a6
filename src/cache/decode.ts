/**
 * `decode()`: attention of queries against a KV cache. Validates at the boundary and
 * reduces the call to one `CachedPlan` (src/cache/engine.ts), whose semantics are those of
 * `attention(q, K[:, :, :length], V[:, :, :length], { ...options, keyLengths })` with
 * `keyLengths` defaulting to the cache's per-sequence lengths.
 */
import { checkCausal, checkOut, checkWindow, OPTION_KEYS, withExtras, type PreparedCall } from '../attention.js'; // the same options as attention()
import { planWindow, positionOffsetsFor } from '../key-range.js';
import { resolveAlibi } from '../alibi.js';
import { checkFloat32, checkInteger, checkIntegerArray, formatShape, rangeError, typeError } from '../errors.js';
import { halfArrayToFloat32, halfResult, isFloat16Array } from '../float16.js';
import { axisOf, shapeFor, stridesFor, type LayoutKind } from '../layout.js';
import { resolveMaskOption } from '../mask.js';
import { limitError, MAX_BYTES } from '../limits.js';
import { callOptions, checkBoolean, checkTensor, ownOptions } from '../tensor-input.js';
import type { AttentionResult, Dtype, TensorData } from '../types.js';
import type { Workspace } from '../workspace.js';
import type { CacheEngine, CachedPlan, PlanBuffer } from './engine.js';
import { KVCacheImpl } from './kv-cache.js';
import { checkNotDetached, PinnedTensorImpl } from './pinned.js';
import { outOverlapsInputs } from '../plan.js';
import { viewOf } from '../typed-array.js';
import type { DecodeOptions } from './types.js';
import { rotateInto } from '../positions/apply.js';
import { resolvePositions } from '../positions/options.js';

interface QueryDims {
  readonly kind: LayoutKind;
  readonly batch: number;
  readonly qHeads: number;
  readonly seqLenQ: number;
}

/** Resolves q's layout against the cache (batch, headDim, kvHeads are the cache's). */
function resolveQuery(shape: readonly number[], options: DecodeOptions, cache: KVCacheImpl): QueryDims {
  const { headDim, kvHeads } = cache;
  let kind: LayoutKind;
  let batch: number, qHeads: number, seqLenQ: number, dim: number;
  if (shape.length === 4) {
    kind = options.layout ?? 'bhsd';
    if (kind === 'bhsd') [batch, qHeads, seqLenQ, dim] = shape as [number, number, number, number];
    else [batch, seqLenQ, qHeads, dim] = shape as [number, number, number, number];
    if (options.numHeads !== undefined && options.numHeads !== qHeads) {
      throw rangeError('options.numHeads', `the head count of q (${qHeads})`, `${options.numHeads}`);
    }
  } else if (shape.length === 3) {
    kind = 'packed';
    [batch, seqLenQ] = shape as [number, number];
    const hidden = shape[2]!;
    qHeads = options.numHeads === undefined ? hidden / headDim : checkInteger('options.numHeads', options.numHeads, 1);
    dim = hidden / qHeads;
    if (hidden !== qHeads * headDim) {
      throw rangeError('q.shape[2]', `numHeads·headDim = ${qHeads}·${headDim} (packed [batch, seq, heads·dim], headDim from the cache)`, `${hidden} (shape ${formatShape(shape)})`);
    }
  } else {
    throw rangeError('q.shape', 'rank 4 ([batch, heads, seq, dim] or [batch, seq, heads, dim]) or rank 3 ([batch, seq, heads·dim])', `rank ${shape.length} ${formatShape(shape)}`);
  }
  const axis = (field: 'batch' | 'heads' | 'seqLen' | 'dim') => axisOf(kind, field);
  if (batch !== cache.batch) throw rangeError(`q.shape[${axis('batch')}]`, `the cache's batch = ${cache.batch}`, `${batch} (shape ${formatShape(shape)})`);
  if (dim !== headDim) throw rangeError(`q.shape[${axis('dim')}]`, `the cache's headDim = ${headDim}`, `${dim} (shape ${formatShape(shape)})`);
  if (options.kvHeads !== undefined && options.kvHeads !== kvHeads) {
    throw rangeError('options.kvHeads', `the cache's kvHeads (${kvHeads})`, `${options.kvHeads}`);
  }
  if (qHeads < 1 || qHeads % kvHeads !== 0) {
    throw rangeError(`q.shape[${axis('heads')}]`, `a positive multiple of the cache's kvHeads = ${kvHeads} (grouped-query attention)`, `${qHeads} (shape ${formatShape(shape)})`);
  }
  if (seqLenQ < 1) throw rangeError(`q.shape[${axis('seqLen')}]`, 'at least 1 query', `${seqLenQ} (shape ${formatShape(shape)})`);
  return { kind, batch, qHeads, seqLenQ };
}

/**
 * Runs attention of `q` over `cache` on `engine`. See `decode` in src/instance.ts for the
 * documented contract.
 */
export function runDecode(engine: CacheEngine, workspace: Workspace, q: unknown, cache: unknown, options: unknown): AttentionResult {
  const call = prepareDecode(engine, workspace, q, cache, options);
  engine.run(call.plan);
  return call.finish();
}

/**
 * Validates a decode call and reduces it to a plan, without running it (`decodeAsync` runs
 * it split over threads, src/threads/decode.ts). `finish` reads `plan.out`/`plan.weights`.
 */
export function prepareDecode(engine: CacheEngine, workspace: Workspace, q: unknown, cache: unknown, options: unknown): PreparedCall<CachedPlan> {
  if (!(cache instanceof KVCacheImpl) || cache.engine !== engine) {
    throw typeError('cache', 'a KVCache created by this instance (createKVCache)', cache);
  }
  const storage = cache.live('cache');
  const opts = callOptions<DecodeOptions>(options, OPTION_KEYS);
  if (opts.layout !== undefined && opts.layout !== 'bhsd' && opts.layout !== 'bshd') throw typeError('options.layout', "'bhsd' | 'bshd'", opts.layout);
  if (opts.dtype !== undefined && opts.dtype !== 'float32' && opts.dtype !== 'float16') throw typeError('options.dtype', "'float32' | 'float16'", opts.dtype);

  checkNotDetached('q', q);
  const pinnedQ = q instanceof PinnedTensorImpl && q.owner === engine ? q.block : null;
  if (q instanceof PinnedTensorImpl && q.disposed) throw new TypeError('q: expected a live PinnedTensor, got a disposed PinnedTensor');
  const query = checkTensor('q', q, opts.dtype);
  const dtype: Dtype = query.dtype;
  const dims = resolveQuery(query.shape, opts, cache);
  const { batch, qHeads, seqLenQ, kind } = dims;
  const { kvHeads, headDim, valueDim } = cache;
  const seqLenK = cache.length;

  const scale = opts.scale === undefined ? 1 / Math.sqrt(headDim) : checkFloat32('options.scale', opts.scale);
  const softcap = opts.softcap === undefined ? 0 : checkFloat32('options.softcap', opts.softcap, 'non-negative');
  const causal = checkCausal(opts.causal);
  const window = checkWindow(opts.window);
  const keyLengths = opts.keyLengths == null ? cache.lengthsView.slice() : checkIntegerArray('options.keyLengths', opts.keyLengths, batch, 'one per sequence', cache.lengthsView);
  const returnWeights = checkBoolean('options.returnWeights', opts.returnWeights);
  const alibiSlopes = resolveAlibi(opts.alibi, qHeads);
  const returnLse = checkBoolean('options.returnLse', opts.returnLse);

  const resolvedMask = resolveMaskOption(opts.mask, [batch, qHeads, seqLenQ, seqLenK]);
  const bias = resolvedMask?.bias ?? null;
  const biasStrides = resolvedMask?.strides ?? { batch: 0, head: 0, query: 0 };

  const outShape = shapeFor(kind, batch, qHeads, seqLenQ, valueDim);
  const outLength = batch * qHeads * seqLenQ * valueDim;
  const weightsLength = batch * qHeads * seqLenQ * seqLenK;
  // The size limit of every backend (src/limits.ts), from the shapes alone: the call's own
  // f32 tensors (q, mask, output, weights; K/V are the cache's, checked when it was made).
  const callBytes = 4 * (query.data.length + (bias ? bias.length : 0) + outLength + (returnWeights ? weightsLength : 0));
  if (callBytes > MAX_BYTES) {
    throw limitError(
      returnWeights ? 'options.returnWeights' : 'q',
      `a call (f32 q, mask, output${returnWeights ? ', weights' : ''})`,
      callBytes,
      `output ${formatShape(outShape)}${returnWeights ? `, weights [${batch}, ${qHeads}, ${seqLenQ}, ${seqLenK}]` : ''}`,
    );
  }

  // out: a pinned tensor of this engine (written in place), or a caller-owned typed array.
  const checkedOut = checkOut(opts.out, dtype, outLength, outShape);
  const pinnedOut = opts.out instanceof PinnedTensorImpl ? opts.out : null;
  const hostOut = pinnedOut ? undefined : checkedOut;

  const half = dtype === 'float16';
  // An out that overlaps q (the same PinnedTensor, or arrays sharing bytes) is computed apart
  // and copied in by finishDecode: the one rule of src/plan.ts, on every backend.
  const outView = pinnedOut ? pinnedOut.data : hostOut && !half ? viewOf<Float32Array>(hostOut) : undefined;
  const aliased = outView !== undefined && outOverlapsInputs(outView, [query.data]);
  const qStrides = stridesFor(kind, qHeads, seqLenQ, headDim);
  const qHost = (): Float32Array => (half ? halfArrayToFloat32(query.data as Uint16Array, workspace.f32('q', query.data.length)) : (query.data as Float32Array));
  let qBuffer: PlanBuffer = pinnedQ ? { pinned: pinnedQ } : { host: qHost() };
  const positionOffsets = positionOffsetsFor(batch, seqLenQ, seqLenK, keyLengths, causal === 'top-left');
  if (cache.rotation) {
    // The queries, rotated at their positions into the workspace (never in place); the
    // cached keys were rotated once, when appended.
    if (opts.rotary !== undefined && (typeof opts.rotary !== 'object' || opts.rotary === null)) throw typeError('options.rotary', '{ queryPositions }', opts.rotary);
    const own = opts.rotary === undefined ? {} : ownOptions<{ queryPositions?: unknown }>('options.rotary', opts.rotary, ['queryPositions']);
    const positions = resolvePositions('options.rotary.queryPositions', own.queryPositions, batch, seqLenQ, positionOffsets, cache.rotation);
    qBuffer = { host: rotateInto(workspace, 'rotary-q', qHost(), { batch, heads: qHeads, seqLen: seqLenQ, headDim }, qStrides, cache.rotation, positions) };
  } else if (opts.rotary !== undefined) {
    throw typeError('options.rotary', 'no rotary option on a cache without rotary (create it with createKVCache({ rotary }): keys are rotated when appended)', opts.rotary);
  }
  const outBuffer: PlanBuffer =
    pinnedOut && pinnedOut.owner === engine && !aliased
      ? { pinned: pinnedOut.block! }
      : { host: half || aliased ? workspace.f32('out', outLength) : ((hostOut ? outView : undefined) ?? new Float32Array(outLength)) };

  const weights = returnWeights ? (half ? workspace.f32('weights', weightsLength) : new Float32Array(weightsLength)) : null;
  const plan: CachedPlan = {
    batch, qHeads, kvHeads, seqLenQ, seqLenK, headDim, valueDim, dtype: cache.dtype,
    storage,
    kvNonFinite: cache.nonFinite,
    q: qBuffer,
    qStrides,
    out: outBuffer,
    outStrides: stridesFor(kind, qHeads, seqLenQ, valueDim),
    scale, softcap,
    positionOffsets,
    window: planWindow(window, causal !== 'none'),
    keyLengths,
    bias, biasStrides,
    weights,
    alibiSlopes,
    lse: returnLse ? new Float32Array(batch * qHeads * seqLenQ) : null,
  };
  return { plan, finish: () => finishDecode(plan, q, half, outShape, pinnedOut, hostOut, aliased) };
}

/** Turns a decode plan's outputs into the result: q's dtype, `out` when given, weights' shape. */
function finishDecode(plan: CachedPlan, q: unknown, half: boolean, outShape: number[], pinnedOut: PinnedTensorImpl | null, hostOut: TensorData | undefined, aliased: boolean): AttentionResult {
  const { out: outBuffer } = plan;
  let outData: TensorData;
  if (pinnedOut) {
    if ('host' in outBuffer) pinnedOut.data.set(outBuffer.host); // a PinnedTensor of another instance
    outData = pinnedOut.data;
  } else if (half) {
    const likeFloat16Array = isFloat16Array((q as { data: unknown }).data);
    outData = halfResult((outBuffer as { host: Float32Array }).host, hostOut, likeFloat16Array);
  } else {
    const host = (outBuffer as { host: Float32Array }).host;
    if (aliased) viewOf<Float32Array>(hostOut).set(host); // computed apart: out overlapped q
    outData = hostOut ?? host;
  }
  const output = { data: outData, shape: outShape };
  return withExtras({ output }, plan, half, isFloat16Array((q as { data: unknown }).data));
}
