/**
 * The public `attention()` of every backend the runtime has, against the float64 oracle
 * (test/reference.ts) on plans built independently by test/helpers.ts, and the backends
 * against each other. Edge cases are named like XNNPACK's tests.
 *
 * Tolerances: `toleranceFor` in test/helpers.ts derives each case's bound from its sizes
 * and data (f32 dot products of D terms: γ_D·‖q‖·‖k‖·|scale| on every logit; exp ≤ 1e-6
 * relative; f32 sums over Lk keys: γ_Lk; float16 outputs: + 2^-11 relative and 2^-25
 * absolute for the final rounding), times a safety factor of 2. Where a test asserts
 * something exactly (zeros of fully masked rows, one-hot rows, `out` identity) it says why
 * exactness is owed.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  BACKEND_NAMES,
  attention,
  createAttention,
  init,
  isBackendAvailable,
  type AttentionInstance,
  type BackendName,
  type TensorData,
} from '../src/index.js';
import {
  addTolerances,
  buildCase,
  expectClose,
  expectFinite,
  expectResult,
  Float16ArrayCtor,
  valuesOf,
  type BuiltCase,
  type CaseSpec,
  type MaskSpec,
} from './helpers.js';
import { mulberry32 } from './reference.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);

/** Built cases (and their float64 references) are shared by every backend. */
const built = new Map<string, BuiltCase>();
function cached(spec: CaseSpec): BuiltCase {
  const key = JSON.stringify(spec);
  let c = built.get(key);
  if (!c) built.set(key, (c = buildCase(spec)));
  return c;
}

// ---------------------------------------------------------------------------------------
// Shape grid: head dims below, at and above the SIMD width (4) and the kernel tiles (8),
// sequence lengths of 1, odd, prime, and not multiples of any tile.
// ---------------------------------------------------------------------------------------

const HEAD_DIMS = [1, 3, 4, 7, 64, 80, 128];
const SEQ_LENS: [number, number][] = [[1, 1], [1, 37], [5, 5], [17, 64], [65, 33], [130, 130]];
const GRID = HEAD_DIMS.flatMap((headDim) => SEQ_LENS.map(([seqLenQ, seqLenK]) => ({ headDim, seqLenQ, seqLenK })));

describe('backends', () => {
  it('at least the wasm-simd and js backends run here', () => {
    // CI runs Node 20, which has WebAssembly SIMD: a missing wasm backend is a failure, not a skip.
    expect(BACKENDS).toContain('js');
    expect(BACKENDS).toContain('wasm-simd');
  });
});

