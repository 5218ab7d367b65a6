/**
 * The one size limit of the library, the same on every backend (WASM, threads, JS): no
 * tensor, output, weights, KV cache, PinnedTensor or call holds more than
 * {@link MAX_BYTES} bytes. Checked at the boundary from shapes alone, before anything is
 * allocated, by {@link checkBytes}; the JS backend could hold more, but then a call would
 * run on one backend and throw on another.
 *
 * Why 2^32 − 64 KiB and not 2^32: a wasm32 memory has at most 65,536 pages of 64 KiB, and
 * the WASM backends use at most 65,535 of them. With the last page never handed out, every
 * region's one-past-the-end address (the `end` of the kernels' `p < end` loops, in u32)
 * is below 2^32: a region ending at exactly 2^32 would make `end` wrap to 0 and the loop
 * silently do nothing.
 *
 * On the WASM backends an instance's caches, PinnedTensors and each call's own region
 * (parameters, copies of q/k/v/mask, output, weights, scratch) share one linear memory, so
 * their sum must fit too: a call or allocation past it throws a RangeError naming the call
 * (`ensureCapacity` in src/backends/wasm/backend.ts and src/threads/backend.ts).
 */
import { rangeError } from './errors.js';

/** Bytes of one WebAssembly page. */
export const PAGE_BYTES = 65536;

/** The largest size, in bytes, of anything the library holds, and of a WASM instance's memory. */
export const MAX_BYTES = 2 ** 32 - PAGE_BYTES;

/**
 * Throws `RangeError("NAME: expected WHAT of at most MAX_BYTES bytes, got N bytes (DETAIL)")`
 * when `bytes` is over {@link MAX_BYTES}.
 * @param name the argument or option named in the message
 * @param what what is measured ("a cache", "weights", ...)
 * @param detail the sizes that make up `bytes` (shapes), for the message
 */
export function checkBytes(name: string, what: string, bytes: number, detail: string): void {
  if (bytes > MAX_BYTES) throw limitError(name, what, bytes, detail);
}

/**
 * The RangeError of {@link checkBytes}, for per-call paths that test `bytes > MAX_BYTES`
 * themselves so that no message string is built for a call within the limit.
 */
export function limitError(name: string, what: string, bytes: number, detail: string): RangeError {
  return rangeError(name, `${what} of at most ${MAX_BYTES} bytes`, `${bytes} bytes (${detail})`);
}
