/**
 * Builds public-API calls (tensors, masks, options) from a small case description, and
 * the float64 answer they must give, computed *independently* of src/: the reference
 * plan is built here, in `bhsd`, from transposed copies this file makes itself, with the
 * mask broadcast and causal alignment expanded here too. Only `referenceAttention` and
 * `makePlan` (test/reference.ts) are shared with the backend tests; nothing from
 * src/layout.ts, src/mask.ts or src/float16.ts is used to produce an expected value.
 *
 * Tolerances (see `toleranceFor`) are first-order error bounds of an f32 evaluation,
 * computed from the case's sizes and data, not constants tuned until green.
 */
import { expect } from 'vitest';
import type { AttentionOptions, AttentionResult, CausalOption, MaskTensor, RotaryOptions, Tensor, TensorData } from '../src/index.js';
import { compareClose, makePlan, mulberry32, referenceAttention, stridesOf, type Tolerance } from './reference.js';
import { rotaryPositions, rotate64 } from './rotary-reference.js';

export type { Tolerance };

// ---------------------------------------------------------------------------------------
// Float16, independently of src/float16.ts
// ---------------------------------------------------------------------------------------

/** Decodes IEEE binary16 bits (written from the format definition, not from src/). */
export function decodeHalf(bits: number): number {
  const sign = bits >> 15 ? -1 : 1;
  const exponent = (bits >> 10) & 31;
  const fraction = bits & 1023;
  if (exponent === 31) return fraction === 0 ? sign * Infinity : NaN;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** Encodes a value that is *exactly* a half (throws otherwise): test data is made of such values. */
export function encodeExactHalf(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const magnitude = Math.abs(value);
  if (magnitude === Infinity) return sign | 0x7c00;
  if (magnitude === 0) return sign;
  let bits: number;
  if (magnitude < 2 ** -14) {
    const fraction = magnitude / 2 ** -24;
    bits = fraction;
  } else {
    const exponent = Math.floor(Math.log2(magnitude));
    // log2 can be off by one near powers of two; fix it up exactly.
    const e = magnitude >= 2 ** (exponent + 1) ? exponent + 1 : magnitude < 2 ** exponent ? exponent - 1 : exponent;
    bits = ((e + 15) << 10) | ((magnitude / 2 ** e - 1) * 1024);
    if (e + 15 >= 31) throw new RangeError(`encodeExactHalf: ${value} overflows float16`);
  }
  if (!Number.isInteger(bits) || decodeHalf(sign | bits) !== value) throw new RangeError(`encodeExactHalf: ${value} is not a float16 value`);
  return sign | bits;
}

/** The numbers a result tensor holds: f32 values, or decoded half bits (Uint16Array / Float16Array). */
export function valuesOf(data: ArrayLike<number> & { length: number }): Float64Array {
  if (data instanceof Float32Array || data instanceof Float64Array) return Float64Array.from(data);
  if (data instanceof Uint16Array) return Float64Array.from(data, decodeHalf);
  if (Object.prototype.toString.call(data) === '[object Float16Array]') return Float64Array.from(data as ArrayLike<number>);
  throw new TypeError(`valuesOf: unexpected result data ${Object.prototype.toString.call(data)}`);
}

/** The runtime's Float16Array, if any (Node ≥ 24); absent on Node 20. */
export const Float16ArrayCtor = (globalThis as { Float16Array?: new (buffer: ArrayBufferLike) => ArrayLike<number> }).Float16Array;

// ---------------------------------------------------------------------------------------
// Layouts, by hand
// ---------------------------------------------------------------------------------------

/** `packed` is 3-D `[batch, seq, heads·dim]`, whose memory order is the one of `bshd`. */
export type TestLayout = 'bhsd' | 'bshd' | 'packed';

/** Flat index of logical `[b, h, s, d]` in a tensor of `heads × seq × dim` stored in `layout` order. */
function indexIn(layout: TestLayout, heads: number, seq: number, dim: number, b: number, h: number, s: number, d: number): number {
  return layout === 'bhsd' ? ((b * heads + h) * seq + s) * dim + d : ((b * seq + s) * heads + h) * dim + d;
}

/** Public shape of a `[batch, heads, seq, dim]` tensor in `layout`. */
export function publicShape(layout: TestLayout, batch: number, heads: number, seq: number, dim: number): number[] {
  if (layout === 'bhsd') return [batch, heads, seq, dim];
  if (layout === 'bshd') return [batch, seq, heads, dim];
  return [batch, seq, heads * dim];
}

/** Copies `data` (stored in `layout` order) into a contiguous `bhsd` array. */
export function toBhsd<T extends Float32Array | Float64Array>(
  data: T,
  layout: TestLayout,
  dims: readonly [batch: number, heads: number, seq: number, dim: number],
): T {
  const [batch, heads, seq, dim] = dims;
  const dense = new (data.constructor as new (n: number) => T)(data.length);
  let n = 0;
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let s = 0; s < seq; s++) for (let d = 0; d < dim; d++) dense[n++] = data[indexIn(layout, heads, seq, dim, b, h, s, d)]!;
  return dense;
}

