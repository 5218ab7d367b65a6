/**
 * RoPE cost, side by side in one process (issue #12 targets): a prefill call with
 * `rotary: { base: 10000 }` vs the same call without (H8 N1024 D64, target ≤ 5% slower),
 * and a decode step over a rotary KV cache vs a plain one (H32 L2048 D128, float32,
 * target ≤ 3% slower). Rounds alternate the two (A then B, B then A), each a median
 * over ≥ 200 ms of calls; the ratio B/A is taken per round and reported as median and
 * range, with each side's median and spread, the CPU and the load average.
 *
 *   node scripts/run-ts.mjs bench/positions-rope.ts [--rounds 11] [--backend wasm-relaxed-simd]
 */
import { cpus, loadavg } from 'node:os';
import { createAttention, isBackendAvailable, type AttentionInstance, type BackendName } from '../src/index.js';

const args = process.argv.slice(2);
const option = (name: string, fallback: string) => (args.includes(name) ? args[args.indexOf(name) + 1]! : fallback);
const rounds = Number(option('--rounds', '11'));
const backends = (args.includes('--backend') ? [option('--backend', '')] : ['wasm-relaxed-simd', 'wasm-simd']).filter((b) => isBackendAvailable(b as BackendName)) as BackendName[];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const tensor = (seed: number, shape: number[]) => ({ data: Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37 + seed)), shape });

function timeOf(call: () => void): number {
  const times: number[] = [];
  const started = performance.now();
  while (performance.now() - started < 200 || times.length < 5) {
    const t = performance.now();
    call();
    times.push(performance.now() - t);
  }
  return median(times);
}

function compare(label: string, a: () => void, b: () => void, target: number): void {
  for (let warm = 0; warm < 2; warm++) [a, b].forEach(timeOf);
  const ms: [number[], number[]] = [[], []];
  const ratios: number[] = [];
  const load0 = loadavg()[0]!;
  for (let r = 0; r < rounds; r++) {
    const round: number[] = [];
    for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) round[i] = timeOf(i === 0 ? a : b);
    ms[0].push(round[0]!);
    ms[1].push(round[1]!);
    ratios.push(round[1]! / round[0]!);
  }
  const side = (xs: number[]) => `${median(xs).toFixed(3)} ms (spread ${(((Math.max(...xs) - Math.min(...xs)) / median(xs)) * 100).toFixed(0)}%)`;
  const sorted = [...ratios].sort((x, y) => x - y);
  console.log(`${label}\n  A without: ${side(ms[0])}\n  B rotary:  ${side(ms[1])}\n  B/A median ${median(ratios).toFixed(3)} (range ${sorted[0]!.toFixed(3)}–${sorted.at(-1)!.toFixed(3)}), target ≤ ${target.toFixed(2)}; load ${load0.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}`);
}

function prefill(attn: AttentionInstance): void {
  const shape = [1, 8, 1024, 64];
  const [q, k, v] = [tensor(1, shape), tensor(2, shape), tensor(3, shape)];
  const out = new Float32Array(q.data.length);
  for (const causal of [false, true]) {
    compare(
      `${attn.backend} prefill H8 N1024 D64${causal ? ' causal' : ''}`,
      () => attn.attention(q, k, v, { causal, out }),
      () => attn.attention(q, k, v, { causal, out, rotary: { base: 10000 } }),
      1.05,
    );
  }
}

function decodeStep(attn: AttentionInstance): void {
  const [heads, length, dim] = [32, 2048, 128];
  const k = tensor(2, [1, heads, length, dim]);
  const v = tensor(3, [1, heads, length, dim]);
  const q = tensor(1, [1, heads, 1, dim]);
  const out = new Float32Array(q.data.length);
  const plain = attn.createKVCache({ batch: 1, kvHeads: heads, headDim: dim, maxSeqLen: length });
  const rotary = attn.createKVCache({ batch: 1, kvHeads: heads, headDim: dim, maxSeqLen: length, rotary: { base: 10000 } });
  plain.append(k, v);
  rotary.append(k, v);
  compare(
    `${attn.backend} decode step H32 L${length} D${dim} (float32 cache)`,
    () => attn.decode(q, plain, { causal: true, out }),
    () => attn.decode(q, rotary, { causal: true, out }),
    1.03,
  );
  plain.dispose();
  rotary.dispose();
}

console.log(`CPU: ${cpus()[0]?.model ?? 'unknown'} ×${cpus().length}; Node ${process.version}; ${rounds} alternating rounds per row`);
for (const backend of backends) {
  const attn = await createAttention({ backend });
  prefill(attn);
  decodeStep(attn);
}
