// The backward pass (issue #13): the float64 reference against finite differences, then
// every backend against the reference over a grid of shapes and options, determinism,
// masked keys and rows, and the boundary's errors.
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type AttentionInstance, type BackendName } from '../src/index.js';
import { withBackward, type BackwardMethods } from '../src/backward/index.js';
import { float32ArrayToHalf } from '../src/float16.js';
import { makePlan, mulberry32, referenceAttention, referenceBackward } from './reference.js';
import type { CaseSpec } from './helpers.js';
import { buildGradCase, expectWithin } from './backward-helpers.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);

describe('referenceBackward: finite differences', () => {
  // L = Σ out·dout in float64; central differences with h = 1e-6 have truncation error
  // O(h²·|L'''|) ≈ 1e-12 and rounding error O(ε64·|L|/h) ≈ 1e-10: a 1e-7 tolerance has margin.
  const cases: [string, Parameters<typeof makePlan>[0]][] = [
    ['basic', { batch: 1, qHeads: 1, seqLenQ: 3, seqLenK: 4, headDim: 3 }],
    ['gqa_causal_keylengths_dv', { batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 3, seqLenK: 5, headDim: 2, valueDim: 3, causal: true, positionOffsets: [1, 0], keyLengths: [4, 3] }],
    ['softcap_scale', { batch: 1, qHeads: 2, seqLenQ: 2, seqLenK: 3, headDim: 4, softcap: 1.5, scale: 0.9, range: 2 }],
    ['bias', { batch: 1, qHeads: 1, seqLenQ: 2, seqLenK: 3, headDim: 2, bias: Float32Array.of(0.3, -Infinity, 1, -0.5, 0.25, 0) }],
  ];
  it.each(cases)('%s', (_, options) => {
    const base = makePlan(options);
    const f64 = (x: Float32Array | null) => (x ? Float64Array.from(x) : null);
    const plan = { ...base, q: f64(base.q), k: f64(base.k), v: f64(base.v), bias: f64(base.bias) } as unknown as typeof base;
    const random = mulberry32(3);
    const dout = Float64Array.from({ length: base.out.length }, () => random() * 2 - 1);
    const loss = () => referenceAttention(plan).out.reduce((sum, o, n) => sum + o * dout[n]!, 0);
    const grads = referenceBackward(plan, dout);
    const h = 1e-6;
    for (const [name, data, grad] of [['q', plan.q, grads.dq], ['k', plan.k, grads.dk], ['v', plan.v, grads.dv], ['bias', plan.bias, grads.dbias]] as const) {
      if (!data) continue;
      for (let n = 0; n < data.length; n++) {
        if (!Number.isFinite(data[n]!)) continue; // a -Infinity bias masks: no gradient there
        const saved = data[n]!;
        data[n] = saved + h;
        const up = loss();
        data[n] = saved - h;
        const down = loss();
        data[n] = saved;
        expect(Math.abs((up - down) / (2 * h) - grad[n]!), `d${name}[${n}]`).toBeLessThan(1e-7);
      }
    }
  });
});

