/**
 * The key-range rule (issue #12): which keys query row i of batch item b may see, before
 * the mask. One implementation in TypeScript (this file: the JS backend, the host's thread
 * splitter, the float64 test reference) and one in AssemblyScript (assembly/key-range.ts:
 * every kernel path); both follow this text.
 *
 *   off   = positionOffsets[b]: query i sits at key position i + off (0 for causal
 *           'top-left', else bottom-right: keyLength_b − seqLenQ)
 *   end   = min(keyLength_b, right finite ? max(0, i + off + right + 1) : seqLenK)
 *   start = left finite ? min(max(0, i + off − left), end) : 0
 *
 * with window = [left, right] (FlashAttention's `window_size`: keys j with
 * i + off − left ≤ j ≤ i + off + right), causal folded in as right = min(right, 0), and
 * keyLength_b = keyLengths ? keyLengths[b] : seqLenK. An empty range (start = end) is a
 * row with no key: its output is 0. Both bounds grow with i, so the range of a block of
 * consecutive rows is [start of its first row, end of its last row).
 */

/** Keys a query may see around its own position; `Infinity` = unbounded on that side. */
export interface KeyWindow {
  /** Keys up to `left` positions before the query's position. */
  readonly left: number;
  /** Keys up to `right` positions after it (0 for causal). */
  readonly right: number;
}

/** No window: every key up to the key length. */
export const NO_WINDOW: KeyWindow = { left: Infinity, right: Infinity };

/** What the rule reads from a plan. */
export interface KeyRangePlan {
  readonly seqLenK: number;
  readonly keyLengths: Int32Array | null;
  readonly positionOffsets: Int32Array;
  readonly window: KeyWindow;
}

/** `[start, end)` of one row (a reused object is fine: read both before the next call). */
export interface KeyRange {
  start: number;
  end: number;
}

/**
 * The keys `[start, end)` that query row `i` of batch item `b` may see, before the mask.
 * @param into written and returned (no allocation in per-row loops)
 */
export function keyRange(plan: KeyRangePlan, b: number, i: number, into: KeyRange = { start: 0, end: 0 }): KeyRange {
  const { left, right } = plan.window;
  const off = plan.positionOffsets[b]!;
  const keyLength = plan.keyLengths ? plan.keyLengths[b]! : plan.seqLenK;
  const end = Math.min(keyLength, right === Infinity ? plan.seqLenK : Math.max(0, i + off + right + 1));
  into.end = end;
  into.start = left === Infinity ? 0 : Math.min(Math.max(0, i + off - left), end);
  return into;
}

/**
 * Position offsets of a call: 0 for causal 'top-left', else bottom-right alignment,
 * (keyLengths ? keyLengths[b] : seqLenK) − seqLenQ, also when not causal.
 */
export function positionOffsetsFor(batch: number, seqLenQ: number, seqLenK: number, keyLengths: ArrayLike<number> | null, topLeft: boolean): Int32Array {
  const offsets = new Int32Array(batch);
  if (!topLeft) for (let b = 0; b < batch; b++) offsets[b] = (keyLengths ? keyLengths[b]! : seqLenK) - seqLenQ;
  return offsets;
}

/** The plan's window: the caller's (or none), with causal folded in as right = min(right, 0). */
export function planWindow(window: KeyWindow | undefined, causal: boolean): KeyWindow {
  const { left, right } = window ?? NO_WINDOW;
  return { left, right: causal ? Math.min(right, 0) : right };
}
