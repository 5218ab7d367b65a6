/**
 * Options of rotary position embeddings (RoPE), shared by `attention`, `decode`,
 * `createKVCache` and `rotaryEmbedding`.
 */

/** How the angles are made and which dims rotate (ONNX `RotaryEmbedding` semantics). */
export interface RotaryRotationOptions {
  /** Frequency base: θ_i = position · base^(−2i/dim). Default 10000. Not with `cos`/`sin`. */
  readonly base?: number;
  /** Precomputed cos(θ) table, Float32Array `[maxPos, dim/2]` (row = position); with `sin`. */
  readonly cos?: Float32Array;
  /** Precomputed sin(θ) table, Float32Array `[maxPos, dim/2]`; with `cos`. */
  readonly sin?: Float32Array;
  /** Rotated dims (partial rotary, e.g. GPT-NeoX 25%): even, at most the head dim (default). The rest pass through. */
  readonly dim?: number;
  /** true: rotate pairs (x0, x1), (x2, x3)… (GPT-J); false (default): (x_i, x_{i+dim/2}) (GPT-NeoX, Llama "rotate half"). */
  readonly interleaved?: boolean;
  /** Linear position interpolation: θ uses position / factor. Only with `base`. */
  readonly scaling?: RotaryScaling;
}

/** Scaling of rotary positions (context extension). */
export interface RotaryScaling {
  /** `'linear'`: position interpolation (Chen et al. 2023), θ = (position / factor)·freq. */
  readonly type: 'linear';
  /** Divides every position; finite and > 0 (e.g. 4 runs a 2k-trained model at 8k). */
  readonly factor: number;
}

/**
 * The `rotary` option of `attention`/`attentionAsync`: q and k are rotated by their
 * positions before the scores (into scratch: the caller's arrays are never written).
 */
export interface RotaryOptions extends RotaryRotationOptions {
  /**
   * An integer offset (query i at i + offset), or an Int32Array `[batch, seqLenQ]`. Default:
   * `i + (seqLenK − seqLenQ)` (or `keyLengths[b] − seqLenQ`), bottom-right like `causal`;
   * `i` with `causal: 'top-left'`.
   */
  readonly queryPositions?: number | Int32Array;
  /** An integer offset (key j at j + offset), or an Int32Array `[batch, seqLenK]`. Default: j. */
  readonly keyPositions?: number | Int32Array;
}

/** The `rotary` option of `decode`: the rotation is the cache's; only the query positions may be given. */
export interface DecodeRotaryOptions {
  /** As {@link RotaryOptions.queryPositions}; default: the last `seqLenQ` positions of each sequence. */
  readonly queryPositions?: number | Int32Array;
}

/** Options of `rotaryEmbedding`. */
export interface RotaryEmbeddingOptions extends RotaryRotationOptions {
  /** An integer offset (row s at s + offset) or an Int32Array `[batch, seq]`. Default: s. */
  readonly positions?: number | Int32Array;
  /** Layout of a 4-D `x`: `'bhsd'` (default) or `'bshd'`. */
  readonly layout?: 'bhsd' | 'bshd';
  /** Heads of a packed 3-D `x` `[batch, seq, heads·dim]`. */
  readonly numHeads?: number;
}