const GRID: [string, CaseSpec][] = [
  ['basic_d8', { batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 7, headDim: 8 }],
  ['head_dim_lt_4', { batch: 1, qHeads: 1, seqLenQ: 3, seqLenK: 4, headDim: 3 }],
  ['tile_edges_d33', { batch: 1, qHeads: 2, seqLenQ: 17, seqLenK: 33, headDim: 33, valueDim: 7 }],
  ['kv_len_eq_1', { batch: 2, qHeads: 1, seqLenQ: 4, seqLenK: 1, headDim: 4 }],
  ['causal_bottom_right', { batch: 1, qHeads: 2, seqLenQ: 9, seqLenK: 20, headDim: 16, causal: true }],
  ['causal_top_left_q_gt_k', { batch: 1, qHeads: 1, seqLenQ: 20, seqLenK: 9, headDim: 8, causal: 'top-left' }],
  ['causal_bottom_right_q_gt_k', { batch: 1, qHeads: 1, seqLenQ: 20, seqLenK: 9, headDim: 8, causal: 'bottom-right' }],
  ['gqa_d64', { batch: 2, qHeads: 6, kvHeads: 2, seqLenQ: 13, seqLenK: 37, headDim: 64 }],
  ['mqa_causal', { batch: 1, qHeads: 4, kvHeads: 1, seqLenQ: 18, seqLenK: 18, headDim: 12, causal: true }],
  ['key_lengths', { batch: 3, qHeads: 2, seqLenQ: 6, seqLenK: 21, headDim: 8, keyLengths: [21, 5, 0] }],
  ['key_lengths_causal', { batch: 2, qHeads: 2, seqLenQ: 6, seqLenK: 21, headDim: 8, keyLengths: [17, 3], causal: true }],
  ['softcap', { batch: 1, qHeads: 2, seqLenQ: 7, seqLenK: 19, headDim: 8, softcap: 2, scale: 0.7, range: 2 }],
  ['bool_mask_2d', { batch: 2, qHeads: 2, seqLenQ: 6, seqLenK: 18, headDim: 8, mask: { kind: 'bool', shape: [6, 18] } }],
  ['additive_mask_full', { batch: 2, qHeads: 2, seqLenQ: 5, seqLenK: 17, headDim: 8, mask: { kind: 'additive', shape: [2, 2, 5, 17] } }],
  ['additive_mask_b1qk', { batch: 2, qHeads: 3, seqLenQ: 6, seqLenK: 8, headDim: 8, mask: { kind: 'additive', shape: [2, 1, 6, 8] } }],
  ['additive_mask_key_broadcast', { batch: 1, qHeads: 2, seqLenQ: 4, seqLenK: 9, headDim: 8, mask: { kind: 'additive', shape: [2, 4, 1] } }],
  ['bshd_gqa_causal', { batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 11, seqLenK: 23, headDim: 16, valueDim: 12, layout: 'bshd', causal: true }],
  ['packed_3d', { batch: 1, qHeads: 3, seqLenQ: 5, seqLenK: 19, headDim: 8, layout: 'packed' }],
  ['window_bottom_right', { batch: 2, qHeads: 2, seqLenQ: 21, seqLenK: 40, headDim: 8, window: [5, 3] }],
  ['window_causal_keylengths', { batch: 2, qHeads: 2, kvHeads: 1, seqLenQ: 19, seqLenK: 37, headDim: 8, window: 7, causal: true, keyLengths: [37, 20] }],
  ['alibi', { batch: 1, qHeads: 4, seqLenQ: 13, seqLenK: 29, headDim: 8, alibi: true }],
  ['alibi_causal_gqa_window_mask', { batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 11, seqLenK: 24, headDim: 8, alibi: true, causal: 'top-left', window: [9, 0], mask: { kind: 'additive', shape: [11, 24] } }],
  ['float16_inputs', { batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 19, headDim: 8, dtype: 'float16' }],
  // The 4 × 8 tiles' edges (assembly/backward/kv-tiles.ts, rows4.ts): more than one 64-row
  // chunk per block, columns not a multiple of 8 (8-wide tiles, a 4-wide leftover, a tail
  // under 4), the causal diagonal's skipped second 8 keys, groups of four rows skipped inside
  // a chunk (windows, key lengths), fully masked rows among live ones, GQA.
  ['chunks_causal_gqa_d40_dv20', { batch: 1, qHeads: 4, kvHeads: 2, seqLenQ: 150, seqLenK: 150, headDim: 40, valueDim: 20, causal: true }],
  ['chunks_window_keylengths_d43_dv6', { batch: 2, qHeads: 2, seqLenQ: 137, seqLenK: 90, headDim: 43, valueDim: 6, window: [10, 5], keyLengths: [90, 33] }],
  ['chunks_fully_masked_rows_d40_dv20', { batch: 1, qHeads: 2, seqLenQ: 90, seqLenK: 12, headDim: 40, valueDim: 20, mask: { kind: 'bool', shape: [90, 12], maskedFraction: 0.85 } }],
  ['chunks_causal_alibi_softcap_d24', { batch: 1, qHeads: 2, seqLenQ: 70, seqLenK: 100, headDim: 24, causal: true, alibi: true, softcap: 3, range: 2 }],
];

