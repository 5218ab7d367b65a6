/**
 * The internal contract between the public API and the backends.
 *
 * The public entry points (`attention`, `onnxAttention`) validate user input, resolve
 * layouts, masks, causal alignment and dtypes, and reduce every call to one
 * `AttentionPlan`. A backend (`js`, `wasm-simd`, ...) only executes plans: it trusts
 * them completely (no validation below this line), the way XNNPACK microkernels trust
 * their callers.
 *
 * Semantics of one plan, for batch b, query head h, query row i, key j:
 *
 *   q, k     = rotated by plan.rotary first, when present (RoPE, src/positions/rotate.ts)
 *   kvHead   = floor(h / (qHeads / kvHeads))                       (GQA / MQA)
 *   dot      = f32(Σ_d q[b,h,i,d] · k[b,kvHead,j,d])   ±Infinity past the float32 range
 *   logit    = scale · dot                                         (stage 'logits')
 *   capped   = softcap > 0 ? softcap · tanh(logit / softcap) : logit (stage 'capped')
 *   allowed  = start(b, i) <= j < end(b, i)      (the key-range rule, src/key-range.ts:
 *                                                  window, causal, keyLengths)
 *           && (!bias || bias[b,h,i,j] !== -Infinity)
 *   alibi    = alibiSlopes ? −alibiSlopes[h] · |i + positionOffsets[b] − j| : 0   (src/alibi.ts)
 *   biased   = allowed ? clamp(clamp(capped) + alibi + (bias ? bias[b,h,i,j] : 0)) : -Infinity
 *                                                                   (stage 'biased')
 *   p        = softmax_j(biased); a row with no allowed key gives p = 0 (never NaN)
 *   out[b,h,i,:] = Σ_j p · v[b,kvHead,j,:]
 *   lse[b,h,i]   = ln Σ_j exp(biased_j) over the allowed keys = m + ln(l) of the softmax
 *                  (natural log); -Infinity for a row with no allowed key
 *
 * clamp(x) = min(max(x, -SCORE_LIMIT), SCORE_LIMIT), NaN stays NaN: an allowed score is
 * finite, so an overflowing logit (or a +Infinity bias) acts as the largest finite score
 * (keys that tie share the weight) instead of making `s − max` = Inf − Inf = NaN. The bound
 * is 2^127, not FLT_MAX, because the fused kernel keeps scores in log2 units (s·log2e must
 * stay finite in f32). A NaN anywhere in an allowed score makes the row NaN on every backend.
 *
 * Masked positions are *selected* away, never added to: a NaN or ±Infinity logit at a
 * masked position cannot leak into the row (the ONNX reference does the same,
 * "select-not-multiply"). Rows of K and V at keys excluded by `causal` or `keyLengths` are
 * never read, so a preallocated cache may hold anything there (nor, in the kernels, are keys
 * outside a window: tiles and chunks outside every row's range are never visited). A masked key never
 * contributes to the output, however it is masked: a NaN/Infinity in its V row must not
 * reach the row (0 · NaN would; the kernels skip masked lanes in any tile that holds a
 * masked key and a non-finite value, test/adversarial/numerics.test.ts). An *allowed* key
 * contributes p · v even when p underflows to 0, as the float64 reference does.
 *
 * Tensors are viewed as 4-D [batch, head, seq, dim] with element strides; the last
 * (dim) stride is always 1. This one description covers the `bhsd`, `bshd` and packed
 * 3-D layouts without copying or transposing anything.
 */
import type { TensorStorage } from './cache/engine.js';
import type { KeyWindow } from './key-range.js';
import type { Angles } from './positions/rotate.js';

/**
 * The one rule for an `out` that shares memory with an input (`{ out: k.data }`, a partial
 * overlap of one ArrayBuffer, the same PinnedTensor as q and out, a view of WASM memory):
 * every backend writes `out` while it still reads q, k and v (the JS backend row by row; the
 * WASM backends read PinnedTensors in place), so such a call is computed into a workspace
 * array that the boundary copies into the caller's `out` once the backend ran. Decided here,
 * at the boundary, for every backend; a plan's `out` never overlaps its inputs.
 * (Issue #10: the JS backend was wrong by 0.1–0.3 with `{ out: k.data }`.)
 * @returns true when `out` shares at least one byte with one of `inputs`
 */
export function outOverlapsInputs(out: ArrayBufferView, inputs: readonly (ArrayBufferView | null | undefined)[]): boolean {
  return inputs.some(
    (input) => input?.buffer === out.buffer && out.byteOffset < input.byteOffset + input.byteLength && input.byteOffset < out.byteOffset + out.byteLength,
  );
}

/** Element strides of a `[batch, head, seq, dim]` view whose `dim` stride is 1. */
export interface HeadStrides {
  readonly batch: number;
  readonly head: number;
  readonly seq: number;
}

