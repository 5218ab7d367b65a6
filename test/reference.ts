/**
 * The float64 oracle for every backend, and the helpers the backend test suites share.
 *
 * `referenceAttention` implements the semantics written at the top of `src/plan.ts`
 * line by line, in float64, for readability rather than speed: one function per quantity
 * of that description, no tiling, no shortcuts. Two choices the contract leaves implicit
 * are made here and must be matched by every backend:
 *
 * - A masked key is *selected away* entirely: it contributes neither its logit to the
 *   softmax nor its value row to the output (so garbage or NaN in V past `keyLengths`, or
 *   under a `-Infinity` bias, cannot leak either), the way `src/plan.ts` treats logits.
 * - A row with no allowed key gives p = 0 and out = 0: the "never NaN" rule. A row with
 *   allowed keys is computed even when every one of their scores is NaN (it is NaN then).
 *
 * The two f32 behaviours the contract keeps are written out here in float64 (src/plan.ts):
 * a dot product past the float32 range is ±Infinity, and allowed scores are clamped to
 * ±SCORE_LIMIT before and after the bias.
 */
import { FLOAT32_OVERFLOW, SCORE_LIMIT } from '../src/plan.js';
import type { AttentionPlan, BiasStrides, HeadStrides, WeightsStage } from '../src/plan.js';
import { keyRange, planWindow } from '../src/key-range.js';

// ---------------------------------------------------------------------------------------
// The oracle
// ---------------------------------------------------------------------------------------

export interface ReferenceResult {
  /** `[batch, qHeads, seqLenQ, valueDim]`, contiguous. */
  readonly out: Float64Array;
  /** `[batch, qHeads, seqLenQ, seqLenK]`, contiguous, of `plan.weightsStage`. */
  readonly weights: Float64Array;
  /** `[batch, qHeads, seqLenQ]`: ln Σ_j exp(biased_j) over the allowed keys, −Infinity for none. */
  readonly lse: Float64Array;
}

/** Element index of `[b, h, s, d]` in a strided head view. */
function at(strides: HeadStrides, b: number, h: number, s: number, d: number): number {
  return b * strides.batch + h * strides.head + s * strides.seq + d;
}

function kvHeadOf(plan: AttentionPlan, h: number): number {
  return Math.floor(h / (plan.qHeads / plan.kvHeads));
}

function logitOf(plan: AttentionPlan, b: number, h: number, i: number, j: number): number {
  const kvHead = kvHeadOf(plan, h);
  let dot = 0;
  for (let d = 0; d < plan.headDim; d++) {
    dot += plan.q[at(plan.qStrides, b, h, i, d)]! * plan.k[at(plan.kStrides, b, kvHead, j, d)]!;
  }
  // The kernels sum in float32: past its range the dot is ±Infinity (NaN stays NaN).
  if (!(Math.abs(dot) < FLOAT32_OVERFLOW) && !Number.isNaN(dot)) dot = dot * Infinity;
  return plan.scale * dot;
}

/** min(max(x, −SCORE_LIMIT), SCORE_LIMIT), NaN stays NaN. */
function clampScore(x: number): number {
  return x > SCORE_LIMIT ? SCORE_LIMIT : x < -SCORE_LIMIT ? -SCORE_LIMIT : x;
}

function cappedOf(plan: AttentionPlan, logit: number): number {
  return plan.softcap > 0 ? plan.softcap * Math.tanh(logit / plan.softcap) : logit;
}

function biasOf(plan: AttentionPlan, b: number, h: number, i: number, j: number): number {
  if (!plan.bias) return 0;
  const s = plan.biasStrides;
  return plan.bias[b * s.batch + h * s.head + i * s.query + j]!;
}

/** ALiBi (FlashAttention's alibi_slopes): −slope_h·|i + off − j|, 0 without slopes. */
function alibiOf(plan: AttentionPlan, b: number, h: number, i: number, j: number): number {
  if (!plan.alibiSlopes) return 0;
  return -plan.alibiSlopes[h]! * Math.abs(i + plan.positionOffsets[b]! - j);
}

