/**
 * The control block of a worker pool: one `SharedArrayBuffer` of Int32 slots, apart from the
 * kernel's WebAssembly.Memory, through which the host thread hands each worker a job and
 * the worker reports it done, with `Atomics.wait`/`notify` on both sides.
 *
 * Why a separate buffer and not words in the kernel's memory: its views never go stale. A
 * JS view of a shared WebAssembly.Memory covers the length the memory had when the view
 * was made, and only the host thread grows the memory (between jobs), so a control word in
 * linear memory would need the same refresh dance as every other view, on every thread.
 *
 * Why Atomics and not postMessage: a message is an event-loop task on each side; a worker
 * waiting on its slot (polling for 1 ms, then parked in Atomics.wait: worker-source.ts)
 * takes a job without one, and the host polls DONE briefly before it awaits
 * (pool.ts). Measured here (Node 20, 2 idle cores): a call of 29 µs split over 2 threads
 * takes 37 µs, hand-off, marshalling of the extra parameter block and wait included.
 *
 * One slot per worker, 16 words (64 bytes: one cache line, so two workers' slots never
 * share a line), slot i at word i·SLOT_WORDS; slot 0 is the host thread's and stays unused.
 */

/** Words per slot. */
export const SLOT_WORDS = 16;

/** Word offsets within a slot. */
export const CTL = {
  /** Job counter, written by the host (Atomics.store then notify); the worker waits on it. */
  SEQ: 0,
  /** What to run: one of {@link CMD}. */
  CMD: 1,
  /** Byte address of the job's parameter block in linear memory. */
  PARAMS: 2,
  /** This worker's index in the split, and the number of threads sharing the plan. */
  FIRST: 3,
  STRIDE: 4,
  /** Extra argument (the KV dtype of a decode job; the exit code of an exit job). */
  ARG: 5,
  /** Sequence number of the last finished job, written by the worker (then notify). */
  DONE: 6,
  /** The kernel's return code for job DONE; -1 when the kernel trapped. */
  STATUS: 7,
  /**
   * 1: the worker also posts `{ type: 'done' }` after each job, for hosts without
   * `Atomics.waitAsync` (Firefox), which cannot otherwise wait for DONE without blocking.
   */
  POST_DONE: 8,
} as const;

/** Commands. */
export const CMD = {
  /** `attentionRange(params, first, stride)`. */
  ATTENTION: 1,
  /** `decodeRange(params, kvDtype, first, stride)` (reserved for the decode split). */
  DECODE: 2,
  /** Leave the wait loop and end the worker with exit code ARG (dispose; tests simulate a crash with it). */
  EXIT: 3,
  /** `backwardRange(params, first, stride)` of the backward's threads builds (src/backward/threads.ts). */
  BACKWARD: 4,
  /** `lseRange(params, first, stride)` of the backward's threads builds. */
  LSE: 5,
  /** `gemmRange(params, first, stride)` of the backward's threads builds: the layer's projections (src/layer/threads.ts). */
  GEMM: 6,
} as const;

/** Status a worker reports when the kernel threw (a trap): the host raises an Error. */
export const STATUS_TRAPPED = -1;
