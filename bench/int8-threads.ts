/**
 * int8 KV cache, issue #15, side by side in one process (alternating, medians of per-round
 * ratios with their range, load average printed):
 * 1. append speed: quantised in JS (default build) vs in the kernel (int8 build,
 *    assembly/cache/f32-i8-quantize-4.ts), one decode token (H8 D128) and a 512-row chunk;
 * 2. decodeAsync over an int8 cache, 1 thread vs 2, H32 Lk2048 D128 and H8 Lk8192 D128, with
 *    the machine's own 2-core scaling measured in every round (bench/core-scaling.ts): the
 *    target (≥ 1.4×) is read on the rounds where the machine gave two cores (≥ 1.8×);
 * 3. the pool's spin before parking (src/threads/worker-source.ts SPIN_MS, 1 ms): two pools
 *    of one worker, started here as src/threads/index.ts startThreads does but one with the
 *    worker source's SPIN_MS set to 0, each decoding its own int8 cache (H8 Lk8192 D128) with
 *    decodeAsync on 2 threads, alternating, with the machine's scaling per round.
 *
 *   node scripts/run-ts.mjs bench/int8-threads.ts [rounds]
 */
import { cpus, loadavg } from 'node:os';
import { createAttention, type AttentionInstance, type KVCache } from '../src/index.js';
import { int8Kernel } from '../src/int8/index.js';
import { createCoreScalingProbe } from './core-scaling.js';
import { KVCacheImpl } from '../src/cache/kv-cache.js';
import { prepareDecode } from '../src/cache/decode.js';
import { Workspace } from '../src/workspace.js';
import { createThreadedBackend, type ThreadsKernelExports } from '../src/threads/backend.js';
import { threadsModule } from '../src/threads/kernels.js';
import { createSharedMemory } from '../src/threads/memory.js';
import { ThreadPool } from '../src/threads/pool.js';
import { workerSpawner } from '../src/threads/spawn.js';
import { SPIN_MS, WORKER_SOURCE } from '../src/threads/worker-source.js';

const rounds = Number(process.argv[2] ?? 9);
const backend = 'wasm-relaxed-simd' as const;
const FREE_CORES = 1.8;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
const idle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function appendBench(): Promise<void> {
  const js = await createAttention({ backend });
  const kernel = await createAttention({ backend, module: int8Kernel(backend) });
  for (const rows of [1, 512]) {
    const heads = 8, dim = 128, repeats = rows === 1 ? 2000 : 20;
    const kv = { data: values(heads * rows * dim, 1), shape: [1, heads, rows, dim] };
    const caches = [js, kernel].map((attn) => attn.createKVCache({ batch: 1, kvHeads: heads, headDim: dim, maxSeqLen: rows * repeats, dtype: 'int8' }));
    const time = (cache: KVCache) => {
      cache.reset();
      const started = performance.now();
      for (let r = 0; r < repeats; r++) cache.append(kv, kv);
      return ((performance.now() - started) * 1000) / repeats;
    };
    for (let w = 0; w < 20; w++) caches.forEach(time); // warm-up past the baseline tier
    const t: number[][] = [[], []];
    const ratios: number[] = [];
    for (let round = 0; round < rounds * 2; round++) {
      const a = time(caches[0]!), b = time(caches[1]!);
      t[0]!.push(a);
      t[1]!.push(b);
      ratios.push(a / b);
    }
    console.log(`append H${heads} ${rows} row${rows > 1 ? 's' : ''} D${dim} (k and v): JS ${median(t[0]!).toFixed(1)} µs, kernel ${median(t[1]!).toFixed(1)} µs, JS/kernel ${median(ratios).toFixed(2)}× (${range(ratios)})`);
    caches.forEach((c) => c.dispose());
  }
  js.dispose();
  kernel.dispose();
}

async function threadsBench(): Promise<void> {
  const probe = await createCoreScalingProbe();
  const one = await createAttention({ backend, threads: 2 });
  for (const { heads, seqLen } of [{ heads: 32, seqLen: 2048 }, { heads: 8, seqLen: 8192 }]) {
    const dim = 128;
    const two = one;
    const cache = one.createKVCache({ batch: 1, kvHeads: heads, headDim: dim, maxSeqLen: seqLen, dtype: 'int8' });
    const kv = { data: values(heads * seqLen * dim, 2), shape: [1, heads, seqLen, dim] };
    cache.append(kv, kv);
    const q = { data: values(heads * dim, 3), shape: [1, heads, 1, dim] };
    // 1 thread: the synchronous decode on the same instance and cache (the pool's build,
    // exactly the engine decodeAsync runs with threads === 1); 2 threads: decodeAsync.
    const sides = [async () => one.decode(q, cache), () => two.decodeAsync(q, cache)];
    const started = performance.now();
    while (performance.now() - started < 2500) for (const side of sides) { await side(); await idle(20); }
    const times: number[][] = [[], []];
    const ratios: number[] = [];
    const machine: number[] = [];
    const steps = 10;
    for (let round = 0; round < rounds; round++) {
      machine.push(await probe.measure());
      const took = [0, 0];
      for (const s of round % 2 === 0 ? [0, 1] : [1, 0]) {
        const t0 = performance.now();
        for (let n = 0; n < steps; n++) await sides[s]!();
        took[s] = (performance.now() - t0) / steps;
      }
      times[0]!.push(took[0]!);
      times[1]!.push(took[1]!);
      ratios.push(took[0]! / took[1]!);
    }
    const free = ratios.filter((_, r) => machine[r]! >= FREE_CORES);
    console.log(
      `decodeAsync int8 H${heads} Lk${seqLen} D${dim}: 1T ${median(times[0]!).toFixed(3)} ms, 2T ${median(times[1]!).toFixed(3)} ms, ` +
        `1T/2T ${median(ratios).toFixed(2)}× (${range(ratios)}); machine ${median(machine).toFixed(2)}× (${range(machine)}); ` +
        `rounds with machine ≥ ${FREE_CORES}×: ${free.length === 0 ? 'none' : `${median(free).toFixed(2)}× median of ${free.length} (${range(free)})`}`,
    );
    cache.dispose();
  }
  one.dispose();
  await probe.dispose();
}

