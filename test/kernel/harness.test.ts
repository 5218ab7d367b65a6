// The fused and weights paths of the assembly/ kernels against a float64 reference of
// src/plan.ts, over a shape grid with sizes not divisible by the SIMD width (4), the query
// block (8) or the key tile (64), and every masking feature.
import { afterAll, describe, expect, it } from 'vitest';
import {
  BUILDS, loadKernel, makeCase, runKernel, reference, compare, outPositions, type Shape,
} from './kernel-util';

const OUT_ATOL = 2e-5;
const OUT_RTOL = 1e-4;

describe.each(BUILDS)('attention kernel (%s)', (build) => {
  const kernel = loadKernel(build);
  const worst = { out: 0, fusedVsWeights: 0 };
  afterAll(() => console.log(`${build}: max |out − float64 reference| ${worst.out.toExponential(2)}, max |fused − weights path| ${worst.fusedVsWeights.toExponential(2)}`));
  const check = (name: string, shape: Shape): void => {
    const c = makeCase(shape);
    const want = reference(c);
    const got = runKernel(kernel, c);
    expect(got.code, `${name}: error code`).toBe(0);
    worst.out = Math.max(worst.out, compare(`${name} out`, got.out, want.out, OUT_ATOL, OUT_RTOL, outPositions(c)));
    if (c.weights) {
      const stage = c.weightsStage;
      const [atol, rtol] = stage === 3 ? [1e-6, 1e-4] : [1e-5, 1e-5];
      compare(`${name} weights stage ${stage}`, got.weights!, want.stages[stage]!, atol, rtol);
      // the two paths agree within float32 rounding
      const fused = runKernel(kernel, { ...c, weights: false });
      worst.fusedVsWeights = Math.max(worst.fusedVsWeights,
        compare(`${name} fused vs weights path`, fused.out, got.out, 1e-5, 1e-4, outPositions(c)));
    }
  };

  const dims = [1, 3, 4, 7, 64, 80, 128];
  const lens = [1, 5, 63, 64, 65, 130];
  it('shape grid: headDim x seqLenQ x seqLenK, rotating options', () => {
    let n = 0;
    for (const headDim of dims) for (const seqLenQ of lens) for (const seqLenK of lens) {
      n++;
      const shape: Shape = {
        headDim, seqLenQ, seqLenK, seed: n,
        valueDim: [headDim, 5, 8, 1][n % 4],
        batch: 1 + (n % 2), qHeads: [1, 2, 4][n % 3], kvHeads: [1, 1, 2][n % 3],
        layout: n % 2 ? 'bshd' : 'bhsd', seqPad: n % 5 === 0 ? 3 : 0,
        causal: n % 3 === 0, positionOffsets: [[0, 0], [seqLenK - seqLenQ, 2], [-3, 0]][n % 3],
        keyLengths: n % 4 === 1 ? [seqLenK, Math.max(0, seqLenK - 3)] : null,
        bias: (['none', 'full', 'broadcast'] as const)[n % 3],
        softcap: n % 7 === 0 ? 2 : 0,
      };
      check(`grid #${n} ${JSON.stringify(shape)}`, shape);
    }
  });

  const edges: Record<string, Shape> = {
    head_dim_eq_1: { headDim: 1, seqLenQ: 9, seqLenK: 70 },
    head_dim_lt_4: { headDim: 3, seqLenQ: 17, seqLenK: 67, valueDim: 3 },
    kv_len_eq_1: { headDim: 64, seqLenQ: 20, seqLenK: 1 },
    q_len_eq_1_decode: { headDim: 64, seqLenQ: 1, seqLenK: 300, causal: true, positionOffsets: [299] },
    q_len_neq_kv_len_causal_bottom_right: { headDim: 32, seqLenQ: 50, seqLenK: 130, causal: true, positionOffsets: [80] },
    causal_negative_offset: { headDim: 16, seqLenQ: 40, seqLenK: 40, causal: true, positionOffsets: [-10] },
    causal_offset_beyond_rows: { headDim: 16, seqLenQ: 20, seqLenK: 40, causal: true, positionOffsets: [-1000] },
    causal_offset_huge: { headDim: 16, seqLenQ: 20, seqLenK: 40, causal: true, positionOffsets: [2 ** 31 - 1] },
    causal_offset_most_negative: { headDim: 16, seqLenQ: 20, seqLenK: 40, causal: true, positionOffsets: [-(2 ** 31)] },
    key_length_zero: { batch: 2, headDim: 8, seqLenQ: 10, seqLenK: 33, keyLengths: [0, 33] },
    key_length_partial: { batch: 3, headDim: 8, seqLenQ: 10, seqLenK: 130, keyLengths: [1, 64, 129] },
    gqa_8_to_2: { qHeads: 8, kvHeads: 2, headDim: 16, seqLenQ: 12, seqLenK: 20 },
    mqa_4_to_1: { qHeads: 4, kvHeads: 1, headDim: 16, seqLenQ: 12, seqLenK: 20, layout: 'bshd' },
    fully_masked_rows_by_bias: { headDim: 8, seqLenQ: 16, seqLenK: 70, bias: 'full', biasMaskRate: 0.9 },
    fully_masked_bias_all: { headDim: 8, seqLenQ: 16, seqLenK: 70, bias: 'full', biasMaskRate: 1 },
    softcap_large_logits: { headDim: 64, seqLenQ: 9, seqLenK: 70, scale: 4, softcap: 5 },
    softcap_with_everything: {
      batch: 2, qHeads: 4, kvHeads: 2, headDim: 7, seqLenQ: 19, seqLenK: 71, softcap: 1.5,
      causal: true, positionOffsets: [52, 3], keyLengths: [60, 71], bias: 'full',
    },
    large_logits_no_overflow: { headDim: 64, seqLenQ: 9, seqLenK: 70, scale: 30 },
    value_dim_neq_head_dim: { headDim: 64, valueDim: 13, seqLenQ: 9, seqLenK: 70 },
    value_dim_zero: { headDim: 4, valueDim: 0, seqLenQ: 3, seqLenK: 5 },
    // Windows (key-range.ts): tile-crossing bounds, windows of 0, and the i64 sums at the i32 edges.
    window_crossing_tiles: { batch: 2, headDim: 16, seqLenQ: 70, seqLenK: 200, positionOffsets: [130, 3], window: [70, 9], keyLengths: [200, 90] },
    window_0_0_diagonal_only: { headDim: 8, seqLenQ: 40, seqLenK: 40, window: [0, 0], weights: true },
    window_left_only_causal: { headDim: 8, seqLenQ: 130, seqLenK: 130, causal: true, window: [17, -1], bias: 'full' },
    window_right_only_past_rows: { headDim: 8, seqLenQ: 30, seqLenK: 20, positionOffsets: [-10], window: [-1, 2] },
    window_offset_huge: { headDim: 8, seqLenQ: 20, seqLenK: 40, positionOffsets: [2 ** 31 - 1], window: [2 ** 31 - 1, 5] },
    window_offset_most_negative_right_huge: { headDim: 8, seqLenQ: 20, seqLenK: 40, positionOffsets: [-(2 ** 31)], window: [3, 2 ** 31 - 1] },
    window_weights_path: { batch: 2, qHeads: 2, kvHeads: 1, headDim: 7, seqLenQ: 19, seqLenK: 71, positionOffsets: [52, 0], window: [6, 2], weights: true, weightsStage: 2 },
  };
  for (const [name, shape] of Object.entries(edges)) it(name, () => check(name, shape));

  for (const stage of [0, 1, 2, 3]) {
    it(`weights stage ${stage}`, () => {
      let n = 0;
      for (const [headDim, seqLenQ, seqLenK] of [[1, 1, 1], [3, 5, 63], [64, 9, 65], [80, 17, 130], [7, 64, 5]] as const) {
        n++;
        check(`weights stage ${stage} #${n}`, {
          headDim, seqLenQ, seqLenK, weights: true, weightsStage: stage, seed: 100 + n,
          batch: 2, qHeads: 2, kvHeads: 1, softcap: n % 2 ? 3 : 0, causal: n % 2 === 0,
          positionOffsets: [seqLenK - seqLenQ, -2], keyLengths: n === 3 ? [0, 40] : null,
          bias: n > 2 ? 'full' : 'none', seqPad: n === 4 ? 1 : 0,
        });
      }
    });
  }

  it('NaN and Infinity logits at masked positions do not leak', () => {
    // K rows past the causal diagonal of the last query are NaN/Infinity; the bias is
    // -Infinity where the logit would be NaN.
    const c = makeCase({ headDim: 8, seqLenQ: 20, seqLenK: 20, causal: true, seed: 7, bias: 'full', biasMaskRate: 0 });
    c.k.fill(NaN, 19 * 8, 20 * 8); // key 19: only query 19 sees it
    c.k.fill(Infinity, 18 * 8, 19 * 8); // key 18: query 18 and 19 see it; mask it for both
    for (const i of [18, 19]) c.bias![i * 20 + 18] = -Infinity;
    c.bias![19 * 20 + 19] = -Infinity;
    const want = reference(c);
    const got = runKernel(kernel, c);
    compare('masked NaN', got.out, want.out, OUT_ATOL, OUT_RTOL);
    for (const x of got.out) expect(Number.isFinite(x)).toBe(true);
  });

  it('error codes', () => {
    const c = makeCase({ headDim: 8, seqLenQ: 4, seqLenK: 4 });
    expect(runKernel(kernel, c, -16).code).toBe(1);
    expect(runKernel(kernel, { ...c, kvHeads: 0 }).code).toBe(2);
  });
});
