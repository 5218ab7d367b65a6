/**
 * The key loops of the JS backward (./js.ts): a block of up to four query rows of one head
 * against their keys, on contiguous float64 copies (K, V rows of `headDim`/`valueDim`, packed),
 * unit-stride inner loops with offsets hoisted, every sum accumulated in float64.
 *
 * A key every row of the block sees (the dense interior: most keys) takes the four-row path:
 * each element of k_j and v_j is loaded once for four rows, and dK_j, dV_j are loaded and
 * stored once for four rows (the loops are load/store bound: one row at a time, the previous
 * version, ran at the same speed whatever its arithmetic). dq of those keys is summed after
 * the key loop, per element in registers (no store per key). A key that only some rows see
 * (a window or causal edge, a masked key) takes the one-row path for those rows: a masked
 * key is never read, so NaN/Inf K or V there cannot reach a gradient.
 */
import { SCORE_LIMIT } from '../plan.js';

const clamp = (x: number) => (x > SCORE_LIMIT ? SCORE_LIMIT : x < -SCORE_LIMIT ? -SCORE_LIMIT : x);

/** Rows in a block. */
export const BLOCK = 4;

/**
 * Σ a[aAt + d]·b[bAt + d] over d < n, in four interleaved float64 sums: one sum is a chain
 * of dependent adds (a float add's latency each); four let the CPU overlap them.
 */
export function dot(a: Float64Array, aAt: number, b: Float64Array, bAt: number, n: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let d = 0;
  for (; d + 4 <= n; d += 4) {
    s0 += a[aAt + d]! * b[bAt + d]!;
    s1 += a[aAt + d + 1]! * b[bAt + d + 1]!;
    s2 += a[aAt + d + 2]! * b[bAt + d + 2]!;
    s3 += a[aAt + d + 3]! * b[bAt + d + 3]!;
  }
  for (; d < n; d++) s0 += a[aAt + d]! * b[bAt + d]!; // leftovers
  return s0 + s1 + (s2 + s3);
}

/**
 * A block of query rows of one head and its buffers: rows r < count, row r's q at
 * `q[r·headDim…]`, dL/dout at `dout[r·valueDim…]`, dq accumulator at `dq[r·headDim…]`.
 * Per row: keys [start, end) (empty for a row with no allowed key), lse, delta = dO·O, the
 * first key's index in the bias (`biasAt`), its position (ALiBi), its dS row in dbias.
 */
export interface RowBlock {
  count: number;
  readonly q: Float64Array;
  readonly dout: Float64Array;
  readonly dq: Float64Array;
  readonly start: Int32Array;
  readonly end: Int32Array;
  readonly lse: Float64Array;
  readonly delta: Float64Array;
  readonly biasAt: Float64Array;
  readonly position: Float64Array;
  readonly dbiasAt: Float64Array;
}

/** A head's constants and its KV head's contiguous K, V and dK, dV accumulators. */
export interface HeadKeys {
  headDim: number;
  valueDim: number;
  scale: number;
  softcap: number;
  /** The additive mask (-Infinity removes a key), indexed from a row's `biasAt`; null: none. */
  bias: Float32Array | null;
  /** ALiBi: slope · |position − j| is subtracted (0: none). */
  slope: number;
  dbias: Float32Array | null;
  readonly keys: Float64Array;
  readonly values: Float64Array;
  readonly dk: Float64Array;
  readonly dv: Float64Array;
}

/** Scratch of a block's four-row keys: their indices and each row's dl (seqLenK each). */
export interface BlockScratch {
  readonly fast: Int32Array;
  readonly dl: Float64Array;
}

/**
 * The score (src/plan.ts) from the q·k dot of row r: rounded to f32 like the forward's (the
 * saved lse is its), scaled, capped, ALiBi and the bias added, clamped. Returns it and leaves
 * the softcap's output in `capped.value` for its derivative.
 */
