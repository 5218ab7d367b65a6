// The key-range rule (issue #12), the AssemblyScript twin of src/key-range.ts: which keys
// [start, end) query row i of batch item b may see before the mask, used by every kernel
// path (fused prefill blocks, weights rows, decode rows and their key splits).
//
//   off   = POSITION_OFFSETS[b] (query i sits at key position i + off)
//   end   = min(keyEnd, right >= 0 ? max(0, i + off + right + 1) : seqLenK)
//   start = left >= 0 ? min(max(0, i + off − left), end) : 0
//
// keyEnd = min(keyLengths[b], seqLenK); WINDOW_LEFT/WINDOW_RIGHT of -1 are unbounded (the
// host's Infinity), and causal is WINDOW_RIGHT = min(right, 0). The sums are taken in i64:
// offsets and bounds are any i32 (the kernel harness tests ±2^31), so i + off + right + 1
// could wrap in i32. Both bounds grow with i: a block of consecutive rows sees keys
// [start(first row), end(last row)), and every one of its rows sees [start(last), end(first)).
import { paramI32, WINDOW_LEFT, WINDOW_RIGHT, POSITION_OFFSETS_PTR, ALIBI_SLOPES_PTR } from './abi';

/** The plan's left window bound: -1 = unbounded. */
// @ts-ignore: decorator
@inline export function windowLeft(params: usize): i32 {
  return paramI32(params, WINDOW_LEFT);
}

/** The plan's right window bound (0 for causal): -1 = unbounded. */
// @ts-ignore: decorator
@inline export function windowRight(params: usize): i32 {
  return paramI32(params, WINDOW_RIGHT);
}

/** Position offset of batch item b; read only when a bound is finite or ALiBi needs distances. */
// @ts-ignore: decorator
@inline export function positionOffset(params: usize, b: i32): i32 {
  if (windowLeft(params) < 0 && windowRight(params) < 0 && paramI32(params, ALIBI_SLOPES_PTR) == 0) return 0;
  return load<i32>(<usize>paramI32(params, POSITION_OFFSETS_PTR) + (<usize>b << 2));
}

/** End (exclusive) of row i's keys: min(keyEnd, max(0, i + offset + right + 1)), keyEnd when right < 0. */
// @ts-ignore: decorator
@inline export function keyRangeEnd(i: i32, offset: i32, right: i32, keyEnd: i32): i32 {
  if (right < 0) return keyEnd;
  const end = <i64>i + <i64>offset + <i64>right + 1;
  return <i32>min<i64>(<i64>keyEnd, max<i64>(end, 0));
}

/** Start of row i's keys: min(max(0, i + offset − left), end), 0 when left < 0. */
// @ts-ignore: decorator
@inline export function keyRangeStart(i: i32, offset: i32, left: i32, end: i32): i32 {
  if (left < 0) return 0;
  const start = <i64>i + <i64>offset - <i64>left;
  return <i32>min<i64>(max<i64>(start, 0), <i64>end);
}
