// Decode steps per KV-cache dtype, side by side in one process (alternating rounds, ratios
// per round, then their median and range): the float32, float16 and int8 caches' steps, each
// beside the read bound of its own bytes (the testing build's `readSum` over a buffer of that
// size), the int8 step of the int8 builds (wasm-attention/int8) beside the default build's,
// and decodeAsync over an int8 cache on 2 threads against 1 thread. One process, so
// every ratio compares two kernels at the same moment of a shared, noisy machine.
//
//   npm run build && node --experimental-wasm-relaxed-simd bench/decode-dtypes.mjs \
//     [--shape B,H,L,D] [--rounds N] [--backend wasm-relaxed-simd] [--threads]
//
// Defaults: the bench's decode shape (1,32,2048,128); the long set's is 1,8,8192,128.
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const [B, H, L, D] = option('--shape', '1,32,2048,128').split(',').map(Number);
const rounds = Number(option('--rounds', '9'));
const backend = option('--backend', 'wasm-relaxed-simd');
const withThreads = args.includes('--threads');
const DTYPES = ['float32', 'float16', 'int8'];

const { createAttention } = await import(pathToFileURL(join(root, 'dist', 'index.js')).href);
const attn = await createAttention({ backend });
const values = (n, seed) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
const q = { data: values(B * H * D, 1), shape: [B, H, 1, D] };
const k = { data: values(B * H * L * D, 2), shape: [B, H, L, D] };
const v = { data: values(B * H * L * D, 3), shape: [B, H, L, D] };
const out = new Float32Array(B * H * D);
const caches = Object.fromEntries(DTYPES.map((dtype) => {
  const cache = attn.createKVCache({ batch: B, kvHeads: H, headDim: D, maxSeqLen: L, dtype });
  cache.append(k, v);
  return [dtype, cache];
}));

// Read bounds: one f32x4 pass over as many bytes as each cache's K+V rows (int8: scales included).
const bytesOf = { float32: 2 * B * H * L * D * 4, float16: 2 * B * H * L * D * 2, int8: 2 * B * H * L * (Math.ceil(D / 16) * 16 + 4) };
const reader = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(join(root, 'build', 'attention-testing-simd.wasm'))), {}).exports;
const base = reader.heapBase();
reader.memory.grow(Math.ceil((base + bytesOf.float32) / 65536));
new Float32Array(reader.memory.buffer, base, bytesOf.float32 / 4).set(values(bytesOf.float32 / 4, 4));
let sink = 0;

const steps = {};
for (const dtype of DTYPES) {
  steps[`${dtype} step`] = () => attn.decode(q, caches[dtype], { out });
  const bytes = Math.floor(bytesOf[dtype] / 64) * 64;
  steps[`${dtype} read bound`] = () => { sink += reader.readSum(base, bytes); };
}
// The int8 builds (wasm-attention/int8: integer dot products) beside the default build's f32 tile.
const { int8Kernel } = await import(pathToFileURL(join(root, 'dist', 'int8', 'index.js')).href);
const int8Attn = await createAttention({ backend, module: int8Kernel(backend) });
const int8Cache = int8Attn.createKVCache({ batch: B, kvHeads: H, headDim: D, maxSeqLen: L, dtype: 'int8' });
int8Cache.append(k, v);
steps['int8 step, int8 build'] = () => int8Attn.decode(q, int8Cache, { out });
const asyncSteps = {};
if (withThreads) {
  for (const threads of [1, 2]) {
    // threads: 1 is a plain instance (the default build): give it the int8 build, so that
    // both run the integer kernels (the thread pool's builds have them).
    const instance = await createAttention({ backend, threads, ...(threads === 1 ? { module: int8Kernel(backend) } : {}) });
    const cache = instance.createKVCache({ batch: B, kvHeads: H, headDim: D, maxSeqLen: L, dtype: 'int8' });
    cache.append(k, v);
    const own = new Float32Array(out.length);
    asyncSteps[`int8 decodeAsync ${threads}T`] = () => instance.decodeAsync(q, cache, { out: own });
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
/** Median ms per call over calls lasting at least 150 ms. */
async function measure(fn) {
  const times = [];
  const started = performance.now();
  while (performance.now() - started < 150 || times.length < 5) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return median(times);
}
const all = { ...steps, ...asyncSteps };
const names = Object.keys(all);
for (let warm = 0; warm < 2; warm++) for (const name of names) await measure(all[name]);
const ms = Object.fromEntries(names.map((name) => [name, []]));
const loadBefore = loadavg()[0];
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? names : [...names].reverse();
  for (const name of order) ms[name].push(await measure(all[name]));
}
if (Number.isNaN(sink)) throw new Error('readSum: NaN');

const ratio = (a, b) => {
  const per = ms[a].map((x, r) => x / ms[b][r]).sort((x, y) => x - y);
  return `${median(per).toFixed(2)} (range ${per[0].toFixed(2)}–${per.at(-1).toFixed(2)})`;
};
console.log(`CPU: ${cpus()[0]?.model ?? 'unknown'}; Node ${process.version}; ${backend}; decode step over a cache [${B}, ${H}, ${L}, ${D}]; ${rounds} alternating rounds; load ${loadBefore.toFixed(2)}→${loadavg()[0].toFixed(2)}`);
for (const name of names) {
  const m = median(ms[name]);
  const spread = (Math.max(...ms[name]) - Math.min(...ms[name])) / m;
  console.log(`  ${name.padEnd(24)} median ${m.toFixed(3)} ms (spread ${(spread * 100).toFixed(0)}%)`);
}
for (const dtype of DTYPES) console.log(`  ${dtype} step / its read bound: ${ratio(`${dtype} step`, `${dtype} read bound`)}`);
console.log(`  int8 step, int8 build / int8 read bound: ${ratio('int8 step, int8 build', 'int8 read bound')}`);
console.log(`  float16 step / int8 step: ${ratio('float16 step', 'int8 step')} (default build), ${ratio('float16 step', 'int8 step, int8 build')} (int8 build)`);
console.log(`  float32 step / int8 step: ${ratio('float32 step', 'int8 step')} (default build), ${ratio('float32 step', 'int8 step, int8 build')} (int8 build)`);
if (withThreads) console.log(`  int8 decodeAsync 1T / 2T: ${ratio('int8 decodeAsync 1T', 'int8 decodeAsync 2T')}`);
process.exit(0);
