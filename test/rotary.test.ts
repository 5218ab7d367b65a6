/**
 * The `rotary` option of attention / attentionAsync / decode / decodeAsync and of
 * createKVCache (issue #12), on every backend and on a 2-thread pool, against the float64
 * oracle of test/rotary-reference.ts (q and k rotated in float64, then float64 attention).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type AttentionInstance, type RotaryOptions } from '../src/index.js';
import { expectClose } from './helpers.js';
import { buildRotaryCase, gatherOutput, type RotaryCase, type RotaryLayout } from './rotary-reference.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);
const instances: Record<string, AttentionInstance> = {};
for (const name of BACKENDS) instances[name] = await createAttention({ backend: name });
const threaded = await createAttention({ backend: BACKENDS[0], threads: 2 });
afterAll(() => threaded.dispose());

function check(attn: AttentionInstance, spec: RotaryCase, result: { output: { data: unknown } }, context: string): void {
  const c = buildRotaryCase(spec);
  const got = gatherOutput(c, result.output.data as Float32Array, [spec.batch, spec.qHeads, spec.seqLenQ, spec.headDim]);
  expectClose(got, c.want, c.tolerance, `${context} [${attn.backend}] ${c.label}`, [spec.batch, spec.qHeads, spec.seqLenQ, spec.headDim]);
}

const run = (attn: AttentionInstance, spec: RotaryCase) => {
  const c = buildRotaryCase(spec);
  return attn.attention(c.q, c.k, c.v, c.options);
};

// The grid: rotary mode × partial dim × GQA × causal alignment × keyLengths × layout.
const grid: RotaryCase[] = [];
for (const interleaved of [false, true])
  for (const dim of [undefined, 6])
    for (const [qHeads, kvHeads] of [[2, 2], [4, 2]] as const)
      for (const causal of [false, true, 'top-left'] as const)
        for (const keyLengths of [undefined, [9, 4]])
          for (const layout of ['bhsd', 'bshd', 'packed'] as RotaryLayout[]) {
            grid.push({ batch: 2, qHeads, kvHeads, seqLenQ: 5, seqLenK: 9, headDim: 10, layout, causal, keyLengths, rotary: { base: 10000, interleaved, ...(dim ? { dim } : {}) }, seed: grid.length + 1 });
          }

describe.each(BACKENDS)('rotary attention [%s]', (name) => {
  const attn = instances[name]!;
  it(`grid_of_${grid.length}_cases_matches_float64`, () => {
    for (const spec of grid) check(attn, spec, run(attn, spec), 'grid');
  });

  it('tables_scaling_and_explicit_positions', () => {
    const half = 4;
    const maxPos = 32;
    const cos = new Float32Array(maxPos * half);
    const sin = new Float32Array(maxPos * half);
    for (let p = 0; p < maxPos; p++) for (let i = 0; i < half; i++) [cos[p * half + i], sin[p * half + i]] = [Math.cos(p * 0.3 ** i), Math.sin(p * 0.3 ** i)];
    const specs: RotaryCase[] = [
      { batch: 2, qHeads: 4, kvHeads: 1, seqLenQ: 3, seqLenK: 11, headDim: 8, layout: 'bhsd', causal: true, rotary: { cos, sin } },
      { batch: 2, qHeads: 2, kvHeads: 2, seqLenQ: 3, seqLenK: 11, headDim: 12, layout: 'bshd', rotary: { cos, sin, dim: 8, interleaved: true } },
      { batch: 1, qHeads: 2, kvHeads: 1, seqLenQ: 7, seqLenK: 7, headDim: 16, layout: 'bhsd', causal: true, rotary: { base: 500000, scaling: { type: 'linear', factor: 4 } } },
      { batch: 2, qHeads: 2, kvHeads: 2, seqLenQ: 2, seqLenK: 6, headDim: 8, layout: 'bhsd', rotary: { queryPositions: 100, keyPositions: 96 } },
      { batch: 2, qHeads: 2, kvHeads: 2, seqLenQ: 2, seqLenK: 3, headDim: 8, layout: 'packed', rotary: { queryPositions: Int32Array.of(5, 1, 0, 9), keyPositions: Int32Array.of(0, 2, 4, 7, 8, 30), interleaved: true } },
      { batch: 1, qHeads: 1, kvHeads: 1, seqLenQ: 6, seqLenK: 2, headDim: 4, layout: 'bhsd', rotary: {} }, // Lq > Lk: negative default positions
    ];
    for (const spec of specs) check(attn, spec, run(attn, spec), 'explicit');
  });

  it('rotary_changes_the_result_and_positions_shift_invariance', () => {
    // RoPE scores depend on i − j only: shifting every position by 1000 keeps the output.
    const spec: RotaryCase = { batch: 1, qHeads: 2, kvHeads: 2, seqLenQ: 4, seqLenK: 8, headDim: 8, layout: 'bhsd', rotary: {} };
    const c = buildRotaryCase(spec);
    const plain = attn.attention(c.q, c.k, c.v, { ...c.options, rotary: undefined }).output.data as Float32Array;
    const rotated = attn.attention(c.q, c.k, c.v, c.options).output.data as Float32Array;
    const shifted = attn.attention(c.q, c.k, c.v, { rotary: { queryPositions: 1004, keyPositions: 1000 } }).output.data as Float32Array;
    expect(Math.max(...rotated.map((x, n) => Math.abs(x - plain[n]!)))).toBeGreaterThan(1e-2);
    expectClose(shifted, rotated, { atol: 1e-4, rtol: 0 }, 'shift by 1000 (angles ~1000 rad: f64 cos/sin are exact to 1e-13, the f32 rounding of q·k dominates)');
  });

  it('never_writes_the_callers_q_k_including_pinned_tensors', () => {
    const spec: RotaryCase = { batch: 1, qHeads: 2, kvHeads: 1, seqLenQ: 4, seqLenK: 6, headDim: 8, layout: 'bhsd', causal: true, rotary: { base: 100 } };
    const c = buildRotaryCase(spec);
    const [q0, k0] = [c.q.data.slice(), c.k.data.slice()];
    const fromArrays = attn.attention(c.q, c.k, c.v, c.options).output.data as Float32Array;
    expect(c.q.data).toEqual(q0);
    expect(c.k.data).toEqual(k0);
    const q = attn.createTensor(c.q.shape);
    const k = attn.createTensor(c.k.shape);
    const v = attn.createTensor(c.v.shape);
    q.data.set(c.q.data);
    k.data.set(c.k.data);
    v.data.set(c.v.data);
    const fromPinned = attn.attention(q, k, v, c.options).output.data as Float32Array;
    expect(q.data).toEqual(q0);
    expect(k.data).toEqual(k0);
    expect(Array.from(fromPinned)).toEqual(Array.from(fromArrays));
    check(attn, spec, { output: { data: fromPinned } }, 'pinned');
    // out may be q itself: computed apart, q read before it is overwritten.
    const out = attn.attention(q, k, v, { ...c.options, out: q }).output.data as Float32Array;
    expect(Array.from(out)).toEqual(Array.from(fromArrays));
    [q, k, v].forEach((t) => t.dispose());
  });
});

describe('rotary attentionAsync, threads: 2', () => {
  it('matches float64 and the single-thread result', async () => {
    for (const spec of grid.filter((_, n) => n % 5 === 0).map((s) => ({ ...s, seqLenQ: 40, seqLenK: 48, keyLengths: s.keyLengths ? [48, 30] : undefined }))) {
      const c = buildRotaryCase(spec);
      const got = await threaded.attentionAsync(c.q, c.k, c.v, c.options);
      check(threaded, spec, got, 'threads=2');
      const single = instances[threaded.backend]!.attention(c.q, c.k, c.v, c.options);
      expect(Array.from(got.output.data as Float32Array)).toEqual(Array.from(single.output.data as Float32Array));
    }
  });
});

describe('rotary option validation', () => {
  const attn = instances.js!;
  const c = buildRotaryCase({ batch: 1, qHeads: 2, kvHeads: 2, seqLenQ: 3, seqLenK: 4, headDim: 8, layout: 'bhsd', rotary: {} });
  const cases: [string, unknown, typeof TypeError | typeof RangeError, RegExp][] = [
    ['not an object', 10000, TypeError, /^options\.rotary: /],
    ['unknown key', { bas: 10 }, TypeError, /^options\.rotary\.bas: /],
    ['odd dim', { dim: 3 }, RangeError, /^options\.rotary\.dim: expected an even/],
    ['dim above headDim', { dim: 10 }, RangeError, /^options\.rotary\.dim: /],
    ['base 0', { base: 0 }, RangeError, /^options\.rotary\.base: /],
    ['base string', { base: '1e4' }, TypeError, /^options\.rotary\.base: /],
    ['cos without sin', { cos: new Float32Array(16) }, TypeError, /^options\.rotary\.sin: /],
    ['cos of Float64Array', { cos: new Float64Array(16), sin: new Float32Array(16) }, TypeError, /^options\.rotary\.cos: /],
    ['table not a multiple of dim/2', { cos: new Float32Array(10), sin: new Float32Array(10) }, RangeError, /^options\.rotary\.cos: /],
    ['base with tables', { base: 10, cos: new Float32Array(16), sin: new Float32Array(16) }, TypeError, /^options\.rotary\.base: /],
    ['table too short for the default positions', { cos: new Float32Array(12), sin: new Float32Array(12) }, RangeError, /^options\.rotary\.queryPositions \(default\): expected a row of the cos\/sin tables, in \[0, 2\], got position 3/],
    ['scaling type', { scaling: { type: 'yarn', factor: 2 } }, TypeError, /^options\.rotary\.scaling\.type: /],
    ['scaling factor 0', { scaling: { type: 'linear', factor: 0 } }, RangeError, /^options\.rotary\.scaling\.factor: /],
    ['queryPositions length', { queryPositions: Int32Array.of(1, 2) }, RangeError, /^options\.rotary\.queryPositions: expected length 1·3 = 3/],
    ['queryPositions fractional', { queryPositions: 1.5 }, RangeError, /^options\.rotary\.queryPositions: /],
    ['keyPositions string', { keyPositions: '0' }, TypeError, /^options\.rotary\.keyPositions: /],
    ['interleaved 1', { interleaved: 1 }, TypeError, /^options\.rotary\.interleaved: /],
  ];
  for (const [name, rotary, error, message] of cases) {
    it(name, () => {
      const call = () => attn.attention(c.q, c.k, c.v, { rotary: rotary as RotaryOptions });
      expect(call).toThrow(error);
      expect(call).toThrow(message);
    });
  }
});

// ---------------------------------------------------------------------------------------
// KV cache: keys rotated once at append, queries at decode time
// ---------------------------------------------------------------------------------------

/** Rows [from, to) of a bhsd tensor's sequence axis. */
function rows(data: Float32Array, batch: number, heads: number, seqLen: number, dim: number, from: number, to: number): Float32Array {
  const out = new Float32Array(batch * heads * (to - from) * dim);
  for (let bh = 0; bh < batch * heads; bh++) out.set(data.subarray((bh * seqLen + from) * dim, (bh * seqLen + to) * dim), bh * (to - from) * dim);
  return out;
}