function scoreOf(h: HeadKeys, block: RowBlock, r: number, j: number, dotQK: number, capped: { value: number }): number {
  const logit = Math.fround(dotQK) * h.scale;
  const c = h.softcap > 0 ? h.softcap * Math.tanh(logit / h.softcap) : logit;
  capped.value = c;
  const add = h.bias ? h.bias[block.biasAt[r]! + j]! : 0;
  return clamp(clamp(c) - h.slope * Math.abs(block.position[r]! - j) + add);
}

/** dL/dlogit from dS: scale, times the softcap derivative 1 − tanh². */
const dLogit = (h: HeadKeys, ds: number, c: number) => (h.softcap > 0 ? ds * h.scale * (1 - (c / h.softcap) ** 2) : ds * h.scale);

const capped = { value: 0 };

/** Whether row r sees key j (its range, and not removed by the mask). */
const sees = (h: HeadKeys, block: RowBlock, r: number, j: number) =>
  j >= block.start[r]! && j < block.end[r]! && (!h.bias || h.bias[block.biasAt[r]! + j] !== -Infinity);

/** Score of row r for any key (the lse pass): -Infinity where the mask removes it. */
export function rowScore(h: HeadKeys, block: RowBlock, r: number, j: number): number {
  if (h.bias && h.bias[block.biasAt[r]! + j] === -Infinity) return -Infinity;
  return scoreOf(h, block, r, j, dot(block.q, r * h.headDim, h.keys, j * h.headDim, h.headDim), capped);
}

/** The whole backward of key j for row r alone (./plan.ts), dq included. */
function oneRow(h: HeadKeys, block: RowBlock, r: number, j: number): void {
  const { headDim, valueDim, keys, values, dk, dv } = h;
  const { q, dout, dq } = block;
  const qAt = r * headDim, oAt = r * valueDim, kAt = j * headDim, vAt = j * valueDim;
  const p = Math.exp(scoreOf(h, block, r, j, dot(q, qAt, keys, kAt, headDim), capped) - block.lse[r]!);
  const dp = dot(dout, oAt, values, vAt, valueDim);
  for (let d = 0; d < valueDim; d++) dv[vAt + d]! += p * dout[oAt + d]!;
  const ds = p * (dp - block.delta[r]!);
  if (h.dbias) h.dbias[block.dbiasAt[r]! + j] = ds;
  const dl = dLogit(h, ds, capped.value);
  for (let d = 0; d < headDim; d++) {
    dq[qAt + d]! += dl * keys[kAt + d]!;
    dk[kAt + d]! += dl * q[qAt + d]!;
  }
}

