/**
 * Threads (src/threads/): `createAttention({ threads })` and `attentionAsync`.
 *
 * Exactness: the prefill split deals whole 8-query blocks to threads and each block is
 * computed by the same code from the same inputs whatever thread runs it, so a threaded
 * result must be *bit-identical* to the single-thread result of the same build (output and
 * weights, float32 and float16) — compared bit for bit, not within a tolerance. Each case
 * is also checked against the float64 reference (test/helpers.ts tolerances), so that two
 * equally wrong results cannot pass.
 *
 * Small calls normally run on the calling thread alone (MIN_MACS_PER_THREAD); this file
 * sets that threshold to 0 so that every case of the grid is really split.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createAttention, init, attentionAsync, isBackendAvailable, type AttentionInstance, type AttentionResult, type BackendName } from '../src/index.js';
import { setMinMacsPerThread, type ThreadedBackend } from '../src/threads/backend.js';
import { threadsUnavailableReason } from '../src/threads/index.js';
import { buildCase, expectResult, type BuiltCase, type CaseSpec } from './helpers.js';
import { mulberry32 } from './reference.js';

const WASM_BACKENDS = (['wasm-simd', 'wasm-relaxed-simd'] as const).filter(isBackendAvailable);

/** The pool behind a threaded instance (tests only). */
function poolOf(attn: AttentionInstance) {
  return (attn as unknown as { threaded: ThreadedBackend }).threaded.pool;
}

/** Bits of a result's data, so that -0 ≠ 0 and NaN payloads count. */
function bitsOf(data: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number; BYTES_PER_ELEMENT: number }): Uint32Array | Uint16Array {
  return data.BYTES_PER_ELEMENT === 4
    ? new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4)
    : new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
}

function expectBitIdentical(got: AttentionResult, want: AttentionResult, context: string): void {
  const pairs: [string, AttentionResult['output'] | undefined, AttentionResult['output'] | undefined][] = [
    ['output', got.output, want.output],
    ['weights', got.weights, want.weights],
  ];
  for (const [name, a, b] of pairs) {
    expect(a === undefined, `${context}: ${name} presence`).toBe(b === undefined);
    if (!a || !b) continue;
    expect(a.shape, `${context}: ${name} shape`).toEqual(b.shape);
    const x = bitsOf(a.data as Float32Array);
    const y = bitsOf(b.data as Float32Array);
    expect(x.length, `${context}: ${name} length`).toBe(y.length);
    for (let n = 0; n < x.length; n++) {
      if (x[n] !== y[n]) {
        throw new Error(`${context}: ${name}[${n}] differs: threaded bits 0x${x[n]!.toString(16)} (${a.data[n]}), single-thread 0x${y[n]!.toString(16)} (${b.data[n]}), shape [${a.shape.join(', ')}]`);
      }
    }
  }
}

const built = new Map<string, BuiltCase>();
function cached(spec: CaseSpec): BuiltCase {
  const key = JSON.stringify(spec);
  let c = built.get(key);
  if (!c) built.set(key, (c = buildCase(spec)));
  return c;
}

// The grid of test/attention.test.ts, with more heads and queries so that every thread gets
// blocks, uneven splits (units not a multiple of the threads), and single-unit calls.
const HEAD_DIMS = [1, 3, 4, 7, 64, 80, 128];
const SEQ_LENS: [number, number][] = [[1, 1], [1, 37], [5, 5], [17, 64], [65, 33], [130, 130]];
const GRID = HEAD_DIMS.flatMap((headDim) => SEQ_LENS.map(([seqLenQ, seqLenK]) => ({ headDim, seqLenQ, seqLenK })));

function mixedSpec(headDim: number, seqLenQ: number, seqLenK: number, n: number): CaseSpec {
  const random = mulberry32(9100 + n);
  const choose = <T,>(options: readonly T[]): T => options[Math.floor(random() * options.length)]!;
  const [qHeads, kvHeads] = choose([[6, 2], [3, 1], [4, 4], [2, 1]] as const);
  const maskKind = choose(['bool', 'additive', undefined] as const);
  return {
    batch: 2, qHeads, kvHeads, seqLenQ, seqLenK, headDim,
    valueDim: choose([headDim, headDim + 5]),
    layout: choose(['bhsd', 'bshd', 'packed'] as const),
    causal: choose([true, 'top-left', undefined, false] as const),
    mask: maskKind && { kind: maskKind, shape: choose([[seqLenQ, seqLenK], [2, 1, 1, seqLenK], [1, qHeads, seqLenQ, seqLenK]]), maskedFraction: 0.2 },
    keyLengths: choose([undefined, undefined, [seqLenK, Math.floor(seqLenK / 2)]]),
    softcap: choose([undefined, undefined, 5]),
    dtype: choose(['float32', 'float32', 'float16'] as const),
    returnWeights: choose([true, false]),
    seed: 9100 + n,
  };
}

