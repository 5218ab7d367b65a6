/**
 * Resolves the shapes of Q, K, V (4-D `[B, H, L, D]` or 3-D `[B, L, H·D]`) and of the
 * optional past key/value cache (`[B, Hkv, Lpast, D]`) into attention sizes and the
 * element strides of `[batch, head, seq, dim]` views of Q, K, V and Y.
 */
import { formatShape, rangeError, typeError } from '../errors.js';
import { shapeFor, stridesFor, type LayoutKind } from '../layout.js';
import type { HeadStrides } from '../plan.js';
import type { ResolvedAttributes } from './attributes.js';
import { checkAxis, checkRank } from './tensors.js';

export interface OnnxDims {
  readonly batch: number;
  readonly qHeads: number;
  readonly kvHeads: number;
  readonly seqLenQ: number;
  /** Sequence length of the incoming K and V. */
  readonly kvSeqLen: number;
  /** Sequence length of past_key/past_value (0 when absent). */
  readonly pastSeqLen: number;
  /** pastSeqLen + kvSeqLen: the key axis of the attention, of present_key and of qk_matmul_output. */
  readonly totalSeqLen: number;
  readonly headDim: number;
  readonly valueDim: number;
}

export interface OnnxLayout {
  /** 'bhsd' for 4-D inputs, 'packed' for 3-D. */
  readonly kind: LayoutKind;
  readonly dims: OnnxDims;
  readonly qStrides: HeadStrides;
  /** Strides of the incoming K and V (not of the present cache, which is always bhsd). */
  readonly kStrides: HeadStrides;
  readonly vStrides: HeadStrides;
  readonly outStrides: HeadStrides;
  /** Shape of Y: `[B, Hq, Lq, Dv]` for 4-D inputs, `[B, Lq, Hq·Dv]` for 3-D. */
  readonly outShape: number[];
}

/** Splits a packed hidden axis `shape[2]` into `heads` heads; returns the head size. */
function headSizeOf(name: string, shape: readonly number[], heads: number, headsName: string): number {
  const hidden = shape[2]!;
  if (hidden % heads !== 0) {
    throw rangeError(`${name}.shape[2]`, `a multiple of ${headsName} = ${heads} (3-D [batch, seq, heads·head_size])`, `${hidden} (${name}.shape ${formatShape(shape)})`);
  }
  return hidden / heads;
}

function resolvePacked(q: readonly number[], k: readonly number[], v: readonly number[], attrs: ResolvedAttributes) {
  for (const [value, attr] of [[attrs.qNumHeads, 'q_num_heads'], [attrs.kvNumHeads, 'kv_num_heads']] as const) {
    if (value === undefined) {
      throw new TypeError(`attrs.${attr}: expected a positive integer for 3-D inputs [batch, seq, heads·head_size], got undefined`);
    }
  }
  const qHeads = attrs.qNumHeads!;
  const kvHeads = attrs.kvNumHeads!;
  const headDim = headSizeOf('Q', q, qHeads, 'attrs.q_num_heads');
  checkAxis('K', k, 2, kvHeads * headDim, `kv_num_heads · head_size = ${kvHeads} · ${headDim}`);
  const valueDim = headSizeOf('V', v, kvHeads, 'attrs.kv_num_heads');
  return { batch: q[0]!, qHeads, kvHeads, seqLenQ: q[1]!, kvSeqLen: k[1]!, headDim, valueDim, vSeqAxis: 1 };
}

function resolveHeads(q: readonly number[], k: readonly number[], v: readonly number[], attrs: ResolvedAttributes) {
  if (attrs.qNumHeads !== undefined && attrs.qNumHeads !== q[1]) {
    throw rangeError('attrs.q_num_heads', `the head count of Q (Q.shape[1] = ${q[1]})`, `${attrs.qNumHeads}`);
  }
  if (attrs.kvNumHeads !== undefined && attrs.kvNumHeads !== k[1]) {
    throw rangeError('attrs.kv_num_heads', `the head count of K (K.shape[1] = ${k[1]})`, `${attrs.kvNumHeads}`);
  }
  checkAxis('K', k, 3, q[3]!, 'head_size of Q');
  checkAxis('V', v, 1, k[1]!, 'kv_num_heads of K');
  return { batch: q[0]!, qHeads: q[1]!, kvHeads: k[1]!, seqLenQ: q[2]!, kvSeqLen: k[2]!, headDim: q[3]!, valueDim: v[3]!, vSeqAxis: 2 };
}

