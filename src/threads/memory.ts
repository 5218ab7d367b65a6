/**
 * The shared WebAssembly.Memory of a threaded engine: the forward's (./index.ts) and the
 * backward's (src/backward/threads.ts) each reserve one. Apart from ./index.ts so that the
 * backward entry can use it without bundling the forward's threads builds.
 */

/**
 * Maximum sizes tried for the shared memory, largest first: 4 GiB (all a wasm32 memory can
 * address) where the runtime reserves it (64-bit Node, Deno, Bun, desktop browsers), else
 * 1 GiB, else 256 MiB (32-bit and mobile browsers refuse large reservations). A shared
 * memory cannot move when it grows, so its maximum is reserved up front as address space
 * (not as RAM); the choice bounds the largest call of a threaded instance.
 */
const MAXIMUM_PAGES = [65536, 16384, 4096];

/**
 * A new shared memory of one page and the largest maximum the runtime accepts.
 * @throws Error when the runtime reserves none of them
 */
export function createSharedMemory(): { memory: WebAssembly.Memory; maximumBytes: number } {
  let lastError: unknown;
  for (const maximum of MAXIMUM_PAGES) {
    try {
      return { memory: new WebAssembly.Memory({ initial: 1, maximum, shared: true }), maximumBytes: maximum * 65536 };
    } catch (error) {
      lastError = error;
    }
  }
  throw new Error(`threads: could not reserve a shared WebAssembly.Memory (${String(lastError)})`);
}
