/**
 * The decode kernel (assembly/decode/) through `decode()`, on a grid of shapes that crosses
 * every path and edge of the kernel: head dims below, at and above the vector width and
 * the row padding (4 f32, 8 halves); cache lengths around the 4-key step and the chunk
 * size; query rows per KV head (group × Lq) of 1 and 2 (float16 in registers), 3..16 (a
 * converted tile; float32 decode kernel), above 16 (several row blocks; float32 goes to
 * the tiled prefill kernel); float32 and float16 caches, and a float16 cache holding an
 * Inf (the exact conversion path). Every case against the float64 oracle over what the
 * cache holds, under the first-order f32 bound of `toleranceFor` (test/helpers.ts).
 */
import { describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, floatToHalf, halfToFloat, isBackendAvailable, type BackendName } from '../src/index.js';
import { expectClose, toleranceFor, valuesOf } from './helpers.js';
import { makePlan, mulberry32, referenceAttention } from './reference.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);

interface GridCase {
  readonly batch: number;
  readonly kvHeads: number;
  readonly group: number;
  readonly seqLenQ: number;
  readonly headDim: number;
  readonly valueDim: number;
  readonly lengths: number[];
  readonly dtype: 'float32' | 'float16';
  readonly causal: boolean;
  readonly mask: boolean;
  readonly softcap: number;
  readonly weights: boolean;
  /** A float16 cache with an Inf stored past the attended keys: the exact conversion path. */
  readonly nonFinite: boolean;
}

const HEAD_DIMS = [1, 3, 4, 7, 8, 9, 16, 64, 80, 128];
const LENGTHS = [1, 3, 15, 16, 17, 63, 64, 65, 130];
const ROWS: [group: number, seqLenQ: number][] = [[1, 1], [2, 1], [1, 2], [3, 1], [4, 2], [8, 1], [16, 1], [5, 3], [17, 1], [8, 3]];

/** A deterministic sample of the grid: every head dim, length and row shape appears with both dtypes. */
function grid(): GridCase[] {
  const random = mulberry32(2024);
  const pick = <T>(values: readonly T[]) => values[Math.floor(random() * values.length)]!;
  const cases: GridCase[] = [];
  for (let n = 0; n < 80; n++) {
    const headDim = HEAD_DIMS[n % HEAD_DIMS.length]!;
    const [group, seqLenQ] = ROWS[n % ROWS.length]!;
    const batch = pick([1, 2]);
    const length = LENGTHS[(n * 7) % LENGTHS.length]!;
    const dtype = n % 2 === 0 ? 'float32' : 'float16';
    const lengths = batch === 1 ? [Math.max(length, seqLenQ)] : [Math.max(length, seqLenQ), Math.max(1, Math.floor(length / 2))];
    cases.push({
      batch,
      kvHeads: pick([1, 2]),
      group,
      seqLenQ,
      headDim,
      valueDim: pick([headDim, headDim, 5, 12]),
      lengths,
      dtype,
      causal: random() < 0.6,
      mask: random() < 0.3,
      softcap: random() < 0.2 ? 4 : 0,
      weights: random() < 0.3,
      nonFinite: dtype === 'float16' && n % 6 === 1,
    });
  }
  return cases;
}

const label = (c: GridCase) =>
  `B${c.batch} Hkv${c.kvHeads} group${c.group} Lq${c.seqLenQ} D${c.headDim} Dv${c.valueDim} L[${c.lengths}] ${c.dtype}` +
  `${c.causal ? ' causal' : ''}${c.mask ? ' mask' : ''}${c.softcap ? ' softcap' : ''}${c.weights ? ' weights' : ''}${c.nonFinite ? ' inf-in-cache' : ''}`;

