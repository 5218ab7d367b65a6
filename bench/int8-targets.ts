/**
 * Issue #15's int8 decode targets, side by side in one process (alternating rounds, medians
 * of per-round ratios with their range, load average printed):
 * - int8 decode step (the int8 builds, `wasm-attention/int8`) ≥ 1.7× faster than the
 *   float16 step (default build), at H8 Lk8192 D128 by default;
 * - ≥ 4× faster than onnxruntime-web's best graph of the same step (1 thread, the fastest
 *   of bench/peers/ort.ts's graphs in a pilot; float32 K/V handed in per call, as an ORT
 *   user's past K/V are: onnxruntime-web has no int8 cache);
 * - the int8 cache's bytes against the float32 cache's (scales included): ≤ 0.27×.
 * A step is `decode` alone (q in, out written), and `append` of one token + `decode` +
 * `truncate` (a generation step, as `npm run bench -- --shapes decode` times it). Every
 * output is checked first: float32 and ORT by the bench's float64 gate (bench/check.ts),
 * float16 and int8 against float32 by a sanity gate of 0.05·max|v| (their stated bounds
 * are tested in test/cache.test.ts and test/cache-int8.test.ts).
 *
 *   node scripts/run-ts.mjs bench/int8-targets.ts [rounds] [H,L,D]
 */
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createAttention, type AttentionInstance, type KVCache, type KVCacheOptions } from '../src/index.js';
import { int8Kernel } from '../src/int8/index.js';
import { checkOutput } from './check.js';
import { makeInputs, type Shape } from './shapes.js';
import { PEERS, peerRequire, peersInstalled } from './peers/index.js';