/**
 * Resolves and cross-checks the shapes of Q, K, V and the optional past cache.
 *
 * @param q - shape of Q; `k`, `v` likewise
 * @param pastKey - shape of past_key, or null; `pastValue` likewise (both or neither)
 * @param attrs - for `q_num_heads` / `kv_num_heads`
 * @returns sizes, strides of Q/K/V/Y views and the shape of Y
 * @throws RangeError on a wrong rank or a mismatched axis, naming the input and axis
 *   ("K.shape[3]: expected 8 (head_size of Q), got 6 (K.shape [1, 2, 5, 6])").
 * @throws TypeError when 3-D inputs come without `q_num_heads` / `kv_num_heads`, or only
 *   one of past_key / past_value is given.
 * @example
 * resolveOnnxLayout([2, 4, 72], [2, 6, 24], [2, 6, 24], null, null, attrs).dims.qHeads; // 9 with q_num_heads 9
 */
export function resolveOnnxLayout(
  q: readonly number[],
  k: readonly number[],
  v: readonly number[],
  pastKey: readonly number[] | null,
  pastValue: readonly number[] | null,
  attrs: ResolvedAttributes,
): OnnxLayout {
  checkRank('Q', q, [3, 4], '[batch, q_num_heads, q_seq, head_size] or [batch, q_seq, q_num_heads·head_size]');
  const rank = q.length;
  checkRank('K', k, rank, `like Q`);
  checkRank('V', v, rank, `like Q`);
  const kind: LayoutKind = rank === 4 ? 'bhsd' : 'packed';
  const sizes = rank === 4 ? resolveHeads(q, k, v, attrs) : resolvePacked(q, k, v, attrs);
  const { batch, qHeads, kvHeads, seqLenQ, kvSeqLen, headDim, valueDim } = sizes;

  checkAxis('K', k, 0, batch, 'batch of Q');
  checkAxis('V', v, 0, batch, 'batch of Q');
  checkAxis('V', v, sizes.vSeqAxis, kvSeqLen, 'kv_sequence_length of K');
  if (qHeads < 1 || kvHeads < 1) throw rangeError('heads', 'at least 1 query and 1 key/value head', `${qHeads} and ${kvHeads}`);
  if (qHeads % kvHeads !== 0) {
    throw rangeError('kv_num_heads', `a divisor of q_num_heads = ${qHeads} (grouped-query attention)`, `${kvHeads}`);
  }
  if (headDim < 1) throw rangeError('Q head_size', 'at least 1', `${headDim} (Q.shape ${formatShape(q)})`);
  if (valueDim < 1) throw rangeError('V head_size', 'at least 1', `${valueDim} (V.shape ${formatShape(v)})`);

  if ((pastKey === null) !== (pastValue === null)) {
    const [missing, given] = pastKey === null ? ['past_key', 'past_value'] : ['past_value', 'past_key'];
    throw typeError(missing, `a tensor when ${given} is given (they are used together)`, null);
  }
  let pastSeqLen = 0;
  if (pastKey && pastValue) {
    const what = (dim: string) => `[batch, kv_num_heads, past_seq, ${dim}]`;
    checkRank('past_key', pastKey, 4, what('head_size'));
    checkRank('past_value', pastValue, 4, what('v_head_size'));
    checkAxis('past_key', pastKey, 0, batch, 'batch of Q');
    checkAxis('past_key', pastKey, 1, kvHeads, 'kv_num_heads');
    checkAxis('past_key', pastKey, 3, headDim, 'head_size');
    checkAxis('past_value', pastValue, 0, batch, 'batch of Q');
    checkAxis('past_value', pastValue, 1, kvHeads, 'kv_num_heads');
    checkAxis('past_value', pastValue, 2, pastKey[2]!, 'past_sequence_length of past_key');
    checkAxis('past_value', pastValue, 3, valueDim, 'v_head_size of V');
    pastSeqLen = pastKey[2]!;
  }

  return {
    kind,
    dims: { batch, qHeads, kvHeads, seqLenQ, kvSeqLen, pastSeqLen, totalSeqLen: pastSeqLen + kvSeqLen, headDim, valueDim },
    qStrides: stridesFor(kind, qHeads, seqLenQ, headDim),
    kStrides: stridesFor(kind, kvHeads, kvSeqLen, headDim),
    vStrides: stridesFor(kind, kvHeads, kvSeqLen, valueDim),
    outStrides: stridesFor(kind, qHeads, seqLenQ, valueDim),
    outShape: shapeFor(kind, batch, qHeads, seqLenQ, valueDim),
  };
}
