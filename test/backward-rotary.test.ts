// The backward of the `rotary` option (issue #13: "RoPE's gradient is the inverse rotation"):
// the float64 reference (test/rotary-reference.ts rotation + test/reference.ts backward, the
// gradients rotated back by Rᵀ) against finite differences, then every backend against it
// over variants × GQA × causal × layouts. Before this, every call with `rotary` threw.
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type AttentionInstance, type BackendName, type RotaryOptions } from '../src/index.js';
import { float32ArrayToHalf, halfArrayToFloat32 } from '../src/float16.js';
import { withBackward, type BackwardMethods } from '../src/backward/index.js';
import { encodeExactHalf, valuesOf as halfValues, type CaseSpec, type TestLayout } from './helpers.js';
import { buildGradCase, expectWithin } from './backward-helpers.js';
import { makePlan, mulberry32, referenceAttention, referenceBackward, stridesOf } from './reference.js';
import { rotaryPositions, rotate64 } from './rotary-reference.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);

/** cos/sin tables `[rows, half]` of random angles (any angles: the gradient is Rᵀ whatever they are). */
function tables(rows: number, half: number, seed: number): { cos: Float32Array; sin: Float32Array } {
  const random = mulberry32(seed);
  const theta = Array.from({ length: rows * half }, () => (random() * 2 - 1) * Math.PI);
  return { cos: Float32Array.from(theta, Math.cos), sin: Float32Array.from(theta, Math.sin) };
}

/** Positions `[batch, seq]` drawn from [0, 40), in no order (repeats too). */
function positions(batch: number, seq: number, seed: number): Int32Array {
  const random = mulberry32(seed);
  return Int32Array.from({ length: batch * seq }, () => Math.floor(random() * 40));
}

const BATCH = 2;
const Q_HEADS = 4;
const SEQ_Q = 5;
const SEQ_K = 9;
const HEAD_DIM = 8;

/** Every kind of rotation the forward supports (src/positions/types.ts). */
const VARIANTS: [string, RotaryOptions][] = [
  ['base_default', {}],
  ['base_500_linear_scaling', { base: 500, scaling: { type: 'linear', factor: 4 } }],
  ['cos_sin_tables', tables(48, HEAD_DIM / 2, 11)],
  ['partial_dim_4', { dim: 4 }],
  ['interleaved', { interleaved: true }],
  ['interleaved_partial_dim_6', { interleaved: true, dim: 6, base: 100 }],
  ['position_offsets', { queryPositions: 7, keyPositions: 3 }],
  ['explicit_positions', { queryPositions: positions(BATCH, SEQ_Q, 5), keyPositions: positions(BATCH, SEQ_K, 6) }],
];
const KV_HEADS = [4, 2, 1]; // MHA, GQA, MQA
const CAUSAL = [false, true, 'top-left'] as const;
const LAYOUTS: TestLayout[] = ['bhsd', 'bshd', 'packed'];

const GRID: [string, CaseSpec][] = VARIANTS.flatMap(([name, rotary]) =>
  KV_HEADS.flatMap((kvHeads) =>
    CAUSAL.flatMap((causal) =>
      LAYOUTS.map((layout): [string, CaseSpec] => [
        `${name}_kv${kvHeads}_causal_${String(causal)}_${layout}`,
        { batch: BATCH, qHeads: Q_HEADS, kvHeads, seqLenQ: SEQ_Q, seqLenK: SEQ_K, headDim: HEAD_DIM, causal, layout, rotary },
      ]),
    ),
  ),
);

