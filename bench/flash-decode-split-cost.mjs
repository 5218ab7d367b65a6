// Throwaway check of what a key split (flash-decoding) costs by itself, without threads:
// decode (one pass) vs decodeRange(KEY_SPLITS = S, first 0, stride 1: every range on this
// thread), MQA H8 KV1 D128 float32, µs per call. The merge (decodeMerge when the figures in
// src/threads/README.md were taken) now runs on the host, in JS (src/threads/decode.ts).
// Usage: npm run build:wasm && node [FLAGS] bench/flash-decode-split-cost.mjs [relaxed|simd]
// (FLAGS: --experimental-wasm-relaxed-simd on Node 20, none on 22+; scripts/node-flags.mjs)
import { readFileSync } from 'node:fs';
const [build = 'relaxed'] = process.argv.slice(2);
const P = { BATCH: 0, Q_HEADS: 1, KV_HEADS: 2, SEQ_LEN_Q: 3, SEQ_LEN_K: 4, HEAD_DIM: 5, VALUE_DIM: 6, Q_PTR: 7, Q_BATCH_STRIDE: 8, Q_HEAD_STRIDE: 9, Q_SEQ_STRIDE: 10, K_PTR: 11, K_BATCH_STRIDE: 12, K_HEAD_STRIDE: 13, K_SEQ_STRIDE: 14, V_PTR: 15, V_BATCH_STRIDE: 16, V_HEAD_STRIDE: 17, V_SEQ_STRIDE: 18, OUT_PTR: 19, OUT_BATCH_STRIDE: 20, OUT_HEAD_STRIDE: 21, OUT_SEQ_STRIDE: 22, SCALE: 23, SCRATCH_PTR: 34, SCRATCH_BYTES: 35, KEY_SPLITS: 36, PARTIALS_PTR: 37 };
const { exports: k } = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(new URL(`../build/attention-testing-${build}.wasm`, import.meta.url))), {});
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; };
function time(f) { const t = []; for (let r = 0; r < 9; r++) { const s = performance.now(); let n = 0; while (performance.now() - s < 50) { f(); n++; } t.push((performance.now() - s) / n * 1000); } return med(t); }
for (const L of [128, 256, 512, 1024, 2048, 8192]) {
  const H = 8, KV = 1, D = 128;
  let at = k.heapBase();
  const take = (b) => { const p = at; at += Math.ceil(b / 16) * 16; return p; };
  const params = take(64 * 4), q = take(H * D * 4), kk = take(KV * L * D * 4), v = take(KV * L * D * 4), out = take(H * D * 4), scratch = take(1 << 20), partials = take(1 << 20);
  if (at > k.memory.buffer.byteLength) k.memory.grow(Math.ceil((at - k.memory.buffer.byteLength) / 65536));
  const i32 = new Int32Array(k.memory.buffer), f32 = new Float32Array(k.memory.buffer);
  for (const t of [q, kk, v]) for (let i = 0; i < (t === q ? H * D : KV * L * D); i++) f32[t / 4 + i] = Math.random() * 2 - 1;
  const p = params / 4, set = (f, x) => (i32[p + f] = x);
  i32.fill(0, p, p + 64);
  set(P.BATCH, 1); set(P.Q_HEADS, H); set(P.KV_HEADS, KV); set(P.SEQ_LEN_Q, 1); set(P.SEQ_LEN_K, L); set(P.HEAD_DIM, D); set(P.VALUE_DIM, D);
  set(P.Q_PTR, q); set(P.Q_BATCH_STRIDE, H * D); set(P.Q_HEAD_STRIDE, D); set(P.Q_SEQ_STRIDE, D);
  set(P.K_PTR, kk); set(P.K_BATCH_STRIDE, KV * L * D); set(P.K_HEAD_STRIDE, L * D); set(P.K_SEQ_STRIDE, D);
  set(P.V_PTR, v); set(P.V_BATCH_STRIDE, KV * L * D); set(P.V_HEAD_STRIDE, L * D); set(P.V_SEQ_STRIDE, D);
  set(P.OUT_PTR, out); set(P.OUT_BATCH_STRIDE, H * D); set(P.OUT_HEAD_STRIDE, D); set(P.OUT_SEQ_STRIDE, D);
  f32[p + P.SCALE] = 1 / Math.sqrt(D);
  set(P.SCRATCH_PTR, scratch); set(P.SCRATCH_BYTES, 1 << 20); set(P.PARTIALS_PTR, partials);
  const one = time(() => k.decode(params, 0));
  const row = [];
  for (const S of [2, 4]) {
    set(P.KEY_SPLITS, S);
    if (k.decodePartialsBytes(params) > 1 << 20) throw new Error('partials');
    const split = time(() => k.decodeRange(params, 0, 0, 1));
    row.push(`S=${S}: ranges ${split.toFixed(1)} µs (+${(split - one).toFixed(1)})`);
  }
  set(P.KEY_SPLITS, 0);
  console.log(`${build} H8 KV1 D128 Lk${L}: one pass ${one.toFixed(1)} µs; ${row.join('; ')}`);
}
