// attentionBackwardAsync on threads (issue #13, src/backward/threads.ts): the gradients of
// 2 and 3 threads are the same bits as attentionBackward's on one thread over a grid of
// shapes and options (and within the float64 reference's bounds), the split really happens,
// errors reject with the synchronous call's TypeError / RangeError, and dispose() before or
// during a call rejects it, never resolving with part of the gradients.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAttention, type AttentionInstance } from '../src/index.js';
import { attentionBackwardAsync, threadedBackwardOf, withBackward, type BackwardMethods } from '../src/backward/index.js';
import { backwardUnits, setBackwardMinMacsPerThread } from '../src/backward/threads.js';
import type { BackwardResult } from '../src/backward/types.js';
import type { CaseSpec } from './helpers.js';
import { buildGradCase, expectWithin } from './backward-helpers.js';
import { expectSameBits, WASM_BACKENDS } from './threads-helpers.js';

type Instance = AttentionInstance & BackwardMethods;

const GRID: [string, CaseSpec][] = [
  ['mha_b2_d16', { batch: 2, qHeads: 3, seqLenQ: 9, seqLenK: 21, headDim: 16 }],
  ['gqa_d64', { batch: 2, qHeads: 6, kvHeads: 2, seqLenQ: 13, seqLenK: 37, headDim: 64 }],
  ['mqa_b1_one_unit', { batch: 1, qHeads: 4, kvHeads: 1, seqLenQ: 18, seqLenK: 18, headDim: 12, causal: true }],
  ['mqa_b3_causal', { batch: 3, qHeads: 4, kvHeads: 1, seqLenQ: 10, seqLenK: 26, headDim: 8, causal: true }],
  ['causal_bottom_right', { batch: 1, qHeads: 4, seqLenQ: 9, seqLenK: 20, headDim: 16, causal: true }],
  ['causal_top_left_q_gt_k', { batch: 2, qHeads: 2, seqLenQ: 20, seqLenK: 9, headDim: 8, causal: 'top-left' }],
  ['key_lengths_uneven', { batch: 3, qHeads: 2, seqLenQ: 6, seqLenK: 21, headDim: 8, keyLengths: [21, 5, 0] }],
  ['key_lengths_causal', { batch: 2, qHeads: 2, seqLenQ: 6, seqLenK: 21, headDim: 8, keyLengths: [17, 3], causal: true }],
  ['bool_mask_2d', { batch: 2, qHeads: 2, seqLenQ: 6, seqLenK: 18, headDim: 8, mask: { kind: 'bool', shape: [6, 18] } }],
  ['additive_mask_full', { batch: 2, qHeads: 2, seqLenQ: 5, seqLenK: 17, headDim: 8, mask: { kind: 'additive', shape: [2, 2, 5, 17] } }],
  ['additive_mask_b1qk_gqa', { batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 6, seqLenK: 8, headDim: 8, mask: { kind: 'additive', shape: [2, 1, 6, 8] } }],
  ['bshd_gqa_causal_dv_neq_d', { batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 11, seqLenK: 23, headDim: 16, valueDim: 12, layout: 'bshd', causal: true }],
  ['packed_3d', { batch: 1, qHeads: 3, seqLenQ: 5, seqLenK: 19, headDim: 8, layout: 'packed' }],
  ['window_causal_keylengths', { batch: 2, qHeads: 2, kvHeads: 1, seqLenQ: 19, seqLenK: 37, headDim: 8, window: 7, causal: true, keyLengths: [37, 20] }],
  ['alibi_softcap', { batch: 1, qHeads: 4, seqLenQ: 13, seqLenK: 29, headDim: 8, alibi: true, softcap: 2 }],
  ['tile_edges_d33_dv7', { batch: 1, qHeads: 5, seqLenQ: 17, seqLenK: 33, headDim: 33, valueDim: 7 }],
];

function expectSameGradients(got: BackwardResult, want: BackwardResult, context: string): void {
  const labels = ['threads', 'one thread'] as const;
  expectSameBits(got.dq.data, want.dq.data, `${context} dq`, labels);
  expectSameBits(got.dk.data, want.dk.data, `${context} dk`, labels);
  expectSameBits(got.dv.data, want.dv.data, `${context} dv`, labels);
  if (want.dmask) expectSameBits(got.dmask!.data, want.dmask.data, `${context} dmask`, labels);
  else expect(got.dmask, `${context} dmask`).toBeUndefined();
}