/** Inverse of {@link toBhsd}: stores contiguous `bhsd` data in `layout` order. */
export function fromBhsd<T extends Float32Array | Float64Array>(
  data: T,
  layout: TestLayout,
  dims: readonly [batch: number, heads: number, seq: number, dim: number],
): T {
  const [batch, heads, seq, dim] = dims;
  const out = new (data.constructor as new (n: number) => T)(data.length);
  let n = 0;
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let s = 0; s < seq; s++) for (let d = 0; d < dim; d++) out[indexIn(layout, heads, seq, dim, b, h, s, d)] = data[n++]!;
  return out;
}

// ---------------------------------------------------------------------------------------
// Masks, by hand
// ---------------------------------------------------------------------------------------

export interface MaskSpec {
  readonly kind: 'bool' | 'additive';
  /** Any shape that broadcasts (NumPy rules) to `[batch, qHeads, seqLenQ, seqLenK]`. */
  readonly shape: readonly number[];
  /** Given data; random otherwise (see `maskedFraction`). */
  readonly data?: Uint8Array | Float32Array;
  /** Fraction of positions masked (0 / -Infinity) in random masks. Default 0.3. */
  readonly maskedFraction?: number;
}

/** Expands `mask` to a contiguous additive bias `[batch, qHeads, seqLenQ, seqLenK]` (bool: 1 → 0, 0 → -Infinity). */
export function expandMask(mask: MaskTensor, target: readonly [number, number, number, number]): Float32Array {
  const rank = mask.shape.length;
  const full = [1, 1, 1, 1];
  for (let a = 0; a < rank; a++) full[4 - rank + a] = mask.shape[a]!;
  // Row-major strides of the (left-padded) mask; a broadcast axis reads coordinate 0.
  const strides = [full[1]! * full[2]! * full[3]!, full[2]! * full[3]!, full[3]!, 1];
  const [batch, heads, rows, keys] = target;
  const bias = new Float32Array(batch * heads * rows * keys);
  const isBool = mask.data instanceof Uint8Array;
  let n = 0;
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let i = 0; i < rows; i++)
        for (let j = 0; j < keys; j++) {
          const coords = [b, h, i, j];
          let source = 0;
          for (let a = 0; a < 4; a++) source += (full[a] === 1 ? 0 : coords[a]!) * strides[a]!;
          const value = mask.data[source]!;
          bias[n++] = isBool ? (value ? 0 : -Infinity) : value;
        }
  return bias;
}

function randomMask(spec: MaskSpec, random: () => number): MaskTensor {
  if (spec.data) return { data: spec.data, shape: spec.shape };
  const size = spec.shape.reduce((a, b) => a * b, 1);
  const fraction = spec.maskedFraction ?? 0.3;
  if (spec.kind === 'bool') {
    const data = new Uint8Array(size);
    for (let n = 0; n < size; n++) data[n] = random() < fraction ? 0 : 1;
    return { data, shape: spec.shape };
  }
  const data = new Float32Array(size);
  for (let n = 0; n < size; n++) data[n] = random() < fraction ? -Infinity : (random() * 2 - 1) * 2;
  return { data, shape: spec.shape };
}

// ---------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------

