/**
 * Thread-scaling measurements (issue #6), for the `threads` shape set of `npm run bench`:
 * the same shape on 1 and on N threads of one wasm-attention instance, each call through
 * `attentionAsync` (what a threaded user calls; on one thread it is `attention()` in a
 * promise), so the ratio is the speedup a user gets, marshalling and waits included.
 *
 * Self-contained like bench/decode-cases.ts: each call creates its instance (and KV
 * cache) and disposes it, so a worker process can run one and print the result.
 *
 * Targets (ISSUE #6): prefill H8 N1024 D64 and H8 N2048 D64, 2 threads ≥ 1.7× one thread on
 * an idle machine; decode H32 Lk2048 D128, 2 threads ≥ 1.4× one thread, and the same for
 * the MQA decode steps (H32 KV1 and H8 KV1 D256, Lk 8192: the latter one row block, split
 * by keys, flash-decoding); and 2 threads ≥ 1.5× onnxruntime-web with 2 threads
 * ('onnxruntime-web 2T' of bench/peers on the same shapes). The load of the machine during the run is part of the result (`loadAverage`).
 */
import { loadavg } from 'node:os';
import { createAttention, type AttentionInstance, type BackendName } from '../src/index.js';
import type { ThreadedBackend } from '../src/threads/backend.js';
import { timeCalls, type Timing, type TimingOptions } from './measure.js';
import { makeInputs, type Shape } from './shapes.js';

export { THREADS_SHAPES } from './shapes.js';

export interface ThreadsTiming extends Timing {
  /** Threads the instance actually ran (1 where threads cannot run). */
  readonly threads: number;
  readonly backend: BackendName;
  /** 1-minute load average before and after the measurement (2 cores: ≥ 1 means another busy process). */
  readonly loadAverage: readonly [number, number];
  readonly note: string;
}

const DEFAULT_TIMING: TimingOptions = { runs: 7, minMs: 500 };

/**
 * Times one shape on `threads` threads.
 * @param shape a prefill shape (seqLenQ > 1) or a decode step (seqLenQ = 1: one token
 *   against a KV cache of seqLenK rows, shape.kvHeads K/V heads, default heads)
 * @param threads threads of the instance (1 = the single-thread path)
 * @param backend default `wasm-relaxed-simd` where available, else `wasm-simd` (`auto`)
 */
export async function measureThreads(shape: Shape, threads: number, backend?: BackendName, timing: TimingOptions = DEFAULT_TIMING): Promise<ThreadsTiming> {
  const attn = await createAttention({ backend: backend ?? 'auto', threads });
  const before = loadavg()[0]!;
  try {
    const prepared = shape.seqLenQ === 1 ? prepareDecodeStep(attn, shape) : preparePrefill(attn, shape);
    const result = await timeCalls(prepared.call, true, timing); // awaited even when synchronous: the same loop for both
    return { ...result, threads: attn.threads, backend: attn.backend, loadAverage: [before, loadavg()[0]!], note: prepared.note };
  } finally {
    attn.dispose();
  }
}

function preparePrefill(attn: AttentionInstance, shape: Shape): { call: () => Promise<void>; note: string } {
  const { q, k, v, scale } = makeInputs(shape);
  const dims = (seq: number) => [shape.batch, shape.heads, seq, shape.headDim];
  const out = new Float32Array(shape.batch * shape.heads * shape.seqLenQ * shape.headDim);
  const args = [{ data: q, shape: dims(shape.seqLenQ) }, { data: k, shape: dims(shape.seqLenK) }, { data: v, shape: dims(shape.seqLenK) }] as const;
  const options = { scale, causal: shape.causal, out };
  return {
    call: async () => void (await attn.attentionAsync(...args, options)),
    note: `attentionAsync, ${attn.threads} thread${attn.threads > 1 ? 's' : ''}`,
  };
}

/**
 * One decode step against a filled float32 cache: the query's attention over the cache
 * (no append: the step's cost is reading the cache), through the public `decodeAsync` (on
 * one thread it is `decode()` in a promise), with a caller-owned `out`, so the ratio is
 * what a threaded user gets, validation and hand-off included.
 */
function prepareDecodeStep(attn: AttentionInstance, shape: Shape): { call: () => Promise<void>; note: string } {
  const { q, k, v, scale } = makeInputs(shape);
  const { batch, heads, seqLenK, headDim } = shape;
  const kvHeads = shape.kvHeads ?? heads;
  const cache = attn.createKVCache({ batch, kvHeads, headDim, maxSeqLen: seqLenK });
  cache.append({ data: k, shape: [batch, kvHeads, seqLenK, headDim] }, { data: v, shape: [batch, kvHeads, seqLenK, headDim] });
  const query = { data: q, shape: [batch, heads, 1, headDim] };
  const options = { scale, out: new Float32Array(q.length) };
  const threaded = (attn as unknown as { threaded: ThreadedBackend | null }).threaded;
  return {
    call: async () => void (await attn.decodeAsync(query, cache, options)),
    get note() {
      // Read after the calls: how the threaded engine split the step (row blocks, key ranges).
      if (!threaded || attn.threads === 1) return 'decodeAsync, 1 thread';
      const { threads, keySplits } = threaded.lastCachedSplit;
      return `decodeAsync, ${threads} threads${keySplits > 1 ? `, keys split in ${keySplits} ranges (flash-decoding)` : ''}`;
    },
  };
}