describe.each(WASM_BACKENDS)('attentionBackwardAsync on threads, %s', (backend) => {
  let single: Instance;
  const threaded = new Map<number, Instance>();

  beforeAll(async () => {
    setBackwardMinMacsPerThread(0); // split the grid's small calls too
    single = withBackward(await createAttention({ backend }));
    for (const threads of [2, 3]) threaded.set(threads, withBackward(await createAttention({ backend, threads })));
  });
  afterAll(() => {
    setBackwardMinMacsPerThread(undefined);
    single.dispose();
    for (const attn of threaded.values()) attn.dispose();
  });

  it.each(GRID)('%s: bit-identical to one thread at 2 and 3 threads, within the reference', async (_, spec) => {
    const c = buildGradCase(spec);
    const { q, k, v, options } = c.forward;
    for (const given of ['output and lse', 'neither'] as const) {
      const extra = given === 'neither' ? {} : { output: single.attention(q, k, v, options).output, lse: single.attentionLse(q, k, v, options) };
      const inputs = { q, k, v, dout: c.dout, ...extra };
      const want = single.attentionBackward(inputs, options);
      for (const [threads, attn] of threaded) {
        const context = `${c.forward.label} [${backend}, ${threads} threads, ${given} given]`;
        const got = await attn.attentionBackwardAsync(inputs, options);
        expectSameGradients(got, want, context);
        expectWithin(got.dq.data, c.want.dq, c.bound.dq, `${context} dq`);
        expectWithin(got.dk.data, c.want.dk, c.bound.dk, `${context} dk`);
        expectWithin(got.dv.data, c.want.dv, c.bound.dv, `${context} dv`);
        if (c.want.dmask) expectWithin(got.dmask!.data, c.want.dmask, c.bound.dmask, `${context} dmask`);
        // The split happened: one thread per unit (batch × KV heads) up to the thread count.
        const engine = await threadedBackwardOf(attn);
        const units = spec.batch * (spec.kvHeads ?? spec.qHeads);
        expect(engine?.lastThreads, `${context}: threads used`).toBe(Math.min(threads, units));
      }
    }
  });

  it('float16_inputs: the same bits as one thread', async () => {
    const c = buildGradCase({ batch: 2, qHeads: 2, seqLenQ: 5, seqLenK: 19, headDim: 8 });
    const half = (data: ArrayLike<number>) => Uint16Array.from(data as ArrayLike<number>, (x) => (Math.round(x * 512) & 0x3ff) | 0x3800);
    const tensor = (t: { data: ArrayLike<number>; shape: readonly number[] }) => ({ data: half(t.data), shape: t.shape });
    const inputs = { q: tensor(c.forward.q), k: tensor(c.forward.k), v: tensor(c.forward.v), dout: tensor(c.dout) };
    const want = single.attentionBackward(inputs);
    expectSameGradients(await threaded.get(2)!.attentionBackwardAsync(inputs), want, 'float16_inputs');
  });

  it('deterministic: the same bits on every run', async () => {
    const c = buildGradCase(GRID[1]![1]);
    const { q, k, v, options } = c.forward;
    const attn = threaded.get(2)!;
    const first = await attn.attentionBackwardAsync({ q, k, v, dout: c.dout }, options);
    for (let run = 0; run < 3; run++) expectSameGradients(await attn.attentionBackwardAsync({ q, k, v, dout: c.dout }, options), first, `run ${run}`);
  });

  it('concurrent calls queue and each gets its own gradients', async () => {
    const cases = [GRID[0]!, GRID[1]!, GRID[9]!].map(([, spec]) => buildGradCase(spec));
    const attn = threaded.get(2)!;
    const calls = cases.map((c) => attn.attentionBackwardAsync({ q: c.forward.q, k: c.forward.k, v: c.forward.v, dout: c.dout }, c.forward.options));
    const results = await Promise.all(calls);
    results.forEach((got, n) => {
      const c = cases[n]!;
      expectSameGradients(got, single.attentionBackward({ q: c.forward.q, k: c.forward.k, v: c.forward.v, dout: c.dout }, c.forward.options), c.forward.label);
    });
  });

  it('errors reject with the synchronous call\'s TypeError / RangeError', async () => {
    const c = buildGradCase(GRID[0]![1]);
    const { q, k, v } = c.forward;
    const attn = threaded.get(2)!;
    const bad = [
      [{ q, k, v }, undefined],
      [{ q, k, v, dout: { data: c.dout.data.subarray(1), shape: c.dout.shape } }, undefined],
      [{ q, k, v, dout: c.dout }, { returnWeights: true }],
      [{ q, k, v, dout: c.dout, lse: new Float32Array(3) }, undefined],
      [{ q, k, v, dout: c.dout }, { causal: 'sideways' }],
    ] as const;
    for (const [inputs, options] of bad) {
      let thrown: unknown;
      try {
        attn.attentionBackward(inputs as never, options as never);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, JSON.stringify(options)).toBeInstanceOf(Error);
      const promise = attn.attentionBackwardAsync(inputs as never, options as never);
      await expect(promise).rejects.toThrow((thrown as Error).message);
      await expect(promise).rejects.toBeInstanceOf((thrown as Error).constructor);
    }
    await expect(attentionBackwardAsync(null as never, { q, k, v, dout: c.dout })).rejects.toBeInstanceOf(TypeError);
  });

  it('one_thread_instance: runs at once on the calling thread, starts no workers', async () => {
    const c = buildGradCase(GRID[1]![1]);
    const inputs = { q: c.forward.q, k: c.forward.k, v: c.forward.v, dout: c.dout };
    const promise = single.attentionBackwardAsync(inputs, c.forward.options);
    expect(threadedBackwardOf(single)).toBeNull();
    expectSameGradients(await promise, single.attentionBackward(inputs, c.forward.options), 'one thread');
  });

  it('dispose before or during a call rejects it; a call never resolves with partial gradients', async () => {
    const c = buildGradCase({ batch: 2, qHeads: 4, seqLenQ: 64, seqLenK: 256, headDim: 32, causal: true });
    const inputs = { q: c.forward.q, k: c.forward.k, v: c.forward.v, dout: c.dout };
    const want = single.attentionBackward(inputs, c.forward.options);
    let rejected = 0;
    let completed = 0;
    for (const delayMs of [-1, 0, 1, 2, 5, 20]) {
      const attn = withBackward(await createAttention({ backend, threads: 2 }));
      if (delayMs >= 0) await attn.attentionBackwardAsync(inputs, c.forward.options); // workers started
      const call = attn.attentionBackwardAsync(inputs, c.forward.options);
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      attn.dispose();
      try {
        expectSameGradients(await call, want, `disposed after ${delayMs} ms`);
        completed++;
      } catch (error) {
        expect(String(error), `disposed after ${delayMs} ms`).toMatch(/disposed/);
        rejected++;
      }
      await expect(attn.attentionBackwardAsync(inputs, c.forward.options), 'a call after dispose').rejects.toThrow(/disposed/);
      const engine = await threadedBackwardOf(attn);
      if (engine) await expect(engine.pool.acquire(), 'the pool is ended').rejects.toThrow(/disposed/);
    }
    expect(rejected, `rejected ${rejected}, completed ${completed}`).toBeGreaterThan(0);
  });

  it('worker_dies_during_a_call: the call rejects, the next one runs on a replacement', async () => {
    const c = buildGradCase(GRID[0]![1]);
    const inputs = { q: c.forward.q, k: c.forward.k, v: c.forward.v, dout: c.dout };
    const attn = threaded.get(2)!;
    await attn.attentionBackwardAsync(inputs, c.forward.options);
    const engine = (await threadedBackwardOf(attn))!;
    engine.pool.crashOnNextJob(1);
    await expect(attn.attentionBackwardAsync(inputs, c.forward.options)).rejects.toThrow(/worker thread 1 .* during the call/);
    expectSameGradients(await attn.attentionBackwardAsync(inputs, c.forward.options), single.attentionBackward(inputs, c.forward.options), 'after a replacement');
    expect(engine.lastThreads).toBe(2);
  });

  it('units: batch × KV heads', () => {
    expect(backwardUnits({ batch: 3, kvHeads: 2 } as never)).toBe(6);
  });
});

