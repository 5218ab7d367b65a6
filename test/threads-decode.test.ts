/**
 * Threaded attention over a KV cache (src/threads/decode.ts): the same `CachedPlan` run by
 * the single-thread engine (src/backends/wasm/cache-engine.ts) and split over 2 and 3
 * threads must give *bit-identical* output and weights: the split deals whole row blocks
 * (decode kernel) or 8-query blocks (prefill kernel) to threads, and no sum changes order.
 *
 * The plans come from the public `decode()` of a threaded instance, captured at its cache
 * engine, and run by the threaded engine directly (test/decode-async.test.ts checks the
 * public `decodeAsync` on top of it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAttention, type AttentionInstance, type BackendName } from '../src/index.js';
import type { CachedPlan, CacheEngine } from '../src/cache/engine.js';
import { setMinMacsPerThread } from '../src/threads/backend.js';
import { WASM_BACKENDS, threadedOf, random, expectSameBits } from './threads-helpers.js';

interface DecodeCase {
  readonly name: string;
  readonly batch: number;
  readonly qHeads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly seqLenQ: number;
  readonly cached: number;
  readonly dtype: 'float32' | 'float16';
  readonly causal?: boolean;
  readonly ragged?: boolean;
  readonly returnWeights?: boolean;
  readonly softcap?: number;
}

const CASES: DecodeCase[] = [
  { name: 'decode_mha_32_heads', batch: 1, qHeads: 32, kvHeads: 32, headDim: 128, seqLenQ: 1, cached: 300, dtype: 'float32', causal: true },
  { name: 'decode_gqa_32q_8kv_f16', batch: 1, qHeads: 32, kvHeads: 8, headDim: 64, seqLenQ: 1, cached: 257, dtype: 'float16', causal: true },
  { name: 'decode_mqa_6q_1kv_batch_3_ragged', batch: 3, qHeads: 6, kvHeads: 1, headDim: 7, seqLenQ: 1, cached: 90, dtype: 'float32', causal: true, ragged: true },
  { name: 'decode_weights_softcap', batch: 2, qHeads: 4, kvHeads: 2, headDim: 16, seqLenQ: 1, cached: 77, dtype: 'float32', returnWeights: true, softcap: 4 },
  { name: 'chunk_lq_4_gqa_decode_kernel_two_row_blocks', batch: 2, qHeads: 16, kvHeads: 2, headDim: 20, seqLenQ: 4, cached: 70, dtype: 'float32', causal: true, ragged: true },
  { name: 'chunk_lq_5_prefill_kernel', batch: 2, qHeads: 8, kvHeads: 4, headDim: 32, seqLenQ: 5, cached: 64, dtype: 'float32', causal: true, ragged: true },
  { name: 'chunk_lq_40_prefill_kernel', batch: 1, qHeads: 4, kvHeads: 2, headDim: 64, seqLenQ: 40, cached: 200, dtype: 'float32', causal: true },
  { name: 'chunk_lq_40_f16_decode_kernel_rows_gt_16', batch: 1, qHeads: 4, kvHeads: 2, headDim: 24, seqLenQ: 40, cached: 100, dtype: 'float16', causal: true, returnWeights: true },
];

beforeAll(() => setMinMacsPerThread(0));
afterAll(() => setMinMacsPerThread(undefined));

describe.each(WASM_BACKENDS)('backend %s', (backendName: BackendName) => {
  const instances: Record<number, AttentionInstance> = {};
  beforeAll(async () => {
    for (const threads of [2, 3]) instances[threads] = await createAttention({ backend: backendName, threads });
  });
  afterAll(() => Object.values(instances).forEach((attn) => attn.dispose()));

  it.each(CASES)('$name', async (c) => {
    for (const threads of [2, 3]) {
      const attn = instances[threads]!;
      expect(attn.threads).toBe(threads);
      const cache = attn.createKVCache({ batch: c.batch, kvHeads: c.kvHeads, headDim: c.headDim, maxSeqLen: c.cached + c.seqLenQ, dtype: c.dtype });
      const kv = c.batch * c.kvHeads * c.cached * c.headDim;
      const lengths = c.ragged ? Array.from({ length: c.batch }, (_, b) => c.cached - 13 * b) : undefined;
      cache.append({ data: random(kv, 1), shape: [c.batch, c.kvHeads, c.cached, c.headDim] }, { data: random(kv, 2), shape: [c.batch, c.kvHeads, c.cached, c.headDim] }, { lengths });
      const q = { data: random(c.batch * c.qHeads * c.seqLenQ * c.headDim, 3), shape: [c.batch, c.qHeads, c.seqLenQ, c.headDim] };

      // The single-thread result, and the plan that produced it.
      const engine = threadedOf(attn).cacheEngine() as CacheEngine & { run(plan: CachedPlan): void };
      const run = engine.run;
      let plan: CachedPlan | undefined;
      engine.run = (p) => {
        plan = p;
        run(p);
      };
      let want;
      try {
        want = attn.decode(q, cache, { causal: c.causal, returnWeights: c.returnWeights, softcap: c.softcap });
      } finally {
        engine.run = run;
      }
      const captured = plan!;
      const out = new Float32Array((captured.out as { host: Float32Array }).host.length);
      const weights = captured.weights ? new Float32Array(captured.weights.length) : null;
      await threadedOf(attn).enqueue(() => threadedOf(attn).runThreadedCached({ ...captured, out: { host: out }, weights }));
      const context = `${backendName} threads=${threads} ${c.name}`;
      expectSameBits(out, (captured.out as { host: Float32Array }).host, `${context} output`, ['threaded', 'single-thread']);
      if (weights) expectSameBits(weights, captured.weights!, `${context} weights`, ['threaded', 'single-thread']);
      // And the decode path did not leave the in-flight region reserved.
      cache.dispose();
      expect(want.output.data.length).toBe(out.length);
    }
  });
});