/** The key-range rule (src/key-range.ts, itself checked against its definition in test/key-range.test.ts), then the mask. */
function isAllowed(plan: AttentionPlan, b: number, h: number, i: number, j: number): boolean {
  const { start, end } = keyRange(plan, b, i);
  if (!(start <= j && j < end)) return false;
  if (plan.bias && biasOf(plan, b, h, i, j) === -Infinity) return false;
  return true;
}

/**
 * Computes `plan` in float64, ignoring `plan.out` and `plan.weights`.
 *
 * @param plan - any valid plan (strided views, GQA, masks, softcap, any weights stage)
 * @returns the output and the weights of `plan.weightsStage`, both contiguous float64
 * @example
 *   const plan = makePlan({ batch: 1, qHeads: 2, kvHeads: 1, seqLenQ: 5, seqLenK: 7, headDim: 4 });
 *   const { out } = referenceAttention(plan);
 */
export function referenceAttention(plan: AttentionPlan): ReferenceResult {
  const { batch, qHeads, seqLenQ, seqLenK, valueDim } = plan;
  const out = new Float64Array(batch * qHeads * seqLenQ * valueDim);
  const weights = new Float64Array(batch * qHeads * seqLenQ * seqLenK);
  const lse = new Float64Array(batch * qHeads * seqLenQ);
  const logits = new Float64Array(seqLenK);
  const capped = new Float64Array(seqLenK);
  const biased = new Float64Array(seqLenK);
  const probs = new Float64Array(seqLenK);
  const allowed: boolean[] = new Array(seqLenK);

  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < qHeads; h++) {
      const kvHead = kvHeadOf(plan, h);
      for (let i = 0; i < seqLenQ; i++) {
        for (let j = 0; j < seqLenK; j++) {
          logits[j] = logitOf(plan, b, h, i, j);
          capped[j] = cappedOf(plan, logits[j]!);
          allowed[j] = isAllowed(plan, b, h, i, j);
          biased[j] = allowed[j]! ? clampScore(clampScore(capped[j]!) + alibiOf(plan, b, h, i, j) + biasOf(plan, b, h, i, j)) : -Infinity;
        }

        // Two-pass softmax with max subtraction, over allowed keys only. Allowed scores are
        // finite or NaN; a NaN one makes the row NaN (exp(NaN − max) and the sum).
        const anyAllowed = allowed.some((a) => a);
        let max = -Infinity;
        for (let j = 0; j < seqLenK; j++) if (allowed[j]! && biased[j]! > max) max = biased[j]!;
        if (anyAllowed && max === -Infinity) max = NaN; // every allowed score is NaN
        let sum = 0;
        for (let j = 0; j < seqLenK; j++) {
          probs[j] = allowed[j]! ? Math.exp(biased[j]! - max) : 0;
          sum += probs[j]!;
        }
        for (let j = 0; j < seqLenK; j++) if (allowed[j]!) probs[j] = probs[j]! / sum;
        lse[(b * qHeads + h) * seqLenQ + i] = anyAllowed ? max + Math.log(sum) : -Infinity;

        const row = ((b * qHeads + h) * seqLenQ + i) * valueDim;
        for (let j = 0; j < seqLenK; j++) {
          // Selected away: V at a masked key never leaks, nor anything into a row with no allowed key.
          if (!allowed[j]!) continue;
          for (let d = 0; d < valueDim; d++) {
            out[row + d] = out[row + d]! + probs[j]! * plan.v[at(plan.vStrides, b, kvHead, j, d)]!;
          }
        }

        const stage = { logits, capped, biased, probs }[plan.weightsStage];
        weights.set(stage, ((b * qHeads + h) * seqLenQ + i) * seqLenK);
      }
    }
  }
  return { out, weights, lse };
}