describe.each(BACKENDS)('rotary KV cache [%s]', (name) => {
  const attn = instances[name]!;
  const [batch, qHeads, kvHeads, headDim] = [2, 4, 2, 12];
  const seqLen = 9;

  for (const rotary of [{ base: 10000 }, { base: 1000, dim: 8, interleaved: true }] as RotaryOptions[]) {
    it(`chunked_appends_then_prefill_equals_attention ${JSON.stringify(rotary)}`, () => {
      const spec: RotaryCase = { batch, qHeads, kvHeads, seqLenQ: seqLen, seqLenK: seqLen, headDim, layout: 'bhsd', causal: true, rotary };
      const c = buildRotaryCase(spec);
      const cache = attn.createKVCache({ batch, kvHeads, headDim, maxSeqLen: 16, initialSeqLen: 2, rotary });
      const [k0, v0] = [c.k.data.slice(), c.v.data.slice()];
      for (const [from, to] of [[0, 3], [3, 7], [7, 8], [8, 9]]) {
        const chunk = (data: Float32Array) => ({ data: rows(data, batch, kvHeads, seqLen, headDim, from!, to!), shape: [batch, kvHeads, to! - from!, headDim] });
        cache.append(chunk(c.k.data), chunk(c.v.data));
      }
      expect(c.k.data).toEqual(k0); // never written back
      expect(c.v.data).toEqual(v0);
      const q0 = c.q.data.slice();
      const decoded = attn.decode(c.q, cache, { causal: true });
      expect(c.q.data).toEqual(q0);
      check(attn, spec, decoded, 'cache prefill');
      // A decode step: the last query alone, at position 8 by default.
      const lastQ = { data: rows(c.q.data, batch, qHeads, seqLen, headDim, 8, 9), shape: [batch, qHeads, 1, headDim] };
      const step = attn.decode(lastQ, cache, { causal: true }).output.data as Float32Array;
      const full = decoded.output.data as Float32Array;
      expectClose(step, rows(full, batch, qHeads, seqLen, headDim, 8, 9), { atol: 1e-6, rtol: 0 }, 'decode step vs the last row of the prefill');
      cache.dispose();
    });
  }

  it('per_sequence_lengths_decode_equals_attention_with_keyLengths', () => {
    const rotary: RotaryOptions = { base: 10000, dim: 6 };
    const lengths = [9, 5];
    const spec: RotaryCase = { batch, qHeads, kvHeads, seqLenQ: 1, seqLenK: seqLen, headDim, layout: 'bhsd', causal: true, keyLengths: lengths, rotary };
    const c = buildRotaryCase(spec);
    const cache = attn.createKVCache({ batch, kvHeads, headDim, maxSeqLen: 16, rotary });
    // Sequence 1 takes its 5 rows over two appends (3 + 2), sequence 0 its 9 (4 + 5).
    const part = (data: Float32Array, from: number, to: number) => ({ data: rows(data, batch, kvHeads, seqLen, headDim, from, to), shape: [batch, kvHeads, to - from, headDim] });
    cache.append(part(c.k.data, 0, 4), part(c.v.data, 0, 4), { lengths: [4, 3] });
    // Sequence 1 holds 3 rows now: its next rows are 3, 4 of the tensor; give them at the front of the chunk.
    const next = (data: Float32Array) => {
      const chunk = part(data, 4, 9);
      const seq1 = part(data, 3, 5).data.subarray(kvHeads * 2 * headDim); // batch 1's rows 3, 4
      for (let h = 0; h < kvHeads; h++) chunk.data.set(seq1.subarray(h * 2 * headDim, (h + 1) * 2 * headDim), (kvHeads + h) * 5 * headDim);
      return chunk;
    };
    cache.append(next(c.k.data), next(c.v.data), { lengths: [5, 2] });
    expect(Array.from(cache.lengths)).toEqual(lengths);
    const got = attn.decode(c.q, cache, { causal: true });
    check(attn, spec, got, 'cache per-sequence lengths');
    const viaAttention = attn.attention(c.q, c.k, c.v, c.options);
    expectClose(got.output.data as Float32Array, viaAttention.output.data as Float32Array, { atol: 1e-6, rtol: 0 }, 'decode vs attention');
    cache.dispose();
  });

  it('decode_queryPositions_and_validation', () => {
    const rotary: RotaryOptions = { base: 10000 };
    const spec: RotaryCase = { batch, qHeads, kvHeads, seqLenQ: 2, seqLenK: 6, headDim, layout: 'bhsd', rotary: { ...rotary, queryPositions: Int32Array.of(3, 40, 0, 1) } };
    const c = buildRotaryCase(spec);
    const cache = attn.createKVCache({ batch, kvHeads, headDim, maxSeqLen: 8, rotary });
    cache.append(c.k, c.v);
    const got = attn.decode(c.q, cache, { rotary: { queryPositions: Int32Array.of(3, 40, 0, 1) } });
    check(attn, spec, got, 'decode queryPositions');
    expect(() => attn.decode(c.q, cache, { rotary: { base: 10 } as never })).toThrow(/^options\.rotary\.base: expected one of queryPositions/);
    const plain = attn.createKVCache({ batch, kvHeads, headDim, maxSeqLen: 8 });
    plain.append(c.k, c.v);
    expect(() => attn.decode(c.q, plain, { rotary: {} })).toThrow(TypeError);
    expect(() => attn.createKVCache({ batch, kvHeads, headDim, maxSeqLen: 8, rotary: { dim: 5 } })).toThrow(/^options\.rotary\.dim: /);
    const table = attn.createKVCache({ batch, kvHeads, headDim, maxSeqLen: 8, rotary: { cos: new Float32Array(4 * 6), sin: new Float32Array(4 * 6) } });
    expect(() => table.append(c.k, c.v)).toThrow(/^k: expected rows whose cache positions are rows of the rotary cos\/sin tables, in \[0, 3\], got position 5/);
    expect(table.length).toBe(0); // rejected before any write
    [cache, plain, table].forEach((x) => x.dispose());
  });

  it('pinned_q_in_decode_is_not_written', () => {
    const rotary: RotaryOptions = {};
    const spec: RotaryCase = { batch, qHeads, kvHeads, seqLenQ: 1, seqLenK: 5, headDim, layout: 'bhsd', causal: true, rotary };
    const c = buildRotaryCase(spec);
    const cache = attn.createKVCache({ batch, kvHeads, headDim, maxSeqLen: 8, rotary });
    cache.append(c.k, c.v);
    const q = attn.createTensor(c.q.shape);
    q.data.set(c.q.data);
    const got = attn.decode(q, cache, { causal: true });
    expect(q.data).toEqual(c.q.data);
    check(attn, spec, got, 'pinned q');
    q.dispose();
    cache.dispose();
  });
});

describe('rotary decodeAsync, threads: 2', () => {
  it('matches decode', async () => {
    const [batch, qHeads, kvHeads, headDim, seqLen] = [1, 8, 1, 16, 300];
    const rotary: RotaryOptions = { base: 10000, dim: 8 };
    const spec: RotaryCase = { batch, qHeads, kvHeads, seqLenQ: 1, seqLenK: seqLen, headDim, layout: 'bhsd', causal: true, rotary };
    const c = buildRotaryCase(spec);
    const cache = threaded.createKVCache({ batch, kvHeads, headDim, maxSeqLen: 512, rotary });
    cache.append(c.k, c.v);
    const got = await threaded.decodeAsync(c.q, cache, { causal: true });
    check(threaded, spec, got, 'decodeAsync threads=2');
    cache.dispose();
  });
});
