/**
 * The int8 KV cache composed with issue #12's positional options, on every backend and a
 * 2-thread instance (decodeAsync with the key split forced):
 * - window + ALiBi + causal + ragged keyLengths, chunked prefill (Lq 3) over an int8 cache:
 *   attention over the dequantised cache (the quantisation rule of test/int8-reference.ts,
 *   written from its definition apart from src/) within the float32 bound (plus, on WASM, the
 *   integer kernels' roundings: int8KernelBound), so the window's key
 *   range, the ALiBi distance and the scale folding meet exactly;
 * - on every backend, the int8 builds (wasm-attention/int8) and a 2-thread instance;
 * - a rotary int8 cache (keys rotated once at append, then quantised): against the float64
 *   oracle over the original rotated keys and values, within the int8 bound of the README
 *   (|out_int8 − out| ≤ (e^2Δ − 1)·max|v̂| + max s^V/2, Δ = |scale|·‖q‖₁·max s^K/2) plus the
 *   float32 bound and the rotation's rounding; and, exactly, the stored keys within one
 *   quantisation step of the rule applied to the rotated keys, the query rotated at its
 *   position against them within the float32 bound (a position off by one fails both).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type AttentionInstance, type BackendName } from '../src/index.js';
import { setMinKeysPerSplit } from '../src/threads/decode.js';
import { alibiSlopesOf, expectClose, SAFETY, toleranceFor, U32 } from './helpers.js';
import { makePlan, mulberry32, referenceAttention, stridesOf } from './reference.js';
import { rotate64 } from './rotary-reference.js';
import { WASM_BACKENDS } from './threads-helpers.js';
import { int8Kernel } from '../src/int8/index.js';
import { int8KernelBound, maxAbs, norm, quantise } from './int8-reference.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);

const data = (length: number, seed: number) => {
  const next = mulberry32(seed);
  return Float32Array.from({ length }, () => next() * 2 - 1);
};
const batch = 2, qHeads = 8, kvHeads = 2, headDim = 32, seqLenQ = 3, cached = 150;
const lengths = [150, 100];
const window = [40, 0] as const;
const scale = 1 / Math.sqrt(headDim);

function runs(name: string, decode: (attn: AttentionInstance, q: Float32Array, cache: ReturnType<AttentionInstance['createKVCache']>, options: object) => Promise<Float32Array>, threads: number, int8Build = false) {
  return (backendName: BackendName) => {
    let attn: AttentionInstance;
    beforeAll(async () => {
      const module = int8Build ? { module: int8Kernel(backendName as 'wasm-simd') } : {};
      attn = await createAttention({ backend: backendName, ...(threads > 1 ? { threads } : {}), ...module });
      setMinKeysPerSplit(0);
    });
    afterAll(() => {
      setMinKeysPerSplit(undefined);
      attn.dispose();
    });

    it(`${name}: window, ALiBi, causal and keyLengths over an int8 cache within the float32 bound`, async () => {
      const k = data(batch * kvHeads * cached * headDim, 21);
      const v = data(batch * kvHeads * cached * headDim, 22);
      const q = data(batch * qHeads * seqLenQ * headDim, 23);
      const cache = attn.createKVCache({ batch, kvHeads, headDim, maxSeqLen: cached, dtype: 'int8' });
      cache.append({ data: k, shape: [batch, kvHeads, cached, headDim] }, { data: v, shape: [batch, kvHeads, cached, headDim] }, { lengths });
      const got = await decode(attn, q, cache, { causal: true, window, alibi: true });
      const kHat = quantise(k, headDim).values, vHat = quantise(v, headDim).values;
      const slopes = alibiSlopesOf(true, qHeads)!;
      const want = referenceAttention(makePlan({
        batch, qHeads, kvHeads, seqLenQ, seqLenK: cached, headDim, q, k: kHat, v: vHat, causal: true, window,
        keyLengths: lengths, positionOffsets: lengths.map((l) => l - seqLenQ), alibiSlopes: slopes,
      })).out;
      const tolerance = toleranceFor({ seqLenK: cached, headDim }, { qNorm: norm(q, headDim), kNorm: norm(kHat, headDim), maxAbsV: maxAbs(vHat), maxAbsBias: maxAbs(slopes) * cached }, scale, 0, false);
      const kernel = int8KernelBound(backendName, q, headDim, kHat, maxAbs(quantise(v, headDim).scales), maxAbs(vHat), scale);
      expectClose(got, want, { atol: tolerance.out.atol + kernel, rtol: 0 }, `${backendName} ${name} window+alibi int8`, [batch, qHeads, seqLenQ, headDim]);
      cache.dispose();
    });

    it(`${name}: a rotary int8 cache within the int8 bound of float64 rotary attention`, async () => {
      const rotary = { base: 10000 };
      const k = data(kvHeads * cached * headDim, 31);
      const v = data(kvHeads * cached * headDim, 32);
      const q = data(qHeads * headDim, 33);
      // the prompt's rows, then one more token appended alone, as in decoding: its key is rotated at position cached − 1
      const last = (x: Float32Array) => Float32Array.from({ length: kvHeads * headDim }, (_, n) => x[(Math.floor(n / headDim) * cached + cached - 1) * headDim + (n % headDim)]!);
      const firstRows = (x: Float32Array) => Float32Array.from({ length: kvHeads * (cached - 1) * headDim }, (_, n) => x[Math.floor(n / ((cached - 1) * headDim)) * cached * headDim + (n % ((cached - 1) * headDim))]!);
      const cache2 = attn.createKVCache({ batch: 1, kvHeads, headDim, maxSeqLen: cached, dtype: 'int8', rotary });
      cache2.append({ data: firstRows(k), shape: [1, kvHeads, cached - 1, headDim] }, { data: firstRows(v), shape: [1, kvHeads, cached - 1, headDim] });
      cache2.append({ data: last(k), shape: [1, kvHeads, 1, headDim] }, { data: last(v), shape: [1, kvHeads, 1, headDim] });
      const got = await decode(attn, q, cache2, { causal: true });
      const kRot = rotate64(k, stridesOf('bhsd', kvHeads, cached, headDim), 1, kvHeads, cached, headDim, rotary, (_b, j) => j);
      const qRot = rotate64(q, stridesOf('bhsd', qHeads, 1, headDim), 1, qHeads, 1, headDim, rotary, () => cached - 1);
      // The stored keys are the rotated keys, quantised: within one quantisation step of the
      // rule applied to the float64 rotation rounded to f32 (a rotation 1 ulp apart may round
      // a near-tie the other way), which a key rotated at a wrong position is not.
      const kQ = quantise(Array.from(kRot, Math.fround), headDim);
      const stored = cache2.read().k.data as Float32Array;
      for (let n = 0; n < stored.length; n++) {
        const step = kQ.scales[Math.floor(n / headDim)]! * (1 + 2 ** -20);
        if (!(Math.abs(stored[n]! - kQ.values[n]!) <= step)) throw new Error(`${backendName} ${name} stored key ${n}: ${stored[n]} vs ${kQ.values[n]} (step ${step})`);
      }
      // The query rotated at its position (cached − 1) against the stored keys: float32 bound,
      // plus the query rotation's rounding (u·scale·‖q‖‖k‖ per logit, ×2 safety, ×2 for p).
      const vHat = quantise(v, headDim).values;
      const want = referenceAttention(makePlan({ batch: 1, qHeads, kvHeads, seqLenQ: 1, seqLenK: cached, headDim, q: qRot as unknown as Float32Array, k: stored, v: vHat })).out;
      const f32 = toleranceFor({ seqLenK: cached, headDim }, { qNorm: norm(qRot, headDim), kNorm: norm(stored, headDim), maxAbsV: maxAbs(vHat), maxAbsBias: 0 }, scale, 0, false).out.atol;
      const rounding = SAFETY * 2 * (U32 * scale * norm(qRot, headDim) * norm(stored, headDim)) * maxAbs(vHat);
      const kernel = int8KernelBound(backendName, qRot, headDim, stored, maxAbs(quantise(v, headDim).scales), maxAbs(vHat), scale);
      expectClose(got, want, { atol: f32 + rounding + kernel, rtol: 0 }, `${backendName} ${name} rotary int8`, [1, qHeads, 1, headDim]);
      // And against float64 rotary attention over the original keys: the README's int8 bound.
      const exact = referenceAttention(makePlan({ batch: 1, qHeads, kvHeads, seqLenQ: 1, seqLenK: cached, headDim, q: qRot as unknown as Float32Array, k: kRot as unknown as Float32Array, v })).out;
      const vQ = quantise(v, headDim);
      const half = 0.5 + 2 ** -17;
      let worst = 0;
      for (let h = 0; h < qHeads; h++) {
        const kvHead = Math.floor(h / (qHeads / kvHeads));
        const qRow = qRot.subarray(h * headDim, (h + 1) * headDim);
        const delta = scale * qRow.reduce((s, x) => s + Math.abs(x), 0) * maxAbs(kQ.scales.subarray(kvHead * cached, (kvHead + 1) * cached)) * half;
        const bound = Math.expm1(2 * delta) * maxAbs(vQ.values) + maxAbs(vQ.scales) * half + f32 + rounding + kernel;
        for (let d = 0; d < headDim; d++) {
          const err = Math.abs(got[h * headDim + d]! - exact[h * headDim + d]!);
          if (!(err <= bound)) throw new Error(`${backendName} ${name} head ${h} dim ${d}: |int8 − float64 rotary| = ${err}, bound ${bound}`);
          worst = Math.max(worst, err);
        }
      }
      expect(worst).toBeGreaterThan(0); // the quantisation error is real
      cache2.dispose();
    });
  };
}

describe.each(BACKENDS)('int8 cache with positions on %s', runs('decode', async (attn, q, cache, options) => {
  const rows = q.length / (headDim * qHeads);
  return attn.decode({ data: q, shape: [rows === seqLenQ * batch ? batch : 1, qHeads, rows === seqLenQ * batch ? seqLenQ : 1, headDim] }, cache, options).output.data as Float32Array;
}, 1));

describe.each(WASM_BACKENDS)('int8 cache with positions on %s, int8 build', runs('decode', async (attn, q, cache, options) => {
  const rows = q.length / (headDim * qHeads);
  return attn.decode({ data: q, shape: [rows === seqLenQ * batch ? batch : 1, qHeads, rows === seqLenQ * batch ? seqLenQ : 1, headDim] }, cache, options).output.data as Float32Array;
}, 1, true));

describe.each(WASM_BACKENDS)('int8 cache with positions on %s, 2 threads', runs('decodeAsync', async (attn, q, cache, options) => {
  const rows = q.length / (headDim * qHeads);
  return (await attn.decodeAsync({ data: q, shape: [rows === seqLenQ * batch ? batch : 1, qHeads, rows === seqLenQ * batch ? seqLenQ : 1, headDim] }, cache, options)).output.data as Float32Array;
}, 2));