export interface CaseSpec {
  readonly batch: number;
  readonly qHeads: number;
  readonly kvHeads?: number;
  readonly seqLenQ: number;
  readonly seqLenK: number;
  readonly headDim: number;
  readonly valueDim?: number;
  readonly layout?: TestLayout;
  /** float16: inputs are multiples of 2^-10 in [-range, range] (exact halves), passed as half bits. */
  readonly dtype?: 'float32' | 'float16';
  /** How float16 data is passed: Uint16Array bits (default) or the runtime's Float16Array. */
  readonly halfKind?: 'uint16' | 'float16array';
  /** Pass `dtype` explicitly in the options (default: let the library infer it). */
  readonly explicitDtype?: boolean;
  /** Magnitude of random q and k (default 1), and of v (`valueRange`, default 1). */
  readonly range?: number;
  readonly valueRange?: number;
  /** Given data in `layout` order (f32 values), instead of random. */
  readonly q?: Float32Array;
  readonly k?: Float32Array;
  readonly v?: Float32Array;
  readonly scale?: number;
  readonly softcap?: number;
  readonly causal?: CausalOption;
  /** `options.window`: [left, right], or n = [n, 0]. */
  readonly window?: number | readonly [number, number];
  readonly mask?: MaskSpec;
  readonly keyLengths?: readonly number[];
  readonly returnWeights?: boolean;
  /** ALiBi: `true` (the standard slopes) or given slopes, one per query head. */
  readonly alibi?: true | Float32Array;
  readonly returnLse?: boolean;
  /** `options.rotary`: the reference rotates q and k in float64 first (test/rotary-reference.ts). */
  readonly rotary?: RotaryOptions;
  readonly seed?: number;
}

export interface BuiltCase {
  readonly spec: CaseSpec;
  readonly q: Tensor;
  readonly k: Tensor;
  readonly v: Tensor;
  /** Options for `attention()` (without `out`). */
  readonly options: AttentionOptions;
  /** Expected output in the public layout (`outShape`), float64. */
  readonly wantOut: Float64Array;
  readonly outShape: readonly number[];
  /** Expected weights `[batch, qHeads, seqLenQ, seqLenK]`, float64. */
  readonly wantWeights: Float64Array;
  readonly weightsShape: readonly number[];
  /** Expected lse `[batch, qHeads, seqLenQ]`, float64. */
  readonly wantLse: Float64Array;
  /** Per bhsd query row `(b·qHeads + h)·seqLenQ + i`: true when no key is allowed. */
  readonly fullyMasked: readonly boolean[];
  readonly tolerance: { readonly out: Tolerance; readonly weights: Tolerance; readonly lse: Tolerance };
  /** A short description for failure messages. */
  readonly label: string;
}

/** Random f32 values in [-range, range); for float16 cases, multiples of 2^-10 (exact halves). */
function randomValues(length: number, random: () => number, range: number, half: boolean): Float32Array {
  const data = new Float32Array(length);
  for (let n = 0; n < length; n++) {
    const x = (random() * 2 - 1) * range;
    // Multiples of 2^-10 below 2^k need k + 10 significant bits: exact halves while |x| < 2.
    data[n] = half ? Math.round(x * 1024) / 1024 : x;
  }
  return data;
}

function halfData(values: Float32Array, kind: 'uint16' | 'float16array'): TensorData {
  const bits = Uint16Array.from(values, encodeExactHalf);
  if (kind === 'uint16') return bits;
  if (!Float16ArrayCtor) throw new Error('Float16Array is not available in this runtime');
  return new Float16ArrayCtor(bits.buffer) as unknown as TensorData;
}

function maxRowNorm(data: Float32Array, rows: number, dim: number): number {
  let max = 0;
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    // Non-finite entries only ever sit at masked keys in these tests (selected away, never in a sum).
    for (let d = 0; d < dim; d++) if (Number.isFinite(data[r * dim + d]!)) sum += data[r * dim + d]! ** 2;
    max = Math.max(max, Math.sqrt(sum));
  }
  return max;
}

function maxAbs(data: ArrayLike<number>): number {
  let max = 0;
  for (let n = 0; n < data.length; n++) if (Number.isFinite(data[n]!)) max = Math.max(max, Math.abs(data[n]!));
  return max;
}

