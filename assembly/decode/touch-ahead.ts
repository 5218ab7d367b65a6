// touch-ahead: one load per 64-byte line of a byte range, spread over the steps of a
// compute loop, for the int8 kernels (i8-qk-dot-1x4 touches the chunk's value rows while it
// scores the keys; i8-pv-dot-2x16 the next chunk's key rows while it sums the values).
// decode/rows.ts touchRows walks a chunk's rows in one flat loop before the kernel: its
// misses and the kernel's arithmetic then run one after the other (README "Results": the
// step is their sum); a few lines per step of the kernel's own loop keep those misses in
// flight while the arithmetic runs. The loads are independent of the kernel's; their OR
// goes to a sink word, so that no compiler drops them.

/**
 * Bytes per step, whole 64-byte lines, so that `steps` steps from the line of a range's
 * first byte cover its `bytes` (+ up to 63 before it, the rest of that line).
 */
// @ts-ignore: decorator
@inline export function touchSpan(bytes: usize, steps: i32): usize {
  const perStep = (bytes + 63 + <usize>steps - 1) / <usize>steps;
  return (perStep + 63) & ~<usize>63;
}

/** OR of one word per 64-byte line of [from & ~63, end) (nothing when from >= end). */
// @ts-ignore: decorator
@inline export function touchLines(from: usize, end: usize): u32 {
  let acc: u32 = 0;
  for (let at = from & ~<usize>63; at < end; at += 64) acc |= load<u32>(at);
  return acc;
}
