// A/B of two kernel builds in one process, side by side: the way to judge a kernel change
// on a shared, noisy machine (a separate bench run per build compares two moments of the
// machine, not two kernels). Both builds run behind the same host code (the built dist/,
// `createAttention({ module })`), so only the kernels differ; rounds alternate A and B and
// the ratio is taken per round, then its median and range are reported.
//
//   npm run build && node [--experimental-wasm-relaxed-simd] bench/ab-kernels.mjs A.wasm B.wasm \
//     [--shape 1,8,1024,64] [--causal] [--rounds 15] [--decode]
//
// --decode: one decode step (Lq = 1) over a KV cache of L tokens, H KV heads, head size D
// (the bench's decode shape is --shape 1,32,2048,128), instead of a prefill call;
// --dtype float16|int8: the cache's dtype (float32 by default); --q-heads N: N query heads over
// the H KV heads (GQA decode; H by default).
//
// --host-a DIR / --host-b DIR: run A (B) behind the built dist/ of DIR instead of this
// repository's, for a change of the ABI itself (the parameter block's fields), where one host
// cannot drive both builds: `git archive REV | tar -x -C DIR`, `npm run build` there, then
// pass DIR/build/attention-*.wasm with --host-a DIR.
//
// A build of another commit: `git archive REV assembly asconfig.json | tar -x -C DIR`, then
// `node node_modules/assemblyscript/bin/asc.js assembly/index.ts --config asconfig.json
// --target simd` inside DIR (with this repository's node_modules linked there).
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const option = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const files = args.filter((arg, i) => arg.endsWith('.wasm') && !args[i - 1]?.startsWith('--'));
if (files.length !== 2) {
  console.error('usage: node bench/ab-kernels.mjs A.wasm B.wasm [--shape B,H,L,D] [--causal] [--rounds N]');
  process.exit(2);
}
const [B, H, L, D] = option('--shape', '1,8,1024,64').split(',').map(Number);
const causal = args.includes('--causal');
const decode = args.includes('--decode');
const rounds = Number(option('--rounds', '15'));
const dtype = option('--dtype', 'float32');
const qHeads = Number(option('--q-heads', String(H)));

const hosts = [option('--host-a', root), option('--host-b', root)];
const instances = await Promise.all(
  files.map(async (file, i) => {
    const { createAttention } = await import(pathToFileURL(join(hosts[i], 'dist', 'index.js')).href);
    return createAttention({ module: await WebAssembly.compile(readFileSync(file)) });
  }),
);
const tensor = (seed, length = L, heads = H) => ({
  data: Float32Array.from({ length: B * heads * length * D }, (_, i) => Math.sin(i * 0.37 + seed)),
  shape: [B, heads, length, D],
});
const [q, k, v] = [tensor(1, decode ? 1 : L, decode ? qHeads : H), tensor(2), tensor(3)];
const out = new Float32Array(q.data.length);
const caches = decode
  ? instances.map((attn) => {
      const cache = attn.createKVCache({ batch: B, kvHeads: H, headDim: D, maxSeqLen: L, dtype });
      cache.append(k, v);
      return cache;
    })
  : [];
const call = (attn) => (decode ? attn.decode(q, caches[instances.indexOf(attn)], { out }) : attn.attention(q, k, v, { causal, out }));

// --cold: before each timed call, read a buffer larger than the last-level cache (64 MB, untimed),
// so that the call reads its cache from DRAM, as the layer's decode step does after its
// projections have read 40 MB of weights (bench/layer.ts).
const cold = args.includes('--cold') ? new Float64Array(8 << 20) : null;
let coldSink = 0;
const evict = () => { let sum = 0; for (let i = 0; i < cold.length; i += 8) sum += cold[i]; coldSink += sum; };

/** Median ms per call over a batch of calls lasting at least 200 ms. */
function measure(attn) {
  const times = [];
  const started = performance.now();
  while (performance.now() - started < 200 || times.length < 5) {
    if (cold) evict();
    const t = performance.now();
    call(attn);
    times.push(performance.now() - t);
  }
  return median(times);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

// Same answer first: the A/B is only meaningful between kernels that agree.
const results = instances.map((attn) => (call(attn), out.slice()));
let maxDiff = 0;
for (let i = 0; i < results[0].length; i++) maxDiff = Math.max(maxDiff, Math.abs(results[0][i] - results[1][i]));

for (let warm = 0; warm < 3; warm++) instances.forEach(measure); // past V8's baseline tier
const loadBefore = loadavg()[0];
const ms = [[], []];
const ratios = [];
for (let r = 0; r < rounds; r++) {
  const order = r % 2 === 0 ? [0, 1] : [1, 0];
  const round = [];
  for (const i of order) round[i] = measure(instances[i]);
  ms[0].push(round[0]);
  ms[1].push(round[1]);
  ratios.push(round[1] / round[0]);
}
const flops = 4 * B * (decode ? qHeads : H) * (decode ? 1 : L) * L * D;
console.log(`CPU: ${cpus()[0]?.model ?? 'unknown'}; Node ${process.version}; ${decode ? `decode step${qHeads !== H ? ` of ${qHeads} query heads` : ''} over a ${dtype} cache of` : 'shape'} [${B}, ${H}, ${L}, ${D}]${causal ? ' causal' : ''}; ${rounds} alternating rounds; load ${loadBefore.toFixed(2)}→${loadavg()[0].toFixed(2)}`);
files.forEach((file, i) => {
  const m = median(ms[i]);
  const spread = (Math.max(...ms[i]) - Math.min(...ms[i])) / m;
  console.log(`${'AB'[i]} ${instances[i].backend.padEnd(17)} median ${m.toFixed(2)} ms (spread ${(spread * 100).toFixed(0)}%), ${(flops / m / 1e6).toFixed(1)} GFLOP/s  ${file}`);
});
const sorted = [...ratios].sort((a, b) => a - b);
console.log(`B / A time: median ${median(ratios).toFixed(3)} (range ${sorted[0].toFixed(3)}–${sorted.at(-1).toFixed(3)}); max |A − B| of the outputs ${maxDiff.toExponential(2)}`);