/**
 * A 2-thread pool whose worker spins `spinMs` before parking, and decodeAsync over its own
 * int8 cache [1, heads, seqLen, dim], as an instance's decodeAsync runs it (enqueue, then
 * prepareDecode, runThreadedCached, finish).
 */
async function spinningPool(spinMs: number, heads: number, seqLen: number, dim: number) {
  const source = WORKER_SOURCE.replace(`const SPIN_MS = ${SPIN_MS};`, `const SPIN_MS = ${spinMs};`);
  if (spinMs !== SPIN_MS && source === WORKER_SOURCE) throw new Error('worker source: SPIN_MS line not found');
  const module = threadsModule(backend)!;
  const { memory, maximumBytes } = createSharedMemory();
  const kernel = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as ThreadsKernelExports;
  const spawner = await workerSpawner(source);
  const pool = new ThreadPool(1, spawner.spawn, { module, memory });
  const failures = await pool.ready();
  if (pool.workers !== 1) throw new Error(`spin ${spinMs} pool: ${failures.join('; ')}`);
  const threaded = createThreadedBackend(backend, kernel, memory, maximumBytes, pool, spawner.release);
  const engine = threaded.cacheEngine();
  const cache = new KVCacheImpl(engine, { batch: 1, kvHeads: heads, headDim: dim, maxSeqLen: seqLen, dtype: 'int8' });
  const kv = { data: values(heads * seqLen * dim, 2), shape: [1, heads, seqLen, dim] };
  cache.append(kv, kv);
  const q = { data: values(heads * dim, 3), shape: [1, heads, 1, dim] };
  const workspace = new Workspace();
  return {
    step: () =>
      threaded.enqueue(async () => {
        const call = prepareDecode(engine, workspace, q, cache, undefined);
        await threaded.runThreadedCached(call.plan);
        return call.finish();
      }),
    get threads() {
      return threaded.lastCachedSplit.threads;
    },
    dispose: () => threaded.dispose(),
  };
}

async function spinBench(): Promise<void> {
  const probe = await createCoreScalingProbe();
  const heads = 8, seqLen = 8192, dim = 128, steps = 10;
  const pools = [await spinningPool(SPIN_MS, heads, seqLen, dim), await spinningPool(0, heads, seqLen, dim)];
  const started = performance.now();
  while (performance.now() - started < 2500) for (const pool of pools) { await pool.step(); await idle(20); }
  const times: number[][] = [[], []];
  const ratios: number[] = [];
  const machine: number[] = [];
  for (let round = 0; round < rounds; round++) {
    machine.push(await probe.measure());
    const took = [0, 0];
    for (const s of round % 2 === 0 ? [0, 1] : [1, 0]) {
      const t0 = performance.now();
      for (let n = 0; n < steps; n++) await pools[s]!.step();
      took[s] = (performance.now() - t0) / steps;
    }
    times[0]!.push(took[0]!);
    times[1]!.push(took[1]!);
    ratios.push(took[1]! / took[0]!);
  }
  const free = ratios.filter((_, r) => machine[r]! >= FREE_CORES);
  console.log(
    `decodeAsync int8 H${heads} Lk${seqLen} D${dim}, 2 threads (${pools.map((p) => p.threads).join(', ')} used): spin ${SPIN_MS} ms ${median(times[0]!).toFixed(3)} ms, ` +
      `spin 0 ${median(times[1]!).toFixed(3)} ms, spin0/spin${SPIN_MS} ${median(ratios).toFixed(2)}× (${range(ratios)}) (> 1: spinning helps); machine ${median(machine).toFixed(2)}× (${range(machine)}); ` +
      `rounds with machine ≥ ${FREE_CORES}×: ${free.length === 0 ? 'none' : `${median(free).toFixed(2)}× median of ${free.length} (${range(free)})`}`,
  );
  pools.forEach((pool) => pool.dispose());
  await probe.dispose();
}

const loadBefore = load();
console.log(`int8 bench: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${backend}; ${rounds} rounds; load before ${loadBefore}`);
await appendBench();
await threadsBench();
if (!process.argv.includes('--no-spin')) await spinBench();
console.log(`load after ${load()}`);
