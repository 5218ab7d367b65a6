// Why src/backends/wasm/params.ts takes a plan and a placement apart, and src/attention.ts
// spreads `layout.dims` last: in V8 every property written after a spread of a large object
// goes through a slow path. Builds a 24-field plan-like object three ways, alternating:
//
//   node bench/spread-cost.mjs
//
// Measured 2026-12-06 (AMD EPYC, Node 20.20.2, load 1): spread first 41.6 µs per object,
// spread last 0.72 µs, fields listed 0.80 µs (69 / 0.53 / 0.05 in an earlier throwaway run).
import { cpus } from 'node:os';

const dims = () => ({ batch: 1, qHeads: 8, kvHeads: 8, seqLenQ: 16, seqLenK: 16, headDim: 64, valueDim: 64 });
const fields = (i) => ({ q: i, qStrides: 1, k: 2, kStrides: 3, v: 4, vStrides: 5, out: 6, outStrides: 7, scale: 8, softcap: 9, positionOffsets: 10, window: 11, keyLengths: 12, bias: 13, biasStrides: 14, weights: 15, weightsStage: 'probs', alibiSlopes: 16, lse: 17, pinned: 18, rotary: 19 });
const variants = {
  'spread first': (d, i) => ({ ...d, q: i, qStrides: 1, k: 2, kStrides: 3, v: 4, vStrides: 5, out: 6, outStrides: 7, scale: 8, softcap: 9, positionOffsets: 10, window: 11, keyLengths: 12, bias: 13, biasStrides: 14, weights: 15, weightsStage: 'probs', alibiSlopes: 16, lse: 17, pinned: 18, rotary: 19 }),
  'spread last': (d, i) => ({ q: i, qStrides: 1, k: 2, kStrides: 3, v: 4, vStrides: 5, out: 6, outStrides: 7, scale: 8, softcap: 9, positionOffsets: 10, window: 11, keyLengths: 12, bias: 13, biasStrides: 14, weights: 15, weightsStage: 'probs', alibiSlopes: 16, lse: 17, pinned: 18, rotary: 19, ...d }),
  'fields listed': (d, i) => ({ batch: d.batch, qHeads: d.qHeads, kvHeads: d.kvHeads, seqLenQ: d.seqLenQ, seqLenK: d.seqLenK, headDim: d.headDim, valueDim: d.valueDim, ...fields(i) }),
};
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const times = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
let sink = 0;
for (let round = 0; round < 9; round++) {
  for (const [name, build] of Object.entries(variants)) {
    const n = round === 0 ? 5000 : 20000; // round 0 warms up, not kept
    const t0 = performance.now();
    for (let i = 0; i < n; i++) sink += build(dims(), i).q;
    if (round > 0) times[name].push(((performance.now() - t0) / n) * 1000);
  }
}
console.log(`object construction, ${cpus()[0]?.model.trim()}, Node ${process.versions.node}, median of 8 rounds:${sink > 0 ? '' : ' (sink 0)'}`);
for (const [name, ts] of Object.entries(times)) console.log(`  ${name.padEnd(14)} ${median(ts).toFixed(2)} µs per object`);
