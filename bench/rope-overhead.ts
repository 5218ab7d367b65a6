/**
 * The fixed cost of `rotary` on a prefill call, measured apart from the attention work:
 * calls with `causal: true, window: 0` (one key per query: the attention itself is O(L·D))
 * with and without rotary, alternating, per-round difference = the rotation's cost
 * (angles, their copy, the SIMD pass over q and k), compared with the dense and causal
 * H8 N1024 D64 calls. Times are CPU time of this process (process.cpuUsage), not wall
 * time: on an oversubscribed machine (load 15–20 on 2 cores when this was written) wall
 * times of the same call spread by 2–3× while CPU time stays within ±20%.
 *
 *   node scripts/run-ts.mjs bench/rope-overhead.ts [wasm-relaxed-simd|wasm-simd|js]
 */
import { createAttention } from '../src/index.js';
const attn = await createAttention({ backend: (process.argv[2] ?? 'wasm-relaxed-simd') as never });
const shape = [1, 8, 1024, 64];
const t = (s: number) => ({ data: Float32Array.from({ length: 8 * 1024 * 64 }, (_, i) => Math.sin(i * 0.37 + s)), shape });
const [q, k, v] = [t(1), t(2), t(3)];
const out = new Float32Array(q.data.length);
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
// CPU time of this process (user + system), not wall time: the machine is oversubscribed.
const time = (f: () => void, n: number) => { const s = process.cpuUsage(); for (let r = 0; r < n; r++) f(); const d = process.cpuUsage(s); return (d.user + d.system) / 1000 / n; };
const sides = {
  w0plain: () => attn.attention(q, k, v, { causal: true, window: 0, out }),
  w0rotary: () => attn.attention(q, k, v, { causal: true, window: 0, out, rotary: { base: 10000 } }),
  full: () => attn.attention(q, k, v, { out }),
  causal: () => attn.attention(q, k, v, { causal: true, out }),
};
const res: Record<string, number[]> = { w0plain: [], w0rotary: [], full: [], causal: [] };
for (let r = 0; r < 15; r++) for (const [name, f] of Object.entries(sides)) res[name]!.push(time(f, name.startsWith('w0') ? 40 : 5));
const m = Object.fromEntries(Object.entries(res).map(([k, xs]) => [k, med(xs)]));
const diffs = res.w0rotary!.map((x, i) => x - res.w0plain![i]!);
console.log(attn.backend, Object.entries(m).map(([k, x]) => `${k} ${x.toFixed(3)} ms`).join(', '));
console.log(`rotary overhead (window-0 calls, per-round difference): median ${med(diffs).toFixed(3)} ms (range ${Math.min(...diffs).toFixed(3)}–${Math.max(...diffs).toFixed(3)}); = ${((med(diffs) / m.full!) * 100).toFixed(2)}% of the dense call, ${((med(diffs) / m.causal!) * 100).toFixed(2)}% of the causal call`);
