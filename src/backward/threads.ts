/**
 * `attentionBackwardAsync` on an instance with threads (issue #13): the backward's threads
 * build (assembly/backward-threads.ts: the single-thread build's unit code on an imported
 * shared memory) instantiated by the host thread and by each worker of a pool of its own.
 *
 * Why a second pool and memory, not the forward's (src/threads/): the forward's workers run
 * the forward's threads build on the forward's memory, and its data segments and heap sit
 * where the backward build's would. The backward entry keeps its own: `threads − 1` more
 * workers, started on the first async backward call of the instance, idle (unref'ed, parked
 * in Atomics.wait) between calls, ended by the instance's `dispose()`.
 *
 * Work units: (batch item, KV head), the units of the single-thread kernel
 * (assembly/backward/unit.ts). A unit computes dQ of its query heads and dK/dV of its KV
 * head summed over the group, so units write disjoint outputs (no float atomics), and each
 * unit runs the same code on the same inputs whichever thread takes it: the gradients are
 * bit-identical to one thread's at every thread count. Thread t of n runs units t, t + n, …
 *
 * Not split: a call with a single unit (MQA at batch 1, or one head) runs on one thread.
 * Splitting it (FlashAttention-2: a dK/dV pass over key blocks and a separate dQ pass over
 * query blocks) needs a dQ-only kernel that recomputes P a second time; not built yet.
 *
 * A call's memory, laid out above the kept regions (one call at a time: calls queue):
 *
 *   heapBase → [kept: the layers' packed weights][params 0][inputs, gradients (./wasm.ts layoutBackward)][params 1..n−1][scratch 0..n−1]
 *
 * Kept regions (`keep`/`release`) hold what outlives a call: the packed weights of the
 * multi-head attention layers of the instance (src/layer/threads.ts), packed once into this
 * shared memory so that the workers read them in place.
 *
 * Parameter block t differs from block 0 only in SCRATCH_PTR; each scratch region holds its
 * thread's Call struct too (assembly/backward/layout.ts), so no thread writes another's bytes.
 */
import { rangeError } from '../errors.js';
import { MAX_BYTES } from '../limits.js';
import { growTo } from '../backends/wasm/grow.js';
import { CMD } from '../threads/control.js';
import { createSharedMemory } from '../threads/memory.js';
import { ThreadPool, type PoolJob } from '../threads/pool.js';
import { workerSpawner } from '../threads/spawn.js';
import { WORKER_SOURCE } from '../threads/worker-source.js';
import { BACKWARD_PARAM_BYTES } from './abi-params.js';
import { backwardThreadsModule } from './modules.js';
import type { BackwardPlan } from './plan.js';
import { copyBackwardInputs, copyBackwardOutputs, layoutBackward, writeBackwardParams } from './wasm.js';

/** Exports of the backward threads builds (`build/attention-backward-threads-*.wasm`). */
export interface BackwardThreadsExports {
  heapBase(): number;
  kernelIsa(): number;
  backwardScratchBytes(params: number): number;
  /** Units first, first + stride, …; the gradients must be zero on entry. */
  backwardRange(params: number, first: number, stride: number): number;
  lseRange(params: number, first: number, stride: number): number;
  /** The layer's GEMM records at `params`, thread `first` of `stride` (assembly/backward-threads.ts). */
  gemmRange(params: number, first: number, stride: number): number;
}

/**
 * Smallest backward work worth one more thread, in multiply-adds: the forward's threshold
 * (src/threads/backend.ts MIN_MACS_PER_THREAD, measured there: ≈ 50 µs of work per thread
 * pays for the hand-off).
 */
export const MIN_MACS_PER_THREAD = 1 << 20;

let minMacsPerThread = MIN_MACS_PER_THREAD;

/** Test hook: splits calls of any size (0), or restores the default (undefined). */
export function setBackwardMinMacsPerThread(macs: number | undefined): void {
  minMacsPerThread = macs ?? MIN_MACS_PER_THREAD;
}

/** Units of a plan: (batch item, KV head). */
export const backwardUnits = (plan: BackwardPlan) => plan.batch * plan.kvHeads;

/**
 * Threads worth using for `plan`: at most one per unit, and one per MIN_MACS_PER_THREAD of
 * the backward's multiply-adds (per allowed score: S = Q·Kᵀ and dQ, dK over headDim; dP and
 * dV over valueDim).
 */
