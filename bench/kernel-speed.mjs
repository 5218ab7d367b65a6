// Throwaway speed check of the assembly/ kernels: GFLOP/s = 4·H·Lq·Lk·D / time (the
// causal run is reported at the dense FLOP count, so its rate shows the skip speed-up).
// Usage: node [FLAGS] bench/kernel-speed.mjs [simd|relaxed] [dense|causal] [runs]
// (FLAGS: --experimental-wasm-relaxed-simd on Node 20, none on 22+; scripts/node-flags.mjs)
import { readFileSync } from 'node:fs';
import { PARAM, PARAM_BYTES } from '../scripts/abi-spec.mjs';

const [build = 'simd', mode = 'dense', runsArg = '15'] = process.argv.slice(2);
const H = Number(process.env.H ?? 8), L = Number(process.env.L ?? 1024), D = Number(process.env.D ?? 64);
const bytes = readFileSync(new URL(`../build/attention-${build}.wasm`, import.meta.url));
const { instance } = await WebAssembly.instantiate(bytes);
const k = instance.exports;
const n = H * L * D;
let at = k.heapBase();
const take = (b) => { const p = at; at += Math.ceil(b / 16) * 16; return p; };
const params = take(PARAM_BYTES), q = take(n * 4), kk = take(n * 4), v = take(n * 4), out = take(n * 4), off = take(16);
const scratch = take(0);
k.memory.grow(Math.ceil((scratch + 1e6 - k.memory.buffer.byteLength) / 65536));
const i32 = new Int32Array(k.memory.buffer), f32 = new Float32Array(k.memory.buffer);
const p = params / 4;
const set = (f, x) => { i32[p + f] = x; };
for (const t of [q, kk, v]) for (let i = 0; i < n; i++) f32[t / 4 + i] = Math.random() * 2 - 1;
set(PARAM.BATCH, 1); set(PARAM.Q_HEADS, H); set(PARAM.KV_HEADS, H); set(PARAM.SEQ_LEN_Q, L);
set(PARAM.SEQ_LEN_K, L); set(PARAM.HEAD_DIM, D); set(PARAM.VALUE_DIM, D);
for (const [ptrF, ptr] of [[PARAM.Q_PTR, q], [PARAM.K_PTR, kk], [PARAM.V_PTR, v], [PARAM.OUT_PTR, out]]) {
  set(ptrF, ptr); set(ptrF + 1, H * L * D); set(ptrF + 2, L * D); set(ptrF + 3, D);
}
f32[p + PARAM.SCALE] = 1 / Math.sqrt(D);
set(PARAM.WINDOW_LEFT, -1); set(PARAM.WINDOW_RIGHT, mode === 'causal' ? 0 : -1); set(PARAM.POSITION_OFFSETS_PTR, off);
set(PARAM.SCRATCH_PTR, scratch); set(PARAM.SCRATCH_BYTES, 1e6);
const flops = 4 * H * L * L * D;
const times = [];
for (let r = 0; r < Number(runsArg) + 3; r++) {
  const t0 = performance.now();
  const code = k.attention(params);
  const t = performance.now() - t0;
  if (code !== 0) throw new Error(`code ${code}`);
  if (r >= 3) times.push(t);
}
times.sort((a, b) => a - b);
const med = times[times.length >> 1];
console.log(`${build} ${mode} H${H} L${L} D${D}: median ${med.toFixed(2)} ms (min ${times[0].toFixed(2)}, max ${times.at(-1).toFixed(2)}) → ${(flops / med / 1e6).toFixed(1)} GFLOP/s`);