const rounds = Number(process.argv[2] ?? 9);
const [H, L, D] = (process.argv[3] ?? '8,8192,128').split(',').map(Number) as [number, number, number];
const backend = 'wasm-relaxed-simd' as const;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)}`;
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const idle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// The bundle runs from build/ (scripts/run-ts.mjs): the peers are in bench/peers.
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const peersDir = join(root, 'bench', 'peers');
const shape: Shape = { set: 'int8', batch: 1, heads: H, seqLenQ: 1, seqLenK: L, headDim: D, causal: false };
const inputs = makeInputs(shape);
const q = { data: inputs.q, shape: [1, H, 1, D] };
const whole = (x: Float32Array) => ({ data: x, shape: [1, H, L, D] });

/** One step per cache: decode alone, and append one token + decode + truncate. */
function stepsOf(attn: AttentionInstance, dtype: KVCacheOptions['dtype']): { cache: KVCache; decode(): Float32Array; generate(): void } {
  const cache = attn.createKVCache({ batch: 1, kvHeads: H, headDim: D, maxSeqLen: L, dtype });
  const token = (x: Float32Array) => {
    const row = new Float32Array(H * D);
    for (let h = 0; h < H; h++) row.set(x.subarray((h * L + L - 1) * D, (h * L + L) * D), h * D);
    return { data: row, shape: [1, H, 1, D] };
  };
  const [kLast, vLast] = [token(inputs.k), token(inputs.v)];
  cache.append(whole(inputs.k), whole(inputs.v));
  const out = new Float32Array(H * D);
  return {
    cache,
    decode: () => (attn.decode(q, cache, { out }), out),
    generate: () => {
      cache.truncate(L - 1);
      cache.append(kLast, vLast);
      attn.decode(q, cache, { out });
    },
  };
}

/** Median ms per call over calls lasting ≥ 150 ms. */
async function measure(fn: () => unknown): Promise<number> {
  const times: number[] = [];
  const started = performance.now();
  while (performance.now() - started < 150 || times.length < 5) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  return median(times);
}

const loadBefore = load();
const plain = await createAttention({ backend });
const int8 = await createAttention({ backend, module: int8Kernel(backend) });
const f32 = stepsOf(plain, 'float32');
const f16 = stepsOf(plain, 'float16');
const i8 = stepsOf(int8, 'int8');

// Correctness first: f32 and f16 through the float64 gate (f16 rounds K/V: its own check
// below); int8 within its stated bound.
const reference = f32.decode().slice();
checkOutput('float32 step', shape, inputs, reference);
let vMax = 0;
for (const x of inputs.v) vMax = Math.max(vMax, Math.abs(x));
for (const [name, got] of [['float16', f16.decode()], ['int8', i8.decode()]] as const) {
  let err = 0;
  for (let n = 0; n < got.length; n++) err = Math.max(err, Math.abs(got[n]! - reference[n]!));
  console.log(`check: ${name} step, max |out − f32 out| = ${err.toExponential(2)} (${(err / vMax).toExponential(2)} max|v|)`);
  if (!(err <= 0.05 * vMax)) throw new Error(`${name} step: error ${err} over 0.05·max|v|`);
}

const sides: Record<string, () => unknown> = {
  'float32 decode': f32.decode,
  'float16 decode': f16.decode,
  'int8 decode (int8 build)': i8.decode,
  'float16 append+decode': f16.generate,
  'int8 append+decode (int8 build)': i8.generate,
};
let ortNote = 'not installed (npm ci --prefix bench/peers)';
if (peersInstalled(peersDir)) {
  const ort = await PEERS['onnxruntime-web 1T']!({
    shape,
    inputs,
    require: peerRequire(peersDir),
    check: (name, output) => void checkOutput(name, shape, inputs, output),
    pilot: measure,
  });
  sides['onnxruntime-web 1T'] = ort.call;
  ortNote = `${ort.note}; ${ort.details}`;
}
const names = Object.keys(sides);
// Warm-up past the baseline tier (V8 has no on-stack replacement for wasm): ≥ 1 s per side,
// with idle gaps for the background compiler.
for (let pass = 0; pass < 7; pass++) for (const name of names) { await measure(sides[name]!); await idle(20); }

const ms: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
for (let r = 0; r < rounds; r++) {
  for (const name of r % 2 === 0 ? names : [...names].reverse()) ms[name]!.push(await measure(sides[name]!));
}
const ratio = (a: string, b: string) => {
  const per = ms[a]!.map((x, r) => x / ms[b]![r]!);
  return `${median(per).toFixed(2)}× (range ${range(per)})`;
};

console.log(`int8 targets: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, Node ${process.version}, ${backend}; decode over [1, ${H}, ${L}, ${D}], one thread; ${rounds} alternating rounds; load before ${loadBefore}, after ${load()}`);
for (const name of names) console.log(`  ${name.padEnd(32)} median ${median(ms[name]!).toFixed(3)} ms (${range(ms[name]!)})`);
console.log(`  onnxruntime-web: ${ortNote}`);
console.log(`  float16 / int8, decode:          ${ratio('float16 decode', 'int8 decode (int8 build)')}   target ≥ 1.7×`);
console.log(`  float16 / int8, append+decode:   ${ratio('float16 append+decode', 'int8 append+decode (int8 build)')}`);
console.log(`  float32 / int8, decode:          ${ratio('float32 decode', 'int8 decode (int8 build)')}`);
if (ms['onnxruntime-web 1T']) {
  console.log(`  onnxruntime-web 1T / int8 decode:        ${ratio('onnxruntime-web 1T', 'int8 decode (int8 build)')}   target ≥ 4×`);
  console.log(`  onnxruntime-web 1T / int8 append+decode: ${ratio('onnxruntime-web 1T', 'int8 append+decode (int8 build)')}`);
  console.log(`  onnxruntime-web 1T / float32 decode:     ${ratio('onnxruntime-web 1T', 'float32 decode')}`);
}
const bytes = { float32: f32.cache.byteLength, float16: f16.cache.byteLength, int8: i8.cache.byteLength };
console.log(
  `  cache bytes at ${L} tokens (K+V, row padding and int8 scales included): float32 ${bytes.float32}, float16 ${bytes.float16}, int8 ${bytes.int8}; ` +
    `int8/float32 ${(bytes.int8 / bytes.float32).toFixed(4)} (target ≤ 0.27), float16/float32 ${(bytes.float16 / bytes.float32).toFixed(4)}`,
);
process.exit(0);