beforeAll(() => setMinMacsPerThread(0));
afterAll(() => setMinMacsPerThread(undefined));

describe('threads_available_in_node', () => {
  it('node_20_runs_threads', () => {
    // CI runs Node 20: worker_threads, SharedArrayBuffer and shared WebAssembly memory are there.
    expect(threadsUnavailableReason()).toBeNull();
  });
});

describe.each(WASM_BACKENDS)('backend %s', (backendName: BackendName) => {
  let single: AttentionInstance;
  const threaded: Record<number, AttentionInstance> = {};
  beforeAll(async () => {
    single = await createAttention({ backend: backendName });
    for (const threads of [2, 3]) {
      threaded[threads] = await createAttention({ backend: backendName, threads });
      expect(threaded[threads]!.threads).toBe(threads);
      expect(threaded[threads]!.backend).toBe(backendName);
    }
  });
  afterAll(() => {
    for (const attn of Object.values(threaded)) attn.dispose();
  });

  async function check(spec: CaseSpec, threads: number, context: string): Promise<void> {
    const c = cached(spec);
    const want = single.attention(c.q, c.k, c.v, c.options);
    const got = await threaded[threads]!.attentionAsync(c.q, c.k, c.v, c.options);
    expectBitIdentical(got, want, `${backendName} threads=${threads} ${context}`);
    expectResult(got, c, `${backendName} threads=${threads} ${context}`);
  }

  describe('bit_identical_to_single_thread', () => {
    it.each(GRID)('D$headDim Lq$seqLenQ Lk$seqLenK', async ({ headDim, seqLenQ, seqLenK }) => {
      const spec = { batch: 2, qHeads: 3, seqLenQ, seqLenK, headDim, seed: headDim * 1000 + seqLenQ * 7 + seqLenK };
      for (const threads of [2, 3]) {
        await check(spec, threads, 'dense');
        await check({ ...spec, causal: true, returnWeights: true }, threads, 'causal weights');
      }
    });
    it.each(GRID.map((g, n) => [`D${g.headDim} Lq${g.seqLenQ} Lk${g.seqLenK}`, mixedSpec(g.headDim, g.seqLenQ, g.seqLenK, n)] as const))(
      'mixed %s',
      async (_, spec) => {
        for (const threads of [2, 3]) await check(spec, threads, JSON.stringify({ ...spec, seed: undefined }));
      },
    );
    it('large_causal_prefill', async () => {
      // A real split with the default threshold too: 8 heads × 40 blocks.
      setMinMacsPerThread(undefined);
      try {
        await check({ batch: 1, qHeads: 8, kvHeads: 2, seqLenQ: 320, seqLenK: 320, headDim: 64, causal: true }, 2, 'H8 L320 causal');
      } finally {
        setMinMacsPerThread(0);
      }
    });
  });

  describe('queue', () => {
    it('concurrent_calls_are_queued_and_each_correct', async () => {
      const specs = [0, 1, 2, 3, 4].map((n) => ({ batch: 1, qHeads: 4, seqLenQ: 40 + n, seqLenK: 50 + 3 * n, headDim: 16 + n, causal: n % 2 === 0, dtype: n === 3 ? 'float16' as const : 'float32' as const, seed: 300 + n }));
      const cases = specs.map(cached);
      const pending = cases.map((c) => threaded[2]!.attentionAsync(c.q, c.k, c.v, c.options));
      const results = await Promise.all(pending);
      results.forEach((got, n) => expectBitIdentical(got, single.attention(cases[n]!.q, cases[n]!.k, cases[n]!.v, cases[n]!.options), `queued call ${n}`));
    });
    it('sync_calls_while_an_async_call_is_in_flight', async () => {
      // The in-flight call's memory is reserved: a synchronous call (laid out above it) and
      // the workers never touch the same bytes.
      const big = cached({ batch: 1, qHeads: 8, seqLenQ: 200, seqLenK: 200, headDim: 32, seed: 5 });
      const small = cached({ batch: 2, qHeads: 2, seqLenQ: 30, seqLenK: 33, headDim: 40, returnWeights: true, seed: 6 });
      const pending = threaded[2]!.attentionAsync(big.q, big.k, big.v, big.options);
      const during = threaded[2]!.attention(small.q, small.k, small.v, small.options);
      expectBitIdentical(await pending, single.attention(big.q, big.k, big.v, big.options), 'async call');
      expectBitIdentical(during, single.attention(small.q, small.k, small.v, small.options), 'sync call during it');
    });
    it('bad_input_rejects_with_the_boundary_error_and_the_queue_goes_on', async () => {
      const c = cached({ batch: 1, qHeads: 2, seqLenQ: 9, seqLenK: 9, headDim: 8, seed: 8 });
      await expect(threaded[2]!.attentionAsync(c.q, { data: new Float32Array(3), shape: [1, 2, 9, 8] }, c.v)).rejects.toThrow(RangeError);
      await expect(threaded[2]!.attentionAsync(c.q, c.k, c.v, { causal: 'yes' } as never)).rejects.toThrow(TypeError);
      expectBitIdentical(await threaded[2]!.attentionAsync(c.q, c.k, c.v), single.attention(c.q, c.k, c.v), 'after rejections');
    });
  });
});