export interface ReferenceGradients {
  /** dL/dq, dL/dk, dL/dv in the layouts (strides) of q, k, v. */
  readonly dq: Float64Array;
  readonly dk: Float64Array;
  readonly dv: Float64Array;
  /** dL/dbias per score, contiguous `[batch, qHeads, seqLenQ, seqLenK]` (0 where masked). */
  readonly dbias: Float64Array;
  /** The natural log-sum-exp of each row's allowed scores, `[batch, qHeads, seqLenQ]`; -Infinity when none. */
  readonly lse: Float64Array;
  /** The forward output, contiguous `[batch, qHeads, seqLenQ, valueDim]`. */
  readonly out: Float64Array;
  /**
   * Per element of dq, dk, dv: the same sums over absolute values of their terms
   * (Σ |dl|·|scale·k| for dq, with dl's own terms in absolute value). The rounding error of
   * an f32 evaluation of each element is bounded by a small multiple of ε_f32 times it.
   */
  readonly magnitude: { readonly dq: Float64Array; readonly dk: Float64Array; readonly dv: Float64Array };
}

/**
 * The backward pass of `plan` in float64, straight from the chain rule on the forward above
 * (no log-sum-exp trick, no tiling): with L = Σ out·dout, for each row the softmax
 * Jacobian gives dS_j = p_j·(dP_j − Σ_k p_k·dP_k), dP_j = dout·v_j; the softcap adds the
 * factor 1 − tanh², the scale its factor; the clamps are the identity on finite scores.
 * Masked keys and rows with no allowed key get no gradient. Checked by finite differences
 * (test/backward.test.ts). Works on Float64Array data too (cast), for those checks.
 *
 * @param plan - any plan; `plan.out`/`plan.weights` are ignored
 * @param dout - dL/dout in the layout (strides `plan.outStrides`) of the output
 * @returns gradients, lse and the output
 */