/** f32 unit roundoff. */
export const U32 = 2 ** -24;
/** γ_n = n·u / (1 − n·u): the classic bound on the relative error of an n-term f32 sum (Higham, Accuracy and Stability, §3.1). */
export const gamma = (n: number) => (n * U32) / (1 - n * U32);
/**
 * Relative error allowed for one evaluation of exp in a kernel. The WASM kernels use the
 * XNNPACK rr2-p5 polynomial (assembly/inline/exp.ts), measured at ≈2.4e-7 (≈2 ulp) max
 * relative error over [-87, 88]; 1e-6 (the order the kernel design promises, ≈4× the
 * measurement) is the budget. The JS backend uses float64 `Math.exp`, far inside it.
 */
export const EXP_REL = 1e-6;
/**
 * Error allowed for tanh in softcapping, relative to the cap: the kernels evaluate tanh
 * as (1 − e^{-2|t|})/(1 + e^{-2|t|}) (Taylor series below |t| = 0.25), measured ≤ ~5 ulp
 * (3e-7) relative; |tanh| ≤ 1 makes that an absolute error ≤ 3e-7, budgeted as 1e-6.
 */
export const TANH_ABS = 1e-6;
/**
 * Factor on the first-order bounds below, for second-order terms and the evaluation
 * order a kernel may pick (FMA or not, scaling q before or after the dot product,
 * online-softmax rescaling steps that round once more).
 */
export const SAFETY = 2;
/** float16 rounding: relative 2^-11 (half an ulp of an 11-bit significand); absolute 2^-25 (half the smallest subnormal). */
export const HALF_REL = 2 ** -11;
export const HALF_ABS = 2 ** -25;

/**
 * Error bounds of an f32 attention evaluation for one case, first order, from its data:
 *
 * - logits: the f32 dot product of D terms is off by at most γ_D·Σ|q_d·k_d| ≤
 *   γ_D·‖q_i‖·‖k_j‖ (Cauchy–Schwarz), times |scale|; scaling, adding the bias and
 *   subtracting the row max round three more times, ≤ 3u·(largest |score|); softcap adds
 *   softcap·TANH_ABS (tanh' ≤ 1 does not amplify). Call the total δ.
 * - softmax: an error δ on every logit moves p_j by at most p_j·2δ (dp_j = p_j(dx_j − Σp·dx));
 *   exp adds EXP_REL to p̃_j and to the sum; the f32 sums over Lk keys add γ_Lk. So each
 *   weight is within relative 2δ + 2·EXP_REL + γ_Lk + u of exact (the weights rtol).
 * - output: Σ_j p_j·v_j moves by Σ p_j|v_j|·(2δ + 2·EXP_REL) from the weights, plus
 *   γ_Lk·Σ p_j|v_j| for the f32 accumulation and γ_Lk + u for the normalisation by the
 *   f32 sum; Σ p_j|v_j| ≤ max|v| gives the output atol.
 *
 * For example D = 128, Lk = 130, q, k, v uniform in [-1, 1) and scale 1/√128 give δ ≈ 4e-5
 * worst case and an output atol of ≈ 1.9e-4·max|v| after SAFETY. That is a worst case: the
 * errors measured there are ~1e-7 (rounding errors cancel), so the bound is loose for
 * large D, yet a wrong kernel (a lost or extra key, a wrong stride or alignment, a
 * wrong scale) is off by 1e-2 or more. For small D (1 to 7) the atol is ~1e-5, tight
 * enough to catch an exp or a normalisation that is off by 1e-5 relative.
 */
