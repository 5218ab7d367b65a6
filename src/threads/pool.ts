/**
 * A pool of workers that run kernel calls on one shared WebAssembly.Memory. The host thread
 * (the caller's) is thread 0 and runs its own share of every call; the pool's workers are
 * threads 1..n−1. Jobs go out and come back through the control block (control.ts):
 *
 *   host: write slot fields → Atomics.store(SEQ, seq) → Atomics.notify(SEQ)
 *   worker (polling SEQ for 1 ms after its last job, then parked in Atomics.wait(SEQ)):
 *     run the kernel → Atomics.store(DONE, seq) → Atomics.notify(DONE)
 *   host (after its own share): poll DONE for 0.2 ms, then Atomics.waitAsync(DONE) (or a
 *     'done' message where waitAsync is missing)
 *
 * The seq-cst store to SEQ orders the host's writes of the call's inputs before the worker's
 * reads; the store to DONE orders the worker's outputs before the host's reads.
 *
 * Failure: a worker that dies (exits, crashes, or is terminated) during a call makes that
 * call reject, once every other worker of the call has finished (so that no thread still
 * writes the call's memory when the next call lays out its own), and is replaced before the
 * next call starts. Lifetime: in Node, Deno and Bun, workers are `unref`ed while idle, so
 * an undisposed pool never keeps the process alive; `dispose()` ends them. A call never
 * resolves with a share unwritten: it completes (every share done) or rejects, whatever
 * point of its life a death or `dispose()` hits (issue #10; test/adversarial/api-lifecycle.test.ts).
 */
import { CMD, CTL, SLOT_WORDS } from './control.js';
import type { SpawnWorker, WorkerHandle } from './spawn.js';

/** One worker's share of a call. */
export interface PoolJob {
  readonly cmd: number;
  readonly params: number;
  readonly first: number;
  readonly stride: number;
  readonly arg: number;
}

interface Slot {
  /** 1-based slot index in the control block (slot 0 is the host thread's). */
  readonly index: number;
  handle: WorkerHandle | null;
  /** Resolves when the worker has instantiated the kernel; rejects when it cannot. */
  ready: Promise<void>;
  dead: string | null;
  /** True once the worker reported ready: only such a worker is replaced when it dies. */
  started: boolean;
  /** Settles the pending wait for this slot's current job when the worker dies. */
  onDeath: (() => void) | null;
  /** Wakes the pending wait when a 'done' message arrives (hosts without Atomics.waitAsync). */
  onDone: (() => void) | null;
}

/**
 * How long the host thread polls for a worker to finish before it awaits instead, in ms.
 * It blocks the host's event loop at most this long per call, while it has no work anyway.
 */
const HOST_POLL_MS = 0.2;

/** How long a worker may take to start before the pool gives up on it. */
const START_TIMEOUT_MS = 30_000;

type WaitAsync = (typed: Int32Array, index: number, value: number) => { async: boolean; value: Promise<unknown> | string };
/** Why a call in flight rejects when its instance is disposed (a PinnedTensor `out` is written in place, hence "may hold"). */
const DISPOSED_DURING_CALL =
  'wasm-attention: the instance was disposed (dispose() was called) during the call; the call was abandoned: it rejects rather than resolve with a partial output (a PinnedTensor given as out may hold one)';

const waitAsync = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;

export class ThreadPool {
  private readonly control: Int32Array;
  private readonly slots: Slot[] = [];
  private disposed = false;
  /** Pending replacement of dead workers; calls wait for it. */
  private recovery: Promise<void> | null = null;
  private busy = false;
  /** Test hook state: slot index → exit code to send instead of its next job. */
  private readonly pendingCrash = new Map<number, number>();

  /**
   * @param workers number of workers (threads − 1)
   * @param spawn starts one worker (spawn.ts)
   * @param init the init message's payload: the compiled threads build and the shared memory
   */
  constructor(
    workers: number,
    private readonly spawn: SpawnWorker,
    private readonly init: { module: WebAssembly.Module; memory: WebAssembly.Memory },
  ) {
    this.control = new Int32Array(new SharedArrayBuffer((workers + 1) * SLOT_WORDS * 4));
    for (let i = 1; i <= workers; i++) {
      const slot: Slot = { index: i, handle: null, ready: Promise.resolve(), dead: null, started: false, onDeath: null, onDone: null };
      this.slots.push(slot);
      this.start(slot);
    }
  }

  /** Workers alive (threads − 1 while healthy). */
  get workers(): number {
    return this.slots.filter((slot) => !slot.dead).length;
  }