/** Key j for all four rows (each sees it); row r's dl goes to `dl[r·stride + dlAt]` for the dq pass. */
function fourRows(h: HeadKeys, block: RowBlock, j: number, dl: Float64Array, dlAt: number, stride: number): void {
  const { headDim: D, valueDim: V, keys, values, dk, dv } = h;
  const { q, dout } = block;
  const kAt = j * D, vAt = j * V;
  // The four q·k_j: k_j loaded once.
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (let d = 0; d < D; d++) {
    const kv = keys[kAt + d]!;
    s0 += q[d]! * kv;
    s1 += q[D + d]! * kv;
    s2 += q[2 * D + d]! * kv;
    s3 += q[3 * D + d]! * kv;
  }
  const p0 = Math.exp(scoreOf(h, block, 0, j, s0, capped) - block.lse[0]!);
  const c0 = capped.value;
  const p1 = Math.exp(scoreOf(h, block, 1, j, s1, capped) - block.lse[1]!);
  const c1 = capped.value;
  const p2 = Math.exp(scoreOf(h, block, 2, j, s2, capped) - block.lse[2]!);
  const c2 = capped.value;
  const p3 = Math.exp(scoreOf(h, block, 3, j, s3, capped) - block.lse[3]!);
  const c3 = capped.value;
  // dP = dO·v_j for the four rows and dV_j += Σ p·dO: v_j and dV_j touched once.
  let t0 = 0, t1 = 0, t2 = 0, t3 = 0;
  for (let d = 0; d < V; d++) {
    const vv = values[vAt + d]!;
    const o0 = dout[d]!, o1 = dout[V + d]!, o2 = dout[2 * V + d]!, o3 = dout[3 * V + d]!;
    t0 += o0 * vv;
    t1 += o1 * vv;
    t2 += o2 * vv;
    t3 += o3 * vv;
    dv[vAt + d]! += p0 * o0 + p1 * o1 + (p2 * o2 + p3 * o3);
  }
  const ds0 = p0 * (t0 - block.delta[0]!), ds1 = p1 * (t1 - block.delta[1]!);
  const ds2 = p2 * (t2 - block.delta[2]!), ds3 = p3 * (t3 - block.delta[3]!);
  if (h.dbias) {
    h.dbias[block.dbiasAt[0]! + j] = ds0;
    h.dbias[block.dbiasAt[1]! + j] = ds1;
    h.dbias[block.dbiasAt[2]! + j] = ds2;
    h.dbias[block.dbiasAt[3]! + j] = ds3;
  }
  const l0 = dLogit(h, ds0, c0), l1 = dLogit(h, ds1, c1), l2 = dLogit(h, ds2, c2), l3 = dLogit(h, ds3, c3);
  dl[dlAt] = l0;
  dl[stride + dlAt] = l1;
  dl[2 * stride + dlAt] = l2;
  dl[3 * stride + dlAt] = l3;
  // dK_j += Σ dl·q: dK_j touched once.
  for (let d = 0; d < D; d++) dk[kAt + d]! += l0 * q[d]! + l1 * q[D + d]! + (l2 * q[2 * D + d]! + l3 * q[3 * D + d]!);
}

/**
 * FlashAttention-2's backward (./plan.ts) for a block of rows over the union of their keys:
 * p = exp(s − lse), dP = dO·v_j, dV_j += p·dO, dS = p·(dP − delta), dl = dS·scale·(softcap
 * factor), dq += dl·k_j, dK_j += dl·q. Adds into block.dq (zeroed by the caller), h.dk, h.dv.
 */
export function backwardBlock(h: HeadKeys, block: RowBlock, scratch: BlockScratch, seqLenK: number): void {
  let first = seqLenK, last = 0;
  for (let r = 0; r < block.count; r++) {
    if (block.start[r]! >= block.end[r]!) continue;
    first = Math.min(first, block.start[r]!);
    last = Math.max(last, block.end[r]!);
  }
  // Keys every row's range holds: [latest start, earliest end) of a full block.
  let lo = last, hi = last;
  if (block.count === BLOCK) {
    lo = Math.max(block.start[0]!, block.start[1]!, block.start[2]!, block.start[3]!);
    hi = Math.max(lo, Math.min(block.end[0]!, block.end[1]!, block.end[2]!, block.end[3]!));
  }
  const { fast, dl } = scratch;
  let fastCount = 0;
  for (let j = first; j < last; j++) {
    let all = j >= lo && j < hi;
    if (all && h.bias) for (let r = 0; r < BLOCK && all; r++) all = h.bias[block.biasAt[r]! + j] !== -Infinity;
    if (all) {
      fourRows(h, block, j, dl, fastCount, seqLenK);
      fast[fastCount++] = j;
    } else {
      for (let r = 0; r < block.count; r++) if (sees(h, block, r, j)) oneRow(h, block, r, j);
    }
  }
  if (fastCount === 0) return;
  // dq of the four-row keys: per element, a sum over the keys in registers.
  const { headDim: D, keys } = h;
  const dq = block.dq;
  for (let d = 0; d < D; d++) {
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
    for (let n = 0; n < fastCount; n++) {
      const kv = keys[fast[n]! * D + d]!;
      a0 += dl[n]! * kv;
      a1 += dl[seqLenK + n]! * kv;
      a2 += dl[2 * seqLenK + n]! * kv;
      a3 += dl[3 * seqLenK + n]! * kv;
    }
    dq[d]! += a0;
    dq[D + d]! += a1;
    dq[2 * D + d]! += a2;
    dq[3 * D + d]! += a3;
  }
}
