/**
 * Public types of the ONNX `Attention` operator entry point (opsets 23 and 24).
 * Everything here is re-exported from `src/onnx/index.ts`.
 */

/** Element types an ONNX `Attention` tensor may have here. */
export type OnnxDtype = 'float32' | 'float16' | 'bool' | 'int64' | 'int32';

/**
 * Typed arrays accepted as ONNX tensor data, by dtype:
 * - `Float32Array`: float32;
 * - `Uint16Array` of IEEE half bits (or `Float16Array`, where the runtime has it): float16;
 * - `Uint8Array` (0 = false, anything else = true): bool (`attn_mask`);
 * - `BigInt64Array`: int64 (`nonpad_kv_seqlen`); `Int32Array` is accepted there too.
 */
export type OnnxTensorData = Float32Array | Uint16Array | Uint8Array | BigInt64Array | Int32Array;

/**
 * A dense, row-major ONNX tensor. `data.length` must equal the product of `shape`.
 * `dtype` is optional: when absent it is read from the kind of `data`; when present it
 * must agree with it.
 */
export interface OnnxTensor {
  /** The elements, row-major; see {@link OnnxTensorData} for the kind each dtype takes. */
  readonly data: OnnxTensorData;
  /** Dimensions, outermost first (ONNX shape); non-negative integers. */
  readonly shape: readonly number[];
  /** Element type; default: inferred from the kind of `data` (set on every output). */
  readonly dtype?: OnnxDtype;
}

/**
 * Attributes of the ONNX `Attention` node (ONNX names). An attribute that is absent takes
 * the operator's default.
 */
export interface OnnxAttributes {
  /** 1 (or true): causal masking, bottom-right aligned (see `runOnnxAttention`). Default 0. */
  readonly is_causal?: 0 | 1 | boolean;
  /** Multiplier of Q·Kᵀ, finite and > 0. Default `1 / sqrt(head_size)`. */
  readonly scale?: number;
  /** Soft-capping `softcap · tanh(x / softcap)` of the scaled logits, before the mask. 0 (default) = off. */
  readonly softcap?: number;
  /** Query heads; required for 3-D inputs, must match Q's head axis for 4-D. Default: Q's head axis (4-D). */
  readonly q_num_heads?: number;
  /** Key/value heads; required for 3-D inputs, must match K's head axis for 4-D. Default: K's head axis (4-D). */
  readonly kv_num_heads?: number;
  /**
   * What the fourth output `qk_matmul_output` holds: 0 = scaled Q·Kᵀ (before softcap),
   * 1 = after softcap, 2 = after softcap and the mask/bias, 3 = after softmax. Default 0.
   * Setting it (to any value) also requests the fourth output.
   */
  readonly qk_matmul_output_mode?: 0 | 1 | 2 | 3;
  /**
   * ONNX `TensorProto.DataType` of the softmax: 1 (FLOAT), 10 (FLOAT16), 11 (DOUBLE) or
   * 16 (BFLOAT16). Accepted and validated; the softmax is always computed in float32.
   * Default: absent (the input type).
   */
  readonly softmax_precision?: number;
}

/** Options of a run that are not ONNX attributes. */
export interface OnnxRunOptions {
  /**
   * Number of outputs the node has, as in an ONNX graph (trailing outputs omitted):
   * `qk_matmul_output` is computed only when 4; `present_key` needs >= 2 and
   * `present_value` >= 3 (and `past_key`/`past_value` given). Default: 4 when
   * `attrs.qk_matmul_output_mode` is set, else 3.
   */
  readonly outputs?: 1 | 2 | 3 | 4;
}

/**
 * `[Y, present_key, present_value, qk_matmul_output]`; an output not produced is null.
 * Every produced tensor carries its `dtype`.
 */
export type OnnxOutputs = readonly [
  Y: OnnxTensor,
  presentKey: OnnxTensor | null,
  presentValue: OnnxTensor | null,
  qkMatmulOutput: OnnxTensor | null,
];