export function toleranceFor(
  dims: { seqLenK: number; headDim: number },
  data: { qNorm: number; kNorm: number; maxAbsV: number; maxAbsBias: number },
  scale: number,
  softcap: number,
  half: boolean,
): { out: Tolerance; weights: Tolerance; lse: Tolerance } {
  const logitBound = Math.abs(scale) * data.qNorm * data.kNorm;
  const scoreBound = (softcap > 0 ? Math.min(logitBound, softcap) : logitBound) + data.maxAbsBias;
  const delta = gamma(dims.headDim) * logitBound + 3 * U32 * (logitBound + 2 * scoreBound) + (softcap > 0 ? softcap * TANH_ABS : 0);
  const weightsRel = SAFETY * (2 * delta + 2 * EXP_REL + gamma(dims.seqLenK) + U32);
  const outAbs = SAFETY * data.maxAbsV * (2 * delta + 2 * EXP_REL + 2 * gamma(dims.seqLenK) + U32);
  // Weights are compared relatively (rtol) plus 1e-30 absolute: an exp that flushes f32
  // subnormals (e^-88 and below) to 0 is acceptable.
  const out: Tolerance = { atol: outAbs, rtol: 0 };
  const weights: Tolerance = { atol: 1e-30, rtol: weightsRel };
  // lse = m + ln(l): m is a score (off by δ), ln(l) is off by the relative error of l (exp and
  // the f32 sum: EXP_REL + γ_Lk); the kernels round m·ln2 and the result to f32 (2u·|lse|).
  const lse: Tolerance = { atol: SAFETY * (delta + 2 * EXP_REL + gamma(dims.seqLenK) + U32), rtol: 2 * SAFETY * U32 };
  if (!half) return { out, weights, lse };
  // The f32 result y' (within the bound above) is rounded to half: |h(y') − y'| ≤ 2^-11·|y'| + 2^-25.
  return {
    out: { atol: out.atol * (1 + HALF_REL) + HALF_ABS, rtol: HALF_REL },
    weights: { atol: HALF_ABS, rtol: weights.rtol * (1 + HALF_REL) + HALF_REL },
    lse, // float32 whatever the input dtype
  };
}

/** Sum of two tolerances: the bound on |a − b| when a and b are each within their bound of the same exact value. */
export function addTolerances(a: Tolerance, b: Tolerance): Tolerance {
  return { atol: a.atol + b.atol, rtol: a.rtol + b.rtol };
}

/**
 * Builds the public call and its float64 expected result for `spec`.
 *
 * @example
 *   const c = buildCase({ batch: 1, qHeads: 2, seqLenQ: 5, seqLenK: 7, headDim: 4, layout: 'bshd', causal: true });
 *   const result = instance.attention(c.q, c.k, c.v, c.options);
 *   expectResult(result, c, 'bshd causal');
 */
