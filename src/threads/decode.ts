/**
 * Threaded attention over a KV cache (decode steps, chunked prefill): a `CachedPlan`
 * (src/cache/engine.ts) split over the pool. The cache is used unchanged, where it lives
 * in the shared memory: only the call's small inputs are copied, as in the single-thread
 * engine, whose layout (`layoutCachedCall`), parameter block and kernel choice this file
 * shares (src/backends/wasm/cache-engine.ts).
 *
 * The split, for the decode kernel: one unit is one row block (up to 16 query rows of one
 * KV head of one sequence, assembly/threads/decode-range.ts): Lq = 1 with Llama-2-7B's 32
 * KV heads is 32 units, and each thread streams the caches of its own heads, so the split
 * is bit-identical to one thread. When there are fewer row blocks than threads (MQA, GQA
 * with 1–2 KV heads at batch 1: Gemma-2B's 8 query heads share 1 KV head, one block), each
 * block's keys are also cut into KEY_SPLITS ranges (flash-decoding, {@link keySplitsFor}):
 * a unit is then a (row block, key range) pair that leaves its rows' partial softmax state
 * (max, sum, unnormalized output) in a partials region, and the host thread merges them by
 * log-sum-exp once every thread is done ({@link mergeKeySplits}, with mergeAttention's
 * function, src/merge.ts). That only reorders the
 * softmax sums: equal to one thread within a few ulps (test/threads-flash-decode.test.ts),
 * not bit-identical. Plans that the single-thread engine sends to the prefill kernel
 * (float32 with Lq > 4: usesDecodeKernel) are split like prefill (attentionRange, 8-query
 * blocks).
 */
import { writeParamBlock } from '../backends/wasm/params.js';
import { PARAM_BYTES } from '../backends/wasm/abi.js';
import {
  cachedPlacement, copyCachedInputs, copyCachedOutputs, DECODE_BLOCK_ROWS, kvDtypeOf, layoutCachedCall, usesDecodeKernel,
  type CachedLayout,
} from '../backends/wasm/cache-engine.js';
import type { CachedPlan } from '../cache/engine.js';
import { mergeRow } from '../merge-row.js';
import { keyRange } from '../key-range.js';
import { CMD } from './control.js';

const ALIGN = 16;
const align = (bytes: number) => Math.ceil(bytes / ALIGN) * ALIGN;

/** A cached plan laid out for `threads` threads: what to dispatch, and how to finish. */
export interface CachedCall {
  readonly threads: number;
  readonly cmd: number;
  readonly kvDtype: number;
  /** Key ranges per row block (decode kernel): > 1 means the host runs {@link mergeKeySplits} after every thread. */
  readonly keySplits: number;
  /** The call's layout, and the partial states' address (0 without a key split). */
  readonly layout: CachedLayout;
  readonly partialsPtr: number;
  /** Parameter block of each thread. */
  readonly params: number[];
  /** Copies the outputs back to the host (for outputs not pinned). */
  unmarshal(): void;
}

/**
 * Fewest keys per range of a key split (flash-decoding). A range costs a share of the
 * dispatch and wait (≈ 60 µs per 2-thread call here), a setup (the rows' queries packed,
 * states reset) and a merge of its state (together 2–3 µs for 2 ranges of H8 D128:
 * bench/flash-decode-split-cost.mjs); below this, one more range costs more than its share
 * of the keys saves. Measured (Node 20, 2 vCPUs,
 * relaxed build, MQA H8 KV1 D128 Lq1 float32, split forced, 1T vs 2T in fresh processes,
 * medians of 4–5 quiet rounds; bench/flash-decode-threshold.ts, src/threads/README.md):
 * 2 ranges of 128 keys 0.71×, of 256 keys 0.94×, of 512 keys 1.14×, of 1024 keys 1.48×,
 * of 4096 keys 1.62×. So 512: the first length that gains. Plans with fewer rows per block
 * (less work per key) are held back further by MIN_MACS_PER_THREAD (backend.ts).
 */
export const MIN_KEYS_PER_SPLIT = 512;

let minKeysPerSplit = MIN_KEYS_PER_SPLIT;