/** Element strides of the additive bias, viewed as `[batch, qHead, query, key]`; key stride is 1. */
export interface BiasStrides {
  readonly batch: number;
  readonly head: number;
  readonly query: number;
}

/**
 * What `weights` receives, by the stage of the pipeline above. `probs` is what
 * `returnWeights` gives; the others serve ONNX `qk_matmul_output_mode`.
 */
export type WeightsStage = 'logits' | 'capped' | 'biased' | 'probs';

/** Numeric codes of {@link WeightsStage}, shared with the WASM ABI. */
export const WEIGHTS_STAGE_CODE: Readonly<Record<WeightsStage, number>> = {
  logits: 0,
  capped: 1,
  biased: 2,
  probs: 3,
};

/** The sizes of one call: batch, query/KV heads, query/key lengths, key and value head dims. */
export interface AttentionDims {
  readonly batch: number;
  readonly qHeads: number;
  readonly kvHeads: number;
  readonly seqLenQ: number;
  readonly seqLenK: number;
  readonly headDim: number;
  readonly valueDim: number;
}

export interface AttentionPlan extends AttentionDims {
  readonly q: Float32Array;
  readonly qStrides: HeadStrides;
  readonly k: Float32Array;
  readonly kStrides: HeadStrides;
  readonly v: Float32Array;
  readonly vStrides: HeadStrides;
  /** Written by the backend; `[batch, qHeads, seqLenQ, valueDim]` through `outStrides`. */
  readonly out: Float32Array;
  readonly outStrides: HeadStrides;

  readonly scale: number;
  /** 0 disables soft-capping. */
  readonly softcap: number;
  /**
   * Length `batch`, always filled: query i of item b sits at key position
   * i + positionOffsets[b] (0 for causal 'top-left', else keyLength_b − seqLenQ).
   */
  readonly positionOffsets: Int32Array;
  /** Keys around the query's position (Infinity = unbounded); causal is right = min(right, 0). */
  readonly window: KeyWindow;
  /** Length `batch`, or null: keys j >= keyLengths[b] are masked. Values are in [0, seqLenK]. */
  readonly keyLengths: Int32Array | null;
  /** Additive bias (or null); `-Infinity` masks a position. Rows are contiguous over keys. */
  readonly bias: Float32Array | null;
  readonly biasStrides: BiasStrides;

  /** Contiguous `[batch, qHeads, seqLenQ, seqLenK]`, written when not null. */
  readonly weights: Float32Array | null;
  /** ALiBi slopes, one per query head (|slope| <= 2^64, src/alibi.ts), or null/absent: none. */
  readonly alibiSlopes?: Float32Array | null;
  /** Contiguous `[batch, qHeads, seqLenQ]` log-sum-exp of each row, written when present. */
  readonly lse?: Float32Array | null;
  readonly weightsStage: WeightsStage;

  /**
   * Tensors given as PinnedTensors (`createTensor`): their storage. `q`/`k`/`v`/`out` above
   * are then views of it taken when the plan was made; a backend whose memory holds the
   * storage reads and writes it in place (no copy), any other re-reads `view()` (memory
   * growth detaches earlier views).
   */
  readonly pinned?: PinnedBuffers;

  /**
   * Rotary embeddings to apply to q and k before the scores (null: none). q and k above are
   * then the unrotated inputs, never used in place (a backend rotates its own copy).
   */
  readonly rotary?: PlanRotary | null;
}

/**
 * RoPE of a plan: which dims rotate and the angles of every row, `[batch·seqLenQ, dim/2]`
 * for q and `[batch·seqLenK, dim/2]` for k (row b·L + s), in float64.
 */
export interface PlanRotary {
  readonly dim: number;
  readonly interleaved: boolean;
  readonly q: Angles;
  readonly k: Angles;
}

export interface PinnedBuffers {
  readonly q?: TensorStorage;
  readonly k?: TensorStorage;
  readonly v?: TensorStorage;
  readonly out?: TensorStorage;
}

/**
 * The bound of the score clamp above, 2^127 ≈ 1.7e38: the largest power of two whose
 * product with log2(e) is finite in float32 (the fused kernel's scores are in log2 units).
 */
export const SCORE_LIMIT = 2 ** 127;

/**
 * The smallest float64 that rounds to +Infinity in float32, FLT_MAX + half an ulp
 * (2^128 − 2^103): a float64 dot product at or past it overflows in the f32 kernels.
 */
export const FLOAT32_OVERFLOW = 2 ** 128 - 2 ** 103;

/** Which implementation runs a plan. */
export type BackendName = 'wasm-relaxed-simd' | 'wasm-simd' | 'js';

export interface Backend {
  readonly name: BackendName;
  /** Executes a plan, writing `plan.out` (and `plan.weights` when present). */
  run(plan: AttentionPlan): void;
}