export function referenceBackward(plan: AttentionPlan, dout: ArrayLike<number>): ReferenceGradients {
  const { batch, qHeads, seqLenQ, seqLenK, headDim, valueDim } = plan;
  const dq = new Float64Array(plan.q.length);
  const dk = new Float64Array(plan.k.length);
  const dv = new Float64Array(plan.v.length);
  const dbias = new Float64Array(batch * qHeads * seqLenQ * seqLenK);
  const lse = new Float64Array(batch * qHeads * seqLenQ);
  const out = new Float64Array(batch * qHeads * seqLenQ * valueDim);
  const biased = new Float64Array(seqLenK);
  const capped = new Float64Array(seqLenK);
  const probs = new Float64Array(seqLenK);
  const dp = new Float64Array(seqLenK);
  const dpAbs = new Float64Array(seqLenK);
  const magnitude = { dq: new Float64Array(dq.length), dk: new Float64Array(dk.length), dv: new Float64Array(dv.length) };
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < qHeads; h++) {
      const kvHead = kvHeadOf(plan, h);
      for (let i = 0; i < seqLenQ; i++) {
        const row = (b * qHeads + h) * seqLenQ + i;
        let max = -Infinity;
        for (let j = 0; j < seqLenK; j++) {
          capped[j] = cappedOf(plan, logitOf(plan, b, h, i, j));
          biased[j] = isAllowed(plan, b, h, i, j) ? clampScore(clampScore(capped[j]!) + alibiOf(plan, b, h, i, j) + biasOf(plan, b, h, i, j)) : -Infinity;
          max = Math.max(max, biased[j]!);
        }
        if (max === -Infinity) {
          lse[row] = -Infinity; // no allowed key: out = 0, no gradient
          continue;
        }
        let sum = 0;
        for (let j = 0; j < seqLenK; j++) sum += biased[j] === -Infinity ? 0 : Math.exp(biased[j]! - max);
        lse[row] = max + Math.log(sum);
        let pdp = 0;
        let pdpAbs = 0;
        for (let j = 0; j < seqLenK; j++) {
          probs[j] = biased[j] === -Infinity ? 0 : Math.exp(biased[j]! - max) / sum;
          dp[j] = 0;
          dpAbs[j] = 0;
          if (biased[j] === -Infinity) continue;
          for (let d = 0; d < valueDim; d++) {
            const vj = plan.v[at(plan.vStrides, b, kvHead, j, d)]!;
            out[row * valueDim + d] = out[row * valueDim + d]! + probs[j]! * vj;
            dp[j] = dp[j]! + dout[at(plan.outStrides, b, h, i, d)]! * vj;
            dpAbs[j] = dpAbs[j]! + Math.abs(dout[at(plan.outStrides, b, h, i, d)]! * vj);
          }
          pdp += probs[j]! * dp[j]!;
          pdpAbs += probs[j]! * dpAbs[j]!;
        }
        for (let j = 0; j < seqLenK; j++) {
          if (biased[j] === -Infinity) continue;
          const ds = probs[j]! * (dp[j]! - pdp);
          dbias[row * seqLenK + j] = ds;
          const factor = plan.softcap > 0 ? 1 - (capped[j]! / plan.softcap) ** 2 : 1; // d capped / d logit = 1 − tanh²
          const dlogit = ds * factor;
          // The same sums over absolute values: what an f32 evaluation's rounding scales with.
          const dlogitAbs = probs[j]! * (dpAbs[j]! + pdpAbs) * factor;
          for (let d = 0; d < headDim; d++) {
            const qi = at(plan.qStrides, b, h, i, d);
            const kj = at(plan.kStrides, b, kvHead, j, d);
            dq[qi] = dq[qi]! + dlogit * plan.scale * plan.k[kj]!;
            dk[kj] = dk[kj]! + dlogit * plan.scale * plan.q[qi]!;
            magnitude.dq[qi] = magnitude.dq[qi]! + dlogitAbs * Math.abs(plan.scale * plan.k[kj]!);
            magnitude.dk[kj] = magnitude.dk[kj]! + dlogitAbs * Math.abs(plan.scale * plan.q[qi]!);
          }
          for (let d = 0; d < valueDim; d++) {
            const vj = at(plan.vStrides, b, kvHead, j, d);
            dv[vj] = dv[vj]! + probs[j]! * dout[at(plan.outStrides, b, h, i, d)]!;
            magnitude.dv[vj] = magnitude.dv[vj]! + probs[j]! * Math.abs(dout[at(plan.outStrides, b, h, i, d)]!);
          }
        }
      }
    }
  }
  return { dq, dk, dv, dbias, lse, out, magnitude };
}

// ---------------------------------------------------------------------------------------
// Deterministic data
// ---------------------------------------------------------------------------------------

/**
 * mulberry32, a small seeded PRNG (Tommy Ettinger, public domain): same seed, same stream.
 *
 * @param seed - any 32-bit integer
 * @returns a function giving uniform floats in [0, 1)
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `length` uniform values in [-range, range) from `random`. */
export function randomFloat32(length: number, random: () => number, range = 1): Float32Array {
  const data = new Float32Array(length);
  for (let n = 0; n < length; n++) data[n] = (random() * 2 - 1) * range;
  return data;
}

// ---------------------------------------------------------------------------------------
// Plan builder
// ---------------------------------------------------------------------------------------