describe.each(BACKENDS)('backend %s', (backendName: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention({ backend: backendName });
    expect(attn.backend).toBe(backendName);
  });

  /** Runs a built case on this backend and checks it against the reference. */
  function check(spec: CaseSpec, context = ''): BuiltCase {
    const c = cached(spec);
    expectResult(attn.attention(c.q, c.k, c.v, c.options), c, `${backendName}${context ? ' ' + context : ''}`);
    return c;
  }

  describe('shape_grid', () => {
    // Each shape runs with and without weights: the WASM kernel computes them on a separate
    // row-by-row path (assembly/weights/) and the fused path must not depend on it.
    it.each(GRID)('D$headDim Lq$seqLenQ Lk$seqLenK', ({ headDim, seqLenQ, seqLenK }) => {
      const spec = { batch: 2, qHeads: 2, seqLenQ, seqLenK, headDim, seed: headDim * 1000 + seqLenQ * 7 + seqLenK };
      check(spec);
      check({ ...spec, returnWeights: true });
    });
  });

  describe('shape_grid_mixed', () => {
    // The same grid again, each shape with one combination of the other options drawn by a
    // seeded PRNG (independently per option, so no option is tied to one shape), so that every
    // layout, head grouping, causal mode, mask kind and dtype meets head dims and lengths that
    // are not multiples of the SIMD width or the tiles.
    const mixed = GRID.map(({ headDim, seqLenQ, seqLenK }, n): [string, CaseSpec] => {
      const random = mulberry32(7000 + n);
      const choose = <T,>(options: readonly T[]): T => options[Math.floor(random() * options.length)]!;
      const [qHeads, kvHeads] = choose([[6, 2], [3, 1], [4, 4], [2, 1]] as const);
      const maskKind = choose(['bool', 'additive', undefined] as const);
      const spec: CaseSpec = {
        batch: 2, qHeads, kvHeads, seqLenQ, seqLenK, headDim,
        valueDim: choose([headDim, headDim + 5]),
        layout: choose(['bhsd', 'bshd', 'packed'] as const),
        causal: choose([true, 'top-left', undefined, 'bottom-right', false] as const),
        mask: maskKind && { kind: maskKind, shape: choose([[seqLenQ, seqLenK], [2, 1, 1, seqLenK], [1, qHeads, seqLenQ, seqLenK]]), maskedFraction: 0.2 },
        keyLengths: choose([undefined, undefined, [seqLenK, Math.floor(seqLenK / 2)]]),
        softcap: choose([undefined, undefined, 5]),
        dtype: choose(['float32', 'float32', 'float16'] as const),
        returnWeights: choose([true, false]),
        seed: 7000 + n,
      };
      const name = `D${headDim} Lq${seqLenQ} Lk${seqLenK} ${spec.layout} Hq${qHeads} Hkv${kvHeads} causal=${String(spec.causal)}` +
        `${spec.mask ? ` mask=${spec.mask.kind}[${spec.mask.shape.join(',')}]` : ''}${spec.keyLengths ? ' keyLengths' : ''}${spec.softcap ? ' softcap' : ''}` +
        ` ${spec.dtype}${spec.returnWeights ? ' weights' : ''}`;
      return [name, spec];
    });
    it.each(mixed)('%s', (_, spec) => void check(spec));
  });

  describe('edges', () => {
    it('head_dim_eq_1', () => void check({ batch: 1, qHeads: 3, seqLenQ: 9, seqLenK: 13, headDim: 1, range: 2 }));
    it('head_dim_lt_4', () => void check({ batch: 2, qHeads: 2, seqLenQ: 6, seqLenK: 10, headDim: 3, causal: true }));
    it('head_dim_not_multiple_of_4', () => void check({ batch: 1, qHeads: 2, seqLenQ: 11, seqLenK: 19, headDim: 7, returnWeights: true }));
    it('kv_len_eq_1', () => void check({ batch: 2, qHeads: 2, seqLenQ: 9, seqLenK: 1, headDim: 8, returnWeights: true }));
    it('q_len_eq_1_decode', () => void check({ batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 1, seqLenK: 77, headDim: 16, causal: true }));
    it('q_len_neq_kv_len', () => {
      check({ batch: 1, qHeads: 2, seqLenQ: 3, seqLenK: 29, headDim: 8 });
      check({ batch: 1, qHeads: 2, seqLenQ: 29, seqLenK: 3, headDim: 8 });
    });
    it('value_dim_neq_head_dim', () => {
      check({ batch: 2, qHeads: 2, seqLenQ: 7, seqLenK: 9, headDim: 7, valueDim: 3, returnWeights: true });
      check({ batch: 1, qHeads: 2, seqLenQ: 17, seqLenK: 20, headDim: 64, valueDim: 80 });
      check({ batch: 1, qHeads: 1, seqLenQ: 5, seqLenK: 8, headDim: 1, valueDim: 9 });
    });
    it('gqa_6q_heads_2kv_heads', () => {
      check({ batch: 2, qHeads: 6, kvHeads: 2, seqLenQ: 13, seqLenK: 21, headDim: 8, returnWeights: true });
      check({ batch: 1, qHeads: 6, kvHeads: 2, seqLenQ: 9, seqLenK: 9, headDim: 5, layout: 'bshd', causal: true });
    });
    it('mqa_6q_heads_1kv_head', () => {
      check({ batch: 2, qHeads: 6, kvHeads: 1, seqLenQ: 13, seqLenK: 21, headDim: 8 });
      check({ batch: 1, qHeads: 6, kvHeads: 1, seqLenQ: 4, seqLenK: 30, headDim: 12, layout: 'packed', returnWeights: true });
    });
    it('scale_explicit', () => {
      check({ batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 9, headDim: 8, scale: 0.7 });
      check({ batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 9, headDim: 8, scale: -1.5, returnWeights: true });
    });
    it('scale_eq_0_gives_uniform_weights', () => {
      const c = check({ batch: 1, qHeads: 2, seqLenQ: 4, seqLenK: 10, headDim: 8, scale: 0, returnWeights: true });
      const weights = valuesOf(attn.attention(c.q, c.k, c.v, c.options).weights!.data);
      // Every logit is exactly 0, so every exp is exp(0) and every weight is 1/10 rounded once or twice.
      for (let n = 0; n < weights.length; n++) expect(Math.abs(weights[n]! - 0.1), `weight ${n}`).toBeLessThan(1e-7);
    });
    it('inputs_not_modified', () => {
      const c = cached({ batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 6, seqLenK: 7, headDim: 5, causal: true, keyLengths: [3, 7], mask: { kind: 'additive', shape: [6, 7] }, returnWeights: true, softcap: 2 });
      const copies = [c.q.data, c.k.data, c.v.data, c.options.mask!.data].map((d) => d.slice());
      attn.attention(c.q, c.k, c.v, c.options);
      [c.q.data, c.k.data, c.v.data, c.options.mask!.data].forEach((d, n) => expect(d, `input ${n}`).toEqual(copies[n]));
    });
    it('subarray_inputs_at_byte_offsets', () => {
      // Typed arrays that are views into larger buffers (at non-zero, non-16-byte-aligned offsets).
      const c = cached({ batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 7, headDim: 3 });
      const view = (data: TensorData) => {
        const host = new Float32Array(data.length + 3);
        host.set(data as Float32Array, 1);
        return host.subarray(1, 1 + data.length);
      };
      const q = { data: view(c.q.data), shape: c.q.shape };
      const k = { data: view(c.k.data), shape: c.k.shape };
      const v = { data: view(c.v.data), shape: c.v.shape };
      expectResult(attn.attention(q, k, v, c.options), c, `${backendName} subarray views`);
    });
    it('results_do_not_alias_later_calls', () => {
      // A result must be the caller's to keep: not a view of WASM memory or of a reused
      // workspace that the next call overwrites (float32 and float16, output and weights).
      for (const dtype of ['float32', 'float16'] as const) {
        const first = cached({ batch: 1, qHeads: 2, seqLenQ: 6, seqLenK: 7, headDim: 8, returnWeights: true, dtype, seed: 21 });
        const second = cached({ batch: 1, qHeads: 2, seqLenQ: 6, seqLenK: 7, headDim: 8, returnWeights: true, dtype, seed: 22 });
        const kept = attn.attention(first.q, first.k, first.v, first.options);
        attn.attention(second.q, second.k, second.v, second.options);
        expectResult(kept, first, `${backendName} ${dtype} result kept across a later call`);
      }
    });
    it('repeated_calls_of_different_shapes_stay_correct', () => {
      // Grow-only scratch and memory: a large call, then a small one, then the large one again.
      const large = { batch: 1, qHeads: 4, kvHeads: 2, seqLenQ: 40, seqLenK: 70, headDim: 24, mask: { kind: 'bool', shape: [40, 70] } as MaskSpec, returnWeights: true };
      const small = { batch: 2, qHeads: 1, seqLenQ: 3, seqLenK: 2, headDim: 2, causal: 'top-left' as const };
      check(large, 'first');
      check(small, 'after large');
      check(large, 'again');
      check(small, 'again');
    });
  });

  describe('causal', () => {
    it('causal_true_is_bottom_right', () => {
      const base = { batch: 2, qHeads: 2, seqLenQ: 5, seqLenK: 12, headDim: 8, seed: 7 };
      const right = check({ ...base, causal: 'bottom-right' });
      const viaTrue = check({ ...base, causal: true });
      const left = check({ ...base, causal: 'top-left' });
      // Sanity of the oracles themselves: with Lq < Lk the two alignments differ.
      expect(right.wantOut).toEqual(viaTrue.wantOut);
      expect(left.wantOut).not.toEqual(right.wantOut);
      const a = attn.attention(right.q, right.k, right.v, { causal: true }).output.data;
      const b = attn.attention(right.q, right.k, right.v, { causal: 'bottom-right' }).output.data;
      expect(a, 'causal: true and causal: bottom-right give identical outputs').toEqual(b);
    });
    it('causal_false_is_no_mask', () => void check({ batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 9, headDim: 4, causal: false }));
    it('causal_top_left', () => {
      check({ batch: 2, qHeads: 2, seqLenQ: 17, seqLenK: 17, headDim: 8, causal: 'top-left', returnWeights: true });
      check({ batch: 1, qHeads: 2, seqLenQ: 9, seqLenK: 33, headDim: 8, causal: 'top-left' });
    });
    it('causal_top_left_q_len_gt_kv_len', () => {
      // Rows i >= Lk see every key; no row is fully masked.
      const c = check({ batch: 1, qHeads: 2, seqLenQ: 20, seqLenK: 6, headDim: 8, causal: 'top-left', returnWeights: true });
      expect(c.fullyMasked.some(Boolean)).toBe(false);
    });
    it('causal_bottom_right_square_and_wide', () => {
      check({ batch: 1, qHeads: 2, seqLenQ: 33, seqLenK: 33, headDim: 16, causal: true });
      check({ batch: 2, qHeads: 2, seqLenQ: 8, seqLenK: 65, headDim: 16, causal: 'bottom-right', returnWeights: true });
    });
    it('fully_masked_row_causal_bottom_right_q_len_gt_kv_len', () => {
      // Lq 20 > Lk 6, bottom-right: rows i < 14 have no key (j <= i − 14) and must be exactly 0.
      const c = check({ batch: 2, qHeads: 2, seqLenQ: 20, seqLenK: 6, headDim: 8, causal: true, returnWeights: true });
      expect(c.fullyMasked.filter(Boolean).length).toBe(2 * 2 * 14);
    });
    it('causal_bottom_right_with_key_lengths_aligns_per_batch', () => {
      // j <= i + (keyLengths[b] − Lq): item 0 (3 keys, Lq 5) has two fully masked rows.
      const c = check({ batch: 3, qHeads: 2, seqLenQ: 5, seqLenK: 9, headDim: 8, causal: true, keyLengths: [3, 9, 6], returnWeights: true });
      expect(c.fullyMasked.filter(Boolean).length).toBe(2 * 2);
    });
    it('causal_top_left_with_key_lengths', () => {
      check({ batch: 2, qHeads: 2, seqLenQ: 7, seqLenK: 9, headDim: 8, causal: 'top-left', keyLengths: [4, 0], returnWeights: true });
    });
  });

  describe('masks', () => {
    const B = 2, Hq = 4, Hkv = 2, Lq = 5, Lk = 11, D = 8;
    const SHAPES: [string, number[]][] = [
      ['[Lk]', [Lk]],
      ['[Lq,Lk]', [Lq, Lk]],
      ['[1,Hq,Lq,Lk]', [1, Hq, Lq, Lk]],
      ['[B,1,1,Lk]', [B, 1, 1, Lk]],
      ['[B,Hq,Lq,1]', [B, Hq, Lq, 1]],
      ['[B,Hq,Lq,Lk]', [B, Hq, Lq, Lk]],
      ['[1,1,Lq,Lk]', [1, 1, Lq, Lk]],
      ['[Hq,1,Lk] (rank 3)', [Hq, 1, Lk]],
    ];
    const KINDS = ['bool', 'additive'] as const;
    const cases = KINDS.flatMap((kind) => SHAPES.map(([name, shape]): [string, { kind: typeof kind; shape: number[] }] => [`mask_${kind} broadcast from ${name}`, { kind, shape }]));
    it.each(cases)('%s', (_, { kind, shape }) => {
      // 40% masked: with a [B,Hq,Lq,1] mask whole rows are masked, which must give zeros.
      check({ batch: B, qHeads: Hq, kvHeads: Hkv, seqLenQ: Lq, seqLenK: Lk, headDim: D, mask: { kind, shape, maskedFraction: 0.4 }, returnWeights: true, seed: shape.length * 31 + shape[0]! });
    });
    it('fully_masked_row_bool_mask', () => {
      const data = new Uint8Array(Lq * Lk).fill(1);
      data.fill(0, 2 * Lk, 3 * Lk); // row 2 masked everywhere
      const c = check({ batch: B, qHeads: Hq, seqLenQ: Lq, seqLenK: Lk, headDim: D, mask: { kind: 'bool', shape: [Lq, Lk], data }, returnWeights: true });
      expect(c.fullyMasked.filter(Boolean).length).toBe(B * Hq);
    });
    it('fully_masked_row_additive_minus_infinity', () => {
      const data = new Float32Array(Lq * Lk);
      for (let n = 0; n < data.length; n++) data[n] = (n % 3) - 1;
      data.fill(-Infinity, 0, Lk); // row 0
      const c = check({ batch: B, qHeads: Hq, seqLenQ: Lq, seqLenK: Lk, headDim: D, mask: { kind: 'additive', shape: [Lq, Lk], data }, returnWeights: true });
      expect(c.fullyMasked.filter(Boolean).length).toBe(B * Hq);
    });
    it('additive_mask_large_finite_values', () => {
      // -1e9 (the "finite -inf" of many exporters) masks in effect, but is not a select-mask:
      // a row of only -1e9 values is a uniform softmax, not zeros.
      const data = new Float32Array(Lk).fill(-1e9);
      data[3] = 0;
      check({ batch: 1, qHeads: 2, seqLenQ: Lq, seqLenK: Lk, headDim: D, mask: { kind: 'additive', shape: [Lk], data }, returnWeights: true });
      check({ batch: 1, qHeads: 2, seqLenQ: Lq, seqLenK: Lk, headDim: D, mask: { kind: 'additive', shape: [Lk], data: new Float32Array(Lk).fill(-1e9) }, returnWeights: true });
    });
    it('mask_with_causal_and_key_lengths_and_softcap', () => {
      check({ batch: 2, qHeads: 6, kvHeads: 2, seqLenQ: 9, seqLenK: 14, headDim: 10, causal: true, keyLengths: [14, 8], softcap: 3, mask: { kind: 'additive', shape: [2, 1, 9, 14] }, returnWeights: true, range: 2 });
      check({ batch: 2, qHeads: 2, seqLenQ: 9, seqLenK: 14, headDim: 10, causal: 'top-left', keyLengths: [5, 14], mask: { kind: 'bool', shape: [14] }, layout: 'bshd' });
    });
  });

  describe('keyLengths', () => {
    it('key_lengths_mixed', () => void check({ batch: 4, qHeads: 2, seqLenQ: 6, seqLenK: 19, headDim: 8, keyLengths: [19, 1, 10, 18], returnWeights: true }));
    it('key_lengths_eq_0_fully_masked', () => {
      const c = check({ batch: 3, qHeads: 2, seqLenQ: 5, seqLenK: 9, headDim: 8, keyLengths: [0, 5, 9], returnWeights: true });
      expect(c.fullyMasked.filter(Boolean).length).toBe(2 * 5);
    });
    it('key_lengths_as_typed_array', () => {
      const c = cached({ batch: 2, qHeads: 2, seqLenQ: 4, seqLenK: 9, headDim: 8, keyLengths: [2, 7] });
      expectResult(attn.attention(c.q, c.k, c.v, { ...c.options, keyLengths: Int32Array.of(2, 7) }), c, `${backendName} Int32Array keyLengths`);
    });
    it('masked_nan_and_infinity_do_not_leak', () => {
      // Keys past keyLengths hold NaN / ±Infinity in K and V: masked positions are selected
      // away (src/plan.ts), so they reach neither the softmax nor the output.
      const B = 2, H = 2, Lq = 4, Lk = 10, D = 6, keyLengths = [6, 3];
      const random = mulberry32(99);
      const make = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);
      const q = make(B * H * Lq * D), k = make(B * H * Lk * D), v = make(B * H * Lk * D);
      for (let b = 0; b < B; b++)
        for (let h = 0; h < H; h++)
          for (let j = keyLengths[b]!; j < Lk; j++)
            for (let d = 0; d < D; d++) {
              const n = ((b * H + h) * Lk + j) * D + d;
              k[n] = [NaN, Infinity, -Infinity][(j + d) % 3]!;
              v[n] = [Infinity, NaN, -Infinity][(j + d) % 3]!;
            }
      const c = check({ batch: B, qHeads: H, seqLenQ: Lq, seqLenK: Lk, headDim: D, q, k, v, keyLengths, returnWeights: true });
      expectFinite(valuesOf(attn.attention(c.q, c.k, c.v, c.options).output.data), `${backendName} masked garbage`, c.outShape);
    });
  });

  describe('softcap', () => {
    it('softcap_gemma_50', () => void check({ batch: 1, qHeads: 4, kvHeads: 2, seqLenQ: 12, seqLenK: 20, headDim: 16, softcap: 50, range: 2, returnWeights: true }));
    it('softcap_small_cap_large_logits', () => {
      // scale 1 and |q|,|k| up to 2 give logits up to ~±40: tanh saturates, the cap decides.
      check({ batch: 1, qHeads: 2, seqLenQ: 12, seqLenK: 20, headDim: 10, softcap: 1.5, scale: 1, range: 2, returnWeights: true });
    });
    it('softcap_eq_0_is_off', () => {
      const c = cached({ batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 6, headDim: 4 });
      expectResult(attn.attention(c.q, c.k, c.v, { ...c.options, softcap: 0 }), c, `${backendName} softcap 0`);
    });
  });

  describe('huge_logits', () => {
    it('huge_logits_no_nan_no_infinity', () => {
      // scale 12 and q, k in [-10, 10): logits up to ~±2e4; the max subtraction keeps exp in range.
      const c = check({ batch: 2, qHeads: 2, seqLenQ: 17, seqLenK: 37, headDim: 16, scale: 12, range: 10, valueRange: 10, returnWeights: true, mask: { kind: 'bool', shape: [17, 37], maskedFraction: 0.2 } });
      const result = attn.attention(c.q, c.k, c.v, c.options);
      expectFinite(valuesOf(result.output.data), `${backendName} huge logits output`, c.outShape);
      expectFinite(valuesOf(result.weights!.data), `${backendName} huge logits weights`, c.weightsShape);
    });
    it('huge_logits_one_hot_exact', () => {
      // Key j is 10·e_j plus noise in [-1, 1); query i is 10·e_t(i) plus noise. Then
      // q·k_t >= 100 − 14 = 86 and q·k_j <= 10 + 10 + 14 = 34 for j ≠ t, so with scale 12 the
      // winning logit leads by more than 600: e^-600 is 0 in f32 (and below the kernels'
      // flush point e^-87.33), exp(0) is exactly 1 in every exp implementation here, and the
      // sum is exactly 1. So each weights row is exactly one-hot and each output row is
      // exactly v[t], bit for bit.
      const B = 1, H = 2, Lq = 7, Lk = 12, D = 16;
      const random = mulberry32(5);
      const noise = () => random() * 2 - 1;
      const target = (h: number, i: number) => (i * 5 + h * 3) % Lk;
      const q = new Float32Array(B * H * Lq * D), k = new Float32Array(B * H * Lk * D);
      for (let h = 0; h < H; h++) {
        for (let j = 0; j < Lk; j++) for (let d = 0; d < D; d++) k[(h * Lk + j) * D + d] = d === j ? 10 : noise();
        for (let i = 0; i < Lq; i++) for (let d = 0; d < D; d++) q[(h * Lq + i) * D + d] = d === target(h, i) ? 10 : noise();
      }
      const c = check({ batch: B, qHeads: H, seqLenQ: Lq, seqLenK: Lk, headDim: D, q, k, scale: 12, valueRange: 10, returnWeights: true });
      const result = attn.attention(c.q, c.k, c.v, c.options);
      const out = result.output.data as Float32Array, weights = result.weights!.data as Float32Array, v = c.v.data as Float32Array;
      for (let h = 0; h < H; h++)
        for (let i = 0; i < Lq; i++) {
          const t = target(h, i);
          for (let j = 0; j < Lk; j++) {
            const got = weights[(h * Lq + i) * Lk + j]!;
            if (got !== (j === t ? 1 : 0)) expect.fail(`${backendName}: weights[0,${h},${i},${j}] expected exactly ${j === t ? 1 : 0} (one-hot at ${t}), got ${got}`);
          }
          for (let d = 0; d < D; d++) {
            const got = out[(h * Lq + i) * D + d]!, want = v[(h * Lk + t) * D + d]!;
            if (got !== want) expect.fail(`${backendName}: out[0,${h},${i},${d}] expected exactly v[0,${h},${t},${d}] = ${want}, got ${got}`);
          }
        }
    });
  });

  describe('returnWeights', () => {
    it('weights_rows_sum_to_1_and_fully_masked_rows_are_0', () => {
      // expectResult checks each row sum (1 within the weights rtol, or exactly 0).
      const c = check({ batch: 2, qHeads: 2, seqLenQ: 8, seqLenK: 5, headDim: 8, causal: true, keyLengths: [5, 2], returnWeights: true });
      expect(c.fullyMasked.filter(Boolean).length).toBeGreaterThan(0);
    });
    it('weights_shape_is_bhqk_whatever_the_layout', () => {
      check({ batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 6, seqLenK: 9, headDim: 8, layout: 'bshd', returnWeights: true });
      check({ batch: 2, qHeads: 4, kvHeads: 1, seqLenQ: 6, seqLenK: 9, headDim: 8, layout: 'packed', returnWeights: true });
    });
    it('return_weights_false_gives_no_weights', () => {
      const c = cached({ batch: 1, qHeads: 1, seqLenQ: 3, seqLenK: 3, headDim: 4 });
      expect(attn.attention(c.q, c.k, c.v, { returnWeights: false }).weights).toBeUndefined();
    });
  });

  describe('out', () => {
    it('out_buffer_is_returned_as_output_data', () => {
      const c = cached({ batch: 2, qHeads: 2, seqLenQ: 9, seqLenK: 7, headDim: 8, causal: true, returnWeights: true });
      // Stale NaN content: every element must be written.
      const out = new Float32Array(c.wantOut.length).fill(NaN);
      const result = attn.attention(c.q, c.k, c.v, { ...c.options, out });
      expect(result.output.data, 'output.data is the very `out` object').toBe(out);
      expectResult(result, c, `${backendName} out`);
    });
    it('out_buffer_in_bshd_and_packed', () => {
      for (const layout of ['bshd', 'packed'] as const) {
        const c = cached({ batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 5, seqLenK: 6, headDim: 4, valueDim: 3, layout });
        const out = new Float32Array(c.wantOut.length).fill(NaN);
        const result = attn.attention(c.q, c.k, c.v, { ...c.options, out });
        expect(result.output.data).toBe(out);
        expectResult(result, c, `${backendName} out ${layout}`);
      }
    });
    it('out_buffer_float16', () => {
      const c = cached({ batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 6, headDim: 8, dtype: 'float16' });
      const out = new Uint16Array(c.wantOut.length).fill(0x7e00);
      const result = attn.attention(c.q, c.k, c.v, { ...c.options, out });
      expect(result.output.data).toBe(out);
      expectResult(result, c, `${backendName} float16 out`);
    });
    it('out_buffer_subarray_view', () => {
      const c = cached({ batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 6, headDim: 4 });
      const host = new Float32Array(c.wantOut.length + 10).fill(-7);
      const out = host.subarray(3, 3 + c.wantOut.length);
      const result = attn.attention(c.q, c.k, c.v, { ...c.options, out });
      expect(result.output.data).toBe(out);
      expectResult(result, c, `${backendName} out view`);
      // Only the view is written.
      expect([...host.subarray(0, 3), ...host.subarray(3 + c.wantOut.length)]).toEqual(new Array(10).fill(-7));
    });
  });

  describe('layouts', () => {
    it.each(['bhsd', 'bshd', 'packed'] as const)('layout_%s', (layout) => {
      check({ batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 7, seqLenK: 10, headDim: 6, valueDim: 5, layout, causal: true, mask: { kind: 'bool', shape: [7, 10] }, returnWeights: true });
      check({ batch: 1, qHeads: 3, seqLenQ: 33, seqLenK: 17, headDim: 20, layout, keyLengths: [12] });
    });
    it('layout_bhsd_explicit_equals_default', () => {
      const c = cached({ batch: 1, qHeads: 2, seqLenQ: 4, seqLenK: 5, headDim: 4 });
      expectResult(attn.attention(c.q, c.k, c.v, { layout: 'bhsd' }), c, `${backendName} explicit bhsd`);
    });
    it('packed_3d_kv_heads_defaults_to_num_heads', () => {
      const c = cached({ batch: 2, qHeads: 3, seqLenQ: 4, seqLenK: 6, headDim: 5, layout: 'packed' });
      expectResult(attn.attention(c.q, c.k, c.v, { numHeads: 3 }), c, `${backendName} packed without kvHeads`);
    });
    it('4d_with_matching_num_heads_and_kv_heads', () => {
      const c = cached({ batch: 1, qHeads: 4, kvHeads: 2, seqLenQ: 4, seqLenK: 5, headDim: 4, layout: 'bshd' });
      expectResult(attn.attention(c.q, c.k, c.v, { ...c.options, numHeads: 4, kvHeads: 2 }), c, `${backendName} 4-D with head options`);
    });
  });

  describe('float16', () => {
    const base = { batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 9, seqLenK: 13, headDim: 12, valueDim: 7, dtype: 'float16' as const, returnWeights: true };
    it('float16_uint16_bits_with_dtype', () => {
      const c = check({ ...base, explicitDtype: true, causal: true, mask: { kind: 'additive', shape: [9, 13] } });
      expect(attn.attention(c.q, c.k, c.v, c.options).output.data).toBeInstanceOf(Uint16Array);
    });
    it('float16_dtype_inferred_from_uint16', () => {
      const c = check({ ...base, layout: 'bshd', keyLengths: [0, 11] });
      const result = attn.attention(c.q, c.k, c.v, c.options);
      expect(result.output.data).toBeInstanceOf(Uint16Array);
      expect(result.weights!.data).toBeInstanceOf(Uint16Array);
    });
    it('float16_packed_3d_and_grid_corners', () => {
      check({ ...base, layout: 'packed', softcap: 5 });
      check({ batch: 1, qHeads: 2, seqLenQ: 65, seqLenK: 33, headDim: 64, dtype: 'float16', explicitDtype: true });
      check({ batch: 1, qHeads: 1, seqLenQ: 1, seqLenK: 1, headDim: 1, dtype: 'float16' });
    });
    it.runIf(Float16ArrayCtor !== undefined)('float16_Float16Array (needs a runtime with Float16Array, Node >= 24)', () => {
      const c = check({ ...base, halfKind: 'float16array' });
      const result = attn.attention(c.q, c.k, c.v, c.options);
      expect(Object.prototype.toString.call(result.output.data), 'Float16Array in, Float16Array out').toBe('[object Float16Array]');
    });
  });
});