describe('lifecycle', () => {
  const c = buildCase({ batch: 1, qHeads: 4, seqLenQ: 64, seqLenK: 64, headDim: 32, causal: true, seed: 77 });
  let single: AttentionInstance;
  beforeAll(async () => {
    single = await createAttention({ backend: 'wasm-simd' });
  });

  it('a_worker_that_dies_during_a_call_rejects_it_and_the_pool_recovers', async () => {
    const attn = await createAttention({ backend: 'wasm-simd', threads: 3 });
    try {
      poolOf(attn).crashOnNextJob(2);
      await expect(attn.attentionAsync(c.q, c.k, c.v, c.options)).rejects.toThrow(/worker thread 2 exited with code 70 during the call; the call was abandoned/);
      // The next call waits for the replacement and runs on every thread again.
      expectBitIdentical(await attn.attentionAsync(c.q, c.k, c.v, c.options), single.attention(c.q, c.k, c.v, c.options), 'after recovery');
      expect(attn.threads).toBe(3);
    } finally {
      attn.dispose();
    }
  });

  it('a_worker_terminated_from_outside_mid_call_rejects_it_and_the_pool_recovers', async () => {
    const attn = await createAttention({ backend: 'wasm-simd', threads: 2 });
    try {
      const big = buildCase({ batch: 1, qHeads: 8, seqLenQ: 512, seqLenK: 512, headDim: 64, seed: 78 });
      const pending = attn.attentionAsync(big.q, big.k, big.v);
      // Terminated while the host thread computes its share (≈ tens of ms): the worker never finishes its own.
      poolOf(attn).workerHandle(1)!.terminate();
      await expect(pending).rejects.toThrow(/worker thread 1 exited with code 1 during the call/);
      expectBitIdentical(await attn.attentionAsync(c.q, c.k, c.v, c.options), single.attention(c.q, c.k, c.v, c.options), 'after recovery');
      expect(attn.threads).toBe(2);
    } finally {
      attn.dispose();
    }
  });

  it('a_worker_terminated_while_idle_is_replaced_before_the_next_call', async () => {
    const attn = await createAttention({ backend: 'wasm-simd', threads: 2 });
    try {
      poolOf(attn).workerHandle(1)!.terminate();
      await new Promise((r) => setTimeout(r, 200)); // let the exit event arrive: the call must not see the dead worker
      expectBitIdentical(await attn.attentionAsync(c.q, c.k, c.v, c.options), single.attention(c.q, c.k, c.v, c.options), 'after idle death');
      expect(attn.threads).toBe(2);
    } finally {
      attn.dispose();
    }
  });

  it('dispose_rejects_later_async_calls_and_is_idempotent', async () => {
    const attn = await createAttention({ backend: 'wasm-simd', threads: 2 });
    attn.dispose();
    attn.dispose();
    expect(attn.threads).toBe(1);
    await expect(attn.attentionAsync(c.q, c.k, c.v, c.options)).rejects.toThrow(/disposed/);
  });

  it.each([
    ['dispose', 'attn.dispose();'],
    ['no_dispose', '// idle workers are unref()ed: they do not keep the process alive'],
  ])('process_exits_by_itself_%s', async (_, ending) => {
    // A child Node process runs threaded calls, then ends its script: it must exit on its own.
    const dir = mkdtempSync(join(tmpdir(), 'wasm-attention-threads-'));
    const entry = join(dir, 'main.ts');
    writeFileSync(entry, `
      import { createAttention } from ${JSON.stringify(resolve('src/index.ts'))};
      const attn = await createAttention({ backend: 'wasm-simd', threads: 2 });
      const n = 8 * 256 * 64;
      const t = (len: number) => ({ data: new Float32Array(len).map((_, i) => Math.sin(i)), shape: [1, 8, 256, 64] });
      const { output } = await attn.attentionAsync(t(n), t(n), t(n), { causal: true });
      if (!(output.data.length === n && attn.threads === 2)) process.exit(3);
      ${ending}
      console.log('done');
    `);
    // Built as the package is: the entry in one file, src/threads/ as threads/index.js next
    // to it (instance.ts loads it on demand, see importThreads).
    writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
    await build({
      entryPoints: [{ in: entry, out: 'main' }, { in: resolve('src/threads/index.ts'), out: 'threads/index' }],
      outdir: dir, bundle: true, platform: 'node', format: 'esm', logLevel: 'error',
    });
    const child = spawnSync(process.execPath, [join(dir, 'main.js')], { timeout: 20_000, encoding: 'utf8' });
    expect(child.error, 'the process did not exit within 20 s (a worker kept it alive)').toBeUndefined();
    expect(child.stdout.trim()).toBe('done');
    expect(child.status, child.stderr).toBe(0);
  });
});