export interface MakePlanOptions {
  readonly batch: number;
  readonly qHeads: number;
  readonly kvHeads?: number; // default qHeads
  readonly seqLenQ: number;
  readonly seqLenK: number;
  readonly headDim: number;
  readonly valueDim?: number; // default headDim
  /** Memory order of q, k, v and out: `bhsd` (contiguous) or `bshd` (heads interleaved). Default `bhsd`. */
  readonly layout?: 'bhsd' | 'bshd';
  /** Given data, in `layout` order; random in [-range, range) otherwise. */
  readonly q?: Float32Array;
  readonly k?: Float32Array;
  readonly v?: Float32Array;
  /** Magnitude of random q, k, v. Default 1. */
  readonly range?: number;
  readonly scale?: number; // default 1/sqrt(headDim)
  readonly softcap?: number; // default 0
  /** Folded into the window as right = min(right, 0) (src/key-range.ts). */
  readonly causal?: boolean;
  /** Length `batch`; default all 0 (top-left). */
  readonly positionOffsets?: readonly number[];
  /** `[left, right]`, Infinity = unbounded; default none. */
  readonly window?: readonly [number, number];
  readonly keyLengths?: readonly number[] | null;
  /** Contiguous `[batch, qHeads, seqLenQ, seqLenK]` unless `biasStrides` says otherwise. */
  readonly bias?: Float32Array | null;
  readonly biasStrides?: BiasStrides;
  /** Allocate `weights` (default false). */
  readonly withWeights?: boolean;
  readonly weightsStage?: WeightsStage; // default 'probs'
  /** ALiBi slopes per query head (default none). */
  readonly alibiSlopes?: Float32Array | null;
  /** Allocate `lse` (default false). */
  readonly withLse?: boolean;
  readonly seed?: number; // default 1
}

/** Element strides of a `[batch, heads, seq, dim]` tensor stored in `layout` order. */
export function stridesOf(layout: 'bhsd' | 'bshd', heads: number, seq: number, dim: number): HeadStrides {
  return layout === 'bhsd'
    ? { batch: heads * seq * dim, head: seq * dim, seq: dim }
    : { batch: seq * heads * dim, head: dim, seq: heads * dim };
}

/**
 * Builds an `AttentionPlan` over dense tensors (given or seeded-random), with a zeroed `out`.
 *
 * @param options - sizes, layout, data and masking; see {@link MakePlanOptions}
 * @returns a plan any backend (and `referenceAttention`) can run
 * @throws RangeError when given data has the wrong length
 * @example
 *   makePlan({ batch: 2, qHeads: 6, kvHeads: 2, seqLenQ: 5, seqLenK: 17, headDim: 7, causal: true });
 */
export function makePlan(options: MakePlanOptions): AttentionPlan {
  const { batch, qHeads, seqLenQ, seqLenK, headDim } = options;
  const kvHeads = options.kvHeads ?? qHeads;
  const valueDim = options.valueDim ?? headDim;
  const layout = options.layout ?? 'bhsd';
  const random = mulberry32(options.seed ?? 1);
  const range = options.range ?? 1;

  const tensor = (given: Float32Array | undefined, length: number, name: string): Float32Array => {
    if (!given) return randomFloat32(length, random, range);
    if (given.length !== length) throw new RangeError(`expected ${name} of length ${length}, got length=${given.length}`);
    return given;
  };
  const q = tensor(options.q, batch * qHeads * seqLenQ * headDim, 'q');
  const k = tensor(options.k, batch * kvHeads * seqLenK * headDim, 'k');
  const v = tensor(options.v, batch * kvHeads * seqLenK * valueDim, 'v');

  return {
    batch,
    qHeads,
    kvHeads,
    seqLenQ,
    seqLenK,
    headDim,
    valueDim,
    q,
    qStrides: stridesOf(layout, qHeads, seqLenQ, headDim),
    k,
    kStrides: stridesOf(layout, kvHeads, seqLenK, headDim),
    v,
    vStrides: stridesOf(layout, kvHeads, seqLenK, valueDim),
    out: new Float32Array(batch * qHeads * seqLenQ * valueDim),
    outStrides: stridesOf(layout, qHeads, seqLenQ, valueDim),
    scale: options.scale ?? 1 / Math.sqrt(headDim),
    softcap: options.softcap ?? 0,
    positionOffsets: Int32Array.from(options.positionOffsets ?? new Array(batch).fill(0)),
    window: planWindow(options.window && { left: options.window[0], right: options.window[1] }, options.causal ?? false),
    keyLengths: options.keyLengths ? Int32Array.from(options.keyLengths) : null,
    bias: options.bias ?? null,
    biasStrides: options.biasStrides ?? { batch: qHeads * seqLenQ * seqLenK, head: seqLenQ * seqLenK, query: seqLenK },
    weights: options.withWeights ? new Float32Array(batch * qHeads * seqLenQ * seqLenK) : null,
    weightsStage: options.weightsStage ?? 'probs',
    alibiSlopes: options.alibiSlopes ?? null,
    lse: options.withLse ? new Float32Array(batch * qHeads * seqLenQ) : null,
  };
}