describe.runIf(WASM_BACKENDS.length > 0)('attentionBackwardAsync workers and the process', () => {
  it.each([
    ['dispose', 'attn.dispose();'],
    ['no_dispose', '// idle workers are unref()ed: they do not keep the process alive'],
  ])('process_exits_by_itself_%s', async (_, ending) => {
    // As test/threads.test.ts for the forward's pool: a child process runs a threaded
    // backward call, then ends its script; it must exit on its own.
    const dir = mkdtempSync(join(tmpdir(), 'wasm-attention-backward-threads-'));
    const entry = join(dir, 'main.ts');
    writeFileSync(entry, `
      import { createAttention } from ${JSON.stringify(resolve('src/index.ts'))};
      import { withBackward, threadedBackwardOf } from ${JSON.stringify(resolve('src/backward/index.ts'))};
      const attn = withBackward(await createAttention({ backend: ${JSON.stringify(WASM_BACKENDS[0])}, threads: 2 }));
      const t = () => ({ data: new Float32Array(2 * 8 * 128 * 32).map((_, i) => Math.sin(i)), shape: [2, 8, 128, 32] });
      const { dq } = await attn.attentionBackwardAsync({ q: t(), k: t(), v: t(), dout: t() }, { causal: true });
      if (!(dq.data.length === t().data.length && (await threadedBackwardOf(attn))?.lastThreads === 2)) process.exit(3);
      ${ending}
      console.log('done');
    `);
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
    await build({
      entryPoints: [{ in: entry, out: 'main' }, { in: resolve('src/threads/index.ts'), out: 'threads/index' }],
      outdir: dir, bundle: true, platform: 'node', format: 'esm', logLevel: 'error',
    });
    const child = spawnSync(process.execPath, [join(dir, 'main.js')], { timeout: 30_000, encoding: 'utf8' });
    expect(child.error, 'the process did not exit within 30 s (a worker kept it alive)').toBeUndefined();
    expect(child.stdout.trim(), child.stderr).toBe('done');
    expect(child.status, child.stderr).toBe(0);
  });
});