export function backwardThreadsFor(plan: BackwardPlan, available: number): number {
  const keysPerQuery = Math.min(plan.seqLenK, plan.window.left + plan.window.right + 1);
  const macs = plan.batch * plan.qHeads * plan.seqLenQ * keysPerQuery * (3 * plan.headDim + 2 * plan.valueDim);
  const worth = minMacsPerThread > 0 ? Math.floor(macs / minMacsPerThread) : Infinity;
  return Math.max(1, Math.min(available, backwardUnits(plan), worth));
}

/** The threaded backward of one instance. */
export interface ThreadedBackward {
  /** Threads a call may use: the host thread plus the live workers. */
  readonly threads: number;
  /** Threads the last call ran on (tests, benchmarks). */
  readonly lastThreads: number;
  /** Computes `plan.lse` first when `needsLse`, then the gradients, split over the pool. */
  run(plan: BackwardPlan, needsLse: boolean): Promise<void>;
  /** Bytes of the shared memory. */
  memoryBytes(): number;
  /** The shared memory (views of it go stale when it grows: compare byteLength). */
  readonly memory: WebAssembly.Memory;
  /** First byte a call may use: above every kept region. */
  readonly scratchBase: number;
  /** Grows the memory to `bytes` (RangeError past its maximum, naming `caller`). */
  ensure(bytes: number, caller: string): void;
  /** Reserves `bytes` that outlive calls (run inside a queued task); returns the byte address. */
  keep(bytes: number): number;
  /** Frees a region from {@link keep} (run inside a queued task). */
  release(ptr: number): void;
  /**
   * Runs `cmd` (CMD.GEMM) with the one parameter block at `params` on `threads` threads
   * (thread t gets first = t, stride = threads), the host thread included.
   */
  split(cmd: number, params: number, threads: number): Promise<number>;
  dispose(): void;
  /** The pool, for tests. */
  readonly pool: ThreadPool;
}

const warned = new Set<string>();

function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  console.warn(message);
}

/**
 * Starts `threads − 1` workers on the backward threads build of `name`.
 * @returns the threaded backward, or null (after a warning, once per process) when the
 *   build or the workers cannot run here: the caller runs on one thread
 */
export async function startBackwardThreads(name: 'wasm-relaxed-simd' | 'wasm-simd', threads: number): Promise<ThreadedBackward | null> {
  const fallback = (why: string): null => {
    warnOnce(`wasm-attention: attentionBackwardAsync: ${threads} threads requested, running on one thread: ${why}.`);
    return null;
  };
  const module = backwardThreadsModule(name);
  if (!module) return fallback('this runtime cannot compile the backward threads build (WebAssembly threads / shared memory)');
  let shared: ReturnType<typeof createSharedMemory>;
  let spawner: Awaited<ReturnType<typeof workerSpawner>>;
  try {
    shared = createSharedMemory();
    spawner = await workerSpawner(WORKER_SOURCE);
  } catch (error) {
    return fallback(String((error as Error).message ?? error));
  }
  const { memory } = shared;
  const kernel = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as BackwardThreadsExports;
  const pool = new ThreadPool(threads - 1, spawner.spawn, { module, memory });
  const failures = await pool.ready();
  if (pool.workers === 0) {
    pool.dispose();
    spawner.release();
    return fallback(`no worker could start (${failures[0] ?? 'unknown reason'})`);
  }
  return createThreadedBackward(kernel, memory, Math.min(shared.maximumBytes, MAX_BYTES), pool, spawner.release);
}

const align16 = (bytes: number) => Math.ceil(bytes / 16) * 16;

