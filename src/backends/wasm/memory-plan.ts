/**
 * Byte layout of one call in the kernel's linear memory. Every region is 16-byte aligned
 * so the kernel can use aligned v128 loads on region bases.
 *
 *   heapBase → [params][causal offsets][key lengths][q][k][v][bias][out][weights][scratch]
 *
 * The same layout is recomputed per call (a few additions); the memory itself is grown only
 * when a call needs more bytes than any call before it, and is never shrunk or freed, so
 * repeated calls of one shape never grow it again.
 */
import { PARAM_BYTES } from './abi.js';
import type { AttentionPlan } from '../../plan.js';

const ALIGN = 16;
const align = (bytes: number) => Math.ceil(bytes / ALIGN) * ALIGN;

export interface CallLayout {
  readonly params: number;
  readonly causalOffsets: number;
  readonly keyLengths: number;
  readonly q: number;
  readonly k: number;
  readonly v: number;
  readonly bias: number;
  readonly out: number;
  readonly weights: number;
  readonly scratch: number;
  /** First byte after the call's inputs and outputs (scratch starts here). */
  readonly end: number;
}

/** Lays out a plan's regions from `base`; `bias`/`weights` are 0 when the plan has none. */
export function layoutCall(plan: AttentionPlan, base: number): CallLayout {
  let cursor = align(base);
  const take = (bytes: number) => {
    const at = cursor;
    cursor = align(cursor + bytes);
    return at;
  };
  const params = take(PARAM_BYTES);
  const causalOffsets = take(plan.batch * 4);
  const keyLengths = plan.keyLengths ? take(plan.batch * 4) : 0;
  const q = take(plan.q.length * 4);
  const k = take(plan.k.length * 4);
  const v = take(plan.v.length * 4);
  const bias = plan.bias ? take(plan.bias.length * 4) : 0;
  const out = take(plan.out.length * 4);
  const weights = plan.weights ? take(plan.weights.length * 4) : 0;
  return { params, causalOffsets, keyLengths, q, k, v, bias, out, weights, scratch: cursor, end: cursor };
}