export function buildCase(spec: CaseSpec): BuiltCase {
  const { batch, qHeads, seqLenQ, seqLenK, headDim } = spec;
  const kvHeads = spec.kvHeads ?? qHeads;
  const valueDim = spec.valueDim ?? headDim;
  const layout = spec.layout ?? 'bhsd';
  const half = spec.dtype === 'float16';
  const random = mulberry32(spec.seed ?? 1);
  const range = spec.range ?? 1;
  const valueRange = spec.valueRange ?? 1;

  const given = (data: Float32Array | undefined, length: number, r: number, name: string) => {
    if (!data) return randomValues(length, random, r, half);
    if (data.length !== length) throw new RangeError(`buildCase: ${name} has length ${data.length}, expected ${length}`);
    return data;
  };
  // Data in the public layout, as the caller would hold it.
  const qData = given(spec.q, batch * qHeads * seqLenQ * headDim, range, 'q');
  const kData = given(spec.k, batch * kvHeads * seqLenK * headDim, range, 'k');
  const vData = given(spec.v, batch * kvHeads * seqLenK * valueDim, valueRange, 'v');

  const tensor = (data: Float32Array, heads: number, seq: number, dim: number): Tensor => ({
    data: half ? halfData(data, spec.halfKind ?? 'uint16') : data,
    shape: publicShape(layout, batch, heads, seq, dim),
  });
  const q = tensor(qData, qHeads, seqLenQ, headDim);
  const k = tensor(kData, kvHeads, seqLenK, headDim);
  const v = tensor(vData, kvHeads, seqLenK, valueDim);

  const mask = spec.mask ? randomMask(spec.mask, random) : undefined;
  const options: AttentionOptions = {
    ...(layout === 'bshd' ? { layout: 'bshd' as const } : {}),
    ...(layout === 'packed' ? { numHeads: qHeads, kvHeads } : {}),
    ...(spec.explicitDtype ? { dtype: spec.dtype ?? 'float32' } : {}),
    ...(spec.scale !== undefined ? { scale: spec.scale } : {}),
    ...(spec.softcap !== undefined ? { softcap: spec.softcap } : {}),
    ...(spec.causal !== undefined ? { causal: spec.causal } : {}),
    ...(spec.window !== undefined ? { window: spec.window } : {}),
    ...(mask ? { mask } : {}),
    ...(spec.keyLengths ? { keyLengths: spec.keyLengths } : {}),
    ...(spec.returnWeights ? { returnWeights: true } : {}),
    ...(spec.alibi ? { alibi: spec.alibi } : {}),
    ...(spec.returnLse ? { returnLse: true } : {}),
    ...(spec.rotary ? { rotary: spec.rotary } : {}),
  };

  // The reference, in bhsd, on copies transposed here.
  let qBhsd: Float32Array = toBhsd(qData, layout, [batch, qHeads, seqLenQ, headDim]);
  let kBhsd: Float32Array = toBhsd(kData, layout, [batch, kvHeads, seqLenK, headDim]);
  const vBhsd = toBhsd(vData, layout, [batch, kvHeads, seqLenK, valueDim]);
  const bias = mask ? expandMask(mask, [batch, qHeads, seqLenQ, seqLenK]) : null;
  const causal = spec.causal ?? false;
  const positionOffsets: number[] = [];
  for (let b = 0; b < batch; b++) {
    // Per the CausalOption docs: top-left sees j <= i; bottom-right (and `true`) j <= i + (validKeys − Lq).
    const validKeys = spec.keyLengths ? spec.keyLengths[b]! : seqLenK;
    positionOffsets.push(causal === 'top-left' ? 0 : validKeys - seqLenQ);
  }
  const scale = spec.scale ?? 1 / Math.sqrt(headDim);
  if (spec.rotary) {
    // Rotated in float64 at the rows' positions (test/rotary-reference.ts): the reference
    // reads the float64 values (the cast only satisfies the plan's type).
    const { rotary } = spec;
    const { qPos, kPos } = rotaryPositions({ ...spec, rotary });
    qBhsd = rotate64(qBhsd, stridesOf('bhsd', qHeads, seqLenQ, headDim), batch, qHeads, seqLenQ, headDim, rotary, qPos) as unknown as Float32Array;
    kBhsd = rotate64(kBhsd, stridesOf('bhsd', kvHeads, seqLenK, headDim), batch, kvHeads, seqLenK, headDim, rotary, kPos) as unknown as Float32Array;
  }
  const plan = makePlan({
    batch, qHeads, kvHeads, seqLenQ, seqLenK, headDim, valueDim,
    q: qBhsd, k: kBhsd, v: vBhsd,
    scale,
    softcap: spec.softcap ?? 0,
    causal: causal !== false,
    positionOffsets,
    // The window's definition (FlashAttention's window_size): a number n is [n, 0].
    ...(spec.window !== undefined ? { window: typeof spec.window === 'number' ? [spec.window, 0] as const : spec.window } : {}),
    keyLengths: spec.keyLengths ?? null,
    bias,
    withWeights: true,
    alibiSlopes: alibiSlopesOf(spec.alibi, qHeads),
  });
  const reference = referenceAttention(plan);
  // The largest |ALiBi term| of the case: it enters the score bound like a bias.
  let maxAlibi = 0;
  if (plan.alibiSlopes) {
    for (let b = 0; b < batch; b++) {
      const off = causal === 'top-left' ? 0 : (spec.keyLengths ? spec.keyLengths[b]! : seqLenK) - seqLenQ;
      const far = Math.max(Math.abs(off), Math.abs(seqLenQ - 1 + off), Math.abs(off - seqLenK + 1), Math.abs(seqLenQ - 1 + off - seqLenK + 1));
      for (const slope of plan.alibiSlopes) maxAlibi = Math.max(maxAlibi, Math.abs(slope) * far);
    }
  }

  const fullyMasked: boolean[] = [];
  for (let row = 0; row < batch * qHeads * seqLenQ; row++) {
    let any = false;
    for (let j = 0; j < seqLenK && !any; j++) any = reference.weights[row * seqLenK + j]! > 0;
    fullyMasked.push(!any);
  }

  const tolerances = toleranceFor(
    { seqLenK, headDim },
    {
      qNorm: maxRowNorm(qBhsd, batch * qHeads * seqLenQ, headDim),
      kNorm: maxRowNorm(kBhsd, batch * kvHeads * seqLenK, headDim),
      maxAbsV: maxAbs(vBhsd),
      maxAbsBias: (bias ? maxAbs(bias) : 0) + maxAlibi,
    },
    scale,
    spec.softcap ?? 0,
    half,
  );
  // Rotary: the library rounds each rotated element to f32 once (relative u), which moves
  // every logit by at most 2u·scale·‖q‖‖k‖ (as test/rotary-reference.ts derives).
  const rotaryLogit = spec.rotary ? SAFETY * 2 * U32 * Math.abs(scale) * maxRowNorm(qBhsd, batch * qHeads * seqLenQ, headDim) * maxRowNorm(kBhsd, batch * kvHeads * seqLenK, headDim) : 0;
  const tolerance = rotaryLogit === 0 ? tolerances : {
    out: addTolerances(tolerances.out, { atol: 2 * rotaryLogit * maxAbs(vBhsd), rtol: 0 }),
    weights: addTolerances(tolerances.weights, { atol: 0, rtol: 2 * rotaryLogit }),
    lse: addTolerances(tolerances.lse, { atol: rotaryLogit, rtol: 0 }),
  };

  const label =
    `${layout} B${batch} Hq${qHeads} Hkv${kvHeads} Lq${seqLenQ} Lk${seqLenK} D${headDim} Dv${valueDim}` +
    (half ? ` float16(${spec.halfKind ?? 'uint16'})` : '') +
    (spec.causal !== undefined ? ` causal=${String(spec.causal)}` : '') +
    (spec.window !== undefined ? ` window=[${[spec.window].flat().join(',')}]` : '') +
    (spec.mask ? ` mask=${spec.mask.kind}[${spec.mask.shape.join(',')}]` : '') +
    (spec.keyLengths ? ` keyLengths=[${spec.keyLengths.join(',')}]` : '') +
    (spec.softcap ? ` softcap=${spec.softcap}` : '') +
    (spec.scale !== undefined ? ` scale=${spec.scale}` : '') +
    (spec.rotary ? ` rotary=${JSON.stringify(spec.rotary)}` : '') +
    (spec.alibi ? ` alibi=${spec.alibi === true ? 'standard' : `[${Array.from(spec.alibi).join(',')}]`}` : '') +
    ` seed=${spec.seed ?? 1}`;

  return {
    spec,
    q,
    k,
    v,
    options,
    wantOut: fromBhsd(reference.out, layout, [batch, qHeads, seqLenQ, valueDim]),
    outShape: publicShape(layout, batch, qHeads, seqLenQ, valueDim),
    wantWeights: reference.weights,
    weightsShape: [batch, qHeads, seqLenQ, seqLenK],
    wantLse: reference.lse,
    fullyMasked,
    tolerance,
    label,
  };
}

