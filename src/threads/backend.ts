/**
 * The threaded WASM backend: the threads build of the kernel (asconfig.json `threads`,
 * `threads-relaxed`) instantiated on one shared WebAssembly.Memory by the host thread and
 * by every worker of a {@link ThreadPool}.
 *
 * A call's memory, laid out from the top of the persistent blocks as in the single-thread
 * backend (src/backends/wasm/memory-plan.ts), plus one parameter block and one scratch
 * region per extra thread:
 *
 *   top → [params 0][offsets][lengths][q][k][v][bias][out][weights][params 1..n−1][scratch 0..n−1]
 *
 * Parameter block t differs from block 0 only in SCRATCH_PTR; thread t runs
 * `attentionRange(params t, t, n)`: the 8-query blocks u with u % n == t (assembly/attention.ts).
 *
 * The AssemblyScript pitfalls of running one module on several threads, and how each is met:
 * - every instance has its own globals and re-runs the data segments: the build has no
 *   allocator (stub runtime, no globals), workers start only while no call runs
 *   (worker-source.ts), and only this thread lays out memory (blocks.ts, memory-plan.ts);
 * - workers run pointer-only kernels, each on the parameter block and scratch region this
 *   file assigns it, so no two threads write the same byte;
 * - `memory.grow` by one thread leaves the others' JS views short (a grown shared buffer is
 *   never detached, old views just keep their old length): only this thread grows memory,
 *   between calls' dispatches, and re-makes its views whenever the length changed; workers
 *   keep no view at all.
 */
import type { AttentionPlan, BackendName } from '../plan.js';
import { rangeError } from '../errors.js';
import { MAX_BYTES } from '../limits.js';
import { growTo } from '../backends/wasm/grow.js';
import { PARAM_BYTES, type DecodeExports, type DecodeRangeExports, type KernelExports, type QuantizeExports } from '../backends/wasm/abi.js';
import { BlockAllocator } from '../backends/wasm/blocks.js';
import { createWasmCacheEngine } from '../backends/wasm/cache-engine.js';
import { int8AppendCacheEngine } from '../backends/wasm/int8-append.js';
import { copyInputs, copyOutputs, layoutCall, type CallLayout } from '../backends/wasm/memory-plan.js';
import { rotateInputs, type RotaryExport } from '../backends/wasm/rotary.js';
import { writeParams } from '../backends/wasm/params.js';
import type { CacheEngine, CachedPlan } from '../cache/engine.js';
import { CMD } from './control.js';
import { cachedUnits, keySplitsFor, marshalCached, mergeKeySplits, type HeapAccess } from './decode.js';
import type { PoolJob, ThreadPool } from './pool.js';

const ALIGN = 16;
const align = (bytes: number) => Math.ceil(bytes / ALIGN) * ALIGN;

/**
 * Smallest work (multiply-adds of Q·Kᵀ and P·V) worth one more thread. Measured here
 * (Node 20, 2 cores, idle; src/threads/README.md): split over 2 threads, H8 D64 calls of
 * L = 32 (1M multiply-adds, 122 µs on one thread) gain 1.03×, L = 64 (4M) 1.31×,
 * L = 128 1.56×, L = 256 1.75×; H2 L16 (65K) loses (37 µs against 29). So a call gets one
 * thread per 1M multiply-adds, at most.
 */
export const MIN_MACS_PER_THREAD = 1 << 20;

/** Exports of the threads builds (assembly/threads.ts): the kernel ABI plus one thread's share of a plan. */
export interface ThreadsKernelExports extends KernelExports, Partial<DecodeExports & DecodeRangeExports & QuantizeExports> {
  attentionRange(params: number, first: number, stride: number): number;
}

export interface ThreadedBackend {
  readonly name: BackendName;
  /** Threads a call may use: the host thread plus the live workers. */
  readonly threads: number;
  /** True while an async call is queued or running. */
  readonly busy: boolean;
  /** Runs a plan on the calling thread alone (the synchronous API). */
  run(plan: AttentionPlan): void;
  /** Queues `task`; tasks run one at a time, in call order. */
  enqueue<T>(task: () => Promise<T>): Promise<T>;
  /** Runs a plan split over the pool (call inside {@link enqueue}). */
  runThreaded(plan: AttentionPlan): Promise<void>;
  /** Runs a plan over a KV cache of this backend, split over the pool (call inside {@link enqueue}). */
  runThreadedCached(plan: CachedPlan): Promise<void>;
  memoryBytes(): number;
  cacheEngine(): CacheEngine;
  dispose(): void;
  /** The pool, for tests. */
  readonly pool: ThreadPool;
  /** How the last {@link runThreadedCached} call was split (threads, key ranges per row block), for tests and benchmarks. */
  readonly lastCachedSplit: { readonly threads: number; readonly keySplits: number };
}

let minMacsPerThread = MIN_MACS_PER_THREAD;

/** Test hook: splits calls of any size (0), or restores the default (undefined). */
export function setMinMacsPerThread(macs: number | undefined): void {
  minMacsPerThread = macs ?? MIN_MACS_PER_THREAD;
}

