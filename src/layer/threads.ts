/**
 * The layer's projections split over the instance's threads (`forwardAsync` on an instance
 * made with `createAttention({ threads })`): the backward entry's pool and shared memory
 * (src/backward/threads.ts), so the layer starts no workers of its own.
 *
 * The weights are packed once per layer into a kept region of that shared memory (on the
 * first async call, and again only after `setWeights`), where every worker reads them in
 * place; a call copies in only its inputs and copies out its outputs:
 *
 *   [kept: … this layer's panels and padded biases …][params: count, records][inputs][outputs]
 *
 * The split (assembly/backward-threads.ts gemmRange): each GEMM's column panels are cut
 * into one contiguous range per thread; all the GEMMs of a call (Q, K and V) go out in one
 * hand-off. Every entry is the kernel's one k-ordered chain plus the bias add, the same
 * code as one thread's, so the outputs are bit-identical at every thread count
 * (test/layer-threads.test.ts).
 */
import type { ThreadedBackward } from '../backward/threads.js';
import { CMD } from '../threads/control.js';
import { paddedBiasLength } from './gemm.js';
import { packB, packedLength } from './pack.js';

/** A weight of `y = x·Wᵀ + b`: W [N][K] (PyTorch's [out][in]), b [N] or null. */
export interface ProjectionWeight {
  readonly W: Float32Array;
  readonly bias: Float32Array | null;
  /** Input width (the reduction length). */
  readonly K: number;
  /** Output width. */
  readonly N: number;
}

/** One GEMM of a call: rows of `input` [rows][K] times projection `index`. */
export interface ProjectionJob {
  readonly index: number;
  readonly input: Float32Array;
  readonly rows: number;
}

/**
 * Smallest GEMM work worth one more thread, in multiply-adds: the backward's threshold
 * (src/backward/threads.ts, from the forward's measured ≈ 50 µs per thread hand-off).
 */
const MIN_MACS_PER_THREAD = 1 << 20;

let minMacsPerThread = MIN_MACS_PER_THREAD;

/** Test hook: splits GEMMs of any size (0), or restores the default (undefined). */
export function setLayerMinMacsPerThread(macs: number | undefined): void {
  minMacsPerThread = macs ?? MIN_MACS_PER_THREAD;
}

/** i32 words of one record of gemmRange: aPtr, bPtr, biasPtr, cPtr, M, N, K. */
const RECORD_WORDS = 7;

const align = (bytes: number) => Math.ceil(bytes / 16) * 16;

/** The layer's weights in the threads' shared memory. */
export interface SharedProjections {
  /** Packs `weights` again in place (same sizes); run inside a queued task. */
  repack(weights: readonly ProjectionWeight[]): void;
  /** Runs `jobs` split over the threads; returns each job's output [rows][N]. */
  run(jobs: readonly ProjectionJob[]): Promise<Float32Array[]>;
  /** Threads the last call ran on. */
  readonly lastThreads: number;
  /** Frees the kept region; run inside a queued task. */
  release(): void;
}

/**
 * Packs `weights` into a new kept region of `threaded`'s memory. Run inside a task of the
 * instance's queue (queueOnBackwardThreads), as every use of the returned handle.
 */
export function shareProjections(threaded: ThreadedBackward, weights: readonly ProjectionWeight[]): SharedProjections {
  const offsets: { packed: number; bias: number }[] = [];
  let bytes = 0;
  for (const w of weights) {
    const packed = bytes;
    bytes = align(bytes + packedLength(w.K, w.N) * 4);
    const bias = w.bias ? bytes : -1;
    if (w.bias) bytes = align(bytes + paddedBiasLength(w.N) * 4);
    offsets.push({ packed, bias });
  }
  const base = threaded.keep(bytes);
  let lastThreads = 0;

  function repack(next: readonly ProjectionWeight[]): void {
    const f32 = new Float32Array(threaded.memory.buffer);
    next.forEach((w, i) => {
      const at = (base + offsets[i]!.packed) >>> 2;
      packB(w.W, w.K, w.N, true, f32.subarray(at, at + packedLength(w.K, w.N)));
      if (w.bias) {
        const b = (base + offsets[i]!.bias) >>> 2;
        f32.fill(0, b, b + paddedBiasLength(w.N));
        f32.set(w.bias, b);
      }
    });
  }
  repack(weights);

  async function run(jobs: readonly ProjectionJob[]): Promise<Float32Array[]> {
    // Inputs shared by several jobs (self-attention's x for Q, K, V) are copied in once.
    const inputs = [...new Set(jobs.map((job) => job.input))];
    let cursor = align(threaded.scratchBase);
    const paramsPtr = cursor;
    cursor = align(cursor + (1 + RECORD_WORDS * jobs.length) * 4);
    const inputPtr = inputs.map((input) => {
      const at = cursor;
      cursor = align(cursor + input.length * 4);
      return at;
    });
    const outputPtr = jobs.map((job) => {
      const at = cursor;
      cursor = align(cursor + job.rows * weights[job.index]!.N * 4);
      return at;
    });
    threaded.ensure(cursor, 'createMultiHeadAttention: forwardAsync');
    const f32 = new Float32Array(threaded.memory.buffer);
    const i32 = new Int32Array(threaded.memory.buffer);
    inputs.forEach((input, i) => f32.set(input, inputPtr[i]! >>> 2));
    i32[paramsPtr >>> 2] = jobs.length;
    let macs = 0;
    let panels = 0;
    jobs.forEach((job, j) => {
      const w = weights[job.index]!;
      const { packed, bias } = offsets[job.index]!;
      const record = [inputPtr[inputs.indexOf(job.input)]!, base + packed, bias < 0 ? 0 : base + bias, outputPtr[j]!, job.rows, w.N, w.K];
      i32.set(record, (paramsPtr >>> 2) + 1 + j * RECORD_WORDS);
      macs += job.rows * w.N * w.K;
      panels = Math.max(panels, Math.ceil(w.N / 8));
    });
    const wanted = Math.max(1, Math.min(threaded.threads, panels, minMacsPerThread > 0 ? Math.floor(macs / minMacsPerThread) : Infinity));
    lastThreads = await threaded.split(CMD.GEMM, paramsPtr, wanted);
    const out = new Float32Array(threaded.memory.buffer); // the memory does not grow during the split, but cheap to be sure
    return jobs.map((job, j) => out.slice(outputPtr[j]! >>> 2, (outputPtr[j]! >>> 2) + job.rows * weights[job.index]!.N));
  }

  return {
    repack,
    run,
    get lastThreads() {
      return lastThreads;
    },
    release: () => threaded.release(base),
  };
}
