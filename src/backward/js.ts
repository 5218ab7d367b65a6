/**
 * The backward pass in plain JavaScript (the semantics of ./plan.ts): the fallback backend
 * and the readable statement the WASM kernels (assembly/backward/) are tested against.
 * Float64 arithmetic on float32 data, every sum accumulated in float64 and each gradient
 * rounded to f32 once.
 *
 * For speed, per (batch item, KV head): its K and V rows are copied once into contiguous
 * float64 buffers with their dK, dV accumulators, shared by the group's query heads (GQA);
 * query rows go in blocks of four over the union of their key ranges (src/key-range.ts),
 * masked keys skipped, in the key loops of ./js-keys.ts. Measured against the previous
 * version (one row at a time on the strided f32 arrays, f32 accumulators), same process,
 * B1 H8 N256 D64: 1.85–2.2× dense, 1.56× causal (load 9–18); bench/backward-js.ts: 5.5×
 * tfjs-cpu `tf.grads` (was 2.45×).
 */
import { keyRange, type KeyRange } from '../key-range.js';
import type { HeadStrides } from '../plan.js';
import { backwardBlock, BLOCK, rowScore, type BlockScratch, type HeadKeys, type RowBlock } from './js-keys.js';
import type { BackwardBackend, BackwardPlan } from './plan.js';

/** Copies `rows` strided f32 rows of `dim` from `src[at…]` into contiguous `dst[to…]`. */
function gather(dst: Float64Array, to: number, src: Float32Array, at: number, rowStride: number, rows: number, dim: number): void {
  for (let r = 0; r < rows; r++) {
    const from = at + r * rowStride;
    const into = to + r * dim;
    for (let d = 0; d < dim; d++) dst[into + d] = src[from + d]!;
  }
}

/** Writes contiguous `src[from…]` rows into strided f32 `dst[at…]` (one rounding each). */
function scatter(dst: Float32Array, at: number, rowStride: number, src: Float64Array, from: number, rows: number, dim: number): void {
  for (let r = 0; r < rows; r++) {
    const to = at + r * rowStride;
    const at64 = from + r * dim;
    for (let d = 0; d < dim; d++) dst[to + d] = src[at64 + d]!;
  }
}

/** Offset of head (b, h) in a tensor of `strides`. */
const headAt = (strides: HeadStrides, b: number, h: number) => b * strides.batch + h * strides.head;

/** Each query head's KV head: heads share theirs in groups of qHeads / kvHeads. */
const kvHeadOf = (plan: BackwardPlan, h: number) => Math.floor(h / (plan.qHeads / plan.kvHeads));

/** A call's buffers: one KV head's K, V, dK, dV, one block of rows, the block's scratch. */
function buffers(plan: BackwardPlan): { head: HeadKeys; block: RowBlock; scratch: BlockScratch } {
  const { headDim, valueDim, seqLenK } = plan;
  const head: HeadKeys = {
    headDim, valueDim, scale: plan.scale, softcap: plan.softcap, bias: plan.bias, slope: 0, dbias: plan.dbias,
    keys: new Float64Array(seqLenK * headDim), values: new Float64Array(seqLenK * valueDim),
    dk: new Float64Array(seqLenK * headDim), dv: new Float64Array(seqLenK * valueDim),
  };
  const block: RowBlock = {
    count: 0,
    q: new Float64Array(BLOCK * headDim), dout: new Float64Array(BLOCK * valueDim), dq: new Float64Array(BLOCK * headDim),
    start: new Int32Array(BLOCK), end: new Int32Array(BLOCK), lse: new Float64Array(BLOCK), delta: new Float64Array(BLOCK),
    biasAt: new Float64Array(BLOCK), position: new Float64Array(BLOCK), dbiasAt: new Float64Array(BLOCK),
  };
  return { head, block, scratch: { fast: new Int32Array(seqLenK), dl: new Float64Array(BLOCK * seqLenK) } };
}

const range: KeyRange = { start: 0, end: 0 };