/** Test hook: key-splits plans of any length (0), or restores the default (undefined). */
export function setMinKeysPerSplit(keys: number | undefined): void {
  minKeysPerSplit = keys ?? MIN_KEYS_PER_SPLIT;
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/**
 * Key ranges per row block for a decode-kernel plan of `rowBlocks` units on `threads`
 * threads: 1 (no split) when every thread already has a block; else threads / gcd, so that
 * rowBlocks × ranges is a multiple of the threads (every thread runs as many equal ranges:
 * 3 blocks on 4 threads make 12 quarter-ranges, 3 each, not 6 halves dealt 2, 2, 1, 1), but
 * no more ranges than leave {@link MIN_KEYS_PER_SPLIT} keys each of the most any row sees.
 */
export function keySplitsFor(plan: CachedPlan, rowBlocks: number, threads: number): number {
  if (!usesDecodeKernel(plan) || rowBlocks === 0 || rowBlocks >= threads) return 1;
  // The most keys any row sees (the kernel's block end): the sequence length, or less for
  // causal rows (top-left alignment at decode sees a handful of keys of a long cache).
  // With a window, the most keys inside any row's range (the kernel splits only those).
  let keys = 0;
  for (let b = 0; b < plan.batch; b++) {
    const first = keyRange(plan, b, 0);
    const last = keyRange(plan, b, plan.seqLenQ - 1);
    keys = Math.max(keys, last.end - Math.min(first.start, last.end));
  }
  const wanted = threads / gcd(rowBlocks, threads);
  const affordable = minKeysPerSplit > 0 ? Math.floor(keys / minKeysPerSplit) : Infinity;
  return Math.max(1, Math.min(wanted, affordable));
}

/**
 * Units of the split: row blocks of the decode kernel, or 8-query blocks of the prefill
 * kernel; the kernel is the one the single-thread engine picks (usesDecodeKernel).
 */
export function cachedUnits(plan: CachedPlan): { decodeKernel: boolean; units: number } {
  const rowsPerKvHead = (plan.qHeads / plan.kvHeads) * plan.seqLenQ;
  const decodeKernel = usesDecodeKernel(plan);
  const units = decodeKernel
    ? plan.batch * plan.kvHeads * Math.ceil(rowsPerKvHead / DECODE_BLOCK_ROWS)
    : plan.batch * plan.qHeads * Math.ceil(plan.seqLenQ / 8);
  return { decodeKernel, units };
}

export interface HeapAccess {
  readonly memory: WebAssembly.Memory;
  scratchBytes(params: number, decodeKernel: boolean, kvDtype: number): number;
  /** Bytes of the key split's partials region for the plan at `params` (0 without a split). */
  partialsBytes(params: number): number;
  ensureCapacity(bytes: number, what: string): void;
  /** Reserves `bytes` for the call (a persistent block), returning its address and release. */
  reserve(bytes: number): { base: number; release(): void };
  top(): number;
}

/**
 * Lays out a cached plan for `threads` threads in a reserved region, writes every parameter
 * block and copies the inputs. With `keySplits` > 1 (decode kernel only) the region ends
 * with the partial states of the key split.
 */
export function marshalCached(heap: HeapAccess, plan: CachedPlan, threads: number, keySplits = 1): CachedCall & { release(): void } {
  const { decodeKernel } = cachedUnits(plan);
  const kvDtype = kvDtypeOf(plan);
  const splits = decodeKernel ? keySplits : 1;
  const write = (at: number, layout: CachedLayout, scratch: number, scratchBytes: number, partialsPtr: number) =>
    writeParamBlock(new Int32Array(heap.memory.buffer), new Float32Array(heap.memory.buffer), at, plan, cachedPlacement(plan, layout, scratch, scratchBytes, splits, partialsPtr));

  // Size the scratch and the partials from a parameter block written in the free memory at
  // the top, then reserve the region: the call's layout, parameter blocks 1..n−1, n scratch
  // regions, the partials.
  const probe = layoutCachedCall(plan, heap.top());
  heap.ensureCapacity(probe.params + PARAM_BYTES, 'decode');
  write(probe.params, probe, 0, 0, 0);
  const scratchBytes = heap.scratchBytes(probe.params, decodeKernel, kvDtype);
  const partialsBytes = decodeKernel ? heap.partialsBytes(probe.params) : 0;
  const paramsBytes = align(PARAM_BYTES);
  const scratch0 = align(probe.end) - probe.params + (threads - 1) * paramsBytes;
  const partials = align(scratch0 + threads * scratchBytes);
  const { base, release } = heap.reserve(partials + partialsBytes);
  const layout = layoutCachedCall(plan, base); // base is 16-byte aligned: the same offsets as probe's
  const params = [layout.params];
  for (let t = 1; t < threads; t++) params.push(layout.end + (t - 1) * paramsBytes);
  const partialsPtr = partialsBytes > 0 ? base + partials : 0;
  params.forEach((at, t) => write(at, layout, base + scratch0 + t * scratchBytes, scratchBytes, partialsPtr));
  copyCachedInputs(heap.memory.buffer, plan, layout);

  const unmarshal = () => copyCachedOutputs(heap.memory.buffer, plan, layout);
  return { threads, cmd: decodeKernel ? CMD.DECODE : CMD.ATTENTION, kvDtype, keySplits: partialsPtr ? keySplits : 1, layout, partialsPtr, params, unmarshal, release };
}

/** Bytes of a partial-state row's header: m, l (f32), the row's key limit and start (i32) (assembly/decode/partials.ts). */
const PARTIAL_HEADER_BYTES = 16;

/**
 * The last step of a key-split decode, once every thread is done: merges each row's partial
 * states (the records of assembly/decode/partials.ts: per (row block, range) unit, ROWS rows
 * of header m, l, limit and the unnormalised accumulator acc) with {@link mergeRow}, the
 * function of mergeAttention, into the output row (through the output strides, in the call's
 * memory); writes the row's (lse, 1) for the log-sum-exp, and normalizes the masked scores the
 * ranges left in its weights row, w_j = e^(w_j − lse) inside its key range [start, limit), 0
 * elsewhere (keys outside it may never have been visited).
 */
export function mergeKeySplits(buffer: ArrayBufferLike, plan: CachedPlan, call: Pick<CachedCall, 'layout' | 'partialsPtr' | 'keySplits'>): void {
  const { batch, qHeads, kvHeads, seqLenQ, seqLenK, valueDim, outStrides } = plan;
  const { layout, partialsPtr, keySplits: splits } = call;
  const f32 = new Float32Array(buffer);
  const i32 = new Int32Array(buffer);
  const group = qHeads / kvHeads;
  const rowsPerKvHead = group * seqLenQ;
  const rowWords = PARTIAL_HEADER_BYTES / 4 + Math.ceil(valueDim / 4) * 4;
  const recordWords = DECODE_BLOCK_ROWS * rowWords;
  const m = new Float64Array(splits);
  const l = new Float64Array(splits);
  const acc = new Float64Array(splits * valueDim);
  let record = partialsPtr >>> 2; // of the row block's first range
  for (let b = 0; b < batch; b++) {
    for (let kvHead = 0; kvHead < kvHeads; kvHead++) {
      for (let r = 0; r < rowsPerKvHead; r += DECODE_BLOCK_ROWS, record += splits * recordWords) {
        for (let t = 0; t < Math.min(DECODE_BLOCK_ROWS, rowsPerKvHead - r); t++) {
          const h = kvHead * group + Math.floor((r + t) / seqLenQ);
          const i = (r + t) % seqLenQ;
          for (let c = 0; c < splits; c++) {
            const at = record + c * recordWords + t * rowWords;
            m[c] = f32[at]!;
            l[c] = f32[at + 1]!;
            acc.set(f32.subarray(at + 4, at + 4 + valueDim), c * valueDim);
          }
          const out = (layout.out >>> 2) + b * outStrides.batch + h * outStrides.head + i * outStrides.seq;
          const lse = mergeRow(splits, valueDim, m, l, acc, f32, out);
          const row = (b * qHeads + h) * seqLenQ + i;
          if (layout.lse) f32.set([lse, 1], (layout.lse >>> 2) + 2 * row);
          if (!layout.weights) continue;
          const limit = i32[record + t * rowWords + 2]!;
          const start = i32[record + t * rowWords + 3]!;
          const w = (layout.weights >>> 2) + row * seqLenK;
          for (let j = 0; j < seqLenK; j++) f32[w + j] = j >= start && j < limit && lse !== -Infinity ? Math.exp(f32[w + j]! - lse) : 0;
        }
      }
    }
  }
}
