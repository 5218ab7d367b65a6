/**
 * Byte layout of one call in the kernel's linear memory. Every region is 16-byte aligned
 * so the kernel can use aligned v128 loads on region bases.
 *
 *   heapBase → [params][position offsets][key lengths][q][k][v][bias][out][weights][slopes][lse][rotary angles][scratch]
 *
 * The same layout is recomputed per call (a few additions); the memory itself is grown only
 * when a call needs more bytes than any call before it, and is never shrunk or freed, so
 * repeated calls of one shape never grow it again.
 *
 * q, k, v and out given as PinnedTensors of this memory take no region: the kernel reads
 * and writes them where they are (the copies they save were ≈ 11 points of the 13–15%
 * per-call overhead on H12 N128 D64: bench/overhead-case.ts).
 */
import { PARAM_BYTES } from './abi.js';
import { pinnedAddress } from './cache-engine.js';
import type { AttentionPlan } from '../../plan.js';

const ALIGN = 16;
const align = (bytes: number) => Math.ceil(bytes / ALIGN) * ALIGN;

export interface CallLayout {
  readonly params: number;
  readonly positionOffsets: number;
  readonly keyLengths: number;
  readonly q: number;
  readonly k: number;
  readonly v: number;
  readonly bias: number;
  readonly out: number;
  readonly weights: number;
  /** ALiBi slopes, and the rows' (m, l) pairs for the log-sum-exp; 0 when the plan has none. */
  readonly alibiSlopes: number;
  readonly lse: number;
  readonly scratch: number;
  /** First byte after the call's inputs and outputs (scratch starts here). */
  readonly end: number;
  /** Which of q, k, v, out are pinned in this memory (used in place, not copied). */
  readonly inPlace: { readonly q: boolean; readonly k: boolean; readonly v: boolean; readonly out: boolean };
  /** f64 cos/sin tables of q's and k's rows when the plan has `rotary` (src/backends/wasm/rotary.ts). */
  readonly rotary: { readonly qCos: number; readonly qSin: number; readonly kCos: number; readonly kSin: number } | null;
}

/**
 * Whether the output may be written over q's copy: the fused kernel packs a block's 8 query
 * rows into its scratch before it writes those rows' outputs, and no block reads another's
 * rows, so out can take q's region when both are copies (neither pinned) of one size. q's
 * and out's strides come from one layout kind (src/layout.ts), so equal sizes mean equal
 * strides. Not on the weights path (its rows are another loop) nor in the thread pool, whose
 * key-split units share query rows. Saves one tensor of fresh WASM pages on a first call:
 * 96 of ≈ 1,100 page faults of the start-up on H12 N128 (scripts/runtimes/startup.mjs).
 */
function outOverQ(plan: AttentionPlan, pinned: NonNullable<AttentionPlan['pinned']>): boolean {
  return !pinned.q && !pinned.out && !plan.weights && plan.headDim === plan.valueDim;
}

/**
 * Lays out a plan's regions from `base` in `memory`; `bias`/`weights` are 0 when the plan
 * has none. `reuseQ`: the output may take q's copy (single-thread fused path, see outOverQ).
 */
