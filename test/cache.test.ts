/**
 * The KV cache API (`createKVCache`, `decode`, `createTensor`) on every backend, against
 * the float64 oracle (test/reference.ts) over the concatenated sequence and against the
 * tensor form `attention()` of the same backend. Generation loops (prefill, then one token
 * at a time) check every step; edges are named like XNNPACK's tests.
 *
 * Tolerances: `toleranceFor` (test/helpers.ts), the first-order f32 bound from each case's
 * sizes and data. A float16 cache is compared with the oracle over the *half-rounded* K/V
 * (what it stores), under the same f32 bound; its distance to a float32 cache is bounded
 * separately (`halfCacheTolerance`).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BACKEND_NAMES,
  createAttention,
  floatToHalf,
  halfToFloat,
  isBackendAvailable,
  type AttentionInstance,
  type BackendName,
  type KVCache,
  type MaskTensor,
} from '../src/index.js';
import { expectClose, toleranceFor, valuesOf, type Tolerance } from './helpers.js';
import { makePlan, mulberry32, referenceAttention } from './reference.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);

// ---------------------------------------------------------------------------------------
// A model of the cached sequences, kept independently of the library
// ---------------------------------------------------------------------------------------

/** `x` rounded to float16 (exact: through the library's encoder, checked by decodeHalf in attention.test.ts). */
const roundHalf = (x: number) => halfToFloat(floatToHalf(x));

/** What a cache must hold: per sequence, its K/V rows, as `[batch, kvHeads, maxSeqLen, dim]` buffers. */
class Model {
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly lengths: number[];
  constructor(
    readonly batch: number,
    readonly kvHeads: number,
    readonly headDim: number,
    readonly valueDim: number,
    readonly maxSeqLen: number,
    readonly half: boolean,
  ) {
    this.k = new Float32Array(batch * kvHeads * maxSeqLen * headDim);
    this.v = new Float32Array(batch * kvHeads * maxSeqLen * valueDim);
    this.lengths = new Array(batch).fill(0);
  }

  /** Appends the first rows[b] rows of bhsd `k`/`v` ([batch, kvHeads, L, dim]) to each sequence. */
  append(k: Float32Array, v: Float32Array, seqLen: number, rows?: number[]): void {
    const { batch, kvHeads, headDim, valueDim, maxSeqLen } = this;
    for (let b = 0; b < batch; b++) {
      const n = rows ? rows[b]! : seqLen;
      for (let h = 0; h < kvHeads; h++) {
        for (let s = 0; s < n; s++) {
          const to = (b * kvHeads + h) * maxSeqLen + this.lengths[b]! + s;
          const from = (b * kvHeads + h) * seqLen + s;
          for (let d = 0; d < headDim; d++) this.k[to * headDim + d] = this.round(k[from * headDim + d]!);
          for (let d = 0; d < valueDim; d++) this.v[to * valueDim + d] = this.round(v[from * valueDim + d]!);
        }
      }
      this.lengths[b]! += n;
    }
  }

  private round(x: number): number {
    return this.half ? roundHalf(x) : x;
  }

  get length(): number {
    return Math.max(0, ...this.lengths);
  }

  /** Contiguous `[batch, kvHeads, length, dim]` copies of the cached rows (zeros past a sequence's length). */
  dense(): { k: Float32Array; v: Float32Array } {
    const { batch, kvHeads, headDim, valueDim, maxSeqLen } = this;
    const length = this.length;
    const k = new Float32Array(batch * kvHeads * length * headDim);
    const v = new Float32Array(batch * kvHeads * length * valueDim);
    for (let head = 0; head < batch * kvHeads; head++) {
      k.set(this.k.subarray(head * maxSeqLen * headDim, (head * maxSeqLen + length) * headDim), head * length * headDim);
      v.set(this.v.subarray(head * maxSeqLen * valueDim, (head * maxSeqLen + length) * valueDim), head * length * valueDim);
    }
    return { k, v };
  }
}

interface Query {
  readonly q: Float32Array; // bhsd [batch, qHeads, seqLenQ, headDim]
  readonly qHeads: number;
  readonly seqLenQ: number;
  readonly causal?: boolean;
  readonly softcap?: number;
  readonly scale?: number;
  /** Full `[batch, qHeads, seqLenQ, length]` additive bias (what the mask expands to). */
  readonly bias?: Float32Array | null;
  readonly keyLengths?: number[];
}