/**
 * Threads worth using for a plan: at most one per work unit (8-query block, or decode row
 * block), and none for tiny work.
 */
export function threadsFor(plan: AttentionPlan | CachedPlan, units: number, available: number): number {
  // A window bounds the keys of every query (src/key-range.ts): left + right + 1 at most.
  const keysPerQuery = Math.min(plan.seqLenK, plan.window.left + plan.window.right + 1);
  const macs = plan.batch * plan.qHeads * plan.seqLenQ * keysPerQuery * (plan.headDim + plan.valueDim);
  const worth = minMacsPerThread > 0 ? Math.floor(macs / minMacsPerThread) : Infinity;
  return Math.max(1, Math.min(available, units, worth));
}

/**
 * @param name the backend the build implements
 * @param kernel the threads build, instantiated on `memory` by this thread
 * @param memory the shared memory
 * @param maximumBytes the memory's maximum size (at most MAX_BYTES of it is used, src/limits.ts)
 * @param pool workers already instantiated on `memory`
 * @param release frees what starting workers needed (a blob: URL), at dispose
 */
export function createThreadedBackend(
  name: BackendName,
  kernel: ThreadsKernelExports,
  memory: WebAssembly.Memory,
  maximumBytes: number,
  pool: ThreadPool,
  release: () => void = () => {},
): ThreadedBackend {
  maximumBytes = Math.min(maximumBytes, MAX_BYTES);
  const blocks = new BlockAllocator(kernel.heapBase());
  let cacheEngine: CacheEngine | undefined;
  let f32 = new Float32Array(memory.buffer);
  let i32 = new Int32Array(memory.buffer);
  let tail: Promise<unknown> = Promise.resolve();
  let pending = 0;

  /** Grows memory to hold `bytes`, in one step, and re-makes the views when the length changed. */
  function ensureCapacity(bytes: number, what: string): void {
    if (bytes > maximumBytes) {
      throw rangeError(what, `a call that fits in the threads' shared WASM memory (at most ${maximumBytes} bytes)`, `one that needs ${bytes} bytes`);
    }
    growTo(memory, bytes, what);
    if (f32.buffer.byteLength !== memory.buffer.byteLength) {
      f32 = new Float32Array(memory.buffer);
      i32 = new Int32Array(memory.buffer);
    }
  }


  /**
   * Lays out a call for `threads` threads, grows memory once, writes every parameter block
   * and copies the inputs in. Returns the address of each thread's parameter block.
   *
   * A threaded call's region is `reserve`d as a persistent block (blocks.ts) until it ends:
   * while its workers run, the host thread is free, and whatever it does meanwhile (a
   * synchronous call, a KV cache created or appended to) is laid out above that block,
   * never over memory the workers still read or write.
   */
  function marshal(plan: AttentionPlan, threads: number, reserve: boolean): { layout: CallLayout; params: number[]; release(): void } {
    // As in the single-thread backend, the kernel sizes its scratch from a parameter block:
    // write one in the free memory at the top first.
    const probe = layoutCall(plan, blocks.top, memory);
    ensureCapacity(probe.params + PARAM_BYTES, 'attention');
    writeParams(i32, f32, plan, probe.params, probe, 0, 0);
    const scratchBytes = kernel.scratchBytes(probe.params);
    const paramsBytes = align(PARAM_BYTES);
    // Region: the call's own layout, then parameter blocks 1..n−1, then n scratch regions.
    const regionBytes = align(probe.end) - probe.params + (threads - 1) * paramsBytes + threads * scratchBytes;
    let base = probe.params;
    let release = () => {};
    if (reserve) {
      ensureCapacity(blocks.wouldEndAt(regionBytes), 'attention');
      base = blocks.allocate(regionBytes);
      release = () => blocks.free(base);
    } else {
      ensureCapacity(base + regionBytes, 'attention');
    }
    const layout = layoutCall(plan, base, memory); // base is 16-byte aligned: the same offsets as probe's
    const params = [layout.params];
    let cursor = align(layout.end);
    for (let t = 1; t < threads; t++, cursor += paramsBytes) params.push(cursor);
    for (let t = 0; t < threads; t++) writeParams(i32, f32, plan, params[t]!, layout, cursor + t * scratchBytes, scratchBytes);

    copyInputs(i32, f32, plan, layout);
    rotateInputs((kernel as { rotary?: RotaryExport }).rotary, f32, plan, layout);
    return { layout, params, release };
  }

  function unmarshal(plan: AttentionPlan, layout: CallLayout): void {
    copyOutputs(f32, plan, layout);
  }

  function check(status: number, thread: number): void {
    if (status === 0) return;
    const what = status === -1 ? 'trapped' : `returned status ${status}`;
    throw new Error(`wasm-attention: internal error, the kernel of thread ${thread} ${what}`);
  }

  function run(plan: AttentionPlan): void {
    const { layout, params } = marshal(plan, 1, false);
    check(kernel.attention(params[0]!), 0);
    unmarshal(plan, layout);
  }

  async function runThreaded(plan: AttentionPlan): Promise<void> {
    const workers = await pool.acquire();
    const threads = threadsFor(plan, plan.batch * plan.qHeads * Math.ceil(plan.seqLenQ / 8), workers + 1);
    let call: { wait(): Promise<number[]> } | null = null;
    let release = () => {};
    try {
      const marshalled = marshal(plan, threads, threads > 1);
      const { layout, params } = marshalled;
      release = marshalled.release;
      const jobs: PoolJob[] = [];
      for (let t = 1; t < threads; t++) jobs.push({ cmd: CMD.ATTENTION, params: params[t]!, first: t, stride: threads, arg: 0 });
      call = threads > 1 ? pool.dispatch(jobs) : null;
      let hostStatus: number;
      try {
        hostStatus = kernel.attentionRange(params[0]!, 0, threads); // the host thread is thread 0
      } finally {
        // Even when the host's share trapped: the workers still use this call's memory.
        const statuses = call ? await call.wait() : [];
        statuses.forEach((status, i) => check(status, i + 1));
      }
      check(hostStatus, 0);
      unmarshal(plan, layout);
    } finally {
      release();
      if (!call) pool.finish();
    }
  }

  const heapAccess: HeapAccess = {
    memory,
    scratchBytes: (params, decodeKernel, kvDtype) => (decodeKernel ? kernel.decodeScratchBytes!(params, kvDtype) : kernel.scratchBytes(params)),
    partialsBytes: (params) => kernel.decodePartialsBytes?.(params) ?? 0,
    ensureCapacity,
    reserve(bytes) {
      ensureCapacity(blocks.wouldEndAt(bytes), 'decode');
      const base = blocks.allocate(bytes);
      return { base, release: () => blocks.free(base) };
    },
    top: () => blocks.top,
  };

  let lastCachedSplit = { threads: 0, keySplits: 0 };

  async function runThreadedCached(plan: CachedPlan): Promise<void> {
    const workers = await pool.acquire();
    const { units } = cachedUnits(plan);
    // Fewer row blocks than threads: cut each block's keys into ranges too (flash-decoding,
    // decode.ts keySplitsFor), then size the split by the work as always (threadsFor), and
    // cut the keys for the threads actually used.
    const canSplitKeys = !!kernel.decodePartialsBytes;
    const splitsAvailable = canSplitKeys ? keySplitsFor(plan, units, workers + 1) : 1;
    const threads = threadsFor(plan, units * splitsAvailable, workers + 1);
    if (threads === 1 || !kernel.decodeRange) {
      lastCachedSplit = { threads: 1, keySplits: 1 };
      try {
        getCacheEngine().run(plan); // one thread: exactly the synchronous engine
      } finally {
        pool.finish();
      }
      return;
    }
    const keySplits = canSplitKeys ? keySplitsFor(plan, units, threads) : 1;
    let dispatched: { wait(): Promise<number[]> } | null = null;
    let release = () => {};
    try {
      const call = marshalCached(heapAccess, plan, threads, keySplits);
      release = call.release;
      const { cmd, kvDtype, params } = call;
      lastCachedSplit = { threads, keySplits: call.keySplits };
      const jobs = params.slice(1).map((at, i): PoolJob => ({ cmd, params: at, first: i + 1, stride: threads, arg: kvDtype }));
      dispatched = pool.dispatch(jobs);
      let hostStatus: number;
      try {
        hostStatus = cmd === CMD.DECODE ? kernel.decodeRange(params[0]!, kvDtype, 0, threads) : kernel.attentionRange(params[0]!, 0, threads);
      } finally {
        (await dispatched.wait()).forEach((status, i) => check(status, i + 1));
      }
      check(hostStatus, 0);
      // Every thread is done: the host merges the key ranges' partial states into the outputs.
      if (call.keySplits > 1) mergeKeySplits(memory.buffer, plan, call);
      call.unmarshal();
    } finally {
      release();
      if (!dispatched) pool.finish();
    }
  }

  function getCacheEngine(): CacheEngine {
    // The threads builds quantise int8 rows at append in the kernel (int8-append.ts).
    return (cacheEngine ??= int8AppendCacheEngine({ kernel, memory, blocks, ensureCapacity }, createWasmCacheEngine));
  }

  function enqueue<T>(task: () => Promise<T>): Promise<T> {
    pending++;
    const result = tail.then(task).finally(() => pending--);
    tail = result.catch(() => {});
    return result;
  }

  return {
    name,
    get threads() {
      return pool.workers + 1;
    },
    get busy() {
      return pending > 0;
    },
    run,
    enqueue,
    runThreaded,
    memoryBytes: () => memory.buffer.byteLength,
    cacheEngine: getCacheEngine,
    runThreadedCached,
    dispose: () => {
      pool.dispose();
      release();
    },
    pool,
    get lastCachedSplit() {
      return lastCachedSplit;
    },
  };
}