export function layoutCall(plan: AttentionPlan, base: number, memory: WebAssembly.Memory, reuseQ = false): CallLayout {
  let cursor = align(base);
  const take = (bytes: number) => {
    const at = cursor;
    cursor = align(cursor + bytes);
    return at;
  };
  const params = take(PARAM_BYTES);
  const positionOffsets = take(plan.batch * 4);
  const keyLengths = plan.keyLengths ? take(plan.batch * 4) : 0;
  const pinned = plan.pinned ?? {};
  // With rotary the kernel rotates copies of q and k: pinned or not, never in place.
  const inPlaceQ = plan.rotary ? 0 : pinnedAddress(pinned.q, memory);
  const inPlaceK = plan.rotary ? 0 : pinnedAddress(pinned.k, memory);
  const inPlaceV = pinnedAddress(pinned.v, memory);
  const inPlaceOut = pinnedAddress(pinned.out, memory);
  const q = inPlaceQ || take(plan.q.length * 4);
  const k = inPlaceK || take(plan.k.length * 4);
  const v = inPlaceV || take(plan.v.length * 4);
  const bias = plan.bias ? take(plan.bias.length * 4) : 0;
  const out = inPlaceOut || (reuseQ && outOverQ(plan, pinned) ? q : take(plan.out.length * 4));
  const weights = plan.weights ? take(plan.weights.length * 4) : 0;
  const alibiSlopes = plan.alibiSlopes ? take(plan.alibiSlopes.length * 4) : 0;
  const lse = plan.lse ? take(plan.lse.length * 8) : 0;
  const inPlace = { q: inPlaceQ !== 0, k: inPlaceK !== 0, v: inPlaceV !== 0, out: inPlaceOut !== 0 };
  const r = plan.rotary;
  const rotary = r ? { qCos: take(r.q.cos.length * 8), qSin: take(r.q.sin.length * 8), kCos: take(r.k.cos.length * 8), kSin: take(r.k.sin.length * 8) } : null;
  return { params, positionOffsets, keyLengths, q, k, v, bias, out, weights, alibiSlopes, lse, rotary, scratch: cursor, end: cursor, inPlace };
}

/**
 * Copies a laid-out plan's inputs into memory (all but the tensors used in place). Byte
 * addresses go up to 2^32 − 64 KiB (src/limits.ts): they become element indices with an
 * unsigned `>>> 2`, never `>> 2`, which makes an address >= 2^31 negative (a negative
 * `set` offset throws, a negative `subarray` start counts from the end: wrong data).
 */
export function copyInputs(i32: Int32Array, f32: Float32Array, plan: AttentionPlan, layout: CallLayout): void {
  i32.set(plan.positionOffsets, layout.positionOffsets >>> 2);
  if (plan.keyLengths) i32.set(plan.keyLengths, layout.keyLengths >>> 2);
  // A pinned tensor of another memory is re-read through view(): its memory may have grown
  // since the plan was made (queued async calls), detaching the plan's view.
  if (!layout.inPlace.q) f32.set(plan.pinned?.q?.view() ?? plan.q, layout.q >>> 2);
  if (!layout.inPlace.k) f32.set(plan.pinned?.k?.view() ?? plan.k, layout.k >>> 2);
  if (!layout.inPlace.v) f32.set(plan.pinned?.v?.view() ?? plan.v, layout.v >>> 2);
  if (plan.bias) f32.set(plan.bias, layout.bias >>> 2);
  if (plan.alibiSlopes) f32.set(plan.alibiSlopes, layout.alibiSlopes >>> 2);
}

/**
 * lse[r] = m + ln(l) from the (m, l) pairs the kernels leave per row at byte address `at`
 * (LSE_PTR: the softmax's max, in natural units, and its sum): the logarithm is taken here,
 * once per row in float64, rather than in each kernel. No allowed key: m = −∞, l = 0 → −∞.
 */
export function lseFromStates(f32: Float32Array, at: number, lse: Float32Array): void {
  const p = at >>> 2;
  for (let r = 0; r < lse.length; r++) lse[r] = f32[p + 2 * r]! + Math.log(f32[p + 2 * r + 1]!);
}

/** Copies a run plan's outputs out of memory (all but an output written in place). */
export function copyOutputs(f32: Float32Array, plan: AttentionPlan, layout: CallLayout): void {
  if (!layout.inPlace.out) {
    const out = plan.pinned?.out?.view() ?? plan.out;
    out.set(f32.subarray(layout.out >>> 2, (layout.out >>> 2) + out.length));
  }
  if (plan.weights) plan.weights.set(f32.subarray(layout.weights >>> 2, (layout.weights >>> 2) + plan.weights.length));
  if (plan.lse) lseFromStates(f32, layout.lse, plan.lse);
}