/** float64 answer of `decode` (bottom-right causal over each sequence's length) on the model's rows. */
function expected(model: Model, query: Query): { out: Float64Array; weights: Float64Array; tolerance: { out: Tolerance; weights: Tolerance } } {
  const { batch, kvHeads, headDim, valueDim } = model;
  const { qHeads, seqLenQ } = query;
  const length = model.length;
  const dense = model.dense();
  const keyLengths = query.keyLengths ?? model.lengths;
  const plan = makePlan({
    batch, qHeads, kvHeads, seqLenQ, seqLenK: length, headDim, valueDim,
    q: query.q, k: dense.k, v: dense.v,
    scale: query.scale, softcap: query.softcap,
    causal: query.causal ?? false,
    positionOffsets: keyLengths.map((n) => n - seqLenQ),
    keyLengths,
    bias: query.bias ?? null,
    withWeights: true,
  });
  const reference = referenceAttention(plan);
  const rowNorm = (data: Float32Array, dim: number) => {
    let best = 0;
    for (let r = 0; r < data.length / dim; r++) {
      let s = 0;
      for (let d = 0; d < dim; d++) s += data[r * dim + d]! ** 2;
      best = Math.max(best, Math.sqrt(s));
    }
    return best;
  };
  let maxAbsV = 0;
  for (const x of dense.v) maxAbsV = Math.max(maxAbsV, Math.abs(x));
  let maxAbsBias = 0;
  for (const x of query.bias ?? []) if (Number.isFinite(x)) maxAbsBias = Math.max(maxAbsBias, Math.abs(x));
  const tolerance = toleranceFor(
    { seqLenK: Math.max(length, 1), headDim },
    { qNorm: rowNorm(query.q, headDim), kNorm: rowNorm(dense.k, headDim), maxAbsV, maxAbsBias },
    query.scale ?? 1 / Math.sqrt(headDim),
    query.softcap ?? 0,
    false,
  );
  return { out: reference.out, weights: reference.weights, tolerance };
}

function random(seed: number) {
  const next = mulberry32(seed);
  return (length: number, range = 1) => Float32Array.from({ length }, () => (next() * 2 - 1) * range);
}

/** A boolean mask `[batch, 1, seqLenQ, length]` (random, some rows fully masked) and its bias expanded to `[batch, qHeads, seqLenQ, length]`. */
function booleanMask(seed: number, batch: number, qHeads: number, seqLenQ: number, length: number): { mask: MaskTensor; bias: Float32Array } {
  const next = mulberry32(seed);
  const data = Uint8Array.from({ length: batch * seqLenQ * length }, () => (next() < 0.7 ? 1 : 0));
  const bias = new Float32Array(batch * qHeads * seqLenQ * length);
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < qHeads; h++)
      for (let i = 0; i < seqLenQ; i++)
        for (let j = 0; j < length; j++) bias[((b * qHeads + h) * seqLenQ + i) * length + j] = data[(b * seqLenQ + i) * length + j] ? 0 : -Infinity;
  return { mask: { data, shape: [batch, 1, seqLenQ, length] }, bias };
}

/** `[batch, heads, seq, dim]` bhsd → bshd. */
function toBshd(data: Float32Array, batch: number, heads: number, seq: number, dim: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let s = 0; s < seq; s++)
        out.set(data.subarray(((b * heads + h) * seq + s) * dim, ((b * heads + h) * seq + s + 1) * dim), ((b * seq + s) * heads + h) * dim);
  return out;
}

