/**
 * The pure-TypeScript backend: the fallback where WebAssembly SIMD is unavailable, and a
 * second, fast implementation of src/plan.ts to test the WASM kernels against.
 *
 * Layout of this folder:
 *   head.ts        one (batch, head): row blocks, causal / keyLengths key limits
 *   scores.ts      Q·Kᵀ·scale kernels (4 rows × 2 keys, and 1 row)
 *   softmax.ts     softcap, select-masking with the bias, two-pass softmax, weights stages
 *   accumulate.ts  P·V kernels (4 rows × 2 columns, and 1 row)
 *   scratch.ts     grow-only working memory, reused across calls
 *
 * All arithmetic is float64 (see scores.ts): as fast as float32 in JS, and accurate to
 * the final rounding of `out` and `weights` to float32.
 */
import type { AttentionPlan, Backend } from '../../plan.js';
import { rotatedInputs } from '../../positions/apply.js';
import { Workspace } from '../../workspace.js';
import { makeHeadOperands, runHead } from './head.js';
import { Scratch } from './scratch.js';

/**
 * Creates the JS backend. Each backend owns its scratch memory, so one instance must
 * not run two plans at once (it cannot in single-threaded JS, unless re-entered).
 *
 * @returns a `Backend` named 'js' that runs any valid plan, writing `plan.out` and,
 *   when present, `plan.weights`
 * @example
 *   const backend = createJsBackend();
 *   backend.run(plan); // plan.out now holds softmax(Q·Kᵀ·scale + mask)·V
 */
export function createJsBackend(): Backend {
  const scratch = new Scratch();
  const rotated = new Workspace();
  return {
    name: 'js',
    run(plan: AttentionPlan): void {
      // RoPE: q and k rotated into scratch first (src/positions/apply.ts).
      if (plan.rotary) plan = { ...plan, ...rotatedInputs(plan, plan.rotary, rotated.f32('q', plan.q.length), rotated.f32('k', plan.k.length)), rotary: null };
      scratch.reserve(plan.seqLenK, plan.valueDim);
      const operands = makeHeadOperands(plan, scratch);
      for (let b = 0; b < plan.batch; b++) {
        for (let h = 0; h < plan.qHeads; h++) runHead(plan, scratch, operands, b, h);
      }
    },
  };
}