/** Shapes past the kernels' tile edges, with the other options that meet rotary. */
const EDGES: [string, CaseSpec][] = [
  ['tile_edges_d34_partial_gqa_bshd', { batch: 1, qHeads: 4, kvHeads: 2, seqLenQ: 17, seqLenK: 33, headDim: 34, valueDim: 7, layout: 'bshd', rotary: { dim: 18 } }],
  ['d64_causal_keylengths_interleaved', { batch: 2, qHeads: 2, seqLenQ: 19, seqLenK: 40, headDim: 64, causal: true, keyLengths: [40, 23], rotary: { interleaved: true } }],
  ['window_softcap_alibi', { batch: 1, qHeads: 2, seqLenQ: 21, seqLenK: 30, headDim: 16, window: [6, 2], softcap: 3, alibi: true, rotary: { base: 50 } }],
  ['additive_mask_dmask', { batch: 2, qHeads: 2, seqLenQ: 6, seqLenK: 11, headDim: 8, mask: { kind: 'additive', shape: [2, 1, 6, 11] }, rotary: { dim: 6 } }],
];

describe('rotary reference backward: finite differences', () => {
  // L = Σ out·dout with out = attention(R q, R k, v) in float64; the reference's dq = Rᵀ dq'.
  // Central differences, h = 1e-6: truncation O(h²) ≈ 1e-12, rounding O(ε64·|L|/h) ≈ 1e-10,
  // so 1e-7 has margin (as test/backward.test.ts).
  const cases: [string, RotaryOptions, boolean | 'top-left'][] = [
    ['partial_interleaved_top_left', { dim: 4, interleaved: true, base: 30 }, 'top-left'],
    ['tables_positions_causal', { ...tables(40, 3, 2), queryPositions: positions(1, 3, 8), keyPositions: 2 }, true],
    ['scaled_rotate_half', { scaling: { type: 'linear', factor: 0.5 } }, false],
  ];
  it.each(cases)('%s', (_, rotary, causal) => {
    const [batch, qHeads, kvHeads, seqLenQ, seqLenK, headDim] = [1, 2, 1, 3, 5, 6];
    const random = mulberry32(4);
    const draw = (n: number) => Float64Array.from({ length: n }, () => random() * 2 - 1);
    const q = draw(batch * qHeads * seqLenQ * headDim);
    const k = draw(batch * kvHeads * seqLenK * headDim);
    const v = draw(batch * kvHeads * seqLenK * headDim);
    const dout = draw(batch * qHeads * seqLenQ * headDim);
    const { qPos, kPos } = rotaryPositions({ batch, seqLenQ, seqLenK, causal, rotary });
    const qStrides = stridesOf('bhsd', qHeads, seqLenQ, headDim);
    const kStrides = stridesOf('bhsd', kvHeads, seqLenK, headDim);
    const plan = () => makePlan({
      batch, qHeads, kvHeads, seqLenQ, seqLenK, headDim, causal: causal !== false, positionOffsets: [causal === 'top-left' ? 0 : seqLenK - seqLenQ],
      q: rotate64(q, qStrides, batch, qHeads, seqLenQ, headDim, rotary, qPos) as unknown as Float32Array,
      k: rotate64(k, kStrides, batch, kvHeads, seqLenK, headDim, rotary, kPos) as unknown as Float32Array,
      v: v as unknown as Float32Array,
    });
    const loss = () => referenceAttention(plan()).out.reduce((sum, o, n) => sum + o * dout[n]!, 0);
    const rotated = referenceBackward(plan(), dout);
    const grads = {
      q: rotate64(rotated.dq, qStrides, batch, qHeads, seqLenQ, headDim, rotary, qPos, true),
      k: rotate64(rotated.dk, kStrides, batch, kvHeads, seqLenK, headDim, rotary, kPos, true),
    };
    const h = 1e-6;
    for (const [name, data] of [['q', q], ['k', k]] as const) {
      for (let n = 0; n < data.length; n++) {
        const saved = data[n]!;
        data[n] = saved + h;
        const up = loss();
        data[n] = saved - h;
        const down = loss();
        data[n] = saved;
        expect(Math.abs((up - down) / (2 * h) - grads[name][n]!), `d${name}[${n}]`).toBeLessThan(1e-7);
      }
    }
    // Not the unrotated gradient: the test would pass a backward that forgot Rᵀ otherwise.
    expect(grads.q.some((g, n) => Math.abs(g - rotated.dq[n]!) > 1e-3)).toBe(true);
  });
});