describe.each(BACKENDS)('backend %s', (backendName: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention({ backend: backendName });
  });

  // -------------------------------------------------------------------------------------
  // Generation loops: prefill a prompt, then append and decode one token at a time
  // -------------------------------------------------------------------------------------

  interface LoopSpec {
    readonly name: string;
    readonly batch: number;
    readonly qHeads: number;
    readonly kvHeads: number;
    readonly headDim: number;
    readonly valueDim?: number;
    readonly prompt: number;
    readonly steps: number;
    readonly dtype?: 'float32' | 'float16';
    readonly layout?: 'bhsd' | 'bshd';
    readonly mask?: 'boolean' | 'additive';
    readonly softcap?: number;
    /** Prefill the prompt in chunks of this many tokens (chunked prefill). */
    readonly chunk?: number;
    readonly returnWeights?: boolean;
  }

  const LOOPS: LoopSpec[] = [
    { name: 'mha_f32', batch: 1, qHeads: 4, kvHeads: 4, headDim: 16, prompt: 7, steps: 12 },
    { name: 'gqa_f32', batch: 2, qHeads: 8, kvHeads: 2, headDim: 64, prompt: 13, steps: 10 },
    { name: 'gqa_f16', batch: 2, qHeads: 8, kvHeads: 2, headDim: 64, prompt: 13, steps: 10, dtype: 'float16' },
    { name: 'mqa_head_dim_7_value_dim_5_f16', batch: 1, qHeads: 6, kvHeads: 1, headDim: 7, valueDim: 5, prompt: 5, steps: 9, dtype: 'float16' },
    { name: 'head_dim_3_f32', batch: 2, qHeads: 3, kvHeads: 1, headDim: 3, valueDim: 6, prompt: 4, steps: 6 },
    { name: 'mask_boolean_gqa', batch: 2, qHeads: 4, kvHeads: 2, headDim: 32, prompt: 9, steps: 8, mask: 'boolean' },
    { name: 'mask_additive_softcap_f16', batch: 1, qHeads: 4, kvHeads: 2, headDim: 24, prompt: 6, steps: 8, mask: 'additive', softcap: 3, dtype: 'float16' },
    { name: 'bshd_layout', batch: 2, qHeads: 4, kvHeads: 2, headDim: 16, prompt: 5, steps: 6, layout: 'bshd' },
    { name: 'group_of_32_rows', batch: 1, qHeads: 32, kvHeads: 1, headDim: 32, prompt: 20, steps: 4 },
    { name: 'group_of_32_rows_f16', batch: 1, qHeads: 32, kvHeads: 1, headDim: 32, prompt: 20, steps: 4, dtype: 'float16' },
    { name: 'chunked_prefill_f32', batch: 1, qHeads: 4, kvHeads: 2, headDim: 16, prompt: 23, chunk: 5, steps: 3 },
    { name: 'chunked_prefill_f16_weights', batch: 2, qHeads: 4, kvHeads: 2, headDim: 16, prompt: 11, chunk: 4, steps: 3, dtype: 'float16', returnWeights: true },
    { name: 'kv_len_crosses_chunks_weights', batch: 1, qHeads: 2, kvHeads: 1, headDim: 8, prompt: 62, steps: 5, returnWeights: true },
  ];

  it.each(LOOPS)('generation_loop $name', (spec) => {
    const { batch, qHeads, kvHeads, headDim } = spec;
    const valueDim = spec.valueDim ?? headDim;
    const layout = spec.layout ?? 'bhsd';
    const half = spec.dtype === 'float16';
    const maxSeqLen = spec.prompt + spec.steps;
    const data = random(7);
    const cache = attn.createKVCache({ batch, kvHeads, headDim, valueDim, maxSeqLen, dtype: spec.dtype });
    const model = new Model(batch, kvHeads, headDim, valueDim, maxSeqLen, half);

    const step = (seqLenQ: number, label: string) => {
      const k = data(batch * kvHeads * seqLenQ * headDim);
      const v = data(batch * kvHeads * seqLenQ * valueDim);
      const q = data(batch * qHeads * seqLenQ * headDim);
      const tensor = (x: Float32Array, heads: number, dim: number) =>
        layout === 'bhsd'
          ? { data: x, shape: [batch, heads, seqLenQ, dim] }
          : { data: toBshd(x, batch, heads, seqLenQ, dim), shape: [batch, seqLenQ, heads, dim] };
      cache.append(tensor(k, kvHeads, headDim), tensor(v, kvHeads, valueDim), { layout });
      model.append(k, v, seqLenQ);
      const length = model.length;
      expect(cache.length, `${label}: length`).toBe(length);

      let mask: MaskTensor | undefined;
      let bias: Float32Array | null = null;
      if (spec.mask === 'boolean') ({ mask, bias } = booleanMask(length * 31 + seqLenQ, batch, qHeads, seqLenQ, length));
      if (spec.mask === 'additive') {
        bias = data(batch * qHeads * seqLenQ * length, 2);
        mask = { data: bias, shape: [batch, qHeads, seqLenQ, length] };
      }
      const options = { causal: true, layout, softcap: spec.softcap, mask, returnWeights: spec.returnWeights };
      const result = attn.decode(tensor(q, qHeads, headDim), cache, options);
      const want = expected(model, { q, qHeads, seqLenQ, causal: true, softcap: spec.softcap, bias });
      const outShape = layout === 'bhsd' ? [batch, qHeads, seqLenQ, valueDim] : [batch, seqLenQ, qHeads, valueDim];
      expect(result.output.shape, `${label}: output shape`).toEqual(outShape);
      const wantOut = layout === 'bhsd' ? Float32Array.from(want.out) : toBshd(Float32Array.from(want.out), batch, qHeads, seqLenQ, valueDim);
      expectClose(valuesOf(result.output.data), wantOut, want.tolerance.out, `${backendName} ${spec.name} ${label}: output vs float64 reference`, outShape);
      if (spec.returnWeights) {
        expect(result.weights!.shape).toEqual([batch, qHeads, seqLenQ, length]);
        expectClose(valuesOf(result.weights!.data), want.weights, want.tolerance.weights, `${backendName} ${spec.name} ${label}: weights`, result.weights!.shape);
      }

      // The tensor form over the concatenated sequence, on the same backend.
      const dense = model.dense();
      const full = attn.attention(
        tensor(q, qHeads, headDim),
        layout === 'bhsd' ? { data: dense.k, shape: [batch, kvHeads, length, headDim] } : { data: toBshd(dense.k, batch, kvHeads, length, headDim), shape: [batch, length, kvHeads, headDim] },
        layout === 'bhsd' ? { data: dense.v, shape: [batch, kvHeads, length, valueDim] } : { data: toBshd(dense.v, batch, kvHeads, length, valueDim), shape: [batch, length, kvHeads, valueDim] },
        { causal: true, layout, softcap: spec.softcap, mask },
      );
      const twice = { atol: 2 * want.tolerance.out.atol, rtol: 2 * want.tolerance.out.rtol };
      expectClose(valuesOf(result.output.data), valuesOf(full.output.data), twice, `${backendName} ${spec.name} ${label}: decode vs attention() over the concatenation`, outShape);
    };

    if (spec.chunk) {
      for (let done = 0; done < spec.prompt; done += spec.chunk) step(Math.min(spec.chunk, spec.prompt - done), `prefill chunk at ${done}`);
    } else {
      step(spec.prompt, 'prefill');
    }
    for (let t = 0; t < spec.steps; t++) step(1, `step ${t}`);
    expect(cache.length).toBe(maxSeqLen);
    cache.dispose();
  });

  // -------------------------------------------------------------------------------------
  // Ragged batches
  // -------------------------------------------------------------------------------------

  it('ragged_batch: per-sequence lengths, each sequence as if alone', () => {
    const batch = 3, qHeads = 4, kvHeads = 2, headDim = 16, maxSeqLen = 24;
    const data = random(11);
    const cache = attn.createKVCache({ batch, kvHeads, headDim, maxSeqLen });
    const model = new Model(batch, kvHeads, headDim, headDim, maxSeqLen, false);
    const appendRows = (seqLen: number, rows?: number[]) => {
      const k = data(batch * kvHeads * seqLen * headDim);
      const v = data(batch * kvHeads * seqLen * headDim);
      cache.append({ data: k, shape: [batch, kvHeads, seqLen, headDim] }, { data: v, shape: [batch, kvHeads, seqLen, headDim] }, rows ? { lengths: rows } : undefined);
      model.append(k, v, seqLen, rows);
    };
    appendRows(6, [6, 2, 0]);
    expect(Array.from(cache.lengths)).toEqual([6, 2, 0]);
    expect(cache.length).toBe(6);
    const schedule: (number[] | undefined)[] = [undefined, [1, 0, 1], [0, 1, 1], undefined, [1, 1, 0]];
    for (const [t, rows] of schedule.entries()) {
      appendRows(1, rows);
      expect(Array.from(cache.lengths)).toEqual(model.lengths);
      const q = data(batch * qHeads * headDim);
      const result = attn.decode({ data: q, shape: [batch, qHeads, 1, headDim] }, cache, { causal: true, returnWeights: true });
      const want = expected(model, { q, qHeads, seqLenQ: 1, causal: true });
      expectClose(valuesOf(result.output.data), want.out, want.tolerance.out, `${backendName} ragged step ${t}: output`);
      expectClose(valuesOf(result.weights!.data), want.weights, want.tolerance.weights, `${backendName} ragged step ${t}: weights`);
      // Each sequence alone (batch 1, its own length) gives its rows of the batched result.
      for (let b = 0; b < batch; b++) {
        const alone = new Model(1, kvHeads, headDim, headDim, maxSeqLen, false);
        const rows = model.lengths[b]!;
        const k = model.k.subarray(b * kvHeads * maxSeqLen * headDim, (b + 1) * kvHeads * maxSeqLen * headDim);
        const v = model.v.subarray(b * kvHeads * maxSeqLen * headDim, (b + 1) * kvHeads * maxSeqLen * headDim);
        alone.append(k, v, maxSeqLen, [rows]);
        const own = expected(alone, { q: q.subarray(b * qHeads * headDim, (b + 1) * qHeads * headDim), qHeads, seqLenQ: 1, causal: true });
        const got = valuesOf(result.output.data).subarray(b * qHeads * headDim, (b + 1) * qHeads * headDim);
        expectClose(got, own.out, own.tolerance.out, `${backendName} ragged step ${t}: sequence ${b} alone`);
      }
    }
    cache.dispose();
  });

  it('ragged_batch: empty sequence gives zeros, never NaN', () => {
    const cache = attn.createKVCache({ batch: 2, kvHeads: 1, headDim: 4, maxSeqLen: 8 });
    const q = { data: new Float32Array(2 * 2 * 4).fill(1), shape: [2, 2, 1, 4] };
    // No rows at all: seqLenK = 0.
    const empty = attn.decode(q, cache, { causal: true, returnWeights: true });
    expect(Array.from(empty.output.data)).toEqual(new Array(16).fill(0));
    expect(empty.weights!.shape).toEqual([2, 2, 1, 0]);
    cache.append({ data: new Float32Array(2 * 3 * 4).fill(0.5), shape: [2, 1, 3, 4] }, { data: new Float32Array(2 * 3 * 4).fill(2), shape: [2, 1, 3, 4] }, { lengths: [3, 0] });
    const result = attn.decode(q, cache, { causal: true });
    expect(Array.from(result.output.data.subarray(0, 8))).toEqual(new Array(8).fill(2));
    expect(Array.from(result.output.data.subarray(8))).toEqual(new Array(8).fill(0));
    cache.dispose();
  });

  it('ragged_batch: left-padded chunk, bottom-right aligned per sequence', () => {
    const batch = 2, qHeads = 2, kvHeads = 1, headDim = 8, seqLenQ = 5;
    const data = random(5);
    const cache = attn.createKVCache({ batch, kvHeads, headDim, maxSeqLen: 16 });
    const model = new Model(batch, kvHeads, headDim, headDim, 16, false);
    const k = data(batch * kvHeads * seqLenQ * headDim);
    const v = data(batch * kvHeads * seqLenQ * headDim);
    cache.append({ data: k, shape: [batch, kvHeads, seqLenQ, headDim] }, { data: v, shape: [batch, kvHeads, seqLenQ, headDim] }, { lengths: [5, 2] });
    model.append(k, v, seqLenQ, [5, 2]);
    const q = data(batch * qHeads * seqLenQ * headDim);
    const result = attn.decode({ data: q, shape: [batch, qHeads, seqLenQ, headDim] }, cache, { causal: true });
    const want = expected(model, { q, qHeads, seqLenQ, causal: true });
    expectClose(valuesOf(result.output.data), want.out, want.tolerance.out, `${backendName} left-padded chunk`);
    // Sequence 1 has 2 keys: its first 3 query rows see none (zeros), the last 2 are its causal prefill.
    for (let h = 0; h < qHeads; h++) {
      const row0 = ((1 * qHeads + h) * seqLenQ) * headDim;
      expect(Array.from(result.output.data.subarray(row0, row0 + 3 * headDim))).toEqual(new Array(3 * headDim).fill(0));
    }
    cache.dispose();
  });

  it('key_lengths option narrows the cache lengths', () => {
    const data = random(3);
    const cache = attn.createKVCache({ batch: 2, kvHeads: 1, headDim: 8, maxSeqLen: 16 });
    const model = new Model(2, 1, 8, 8, 16, false);
    const k = data(2 * 10 * 8), v = data(2 * 10 * 8);
    cache.append({ data: k, shape: [2, 1, 10, 8] }, { data: v, shape: [2, 1, 10, 8] });
    model.append(k, v, 10);
    const q = data(2 * 2 * 8);
    const result = attn.decode({ data: q, shape: [2, 2, 1, 8] }, cache, { keyLengths: [4, 10], causal: true });
    const want = expected(model, { q, qHeads: 2, seqLenQ: 1, causal: true, keyLengths: [4, 10] });
    expectClose(valuesOf(result.output.data), want.out, want.tolerance.out, `${backendName} keyLengths`);
    expect(() => attn.decode({ data: q, shape: [2, 2, 1, 8] }, cache, { keyLengths: [11, 10] })).toThrow(RangeError);
    cache.dispose();
  });

  // -------------------------------------------------------------------------------------
  // float16 storage
  // -------------------------------------------------------------------------------------

  it('float16_cache: half the bytes, within float16 tolerance of a float32 cache', () => {
    const batch = 1, qHeads = 8, kvHeads = 2, headDim = 64, length = 300;
    const data = random(21);
    const options = { batch, kvHeads, headDim, maxSeqLen: 512 };
    const f32 = attn.createKVCache(options);
    const f16 = attn.createKVCache({ ...options, dtype: 'float16' });
    if (backendName !== 'js') expect(f16.byteLength).toBe(f32.byteLength / 2);
    const k = data(batch * kvHeads * length * headDim);
    const v = data(batch * kvHeads * length * headDim);
    const tensor = (x: Float32Array) => ({ data: x, shape: [batch, kvHeads, length, headDim] });
    f32.append(tensor(k), tensor(v));
    f16.append(tensor(k), tensor(v));
    // read() gives the stored half bits: those of the library's f32 → f16 rounding.
    const bits = f16.read().k.data as Uint16Array;
    expect(bits).toBeInstanceOf(Uint16Array);
    for (let n = 0; n < 256; n++) expect(bits[n], `k[${n}]`).toBe(floatToHalf(k[n]!));
    const q = { data: data(batch * qHeads * headDim), shape: [batch, qHeads, 1, headDim] };
    const a = valuesOf(attn.decode(q, f32, { causal: true }).output.data);
    const b = valuesOf(attn.decode(q, f16, { causal: true }).output.data);
    // Rounding k and v to half moves each logit by at most scale·2^-11·‖q‖·‖k‖ = δ and the
    // output by max|v|·(2δ + 2^-11) (first order), plus the f32 error of both evaluations.
    let qNorm = 0, kNorm = 0;
    for (let r = 0; r < qHeads; r++) qNorm = Math.max(qNorm, Math.hypot(...q.data.subarray(r * headDim, (r + 1) * headDim)));
    for (let r = 0; r < kvHeads * length; r++) kNorm = Math.max(kNorm, Math.hypot(...k.subarray(r * headDim, (r + 1) * headDim)));
    const delta = (1 / Math.sqrt(headDim)) * 2 ** -11 * qNorm * kNorm;
    const tolerance = { atol: 2 * (2 * delta + 2 ** -11) + 1e-5, rtol: 0 };
    expectClose(b, a, tolerance, `${backendName} float16 vs float32 cache`);
    f32.dispose();
    f16.dispose();
  });

  it('float16_cache: float16 k/v bits are stored as given, float16 q gives a float16 output', () => {
    const cache = attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 4, maxSeqLen: 4, dtype: 'float16' });
    const bits = Uint16Array.from([0x3c00, 0xbc00, 0x0001, 0x7bff, 0x3800, 0x0000, 0x8000, 0x4000]);
    cache.append({ data: bits, shape: [1, 1, 2, 4] }, { data: bits, shape: [1, 1, 2, 4] });
    expect(Array.from(cache.read().k.data)).toEqual(Array.from(bits));
    const q = { data: Uint16Array.from([0, 0, 0, 0]), shape: [1, 1, 1, 4] };
    const { output } = attn.decode(q, cache);
    expect(output.data).toBeInstanceOf(Uint16Array);
    // Zero query: uniform weights over the 2 keys, the mean of the two value rows, in half.
    const mean = [0, 1, 2, 3].map((d) => (halfToFloat(bits[d]!) + halfToFloat(bits[4 + d]!)) / 2);
    expect(Array.from(output.data, halfToFloat)).toEqual(mean.map(roundHalf));
    cache.dispose();
  });

  // -------------------------------------------------------------------------------------
  // Cache lifecycle: maxSeqLen, growth, reset, dispose, read
  // -------------------------------------------------------------------------------------

  it('append beyond maxSeqLen throws a RangeError and leaves the cache intact', () => {
    const data = random(9);
    const cache = attn.createKVCache({ batch: 2, kvHeads: 2, headDim: 8, maxSeqLen: 6 });
    const rows = (n: number) => ({ data: data(2 * 2 * n * 8), shape: [2, 2, n, 8] });
    cache.append(rows(4), rows(4));
    const before = cache.read();
    const q = { data: data(2 * 4 * 8), shape: [2, 4, 1, 8] };
    const outBefore = Array.from(attn.decode(q, cache).output.data);
    expect(() => cache.append(rows(3), rows(3))).toThrow(RangeError);
    expect(() => cache.append(rows(3), rows(3))).toThrow(/maxSeqLen 6/);
    expect(() => cache.append(rows(3), rows(3), { lengths: [2, 3] })).toThrow(RangeError);
    expect(cache.length).toBe(4);
    expect(cache.read()).toEqual(before);
    expect(Array.from(attn.decode(q, cache).output.data)).toEqual(outBefore);
    cache.append(rows(2), rows(2)); // exactly full is fine
    expect(cache.length).toBe(6);
    cache.dispose();
  });

  it('initial_seq_len: grows in doubling steps, copying rows once per step, never per token', () => {
    const data = random(13);
    const cache = attn.createKVCache({ batch: 2, kvHeads: 1, headDim: 5, maxSeqLen: 100, initialSeqLen: 4, dtype: 'float16' });
    const model = new Model(2, 1, 5, 5, 100, true);
    expect(cache.capacity).toBe(4);
    const capacities = new Set<number>();
    for (let t = 0; t < 40; t++) {
      const k = data(2 * 5), v = data(2 * 5);
      cache.append({ data: k, shape: [2, 1, 1, 5] }, { data: v, shape: [2, 1, 1, 5] }, { lengths: [1, t % 2] });
      model.append(k, v, 1, [1, t % 2]);
      capacities.add(cache.capacity);
    }
    expect([...capacities]).toEqual([4, 8, 16, 32, 64]);
    const got = cache.read();
    const dense = model.dense();
    expect(Array.from(got.k.data, halfToFloat)).toEqual(Array.from(dense.k));
    expect(Array.from(got.v.data, halfToFloat)).toEqual(Array.from(dense.v));
    const q = data(2 * 3 * 5);
    const result = attn.decode({ data: q, shape: [2, 3, 1, 5] }, cache, { causal: true });
    const want = expected(model, { q, qHeads: 3, seqLenQ: 1, causal: true });
    expectClose(valuesOf(result.output.data), want.out, want.tolerance.out, `${backendName} grown cache`);
    cache.dispose();
  });

  it('reset empties the cache and keeps its memory; read slices rows', () => {
    const data = random(17);
    const cache = attn.createKVCache({ batch: 1, kvHeads: 2, headDim: 4, maxSeqLen: 10 });
    const k = data(2 * 6 * 4), v = data(2 * 6 * 4);
    cache.append({ data: k, shape: [1, 2, 6, 4] }, { data: v, shape: [1, 2, 6, 4] });
    const slice = cache.read(2, 5);
    expect(slice.k.shape).toEqual([1, 2, 3, 4]);
    expect(Array.from(slice.k.data.subarray(0, 12))).toEqual(Array.from(k.subarray(8, 20)));
    expect(Array.from(slice.v.data.subarray(12))).toEqual(Array.from(v.subarray(24 + 8, 24 + 20)));
    expect(() => cache.read(4, 7)).toThrow(RangeError);
    expect(() => cache.read(3, 2)).toThrow(RangeError);
    const bytes = attn.memoryBytes;
    cache.reset();
    expect(cache.length).toBe(0);
    expect(cache.read().k.shape).toEqual([1, 2, 0, 4]);
    cache.append({ data: k, shape: [1, 2, 6, 4] }, { data: v, shape: [1, 2, 6, 4] });
    expect(Array.from(cache.read().k.data)).toEqual(Array.from(k));
    expect(attn.memoryBytes).toBe(bytes);
    cache.dispose();
  });

  it('dispose: memory is reused by the next cache; a disposed cache throws a TypeError', () => {
    const options = { batch: 1, kvHeads: 4, headDim: 64, maxSeqLen: 1024 };
    const first = attn.createKVCache(options);
    const bytes = attn.memoryBytes;
    first.dispose();
    expect(first.disposed).toBe(true);
    for (let n = 0; n < 5; n++) attn.createKVCache(options).dispose();
    const second = attn.createKVCache(options);
    expect(attn.memoryBytes).toBe(bytes);
    const row = { data: new Float32Array(4 * 64), shape: [1, 4, 1, 64] };
    expect(() => first.append(row, row)).toThrow(TypeError);
    expect(() => first.read()).toThrow(/disposed/);
    expect(() => attn.decode({ data: new Float32Array(4 * 64), shape: [1, 4, 1, 64] }, first)).toThrow(TypeError);
    second.append(row, row);
    expect(second.length).toBe(1);
    second.dispose();
  });

  // -------------------------------------------------------------------------------------
  // Pinned tensors (zero copy)
  // -------------------------------------------------------------------------------------

  it('pinned tensors: q read and out written in place, same result as host arrays', () => {
    const data = random(23);
    const cache = attn.createKVCache({ batch: 1, kvHeads: 2, headDim: 16, maxSeqLen: 64 });
    const kv = () => ({ data: data(2 * 30 * 16), shape: [1, 2, 30, 16] });
    cache.append(kv(), kv());
    const q = attn.createTensor([1, 4, 1, 16]);
    const out = attn.createTensor([1, 4, 1, 16]);
    const host = data(4 * 16);
    q.data.set(host);
    const want = attn.decode({ data: host, shape: [1, 4, 1, 16] }, cache, { causal: true }).output.data;
    const result = attn.decode(q, cache, { causal: true, out });
    expect(result.output.data).toBe(out.data);
    expect(Array.from(out.data)).toEqual(Array.from(want));
    // A view of the pinned data in a plain tensor works too.
    const again = attn.decode({ data: q.data, shape: [1, 4, 1, 16] }, cache, { causal: true });
    expect(Array.from(again.output.data)).toEqual(Array.from(want));
    // out: q (overlapping its input) is computed apart and copied in (src/plan.ts outOverlapsInputs).
    expect(Array.from(attn.decode(q, cache, { causal: true, out: q }).output.data)).toEqual(Array.from(want));
    q.dispose();
    expect(() => q.data).toThrow(TypeError);
    expect(() => attn.decode(q, cache)).toThrow(TypeError);
    out.dispose();
    cache.dispose();
  });

  it('pinned tensors: a view made stale by memory growth is refused with a clear TypeError', () => {
    const q = attn.createTensor([1, 2, 1, 8]);
    const stale = q.data;
    stale.fill(0.25);
    const cache = attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 8, maxSeqLen: 8 });
    cache.append({ data: new Float32Array(8).fill(1), shape: [1, 1, 1, 8] }, { data: new Float32Array(8).fill(3), shape: [1, 1, 1, 8] });
    // Grow memory well past what this instance used so far.
    const big = attn.createKVCache({ batch: 1, kvHeads: 8, headDim: 128, maxSeqLen: 8192 });
    if (backendName !== 'js') {
      expect(stale.length).toBe(0); // detached by the growth
      expect(() => attn.decode({ data: stale, shape: [1, 2, 1, 8] }, cache)).toThrow(/detached/);
    }
    // The tensor itself is always live, and its contents survived the growth.
    expect(Array.from(q.data)).toEqual(new Array(16).fill(0.25));
    expect(Array.from(attn.decode(q, cache).output.data)).toEqual(new Array(16).fill(3));
    big.dispose();
    cache.dispose();
    q.dispose();
  });

  // -------------------------------------------------------------------------------------
  // Bad input: the right error, and memory left working
  // -------------------------------------------------------------------------------------

  it('bad input: TypeError for a wrong kind, RangeError for a wrong size, and the next call works', () => {
    const data = random(29);
    const cache = attn.createKVCache({ batch: 1, kvHeads: 2, headDim: 8, maxSeqLen: 16 });
    const kv = (n: number) => ({ data: data(2 * n * 8), shape: [1, 2, n, 8] });
    cache.append(kv(5), kv(5));
    const q = { data: data(4 * 8), shape: [1, 4, 1, 8] };
    const want = Array.from(attn.decode(q, cache, { causal: true }).output.data);

    // createKVCache
    expect(() => attn.createKVCache(undefined as never)).toThrow(TypeError);
    expect(() => attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 8 } as never)).toThrow(/options.maxSeqLen: expected an integer/);
    expect(() => attn.createKVCache({ batch: 0, kvHeads: 1, headDim: 8, maxSeqLen: 4 })).toThrow(RangeError);
    expect(() => attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 8, maxSeqLen: 4, dtype: 'int8' as never })).toThrow(TypeError);
    expect(() => attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 8, maxSeqLen: 4, maxLen: 3 } as never)).toThrow(TypeError);
    expect(() => attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 8, maxSeqLen: 4, initialSeqLen: 5 })).toThrow(RangeError);
    expect(() => attn.createKVCache({ batch: 1024, kvHeads: 64, headDim: 128, maxSeqLen: 1 << 20 })).toThrow(RangeError);

    // append
    expect(() => cache.append([1, 2] as never, kv(1))).toThrow(TypeError);
    expect(() => cache.append(kv(1), { data: new Uint16Array(16), shape: [1, 2, 1, 8] })).toThrow(TypeError);
    expect(() => cache.append({ data: data(3 * 8), shape: [1, 3, 1, 8] }, kv(1))).toThrow(/k.shape\[1\]: expected the cache's kvHeads = 2, got 3/);
    expect(() => cache.append({ data: data(2 * 4), shape: [1, 2, 1, 4] }, kv(1))).toThrow(RangeError);
    expect(() => cache.append(kv(2), kv(1))).toThrow(RangeError);
    expect(() => cache.append(kv(1), kv(1), { lengths: [2] })).toThrow(RangeError);
    expect(() => cache.append(kv(1), kv(1), { lengths: [1, 1] })).toThrow(RangeError);
    expect(() => cache.append(kv(1), kv(1), { layout: 'sbhd' as never })).toThrow(TypeError);
    expect(() => cache.append({ data: data(16), shape: [2, 8] }, kv(1))).toThrow(/rank/);

    // decode
    expect(() => attn.decode(q, {} as KVCache)).toThrow(TypeError);
    expect(() => attn.decode({ data: data(2 * 4 * 8), shape: [2, 4, 1, 8] }, cache)).toThrow(/q.shape\[0\]: expected the cache's batch = 1, got 2/);
    expect(() => attn.decode({ data: data(4 * 4), shape: [1, 4, 1, 4] }, cache)).toThrow(RangeError);
    expect(() => attn.decode({ data: data(3 * 8), shape: [1, 3, 1, 8] }, cache)).toThrow(/multiple of the cache's kvHeads/);
    expect(() => attn.decode(q, cache, { casual: true } as never)).toThrow(TypeError);
    expect(() => attn.decode(q, cache, { out: new Float32Array(3) })).toThrow(RangeError);
    expect(() => attn.decode(q, cache, { out: new Uint16Array(32) })).toThrow(TypeError);
    expect(() => attn.decode(q, cache, { mask: { data: new Uint8Array(7), shape: [7] } })).toThrow(RangeError);
    expect(() => attn.decode(q, cache, { kvHeads: 4 })).toThrow(RangeError);
    expect(() => attn.createTensor([2, -1])).toThrow(RangeError);
    expect(() => attn.createTensor('x' as never)).toThrow(TypeError);

    // Nothing above touched the cache or the memory.
    expect(cache.length).toBe(5);
    expect(Array.from(attn.decode(q, cache, { causal: true }).output.data)).toEqual(want);
    cache.dispose();
  });

  it('a cache belongs to its instance', async () => {
    const other = await createAttention({ backend: backendName });
    const cache = other.createKVCache({ batch: 1, kvHeads: 1, headDim: 4, maxSeqLen: 4 });
    expect(() => attn.decode({ data: new Float32Array(4), shape: [1, 1, 1, 4] }, cache)).toThrow(/created by this instance/);
    cache.dispose();
  });

  it('packed 3-D q: numHeads is optional (headDim comes from the cache)', () => {
    const data = random(31);
    const cache = attn.createKVCache({ batch: 1, kvHeads: 2, headDim: 8, maxSeqLen: 8 });
    const kv = () => ({ data: data(2 * 3 * 8), shape: [1, 3, 16] });
    cache.append(kv(), kv());
    const q = data(4 * 8);
    const packed = attn.decode({ data: q, shape: [1, 1, 32] }, cache);
    expect(packed.output.shape).toEqual([1, 1, 32]);
    const bshd = attn.decode({ data: q, shape: [1, 1, 4, 8] }, cache, { layout: 'bshd' });
    expect(Array.from(packed.output.data)).toEqual(Array.from(bshd.output.data));
    expect(() => attn.decode({ data: q, shape: [1, 1, 32] }, cache, { numHeads: 3 })).toThrow(RangeError);
    cache.dispose();
  });
});

