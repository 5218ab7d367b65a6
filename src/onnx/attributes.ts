/**
 * Boundary checks of the ONNX `Attention` attributes, with the operator's defaults.
 */
import { checkFloat32, checkInteger, rangeError, typeError } from '../errors.js';
import { callOptions, ownOptions } from '../tensor-input.js';
import type { WeightsStage } from '../plan.js';
import type { OnnxRunOptions } from './types.js';

const ATTRIBUTE_NAMES = ['is_causal', 'scale', 'softcap', 'q_num_heads', 'kv_num_heads', 'qk_matmul_output_mode', 'softmax_precision'] as const;

/**
 * `TensorProto.DataType` codes the ONNX function body accepts for `softmax_precision`
 * (FLOAT, FLOAT16, DOUBLE, BFLOAT16). We compute the softmax in f32 for all of them: exact
 * for FLOAT; more precise than asked for FLOAT16/BFLOAT16; for DOUBLE the f32 softmax
 * (relative error ~1e-7 per probability) is far below the rounding of the f32 or f16
 * output it feeds, so the result is the DOUBLE one to the output's precision.
 */
const SOFTMAX_PRECISIONS: Readonly<Record<number, string>> = { 1: 'FLOAT', 10: 'FLOAT16', 11: 'DOUBLE', 16: 'BFLOAT16' };

/**
 * `qk_matmul_output_mode` → the plan stage that `weights` receives.
 *
 * Mode 0 is the scaled Q·Kᵀ *before* softcap, also when `softcap` is set: the opset-24
 * attribute text says "the output of qk matmul" (with mode 1 = "after the softcap
 * operation (before mask addition)"), and the operator's function body in
 * onnx/defs/nn/defs.cc returns `QKAttnWeight`, the pre-softcap product. The Python
 * reference (onnx/reference/ops/op_attention.py) overwrites its product with the capped
 * value and so returns the capped logits for mode 0 too; we follow the spec text and the
 * function body, which keep modes 0 and 1 distinct.
 */
export const STAGE_OF_MODE: readonly WeightsStage[] = ['logits', 'capped', 'biased', 'probs'];

export interface ResolvedAttributes {
  readonly isCausal: boolean;
  /** undefined = default 1/sqrt(head_size), known once the shapes are. */
  readonly scale: number | undefined;
  readonly softcap: number;
  readonly qNumHeads: number | undefined;
  readonly kvNumHeads: number | undefined;
  readonly qkMatmulOutputMode: 0 | 1 | 2 | 3;
  /** Whether `qk_matmul_output` is produced. */
  readonly wantsQk: boolean;
  /** Number of node outputs (1 to 4). */
  readonly outputs: number;
}

function checkIsCausal(value: unknown): boolean {
  if (value === undefined || value === false || value === 0) return false;
  if (value === true || value === 1) return true;
  if (typeof value === 'number') throw rangeError('attrs.is_causal', '0 or 1', `${value}`);
  throw typeError('attrs.is_causal', '0 | 1 | boolean', value);
}

/**
 * Checks `attrs` (every key known, every value of its kind and range) and `options`.
 *
 * @param attrsInput - the caller's `OnnxAttributes` (undefined or null = all defaults)
 * @param optionsInput - the caller's `OnnxRunOptions` (undefined or null = defaults)
 * @returns the attributes with defaults applied (scale stays undefined until the head size is known)
 * @throws TypeError for an unknown attribute or option, or a value of the wrong type.
 * @throws RangeError for a value out of range (e.g. `qk_matmul_output_mode: 4`, `scale: 0`,
 *   `softcap: -1`, `softmax_precision: 7`).
 * @example
 * checkAttributes({ is_causal: 1, qk_matmul_output_mode: 3 }, undefined).wantsQk; // true
 */
export function checkAttributes(attrsInput: unknown, optionsInput: unknown): ResolvedAttributes {
  const attrs = attrsInput ?? {};
  if (typeof attrs !== 'object') throw typeError('attrs', 'an object of ONNX attributes', attrs);
  const a = ownOptions<Record<(typeof ATTRIBUTE_NAMES)[number], unknown>>('attrs', attrs, ATTRIBUTE_NAMES);

  const isCausal = checkIsCausal(a.is_causal);
  const scale = a.scale === undefined ? undefined : checkFloat32('attrs.scale', a.scale, 'positive');
  const softcap = a.softcap === undefined ? 0 : checkFloat32('attrs.softcap', a.softcap, 'non-negative');
  const qNumHeads = a.q_num_heads === undefined ? undefined : checkInteger('attrs.q_num_heads', a.q_num_heads, 1);
  const kvNumHeads = a.kv_num_heads === undefined ? undefined : checkInteger('attrs.kv_num_heads', a.kv_num_heads, 1);
  const mode = a.qk_matmul_output_mode === undefined ? 0 : checkInteger('attrs.qk_matmul_output_mode', a.qk_matmul_output_mode, 0, 3);
  if (a.softmax_precision !== undefined) {
    const precision = checkInteger('attrs.softmax_precision', a.softmax_precision, 0);
    if (!(precision in SOFTMAX_PRECISIONS)) {
      const codes = Object.entries(SOFTMAX_PRECISIONS).map(([code, name]) => `${code} (${name})`);
      throw rangeError('attrs.softmax_precision', `a TensorProto.DataType of ${codes.join(', ')}`, `${precision}`);
    }
  }

  const requested = callOptions<OnnxRunOptions>(optionsInput, ['outputs']).outputs;
  const outputs = requested === undefined ? (a.qk_matmul_output_mode === undefined ? 3 : 4) : checkInteger('options.outputs', requested, 1, 4);

  return {
    isCausal,
    scale,
    softcap,
    qNumHeads,
    kvNumHeads,
    qkMatmulOutputMode: mode as 0 | 1 | 2 | 3,
    wantsQk: outputs === 4,
    outputs,
  };
}
