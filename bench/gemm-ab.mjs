// The GEMM kernel of two or more testing builds side by side, each against its own SIMD peak:
// the way the GEMM tile and its loop order were chosen (assembly/gemm/f32-gemm-3x12.ts).
// Rounds alternate the builds (one gemm call, then one simdPeak call, per build and round), so
// every build meets the same moments of a shared machine; medians of 25 rounds after 30 warm-up
// calls (past V8's baseline tier). GFLOP/s = 2·M·N·K / time; the peak is the build's own
// `simdPeak` (12 multiply-add chains, assembly/gemm/f32-peak-12.ts).
//
//   npm run build:wasm
//   node [--experimental-wasm-relaxed-simd] bench/gemm-ab.mjs A.wasm B.wasm [...] [M N K]
//
// A and B are testing builds (build/attention-testing-{relaxed,simd}.wasm, or those of another
// commit: `git archive REV assembly asconfig.json | tar -x -C DIR`, then in DIR
// `node node_modules/assemblyscript/bin/asc.js assembly/testing.ts --config asconfig.json
// --target testing-relaxed -o DIR/testing-relaxed.wasm` with this repository's node_modules
// linked there). M N K default to the layer's projection, 512 768 768. B is filled with
// arbitrary values, not packed from a matrix: the rate does not depend on them.
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

const args = process.argv.slice(2);
const files = args.filter((arg) => arg.endsWith('.wasm'));
const [M, N, K] = [...args.filter((arg) => !arg.endsWith('.wasm')).map(Number), 512, 768, 768].slice(0, 3);
if (files.length < 2) {
  console.error('usage: node bench/gemm-ab.mjs A.wasm B.wasm [...] [M N K]');
  process.exit(2);
}
const PEAK_ITERATIONS = 20000; // 384 flops each: ≈ 7 ms at 55 GFLOP/s
const WARM_UP = 30;
const ROUNDS = 25;

const setups = files.map((file) => {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(file)), {});
  const kernel = instance.exports;
  const memory = kernel.memory;
  const base = Math.ceil(kernel.heapBase() / 16) * 16;
  const panels = Math.ceil(N / 8) * 8;
  const [a, b] = [base, base + M * K * 4];
  const c = b + K * panels * 4;
  const end = c + M * N * 4;
  if (memory.buffer.byteLength < end) memory.grow(Math.ceil((end - memory.buffer.byteLength) / 65536));
  const f32 = new Float32Array(memory.buffer);
  for (let i = a >> 2; i < c >> 2; i++) f32[i] = Math.sin(i) * 0.1;
  return { file, kernel, a, b, c, gemm: [], peak: [] };
});

const time = (call) => {
  const start = process.hrtime.bigint();
  call();
  return Number(process.hrtime.bigint() - start) / 1e6;
};
const median = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
let sink = 0;
for (let i = 0; i < WARM_UP; i++) {
  for (const s of setups) {
    s.kernel.gemm(s.a, s.b, s.c, M, N, K);
    sink += s.kernel.simdPeak(PEAK_ITERATIONS);
  }
}
for (let round = 0; round < ROUNDS; round++) {
  for (const s of setups) {
    s.gemm.push(time(() => s.kernel.gemm(s.a, s.b, s.c, M, N, K)));
    s.peak.push(time(() => (sink += s.kernel.simdPeak(PEAK_ITERATIONS))));
  }
}
const load = loadavg().map((x) => x.toFixed(2)).join(' ');
console.log(`gemm A/B: ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}; M${M} N${N} K${K}; ${ROUNDS} alternating rounds; load ${load}${Number.isNaN(sink) ? ' (NaN)' : ''}`);
for (const s of setups) {
  const gflops = (2 * M * N * K) / median(s.gemm) / 1e6;
  const peak = (384 * PEAK_ITERATIONS) / median(s.peak) / 1e6;
  const ratios = s.gemm.map((ms, r) => ((2 * M * N * K) / ms) / ((384 * PEAK_ITERATIONS) / s.peak[r]));
  console.log(`  ${s.file}: gemm ${median(s.gemm).toFixed(2)} ms, ${gflops.toFixed(1)} GFLOP/s; peak ${peak.toFixed(1)} GFLOP/s; gemm / peak ${median(ratios).toFixed(3)} (rounds ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})`);
}