describe('long context', () => {
  it.each(BACKENDS.filter((name) => name !== 'js'))('kv_len_32768: a 32k-token cache decodes correctly (%s, float32 and float16)', async (backendName) => {
    const attn = await createAttention({ backend: backendName });
    const batch = 1, qHeads = 4, kvHeads = 2, headDim = 64, length = 32768;
    const data = random(37);
    const k = data(batch * kvHeads * length * headDim, 2);
    const v = data(batch * kvHeads * length * headDim);
    const q = data(batch * qHeads * headDim, 2);
    for (const dtype of ['float32', 'float16'] as const) {
      const cache = attn.createKVCache({ batch, kvHeads, headDim, maxSeqLen: length, dtype });
      // Prefill in 4 chunks, as a long prompt would be.
      const model = new Model(batch, kvHeads, headDim, headDim, length, dtype === 'float16');
      const chunk = length / 4;
      for (let c = 0; c < 4; c++) {
        const part = (x: Float32Array) => {
          const out = new Float32Array(kvHeads * chunk * headDim);
          for (let h = 0; h < kvHeads; h++) out.set(x.subarray((h * length + c * chunk) * headDim, (h * length + (c + 1) * chunk) * headDim), h * chunk * headDim);
          return out;
        };
        const kc = part(k), vc = part(v);
        cache.append({ data: kc, shape: [batch, kvHeads, chunk, headDim] }, { data: vc, shape: [batch, kvHeads, chunk, headDim] });
        model.append(kc, vc, chunk);
      }
      const result = attn.decode({ data: q, shape: [batch, qHeads, 1, headDim] }, cache, { causal: true });
      const want = expected(model, { q, qHeads, seqLenQ: 1, causal: true });
      expectClose(valuesOf(result.output.data), want.out, want.tolerance.out, `${backendName} ${dtype} 32k cache`);
      cache.dispose();
    }
  });
});