  /**
   * Waits until every worker has started. Workers that fail to start are dropped (the pool
   * continues with fewer); the returned reasons say why.
   */
  async ready(): Promise<string[]> {
    const failures: string[] = [];
    await Promise.all(this.slots.map((slot) => slot.ready.catch((error: unknown) => void failures.push(String(error)))));
    for (let i = this.slots.length - 1; i >= 0; i--) if (this.slots[i]!.dead) this.slots.splice(i, 1);
    return failures;
  }

  private word(slot: Slot, field: number): number {
    return slot.index * SLOT_WORDS + field;
  }

  private start(slot: Slot): void {
    const c = this.control;
    c.fill(0, slot.index * SLOT_WORDS, (slot.index + 1) * SLOT_WORDS);
    c[this.word(slot, CTL.POST_DONE)] = waitAsync ? 0 : 1;
    slot.dead = null;
    slot.started = false;
    slot.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        fail(`did not start within ${START_TIMEOUT_MS} ms`);
        handle.terminate();
      }, START_TIMEOUT_MS);
      const fail = (reason: string) => {
        clearTimeout(timer);
        slot.dead ??= reason;
        reject(new Error(`threads: worker ${slot.index} ${reason}`));
      };
      const handle = this.spawn({
        message: (data) => {
          const type = (data as { type?: string } | null)?.type;
          if (type === 'ready') {
            clearTimeout(timer);
            slot.started = true;
            if (!this.busy) handle.unref();
            resolve();
          } else if (type === 'error') {
            fail(`could not instantiate the kernel: ${(data as { message?: string }).message}`);
            handle.terminate();
          } else if (type === 'done') {
            slot.onDone?.();
          }
        },
        exit: (reason) => {
          fail(reason);
          this.died(slot, reason);
        },
      });
      slot.handle = handle;
      handle.postMessage({ type: 'init', module: this.init.module, memory: this.init.memory, control: this.control.buffer, slot: slot.index });
    });
    slot.ready.catch(() => {}); // observed by ready() / run(); never an unhandled rejection
  }

  private died(slot: Slot, reason: string): void {
    slot.dead ??= reason;
    if (this.disposed) {
      // A call that waits on this worker settles only now, once the worker has stopped: its
      // memory is then released with no thread still writing it (see dispose()).
      slot.onDeath?.();
      return;
    }
    // Wake a pending waitAsync on this slot's DONE word, so that it stops waiting.
    Atomics.notify(this.control, this.word(slot, CTL.DONE));
    if (slot.onDeath) slot.onDeath();
    else if (!this.busy && slot.started) this.recover();
  }

  /** Replaces dead workers (after a call, or at once when idle). */
  private recover(): void {
    // Only workers that had started: one that never did is dropped by ready(), not retried.
    const dead = this.slots.filter((slot) => slot.dead && slot.started);
    if (dead.length === 0 || this.disposed) return;
    for (const slot of dead) {
      slot.handle?.terminate();
      this.start(slot);
    }
    const recovery = this.ready().then(() => {
      if (this.recovery === recovery) this.recovery = null;
    });
    this.recovery = recovery;
  }

  /**
   * Starts a call: waits for a pending recovery, then returns the number of workers that
   * can take a share now. Must be followed by exactly one {@link dispatch}, or by
   * {@link finish} when the call runs on the host thread alone.
   */
  async acquire(): Promise<number> {
    if (this.disposed) throw new Error('threads: expected a live instance, got a disposed one (dispose() was called)');
    while (this.recovery) await this.recovery;
    this.busy = true;
    for (const slot of this.slots) slot.handle?.ref();
    return this.workers;
  }

  /** Ends a call started by {@link acquire} without workers. */
  finish(): void {
    this.busy = false;
    for (const slot of this.slots) if (!slot.dead) slot.handle?.unref();
    this.recover();
  }

  /**
   * Hands `jobs[i]` to the i-th live worker, then waits (asynchronously) until all of them
   * are done, and ends the call. Call it right before running the host thread's own share.
   * @returns the kernel's status per job
   * @throws Error when a worker died during the call (after the others finished)
   */
  dispatch(jobs: readonly PoolJob[]): { wait(): Promise<number[]> } {
    const c = this.control;
    const live = this.slots.filter((slot) => !slot.dead);
    // Every share must go out, or the call would resolve with those shares unwritten: the
    // instance may have been disposed, or a worker may have died, since acquire() counted
    // the workers the call was split for (the caller awaited in between).
    // (The caller ends the call with finish(), as for a call that never dispatched.)
    if (this.disposed || live.length < jobs.length) {
      throw this.disposed
        ? new Error(DISPOSED_DURING_CALL)
        : new Error(`wasm-attention: a worker thread died before the call started (${jobs.length} needed, ${live.length} alive); the call was abandoned (its output is not written) and the pool is starting a replacement worker`);
    }
    const sent: { slot: Slot; seq: number }[] = [];
    for (let i = 0; i < jobs.length && i < live.length; i++) {
      const slot = live[i]!;
      const job = jobs[i]!;
      const crash = this.pendingCrash.get(slot.index);
      this.pendingCrash.delete(slot.index);
      c[this.word(slot, CTL.CMD)] = crash === undefined ? job.cmd : CMD.EXIT;
      c[this.word(slot, CTL.PARAMS)] = job.params;
      c[this.word(slot, CTL.FIRST)] = job.first;
      c[this.word(slot, CTL.STRIDE)] = job.stride;
      c[this.word(slot, CTL.ARG)] = crash === undefined ? job.arg : crash;
      const seq = (c[this.word(slot, CTL.SEQ)]! + 1) | 0;
      Atomics.store(c, this.word(slot, CTL.SEQ), seq);
      Atomics.notify(c, this.word(slot, CTL.SEQ));
      sent.push({ slot, seq });
    }
    const wait = async (): Promise<number[]> => {
      try {
        const outcomes = await Promise.all(sent.map(({ slot, seq }) => this.waitDone(slot, seq)));
        const deaths = sent.filter((_, i) => outcomes[i] !== 'done');
        if (deaths.length > 0) {
          if (this.disposed) throw new Error(DISPOSED_DURING_CALL);
          const { slot } = deaths[0]!;
          throw new Error(
            `wasm-attention: worker thread ${slot.index} ${slot.dead} during the call; the call was abandoned (its output is not written) and the pool is starting a replacement worker`,
          );
        }
        return sent.map(({ slot }) => c[this.word(slot, CTL.STATUS)]!);
      } finally {
        this.finish();
      }
    };
    return { wait };
  }

  /** Resolves 'done' when the slot's DONE word reaches `seq`, 'dead' when the worker died first. */
  private waitDone(slot: Slot, seq: number): Promise<'done' | 'dead'> {
    const c = this.control;
    const index = this.word(slot, CTL.DONE);
    // The host thread has just finished its own, equal share, so the worker is usually about
    // to finish too: poll briefly before paying for an event-loop round trip through
    // Atomics.waitAsync (measured: an H2 L16 call split in two took 50 µs without this
    // poll, against 29 µs on one thread).
    const pollEnd = performance.now() + HOST_POLL_MS;
    while (Atomics.load(c, index) !== seq && !slot.dead && performance.now() < pollEnd);
    if (Atomics.load(c, index) === seq) return Promise.resolve('done');
    return new Promise((resolve) => {
      const settle = (outcome: 'done' | 'dead') => {
        slot.onDeath = null;
        slot.onDone = null;
        resolve(outcome);
      };
      const poll = () => {
        // Done first: a worker that finished its share before it died (or before dispose())
        // leaves a complete share, and the call completes.
        const current = Atomics.load(c, index);
        if (current === seq) return settle('done');
        if (slot.dead) return settle('dead');
        if (!waitAsync) return; // the worker posts 'done' (POST_DONE), which calls poll again
        const result = waitAsync(c, index, current);
        if (result.async) void (result.value as Promise<unknown>).then(poll);
        else poll();
      };
      slot.onDeath = () => settle('dead');
      slot.onDone = poll;
      poll();
    });
  }

  /** Ends every worker; the pool is unusable afterwards. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    const c = this.control;
    for (const slot of this.slots) {
      // Ask a parked worker to leave its loop (a clean exit), and terminate it regardless.
      c[this.word(slot, CTL.CMD)] = CMD.EXIT;
      c[this.word(slot, CTL.ARG)] = 0;
      Atomics.add(c, this.word(slot, CTL.SEQ), 1);
      Atomics.notify(c, this.word(slot, CTL.SEQ));
      Atomics.notify(c, this.word(slot, CTL.DONE));
      slot.handle?.terminate();
      // A worker of a call in flight is marked dead (and the call rejected) by its exit
      // event, once it has stopped writing the call's memory: died(). Before, the call
      // settled here at once, and its reserved memory could be reused by a synchronous
      // call of this instance while a terminating worker still wrote it.
      if (!slot.onDeath) slot.dead ??= 'was disposed';
    }
  }

  /**
   * Test hook: makes the worker of slot `index` exit with `code` as soon as it receives its
   * next job, the way a crash in the middle of a call looks to the host.
   */
  crashOnNextJob(index: number, code = 70): void {
    const slot = this.slots.find((s) => s.index === index);
    if (!slot) throw new RangeError(`crashOnNextJob: expected a worker slot in [1, ${this.slots.length}], got ${index}`);
    this.pendingCrash.set(index, code);
  }

  /** Test hook: the handle of a live worker (tests terminate it). */
  workerHandle(index: number): WorkerHandle | null {
    return this.slots.find((s) => s.index === index)?.handle ?? null;
  }
}
