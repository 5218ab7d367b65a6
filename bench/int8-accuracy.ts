// Accuracy of the two int8 schemes considered for the KV cache, in float64 (no kernel): one
// scale per row (per token and KV head, what `dtype: 'int8'` stores, src/cache/int8.ts) vs
// one scale per 32 elements (llama.cpp's q8_0). Prints the decode output's error against
// attention over the unquantised K/V, as max |err| / max |out| and RMS(err) / RMS(out), on
// random data and on data with outlier channels (3 of D head dims 20× larger, in K and V).
//
//   node scripts/run-ts.mjs bench/int8-accuracy.ts [--shape H,L,D]
import { roundTiesToEven } from '../src/cache/int8.js';
import { mulberry32 } from '../test/reference.js';

const args = process.argv.slice(2);
const [H, L, D] = (args.includes('--shape') ? args[args.indexOf('--shape') + 1]! : '4,2048,128').split(',').map(Number) as [number, number, number];

/** N(0, 1) values, the first `outliers` dims of each row ×20. */
function normal(rows: number, seed: number, outliers: number): Float64Array {
  const next = mulberry32(seed);
  return Float64Array.from({ length: rows * D }, (_, i) => Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next()) * (i % D < outliers ? 20 : 1));
}
/** Quantise-dequantise every block of `block` elements of each row (block = D: per row). */
function quantise(x: Float64Array, block: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let start = 0; start < x.length; start += block) {
    let max = 0;
    for (let n = start; n < start + block; n++) max = Math.max(max, Math.abs(x[n]!));
    const scale = Math.fround(max / 127);
    for (let n = start; n < start + block; n++) y[n] = max === 0 ? 0 : Math.fround(roundTiesToEven((x[n]! * 127) / max) * scale);
  }
  return y;
}
function attend(q: Float64Array, k: Float64Array, v: Float64Array): Float64Array {
  const out = new Float64Array(H * D);
  for (let h = 0; h < H; h++) {
    const s = new Float64Array(L);
    let m = -Infinity;
    for (let j = 0; j < L; j++) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += q[h * D + d]! * k[(h * L + j) * D + d]!;
      s[j] = dot / Math.sqrt(D);
      m = Math.max(m, s[j]!);
    }
    let l = 0;
    for (let j = 0; j < L; j++) l += (s[j] = Math.exp(s[j]! - m));
    for (let j = 0; j < L; j++) for (let d = 0; d < D; d++) out[h * D + d]! += (s[j]! / l) * v[(h * L + j) * D + d]!;
  }
  return out;
}
const stats = (got: Float64Array, want: Float64Array) => {
  let maxErr = 0, maxOut = 0, se = 0, so = 0;
  for (let n = 0; n < want.length; n++) {
    const e = got[n]! - want[n]!;
    maxErr = Math.max(maxErr, Math.abs(e));
    maxOut = Math.max(maxOut, Math.abs(want[n]!));
    se += e * e;
    so += want[n]! * want[n]!;
  }
  return `max ${(maxErr / maxOut).toExponential(2)}, rms ${Math.sqrt(se / so).toExponential(2)}`;
};
console.log(`int8 KV quantisation, decode output error relative to the output (H${H} L${L} D${D}, float64):`);
for (const [name, outliers] of [['random N(0,1)', 0], ['outlier channels (3 dims ×20)', 3]] as const) {
  const q = normal(H, 1, outliers);
  const k = normal(H * L, 2, outliers);
  const v = normal(H * L, 3, outliers);
  const want = attend(q, k, v);
  const perRow = attend(q, quantise(k, D), quantise(v, D));
  const perBlock = attend(q, quantise(k, 32), quantise(v, 32));
  console.log(`  ${name.padEnd(30)} per row (${D + 4} B/row): ${stats(perRow, want)};  per 32 (q8_0, ${D + (D / 32) * 4} B/row with f32 scales): ${stats(perBlock, want)}`);
}