/** Row i of head (b, h) into slot r of the block: its q row, key range, bias row and position. */
function loadRow(plan: BackwardPlan, block: RowBlock, r: number, b: number, h: number, i: number): void {
  const { qStrides: qs, biasStrides: bs, headDim } = plan;
  gather(block.q, r * headDim, plan.q, headAt(qs, b, h) + i * qs.seq, 0, 1, headDim);
  keyRange(plan, b, i, range);
  block.start[r] = range.start;
  block.end[r] = range.end;
  block.biasAt[r] = b * bs.batch + h * bs.head + i * bs.query;
  block.position[r] = i + plan.positionOffsets[b]!;
  block.dbiasAt[r] = ((b * plan.qHeads + h) * plan.seqLenQ + i) * plan.seqLenK;
}

function lse(plan: BackwardPlan): void {
  const { headDim, seqLenQ, seqLenK, kStrides: ks } = plan;
  const { head, block } = buffers(plan);
  const biased = new Float64Array(seqLenK); // a row's scores: one dot per key, read twice
  for (let b = 0; b < plan.batch; b++) {
    for (let h = 0; h < plan.qHeads; h++) {
      gather(head.keys, 0, plan.k, headAt(ks, b, kvHeadOf(plan, h)), ks.seq, seqLenK, headDim);
      head.slope = plan.alibiSlopes ? plan.alibiSlopes[h]! : 0;
      for (let i = 0; i < seqLenQ; i++) {
        loadRow(plan, block, 0, b, h, i);
        const start = block.start[0]!, end = block.end[0]!;
        let max = -Infinity;
        for (let j = start; j < end; j++) max = Math.max(max, (biased[j] = rowScore(head, block, 0, j)));
        let sum = 0;
        if (max !== -Infinity) for (let j = start; j < end; j++) sum += Math.exp(biased[j]! - max);
        plan.lse[(b * plan.qHeads + h) * seqLenQ + i] = max === -Infinity ? -Infinity : max + Math.log(sum);
      }
    }
  }
}

function run(plan: BackwardPlan): void {
  const { headDim, valueDim, seqLenQ, seqLenK, qStrides: qs, kStrides: ks, vStrides: vs, outStrides: os } = plan;
  const group = plan.qHeads / plan.kvHeads;
  const { head, block, scratch } = buffers(plan);
  for (let b = 0; b < plan.batch; b++) {
    for (let kvHead = 0; kvHead < plan.kvHeads; kvHead++) {
      gather(head.keys, 0, plan.k, headAt(ks, b, kvHead), ks.seq, seqLenK, headDim);
      gather(head.values, 0, plan.v, headAt(vs, b, kvHead), vs.seq, seqLenK, valueDim);
      head.dk.fill(0);
      head.dv.fill(0);
      for (let h = kvHead * group; h < (kvHead + 1) * group; h++) {
        head.slope = plan.alibiSlopes ? plan.alibiSlopes[h]! : 0;
        for (let i0 = 0; i0 < seqLenQ; i0 += BLOCK) {
          block.count = Math.min(BLOCK, seqLenQ - i0);
          for (let r = 0; r < block.count; r++) {
            const i = i0 + r;
            loadRow(plan, block, r, b, h, i);
            const rowLse = plan.lse[(b * plan.qHeads + h) * seqLenQ + i]!;
            if (rowLse === -Infinity) block.end[r] = block.start[r]!; // no allowed key: no gradient
            block.lse[r] = rowLse;
            const oAt = headAt(os, b, h) + i * os.seq;
            gather(block.dout, r * valueDim, plan.dout, oAt, 0, 1, valueDim);
            let delta = 0;
            for (let d = 0; d < valueDim; d++) delta += block.dout[r * valueDim + d]! * plan.out[oAt + d]!;
            block.delta[r] = delta;
          }
          block.dq.fill(0);
          backwardBlock(head, block, scratch, seqLenK);
          for (let r = 0; r < block.count; r++) scatter(plan.dq, headAt(qs, b, h) + (i0 + r) * qs.seq, 0, block.dq, r * headDim, 1, headDim);
        }
      }
      scatter(plan.dk, headAt(ks, b, kvHead), ks.seq, head.dk, 0, seqLenK, headDim);
      scatter(plan.dv, headAt(vs, b, kvHead), vs.seq, head.dv, 0, seqLenK, valueDim);
    }
  }
}

/** The JavaScript backward backend. */
export const jsBackward: BackwardBackend = { name: 'js', lse, run };
