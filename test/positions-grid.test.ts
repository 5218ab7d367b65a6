/**
 * Issue #12's combined grid: every combination of window × causal alignment × keyLengths ×
 * GQA × rotary mode × partial rotary dimension × ALiBi, on every backend and on a 2-thread
 * instance, against the float64 reference (test/reference.ts for windows and ALiBi,
 * test/rotary-reference.ts's float64 rotation for RoPE, both through `buildCase`). The
 * single-feature files (window, alibi-lse, rotary) cover each feature's edges; this one
 * checks that the features compose: the shared key-range rule's offsets feed the window,
 * the ALiBi distance and the default rotary query positions alike.
 *
 * Windows include 0 ([0, 0]: the diagonal key only), one larger than L and one-sided ones;
 * shapes include Lq > Lk with bottom-right alignment, which leaves rows with no key (their
 * output must be exactly 0 and their lse −Infinity).
 *
 * Tolerances: `toleranceFor` (test/helpers.ts: the first-order f32 bound from the case's
 * sizes and data, ALiBi counted as a bias of its largest magnitude), plus the rotation's
 * rounding (one f32 rounding per rotated element: 2u·scale·‖q‖‖k‖ per logit), ×2 safety.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type AttentionInstance, type BackendName, type RotaryOptions } from '../src/index.js';
import { setMinMacsPerThread } from '../src/threads/backend.js';
import { buildCase, expectResult, type BuiltCase, type CaseSpec } from './helpers.js';
import { WASM_BACKENDS } from './threads-helpers.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);

const WINDOWS = [undefined, [0, 0], [5, 0], [3, 4], [1000, 1000]] as const;
const CAUSALS = [undefined, 'top-left', 'bottom-right'] as const;
const KEY_LENGTHS = [false, true] as const;
/** [qHeads, kvHeads]: grouped-query (2 query heads per KV head) and multi-head. */
const GROUPS = [[4, 2], [3, 3]] as const;
const HEAD_DIM = 16;
/** none, rotate-half over all of D, interleaved over all of D, and both over half of D (partial). */
const ROTARIES: (RotaryOptions | undefined)[] = [
  undefined,
  { base: 10000 },
  { base: 500, interleaved: true },
  { base: 10000, dim: 8 },
  { base: 100, dim: 8, interleaved: true, scaling: { type: 'linear', factor: 2 } },
];
const ALIBIS = [false, true] as const;
/** [Lq, Lk], taken in turn: square, Lq < Lk (positive offsets), Lq > Lk (negative offsets, empty rows). */
const SHAPES = [[21, 21], [7, 40], [30, 12]] as const;

function gridCases(): [string, CaseSpec][] {
  const cases: [string, CaseSpec][] = [];
  let n = 0;
  for (const window of WINDOWS)
    for (const causal of CAUSALS)
      for (const keyLengths of KEY_LENGTHS)
        for (const [qHeads, kvHeads] of GROUPS)
          for (const rotary of ROTARIES)
            for (const alibi of ALIBIS) {
              const [seqLenQ, seqLenK] = SHAPES[n % SHAPES.length]!;
              const spec: CaseSpec = {
                batch: 2, qHeads, kvHeads, seqLenQ, seqLenK, headDim: HEAD_DIM,
                layout: n % 3 === 0 ? 'bshd' : 'bhsd',
                ...(window ? { window } : {}),
                ...(causal ? { causal } : {}),
                ...(keyLengths ? { keyLengths: [seqLenK - 1, Math.ceil(seqLenK / 3)] } : {}),
                ...(rotary ? { rotary } : {}),
                ...(alibi ? { alibi: true as const } : {}),
                returnLse: true,
                ...(n % 7 === 0 ? { returnWeights: true } : {}),
                seed: 9000 + n,
              };
              const name =
                `#${n} window=${window ? `[${window.join(',')}]` : 'none'} causal=${causal ?? 'none'} keyLengths=${keyLengths}` +
                ` Hq${qHeads}/Hkv${kvHeads} rotary=${rotary ? JSON.stringify(rotary) : 'none'} alibi=${alibi} Lq${seqLenQ} Lk${seqLenK}`;
              cases.push([name, spec]);
              n++;
            }
  return cases;
}

const CASES = gridCases();
const built = new Map<string, BuiltCase>();
function cached(name: string, spec: CaseSpec): BuiltCase {
  let c = built.get(name);
  if (!c) built.set(name, (c = buildCase(spec)));
  return c;
}

describe.each(BACKENDS)('positions grid on %s', (backendName: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention({ backend: backendName });
  });
  afterAll(() => attn.dispose());
  it(`${CASES.length} combinations match the float64 reference`, () => {
    for (const [name, spec] of CASES) {
      const c = cached(name, spec);
      expectResult(attn.attention(c.q, c.k, c.v, c.options), c, `${backendName} ${name}`);
    }
  });
});

describe.each(WASM_BACKENDS)('positions grid on %s with 2 threads', (backendName: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention({ backend: backendName, threads: 2 });
    setMinMacsPerThread(0); // split even these small calls over both threads
  });
  afterAll(() => {
    setMinMacsPerThread(undefined);
    attn.dispose();
  });
  it(`${CASES.length} combinations match the float64 reference (attentionAsync)`, async () => {
    for (const [name, spec] of CASES) {
      const c = cached(name, spec);
      expectResult(await attn.attentionAsync(c.q, c.k, c.v, c.options), c, `${backendName} threads=2 ${name}`);
    }
  });
});