describe.each(BACKENDS)('decode grid on %s', (backendName: BackendName) => {
  it.each(grid().map((c) => [label(c), c] as const))('%s', async (_name, c) => {
    const attn = await createAttention({ backend: backendName });
    const { batch, kvHeads, group, seqLenQ, headDim, valueDim, lengths } = c;
    const qHeads = kvHeads * group;
    const length = Math.max(...lengths);
    const random = mulberry32(length * 131 + headDim);
    const values = (n: number, range = 1) => Float32Array.from({ length: n }, () => (random() * 2 - 1) * range);
    const half = c.dtype === 'float16';
    const round = (x: number) => (half ? halfToFloat(floatToHalf(x)) : x);

    // K/V of the longest sequence for every item; each item appends its own length.
    const k = values(batch * kvHeads * length * headDim, 2);
    const v = values(batch * kvHeads * length * valueDim);
    // One row past the attended keys (masked by keyLengths) holds an Inf.
    const attended = c.nonFinite ? lengths.map((n) => n - 1) : lengths;
    if (c.nonFinite) for (let b = 0; b < batch; b++) v[((b * kvHeads) * length + lengths[b]! - 1) * valueDim] = 1e6;
    const cache = attn.createKVCache({ batch, kvHeads, headDim, valueDim, maxSeqLen: length, dtype: c.dtype });
    cache.append({ data: k, shape: [batch, kvHeads, length, headDim] }, { data: v, shape: [batch, kvHeads, length, valueDim] }, { lengths });
    const q = values(batch * qHeads * seqLenQ * headDim);
    const bias = c.mask ? values(batch * qHeads * seqLenQ * length, 3).map((x) => (x > 2 ? -Infinity : x)) : null;
    const result = attn.decode({ data: q, shape: [batch, qHeads, seqLenQ, headDim] }, cache, {
      causal: c.causal,
      softcap: c.softcap || undefined,
      mask: bias ? { data: bias, shape: [batch, qHeads, seqLenQ, length] } : undefined,
      returnWeights: c.weights,
      keyLengths: c.nonFinite ? attended : undefined,
    });

    // The oracle, over the half-rounded rows for float16, zeros past each item's length.
    const kHeld = Float32Array.from(k, round);
    const vHeld = Float32Array.from(v, round);
    for (let b = 0; b < batch; b++)
      for (let h = 0; h < kvHeads; h++)
        for (let s = lengths[b]!; s < length; s++) {
          kHeld.fill(0, ((b * kvHeads + h) * length + s) * headDim, ((b * kvHeads + h) * length + s + 1) * headDim);
          vHeld.fill(0, ((b * kvHeads + h) * length + s) * valueDim, ((b * kvHeads + h) * length + s + 1) * valueDim);
        }
    const plan = makePlan({
      batch, qHeads, kvHeads, seqLenQ, seqLenK: length, headDim, valueDim,
      q, k: kHeld, v: vHeld,
      softcap: c.softcap,
      causal: c.causal,
      positionOffsets: attended.map((n) => n - seqLenQ),
      keyLengths: attended,
      bias,
      withWeights: true,
    });
    const want = referenceAttention(plan);
    let qNorm = 0, kNorm = 0, maxAbsV = 0;
    for (let r = 0; r < q.length / headDim; r++) qNorm = Math.max(qNorm, Math.hypot(...q.subarray(r * headDim, (r + 1) * headDim)));
    for (let r = 0; r < kHeld.length / headDim; r++) kNorm = Math.max(kNorm, Math.hypot(...kHeld.subarray(r * headDim, (r + 1) * headDim)));
    for (let b = 0; b < batch; b++) {
      for (let n = (b * kvHeads) * length * valueDim; n < (b * kvHeads + kvHeads) * length * valueDim; n++) {
        const row = Math.floor(n / valueDim) % length;
        if (row < attended[b]!) maxAbsV = Math.max(maxAbsV, Math.abs(vHeld[n]!));
      }
    }
    const tolerance = toleranceFor({ seqLenK: length, headDim }, { qNorm, kNorm, maxAbsV, maxAbsBias: 3 }, 1 / Math.sqrt(headDim), c.softcap, false);
    expectClose(valuesOf(result.output.data), want.out, tolerance.out, `${backendName} ${label(c)}: output`, result.output.shape);
    if (c.weights) {
      expect(result.weights!.shape).toEqual([batch, qHeads, seqLenQ, length]);
      expectClose(valuesOf(result.weights!.data), want.weights, tolerance.weights, `${backendName} ${label(c)}: weights`, result.weights!.shape);
    }
    cache.dispose();
  });
});

describe.each(BACKENDS.filter((name) => name !== 'js'))('float16 conversion on %s', (backendName: BackendName) => {
  it('every finite half value decodes exactly (fast path) and Inf/NaN exactly (exact path)', async () => {
    const attn = await createAttention({ backend: backendName });
    // One key, value row = 8 halves: attention of any query over one key returns the value
    // row itself (p = 1), so the output shows the kernel's conversion of each half.
    for (const withSpecials of [false, true]) {
      const cache = attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 8, maxSeqLen: 1, dtype: 'float16' });
      const q = { data: new Float32Array(8), shape: [1, 1, 1, 8] };
      const zeroKey = new Uint16Array(8);
      for (let start = 0; start < 0x10000; start += 8) {
        const bits = Uint16Array.from({ length: 8 }, (_, n) => start + n);
        const special = bits.some((x) => (x & 0x7c00) === 0x7c00);
        if (special !== withSpecials && !(withSpecials && start === 0)) continue;
        cache.reset();
        cache.append({ data: zeroKey, shape: [1, 1, 1, 8] }, { data: bits, shape: [1, 1, 1, 8] });
        const out = attn.decode(q, cache).output.data as Float32Array;
        for (let n = 0; n < 8; n++) {
          const want = halfToFloat(bits[n]!);
          if (!(out[n] === want || (Number.isNaN(want) && Number.isNaN(out[n]!)))) {
            expect.fail(`half 0x${bits[n]!.toString(16)}: expected ${want}, got ${out[n]} (${withSpecials ? 'exact' : 'fast'} path)`);
          }
        }
      }
      cache.dispose();
    }
  });
});