describe.each(BACKENDS)('attentionBackward on %s', (backendName: BackendName) => {
  let attn: AttentionInstance & BackwardMethods;
  beforeAll(async () => {
    attn = withBackward(await createAttention({ backend: backendName }));
  });

  it.each(GRID)('%s', (_, spec) => {
    const c = buildGradCase(spec);
    const { q, k, v, options } = c.forward;
    // float16 inputs (q, k, v and dout as halves): the reference runs on the halves' exact
    // values and the gradients come back float32, so the float32 bounds hold unchanged. A
    // float16 forward's output is rounded to half (2^-11 relative), which moves
    // delta = rowsum(dO ∘ O) past those bounds, so those cases give the lse alone (the output
    // recomputed in float32, as without it).
    const half = spec.dtype === 'float16';
    const dout = half ? { data: float32ArrayToHalf(c.dout.data), shape: c.dout.shape } : c.dout;
    for (const given of [half ? 'lse' : 'output and lse', 'neither'] as const) {
      const lse = () => ({ lse: attn.attentionLse(q, k, v, options) });
      const extra = given === 'neither' ? {} : given === 'lse' ? lse() : { output: attn.attention(q, k, v, options).output, ...lse() };
      const grads = attn.attentionBackward({ q, k, v, dout, ...extra }, options);
      const context = `${c.forward.label} [${backendName}, ${given} given]`;
      expectWithin(grads.dq.data, c.want.dq, c.bound.dq, `${context} dq`);
      expectWithin(grads.dk.data, c.want.dk, c.bound.dk, `${context} dk`);
      expectWithin(grads.dv.data, c.want.dv, c.bound.dv, `${context} dv`);
      expect(grads.dq.shape).toEqual(q.shape);
      expect(grads.dk.shape).toEqual(k.shape);
      expect(grads.dv.shape).toEqual(v.shape);
      if (c.want.dmask) expectWithin(grads.dmask!.data, c.want.dmask, c.bound.dmask, `${context} dmask`);
      else expect(grads.dmask).toBeUndefined();
    }
  });

  it.each(GRID.filter(([, spec]) => spec.dtype !== 'float16'))('attentionLse_%s', (_, spec) => {
    const c = buildGradCase(spec);
    const { q, k, v, options } = c.forward;
    const lse = attn.attentionLse(q, k, v, options);
    expect(lse.shape).toEqual([spec.batch, spec.qHeads, spec.seqLenQ]);
    const bound = c.want.lse.map((x) => (Number.isFinite(x) ? 2 * c.epsilon * Math.max(1, Math.abs(x)) : 0));
    expectWithin(Array.from(lse.data, (x) => (x === -Infinity ? -1e300 : x)), Array.from(c.want.lse, (x) => (x === -Infinity ? -1e300 : x)), bound.map((b) => b || 1e-300), `${c.forward.label} lse`);
  });

  it('deterministic: the same bits on every run', () => {
    const c = buildGradCase(GRID[7]![1]);
    const { q, k, v, options } = c.forward;
    const first = attn.attentionBackward({ q, k, v, dout: c.dout }, options);
    const second = attn.attentionBackward({ q, k, v, dout: c.dout }, options);
    expect(second.dq.data).toEqual(first.dq.data);
    expect(second.dk.data).toEqual(first.dk.data);
    expect(second.dv.data).toEqual(first.dv.data);
  });

  it('fully_masked_row: no gradient, nothing NaN, NaN K/V at masked keys never leak', () => {
    const c = buildGradCase({ batch: 1, qHeads: 1, seqLenQ: 4, seqLenK: 20, headDim: 4, keyLengths: [18], causal: 'top-left', mask: { kind: 'bool', shape: [4, 20] } });
    const k = Float32Array.from(c.forward.k.data as Float32Array);
    const v = Float32Array.from(c.forward.v.data as Float32Array);
    k.fill(NaN, 18 * 4); // past the key length
    v.fill(NaN, 18 * 4);
    // Row 0 sees key 0 only (top-left causal): mask it out, a fully masked row.
    const mask = Uint8Array.from({ length: 60 }, (_, n) => (n === 0 ? 0 : 1));
    // Key 3 (visible to rows ≥ 3 only) NaN: rows 0–2 must not see it inside their 16-key tile.
    k.fill(NaN, 3 * 4, 4 * 4);
    v.fill(NaN, 3 * 4, 4 * 4);
    const options = { causal: 'top-left' as const, keyLengths: [18], mask: { data: mask, shape: [3, 20] } };
    const rows3 = { data: (c.forward.q.data as Float32Array).slice(0, 12), shape: [1, 1, 3, 4] };
    const dout = { data: c.dout.data.slice(0, 12), shape: [1, 1, 3, 4] };
    const grads = attn.attentionBackward({ q: rows3, k: { data: k, shape: [1, 1, 20, 4] }, v: { data: v, shape: [1, 1, 20, 4] }, dout }, options);
    for (const [name, data] of Object.entries({ dq: grads.dq.data, dk: grads.dk.data, dv: grads.dv.data })) {
      data.forEach((x, n) => expect(Number.isFinite(x), `${name}[${n}] = ${x}`).toBe(true));
    }
    expect(Array.from(grads.dq.data.slice(0, 4))).toEqual([0, 0, 0, 0]); // row 0: no allowed key
  });

  it('fully_masked_rows_in_chunks: exactly zero dq, finite dk/dv', () => {
    const spec = GRID.find(([name]) => name === 'chunks_fully_masked_rows_d40_dv20')![1];
    const c = buildGradCase(spec);
    const { q, k, v, options } = c.forward;
    const masked = c.forward.fullyMasked;
    // 0.85^12 ≈ 14% of the 180 rows: the case is only worth its name if some are masked.
    expect(masked.filter(Boolean).length).toBeGreaterThan(5);
    const grads = attn.attentionBackward({ q, k, v, dout: c.dout }, options);
    const headDim = spec.headDim;
    masked.forEach((isMasked, row) => {
      if (!isMasked) return;
      for (let d = 0; d < headDim; d++) expect(grads.dq.data[row * headDim + d], `dq row ${row}, d=${d}`).toBe(0);
    });
    for (const [name, data] of Object.entries({ dq: grads.dq.data, dk: grads.dk.data, dv: grads.dv.data })) {
      data.forEach((x, n) => expect(Number.isFinite(x), `${name}[${n}] = ${x}`).toBe(true));
    }
  });

  it('errors: name the input', () => {
    const c = buildGradCase(GRID[0]![1]);
    const { q, k, v } = c.forward;
    expect(() => attn.attentionBackward({ q, k, v } as never)).toThrow(/inputs.dout/);
    expect(() => attn.attentionBackward({ q, k, v, dout: { data: new Float32Array(3), shape: [3] } })).toThrow(RangeError);
    expect(() => attn.attentionBackward({ q, k, v, dout: c.dout, lse: new Float32Array(2) })).toThrow(/inputs.lse/);
    expect(() => attn.attentionBackward({ q, k, v, dout: c.dout }, { returnWeights: true } as never)).toThrow(/options.returnWeights/);
    expect(() => attn.attentionBackward({ q, k, v, dout: c.dout, extra: 1 } as never)).toThrow(/inputs.extra/);
    // Rotary embeddings (test/backward-rotary.test.ts): checked as the forward checks them.
    expect(() => attn.attentionBackward({ q, k, v, dout: c.dout }, { rotary: { dim: 3 } })).toThrow(/options.rotary.dim/);
  });
});