describe.each(BACKENDS)('attentionBackward with rotary on %s', (backendName: BackendName) => {
  let attn: AttentionInstance & BackwardMethods;
  beforeAll(async () => {
    attn = withBackward(await createAttention({ backend: backendName }));
  });

  // Tolerances: test/backward-helpers.ts, the f32 backward's bound plus the rotation's
  // roundings (q', k' rounded once, dq = Rᵀ dq' rounded once), pairs' errors summed by Rᵀ.
  it.each([...GRID, ...EDGES])('%s', (_, spec) => {
    const c = buildGradCase(spec);
    const { q, k, v, options } = c.forward;
    const before = { q: Float32Array.from(q.data as Float32Array), k: Float32Array.from(k.data as Float32Array) };
    for (const given of ['output and lse', 'neither'] as const) {
      const extra = given === 'neither' ? {} : { output: attn.attention(q, k, v, options).output, lse: attn.attentionLse(q, k, v, options) };
      const grads = attn.attentionBackward({ q, k, v, dout: c.dout, ...extra }, options);
      const context = `${c.forward.label} [${backendName}, ${given} given]`;
      expectWithin(grads.dq.data, c.want.dq, c.bound.dq, `${context} dq`);
      expectWithin(grads.dk.data, c.want.dk, c.bound.dk, `${context} dk`);
      expectWithin(grads.dv.data, c.want.dv, c.bound.dv, `${context} dv`);
      if (c.want.dmask) expectWithin(grads.dmask!.data, c.want.dmask, c.bound.dmask, `${context} dmask`);
    }
    // The rotation runs on copies: the caller's q and k are never written.
    expect(q.data).toEqual(before.q);
    expect(k.data).toEqual(before.k);
  });

  it('attentionLse with rotary: the rotated scores', () => {
    const c = buildGradCase(EDGES[1]![1]);
    const { q, k, v, options } = c.forward;
    const lse = attn.attentionLse(q, k, v, options);
    expectWithin(lse.data, c.want.lse, Array.from(c.want.lse, (x) => 2 * c.epsilon * Math.max(1, Math.abs(x))), `${c.forward.label} lse`);
  });

  it('float16 inputs with rotary: the same gradients as float32 inputs of the same values', () => {
    const spec: CaseSpec = { batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 9, headDim: 8, rotary: { dim: 4 }, causal: true };
    const half = buildGradCase({ ...spec, dtype: 'float16' });
    const single = buildGradCase({ ...spec, q: valuesF32(half.forward.q.data), k: valuesF32(half.forward.k.data), v: valuesF32(half.forward.v.data) });
    // dout and the output as halves for one call, their f32 values for the other: bit-identical inputs.
    const dout = float32ArrayToHalf(half.dout.data);
    const output = float32ArrayToHalf(attn.attention(single.forward.q, single.forward.k, single.forward.v, single.forward.options).output.data as Float32Array);
    const shape = half.dout.shape;
    const got = attn.attentionBackward({ q: half.forward.q, k: half.forward.k, v: half.forward.v, dout: { data: dout, shape }, output: { data: output, shape } }, half.forward.options);
    const want = attn.attentionBackward({ q: single.forward.q, k: single.forward.k, v: single.forward.v, dout: { data: halfArrayToFloat32(dout), shape }, output: { data: halfArrayToFloat32(output), shape } }, single.forward.options);
    expect(got.dq.data).toEqual(want.dq.data);
    expect(got.dk.data).toEqual(want.dk.data);
    expect(got.dq.data.some((x) => x !== 0)).toBe(true);
  });
});

/** The values of half (or f32) tensor data, as f32. */
const valuesF32 = (data: unknown) => Float32Array.from(halfValues(data as Uint16Array));