/**
 * Reads a strided `[batch, heads, seq, dim]` view (such as `plan.out`) into a contiguous array.
 *
 * @returns `Float64Array` of length `batch·heads·seq·dim`, in bhsd order
 */
export function gatherBhsd(
  data: Float32Array,
  strides: HeadStrides,
  dims: readonly [batch: number, heads: number, seq: number, dim: number],
): Float64Array {
  const [batch, heads, seq, dim] = dims;
  const dense = new Float64Array(batch * heads * seq * dim);
  let n = 0;
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let s = 0; s < seq; s++) for (let d = 0; d < dim; d++) dense[n++] = data[at(strides, b, h, s, d)]!;
  return dense;
}

// ---------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------

export interface Tolerance {
  /** Absolute part of the bound: |got − want| <= atol + rtol·|want|. */
  readonly atol: number;
  readonly rtol: number;
}

export interface Comparison {
  readonly ok: boolean;
  /** Mismatches (non-finite values must match exactly: NaN with NaN, ±Infinity with itself). */
  readonly failures: number;
  /** The element with the largest error relative to its bound (or the first non-finite mismatch). */
  readonly worst: { index: number; expected: number; got: number; error: number; bound: number } | null;
  /** "index [b,h,i,j] (flat n), expected …, got …, shape […], tolerance …", for failing assertions. */
  readonly message: string;
}

function unravel(index: number, shape: readonly number[]): number[] {
  const coords: number[] = [];
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    coords.unshift(index % shape[axis]!);
    index = Math.floor(index / shape[axis]!);
  }
  return coords;
}

/**
 * Compares `got` with `want` elementwise under `|got − want| <= atol + rtol·|want|`.
 *
 * @param shape - used only to print the failing index as coordinates
 * @returns the worst element and a readable message; `ok` is false on any mismatch
 * @throws RangeError when the lengths differ
 */
export function compareClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tolerance: Tolerance,
  shape: readonly number[] = [want.length],
): Comparison {
  if (got.length !== want.length) throw new RangeError(`expected length ${want.length}, got length=${got.length}`);
  let failures = 0;
  let worst: Comparison['worst'] = null;
  let worstRatio = -1;
  for (let n = 0; n < want.length; n++) {
    const expected = want[n]!;
    const actual = got[n]!;
    let error: number;
    let bound: number;
    if (!Number.isFinite(expected) || !Number.isFinite(actual)) {
      const same = Object.is(expected, actual) || (Number.isNaN(expected) && Number.isNaN(actual)) || expected === actual;
      error = same ? 0 : Infinity;
      bound = 0;
      if (!same) failures++;
      if (!same && worstRatio < Infinity) {
        worstRatio = Infinity;
        worst = { index: n, expected, got: actual, error, bound };
      }
      continue;
    }
    error = Math.abs(actual - expected);
    bound = tolerance.atol + tolerance.rtol * Math.abs(expected);
    if (error > bound) failures++;
    const ratio = error / bound;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = { index: n, expected, got: actual, error, bound };
    }
  }
  const ok = failures === 0;
  const where = worst ? `index [${unravel(worst.index, shape).join(',')}] (flat ${worst.index})` : 'no elements';
  const message = worst
    ? `${ok ? 'ok' : `${failures} mismatches`}; worst at ${where}: expected ${worst.expected}, got ${worst.got}, ` +
      `error ${worst.error.toExponential(3)} (bound ${worst.bound.toExponential(3)}), shape [${shape.join(',')}], ` +
      `tolerance atol ${tolerance.atol} + rtol ${tolerance.rtol}·|expected|`
    : `empty, shape [${shape.join(',')}]`;
  return { ok, failures, worst, message };
}