function createThreadedBackward(
  kernel: BackwardThreadsExports,
  memory: WebAssembly.Memory,
  maximumBytes: number,
  pool: ThreadPool,
  release: () => void,
): ThreadedBackward {
  const heapBase = kernel.heapBase();
  let f32 = new Float32Array(memory.buffer);
  let i32 = new Int32Array(memory.buffer);
  let lastThreads = 0;
  /** Kept regions: start → end (bytes); calls are laid out from `keptTop`. */
  const kept = new Map<number, number>();
  let keptTop = align16(heapBase);

  function keep(bytes: number): number {
    const ptr = keptTop;
    ensure(ptr + bytes, 'createMultiHeadAttention');
    keptTop = align16(ptr + bytes);
    kept.set(ptr, keptTop);
    return ptr;
  }

  /** Frees a kept region; the call area comes down to the highest one still kept. */
  function releaseKept(ptr: number): void {
    kept.delete(ptr);
    keptTop = Math.max(align16(heapBase), ...kept.values());
  }

  /** Grows memory to `bytes` (only this thread grows it, between calls' dispatches) and re-makes the views. */
  function ensure(bytes: number, caller = 'attentionBackwardAsync'): void {
    if (bytes > maximumBytes) {
      throw rangeError(caller, `a call that fits in the threads' shared WASM memory (at most ${maximumBytes} bytes)`, `one that needs ${bytes} bytes`);
    }
    growTo(memory, bytes, caller);
    // A grown shared buffer is not detached: compare lengths, not buffers.
    if (f32.buffer.byteLength !== memory.buffer.byteLength) {
      f32 = new Float32Array(memory.buffer);
      i32 = new Int32Array(memory.buffer);
    }
  }

  /** Lays out `plan` for `threads` threads, writes every parameter block, copies the inputs in. */
  function marshal(plan: BackwardPlan, threads: number): { layout: ReturnType<typeof layoutBackward>; params: number[] } {
    const layout = layoutBackward(plan, keptTop);
    ensure(layout.scratch);
    writeBackwardParams(i32, f32, plan, layout, 0);
    const scratchBytes = Math.ceil(kernel.backwardScratchBytes(layout.params) / 16) * 16;
    const paramsBytes = Math.ceil(BACKWARD_PARAM_BYTES / 16) * 16;
    const firstScratch = layout.scratch + (threads - 1) * paramsBytes;
    ensure(firstScratch + threads * scratchBytes);
    const params: number[] = [];
    for (let t = 0; t < threads; t++) {
      const at = t === 0 ? layout.params : layout.scratch + (t - 1) * paramsBytes;
      writeBackwardParams(i32, f32, plan, { ...layout, params: at, scratch: firstScratch + t * scratchBytes }, scratchBytes);
      params.push(at);
    }
    copyBackwardInputs(i32, f32, plan, layout);
    return { layout, params };
  }

  function check(status: number, thread: number): void {
    if (status === 0) return;
    const what = status === -1 ? 'trapped' : `returned status ${status}`;
    throw new Error(`wasm-attention: internal error, the backward kernel of thread ${thread} ${what}`);
  }

  /**
   * Runs `cmd` over the pool: the workers take threads 1..n−1, this thread thread 0. Must
   * follow pool.acquire(); ends the call's hold on the pool (dispatch's wait, or finish).
   */
  async function split(cmd: number, params: readonly number[], threads: number): Promise<void> {
    const host = cmd === CMD.LSE ? kernel.lseRange : cmd === CMD.GEMM ? kernel.gemmRange : kernel.backwardRange;
    if (threads === 1) {
      try {
        check(host(params[0]!, 0, 1), 0);
      } finally {
        pool.finish();
      }
      return;
    }
    const jobs: PoolJob[] = [];
    for (let t = 1; t < threads; t++) jobs.push({ cmd, params: params[t]!, first: t, stride: threads, arg: 0 });
    let call: { wait(): Promise<number[]> };
    try {
      call = pool.dispatch(jobs);
    } catch (error) {
      pool.finish();
      throw error;
    }
    let hostStatus: number;
    try {
      hostStatus = host(params[0]!, 0, threads);
    } finally {
      // Even when the host's share trapped: the workers still use this call's memory.
      (await call.wait()).forEach((status, i) => check(status, i + 1));
    }
    check(hostStatus, 0);
  }

  async function run(plan: BackwardPlan, needsLse: boolean): Promise<void> {
    const workers = await pool.acquire();
    const threads = backwardThreadsFor(plan, workers + 1);
    let layout: ReturnType<typeof layoutBackward>;
    let params: number[];
    try {
      ({ layout, params } = marshal(plan, threads));
    } catch (error) {
      pool.finish();
      throw error;
    }
    lastThreads = threads;
    if (needsLse) {
      await split(CMD.LSE, params, threads);
      await pool.acquire(); // rejects when the instance was disposed meanwhile
    }
    await split(CMD.BACKWARD, params, threads);
    copyBackwardOutputs(f32, plan, layout);
  }

  return {
    get threads() {
      return pool.workers + 1;
    },
    get lastThreads() {
      return lastThreads;
    },
    run,
    memoryBytes: () => memory.buffer.byteLength,
    memory,
    get scratchBase() {
      return keptTop;
    },
    ensure,
    keep,
    release: releaseKept,
    async split(cmd, params, wanted) {
      const threads = Math.max(1, Math.min(wanted, (await pool.acquire()) + 1));
      lastThreads = threads;
      await split(cmd, Array.from({ length: threads }, () => params), threads);
      return threads;
    },
    dispose: () => {
      pool.dispose();
      release();
    },
    pool,
  };
}