describe('options', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
    vi.restoreAllMocks();
  });

  it('threads_validation', async () => {
    await expect(createAttention({ threads: 0 })).rejects.toThrow(RangeError);
    await expect(createAttention({ threads: 1.5 })).rejects.toThrow(RangeError);
    await expect(createAttention({ threads: 257 })).rejects.toThrow(RangeError);
    await expect(createAttention({ threads: 'all' as never })).rejects.toThrow(/options.threads: expected an integer in \[1, 256\] or 'auto'/);
  });

  it('threads_1_and_auto', async () => {
    const one = await createAttention({ threads: 1 });
    expect(one.threads).toBe(1);
    const c = buildCase({ batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 7, headDim: 4, seed: 1 });
    expectBitIdentical(await one.attentionAsync(c.q, c.k, c.v), one.attention(c.q, c.k, c.v), 'one thread, async');
    const auto = await createAttention({ threads: 'auto' });
    try {
      expect(auto.threads).toBeGreaterThanOrEqual(1);
      expect(auto.threads).toBeLessThanOrEqual(16);
    } finally {
      auto.dispose();
    }
  });

  it('js_backend_runs_one_thread_and_warns_once', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const a = await createAttention({ backend: 'js', threads: 4 });
    const b = await createAttention({ backend: 'js', threads: 4 });
    expect([a.threads, b.threads]).toEqual([1, 1]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/threads: 4 requested, running on one thread: the js backend is single-threaded/);
  });

  it('browser_page_without_cross_origin_isolation_runs_one_thread_and_says_which_headers_fix_it', async () => {
    vi.stubGlobal('document', {});
    vi.stubGlobal('crossOriginIsolated', false);
    expect(threadsUnavailableReason()).toMatch(/Cross-Origin-Opener-Policy: same-origin.*Cross-Origin-Embedder-Policy: require-corp/);
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const attn = await createAttention({ backend: 'wasm-simd', threads: 2 });
    const again = await createAttention({ backend: 'wasm-simd', threads: 2 });
    expect([attn.threads, again.threads]).toEqual([1, 1]);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/not cross-origin isolated/);
  });

  it('init_with_threads_and_top_level_attentionAsync', async () => {
    const attn = await init({ backend: 'wasm-simd', threads: 2 });
    try {
      expect(attn.threads).toBe(2);
      const c = buildCase({ batch: 1, qHeads: 4, seqLenQ: 33, seqLenK: 40, headDim: 16, seed: 3 });
      const single = await createAttention({ backend: 'wasm-simd' });
      expectBitIdentical(await attentionAsync(c.q, c.k, c.v), single.attention(c.q, c.k, c.v), 'default instance');
    } finally {
      await init(); // replaces (and disposes) the threaded default instance
      expect(attn.threads).toBe(1);
    }
  });
});