// ---------------------------------------------------------------------------------------
// Backends against each other: each is within its bound of the exact result, so two are
// within the sum of the bounds of each other (on the same instance-visible inputs).
// ---------------------------------------------------------------------------------------

const PAIRS = BACKENDS.flatMap((a, n) => BACKENDS.slice(n + 1).map((b) => [a, b] as const));

describe('backends agree', () => {
  if (PAIRS.length === 0) it.skip(`needs two backends, only ${BACKENDS.join(', ')} available here`, () => {});
  const specs: CaseSpec[] = [
    { batch: 2, qHeads: 6, kvHeads: 2, seqLenQ: 37, seqLenK: 53, headDim: 64, valueDim: 32, causal: true, returnWeights: true, seed: 3 },
    { batch: 1, qHeads: 4, kvHeads: 1, seqLenQ: 130, seqLenK: 130, headDim: 80, layout: 'bshd', mask: { kind: 'additive', shape: [1, 4, 130, 130] }, seed: 4 },
    { batch: 3, qHeads: 2, seqLenQ: 20, seqLenK: 9, headDim: 7, layout: 'packed', causal: 'bottom-right', keyLengths: [9, 0, 4], softcap: 4, range: 2, returnWeights: true, seed: 5 },
    { batch: 2, qHeads: 2, seqLenQ: 17, seqLenK: 64, headDim: 128, dtype: 'float16', mask: { kind: 'bool', shape: [2, 1, 1, 64] }, returnWeights: true, seed: 6 },
  ];
  it.each(PAIRS)('%s_vs_%s', async (nameA, nameB) => {
    const a = await createAttention({ backend: nameA });
    const b = await createAttention({ backend: nameB });
    for (const spec of specs) {
      const c = cached(spec);
      const ra = a.attention(c.q, c.k, c.v, c.options);
      const rb = b.attention(c.q, c.k, c.v, c.options);
      const context = `${nameA} vs ${nameB} [${c.label}]`;
      expectClose(valuesOf(ra.output.data), valuesOf(rb.output.data), addTolerances(c.tolerance.out, c.tolerance.out), `${context}: output`, c.outShape);
      if (ra.weights) {
        expectClose(valuesOf(ra.weights.data), valuesOf(rb.weights!.data), addTolerances(c.tolerance.weights, c.tolerance.weights), `${context}: weights`, c.weightsShape);
      }
    }
  });
});

describe('default instance', () => {
  it('top_level_attention_after_init', async () => {
    const instance = await init();
    expect(BACKENDS).toContain(instance.backend);
    const c = cached({ batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 7, headDim: 8, causal: true });
    expectResult(attention(c.q, c.k, c.v, c.options), c, `default instance (${instance.backend})`);
    expect(await init(), 'init() is idempotent').toBe(instance);
  });
});