// ---------------------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------------------

/**
 * Asserts `|got − want| <= atol + rtol·|want|` elementwise (non-finite values must match
 * exactly), failing with the worst index as coordinates of `shape`, expected, got, the
 * shape and the tolerance.
 */
export function expectClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tolerance: Tolerance,
  context: string,
  shape: readonly number[] = [want.length],
): void {
  if (got.length !== want.length) {
    expect.fail(`${context}: expected ${want.length} elements (shape [${shape.join(',')}]), got ${got.length}`);
  }
  const comparison = compareClose(got, want, tolerance, shape);
  if (!comparison.ok) expect.fail(`${context}: ${comparison.message}`);
}

/** Asserts that every element is finite, naming the first that is not. */
export function expectFinite(values: ArrayLike<number>, context: string, shape: readonly number[]): void {
  for (let n = 0; n < values.length; n++) {
    if (!Number.isFinite(values[n]!)) expect.fail(`${context}: expected finite values, got ${values[n]} at flat index ${n}, shape [${shape.join(',')}]`);
  }
}

/** Checks a result against a built case: output (and weights when asked), shapes, exact zeros on fully masked rows. */
export function expectResult(result: AttentionResult, c: BuiltCase, context: string): void {
  const where = `${context} [${c.label}]`;
  expect(result.output.shape, `${where}: output shape`).toEqual(c.outShape);
  const out = valuesOf(result.output.data);
  expectClose(out, c.wantOut, c.tolerance.out, `${where}: output`, c.outShape);
  expectMaskedRowsZero(out, c, where);
  if (c.options.returnWeights) {
    expect(result.weights, `${where}: weights present`).toBeDefined();
    expect(result.weights!.shape, `${where}: weights shape`).toEqual(c.weightsShape);
    const weights = valuesOf(result.weights!.data);
    expectClose(weights, c.wantWeights, c.tolerance.weights, `${where}: weights`, c.weightsShape);
    expectRowSums(weights, c, where);
  } else {
    expect(result.weights, `${where}: no weights unless returnWeights`).toBeUndefined();
  }
  if (c.options.returnLse) {
    expect(result.lse, `${where}: lse present`).toBeDefined();
    expect(result.lse!.shape, `${where}: lse shape`).toEqual([c.spec.batch, c.spec.qHeads, c.spec.seqLenQ]);
    expect(result.lse!.data, `${where}: lse is float32`).toBeInstanceOf(Float32Array);
    // Rows with no allowed key must be exactly -Infinity (compareClose matches non-finite values exactly).
    expectClose(result.lse!.data, c.wantLse, c.tolerance.lse, `${where}: lse`, [c.spec.batch, c.spec.qHeads, c.spec.seqLenQ]);
  } else {
    expect(result.lse, `${where}: no lse unless returnLse`).toBeUndefined();
  }
}

