/**
 * Threads: `createAttention({ threads })` → a {@link ThreadedBackend} whose async calls are
 * split over a pool of workers sharing one WebAssembly.Memory (see backend.ts, pool.ts).
 *
 * Where threads cannot run (no SharedArrayBuffer, a browser page that is not
 * cross-origin isolated, no workers, the JS backend, a user-supplied module), the instance
 * runs on one thread and {@link warnOnce} says why, once per process.
 */
import type { BackendName } from '../plan.js';
import { createThreadedBackend, type ThreadedBackend, type ThreadsKernelExports } from './backend.js';
import { threadsModule } from './kernels.js';
import { createSharedMemory } from './memory.js';
import { ThreadPool } from './pool.js';
import { importBuiltin, workerKind, workerSpawner } from './spawn.js';
import { WORKER_SOURCE } from './worker-source.js';

export type { ThreadedBackend } from './backend.js';
/** Test and benchmark hook (re-exported so that a separately bundled threads module can be driven). */
export { setMinMacsPerThread } from './backend.js';
export { setMinKeysPerSplit } from './decode.js';

/** Upper bound of `threads: 'auto'`: beyond it the split gains little on these kernels and costs memory. */
export const AUTO_THREADS_MAX = 16;

const warned = new Set<string>();

/** Prints `message` once per process (console.warn), so a loop of instances does not spam. */
export function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  console.warn(message);
}

/** Why threads cannot run in this runtime, or null when they can. */
export function threadsUnavailableReason(): string | null {
  const g = globalThis as { crossOriginIsolated?: boolean; SharedArrayBuffer?: unknown; document?: unknown; WorkerGlobalScope?: unknown };
  const inBrowser = typeof g.document === 'object' || typeof g.WorkerGlobalScope === 'function';
  if (inBrowser && g.crossOriginIsolated === false) {
    return 'the page is not cross-origin isolated (crossOriginIsolated is false), so SharedArrayBuffer and shared WebAssembly memory are disabled; serve it with the headers "Cross-Origin-Opener-Policy: same-origin" and "Cross-Origin-Embedder-Policy: require-corp" (or "credentialless")';
  }
  if (typeof g.SharedArrayBuffer !== 'function') return 'this runtime has no SharedArrayBuffer';
  if (workerKind() === null) return 'this runtime has no workers (worker_threads or Worker)';
  return null;
}

/** Resolves `'auto'` to the number of logical cores (at most {@link AUTO_THREADS_MAX}). */
export async function autoThreadCount(): Promise<number> {
  let cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  if (!cores && workerKind() === 'node') {
    const os = await importBuiltin<{ availableParallelism?: () => number; cpus: () => unknown[] }>('node:os');
    cores = os.availableParallelism?.() ?? os.cpus().length;
  }
  return Math.max(1, Math.min(AUTO_THREADS_MAX, cores || 1));
}

/**
 * Starts a pool of `threads − 1` workers for backend `name` and returns the threaded
 * backend, or null (after a warning) when threads cannot run here.
 * @param name the single-thread backend that `createAttention` selected
 * @param threads total threads, the calling thread included (>= 2)
 * @param userModule true when the instance runs a user-supplied `options.module`
 */
export async function startThreads(name: BackendName, threads: number, userModule = false): Promise<ThreadedBackend | null> {
  const fallback = (why: string): null => {
    warnOnce(`wasm-attention: threads: ${threads} requested, running on one thread: ${why}.`);
    return null;
  };
  if (userModule) return fallback('a user-supplied options.module is a single-thread build');
  if (name === 'js') return fallback('the js backend is single-threaded');
  const unavailable = threadsUnavailableReason();
  if (unavailable) return fallback(unavailable);
  const module = threadsModule(name);
  if (!module) return fallback('this runtime cannot compile the threads build of the kernel (WebAssembly threads / shared memory)');

  const { memory, maximumBytes } = createSharedMemory();
  const kernel = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as ThreadsKernelExports;
  let spawner: Awaited<ReturnType<typeof workerSpawner>>;
  try {
    spawner = await workerSpawner(WORKER_SOURCE);
  } catch (error) {
    return fallback(String((error as Error).message ?? error));
  }
  const pool = new ThreadPool(threads - 1, spawner.spawn, { module, memory });
  const failures = await pool.ready();
  if (pool.workers === 0) {
    pool.dispose();
    spawner.release();
    return fallback(`no worker could start (${failures[0] ?? 'unknown reason'})`);
  }
  if (failures.length > 0) {
    warnOnce(`wasm-attention: threads: ${failures.length} of ${threads - 1} workers could not start (${failures[0]}); running on ${pool.workers + 1} threads.`);
  }
  // The blob: URL of web workers stays valid until dispose: a replacement worker needs it.
  return createThreadedBackend(name, kernel, memory, maximumBytes, pool, spawner.release);
}
