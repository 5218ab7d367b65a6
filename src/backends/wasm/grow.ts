/**
 * The one way every WASM memory of the library grows: in one step to hold `bytes` (a no-op
 * when it already does), and, when the runtime refuses (a tab near its memory limit, a
 * shared memory at its maximum), a RangeError in the library's "expected X, got Y" form
 * instead of the engine's own. A refused call leaves the instance usable: the next call
 * lays its region out again (test/memory-growth-refusal.test.ts).
 */
import { PAGE_BYTES } from '../../limits.js';

export function growTo(memory: WebAssembly.Memory, bytes: number, what: string): void {
  const current = memory.buffer.byteLength;
  if (bytes <= current) return;
  try {
    memory.grow(Math.ceil((bytes - current) / PAGE_BYTES));
  } catch (cause) {
    throw new RangeError(`${what}: expected a call whose ${bytes} bytes the runtime can allocate as WASM memory, got a refusal to grow to ${bytes} bytes (${String(cause)})`);
  }
}