/**
 * The slopes a case asks for, computed here independently of src/alibi.ts: the ALiBi paper's
 * `get_slopes` (its recursion as written: the first 2^⌊log2 n⌋ heads geometric from
 * 2^(−8/p), the rest every other slope of 2p heads).
 */
export function alibiSlopesOf(alibi: true | Float32Array | undefined, heads: number): Float32Array | null {
  if (!alibi) return null;
  if (alibi !== true) return alibi;
  const powerOf2 = (n: number) => Array.from({ length: n }, (_, i) => (2 ** (-(2 ** -(Math.log2(n) - 3)))) ** (i + 1));
  const slopes = (n: number): number[] => {
    if (Number.isInteger(Math.log2(n))) return powerOf2(n);
    const p = 2 ** Math.floor(Math.log2(n));
    return [...powerOf2(p), ...slopes(2 * p).filter((_, i) => i % 2 === 0).slice(0, n - p)];
  };
  return Float32Array.from(slopes(heads));
}

/** Fully masked rows must be exactly zero (not tiny, not NaN). */
function expectMaskedRowsZero(out: Float64Array, c: BuiltCase, where: string): void {
  const { batch, qHeads, seqLenQ } = c.spec;
  const valueDim = c.spec.valueDim ?? c.spec.headDim;
  const layout = c.spec.layout ?? 'bhsd';
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < qHeads; h++)
      for (let i = 0; i < seqLenQ; i++) {
        if (!c.fullyMasked[(b * qHeads + h) * seqLenQ + i]) continue;
        for (let d = 0; d < valueDim; d++) {
          const got = out[indexIn(layout, qHeads, seqLenQ, valueDim, b, h, i, d)]!;
          if (got !== 0) expect.fail(`${where}: fully masked row [b=${b}, h=${h}, i=${i}] must be 0, got ${got} at d=${d} (output shape [${c.outShape.join(',')}])`);
        }
      }
}

/** Each weights row sums to 1 (within Lk·rtol) or, fully masked, is all 0. */
function expectRowSums(weights: Float64Array, c: BuiltCase, where: string): void {
  const { seqLenK } = c.spec;
  const rows = weights.length / seqLenK;
  // Each weight is within rtol·p_j of exact, so the sum is within rtol·Σp_j = rtol of 1 (+ the atols).
  const tolerance = c.tolerance.weights.rtol + seqLenK * c.tolerance.weights.atol;
  for (let row = 0; row < rows; row++) {
    let sum = 0;
    for (let j = 0; j < seqLenK; j++) sum += weights[row * seqLenK + j]!;
    const want = c.fullyMasked[row] ? 0 : 1;
    if (c.fullyMasked[row] ? sum !== 0 : !(Math.abs(sum - 1) <= tolerance)) {
      expect.fail(`${where}: weights row ${row} (of shape [${c.weightsShape.join(',')}]) should sum to ${want}, got ${sum}, tolerance ${c.fullyMasked[row] ? 0 : tolerance}`);
    }
  }
}
