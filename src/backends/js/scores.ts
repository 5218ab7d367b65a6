/**
 * Q·Kᵀ·scale for one block of query rows, read straight from the plan's strided Q and K
 * (no copies), written to the float64 `scores` scratch as `[row, key]` with row stride
 * `seqLenK`.
 *
 * Arithmetic is float64: JS numbers are doubles, a Float32Array load widens exactly, and
 * rounding every step to f32 would need a `Math.fround` per operation (slower). So a
 * logit here is Σ q·k summed in double, far more accurate than the f32 inputs. One f32
 * behaviour is kept, because it changes results rather than rounding them: a dot product
 * past the float32 range is ±Infinity before the scale (src/plan.ts), as in the kernels.
 */
import { FLOAT32_OVERFLOW } from '../../plan.js';

/** `dot`, or ±Infinity when it overflows float32 (NaN stays NaN). */
function f32Range(dot: number): number {
  return dot < FLOAT32_OVERFLOW && dot > -FLOAT32_OVERFLOW ? dot : dot * Infinity;
}

/** Where one block's query rows and one kv head's key rows are. */
export interface ScoreOperands {
  q: Float32Array;
  /** Element offset of query row 0 of the block; row r starts at `qRow0 + r·qSeqStride`. */
  qRow0: number;
  qSeqStride: number;
  k: Float32Array;
  /** Element offset of key 0 of the kv head. */
  kRow0: number;
  kSeqStride: number;
  headDim: number;
  seqLenK: number;
  scale: number;
}

/**
 * f64-qk-4x2: four query rows against keys [keyStart, keyEnd), two keys at a time.
 *
 * Each step of the inner loop loads 4 q + 2 k values for 8 multiply-adds into 8
 * independent accumulators (which also hides the add latency); one query row at a
 * time would load 2 values per multiply-add. 4×2 keeps 8 accumulators + 6 operands
 * within the 16 x64 float registers; 4×4 would spill.
 */
export function scoresFourRows(op: ScoreOperands, scores: Float64Array, keyStart: number, keyEnd: number): void {
  const { q, k, headDim, seqLenK, scale, kSeqStride } = op;
  const q0 = op.qRow0;
  const q1 = q0 + op.qSeqStride;
  const q2 = q1 + op.qSeqStride;
  const q3 = q2 + op.qSeqStride;
  let j = keyStart;
  for (; j + 1 < keyEnd; j += 2) {
    const k0 = op.kRow0 + j * kSeqStride;
    const k1 = k0 + kSeqStride;
    let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
    for (let d = 0; d < headDim; d++) {
      const ka = k[k0 + d]!;
      const kb = k[k1 + d]!;
      const qa = q[q0 + d]!;
      const qb = q[q1 + d]!;
      const qc = q[q2 + d]!;
      const qd = q[q3 + d]!;
      s00 += qa * ka; s01 += qa * kb;
      s10 += qb * ka; s11 += qb * kb;
      s20 += qc * ka; s21 += qc * kb;
      s30 += qd * ka; s31 += qd * kb;
    }
    scores[j] = scale * f32Range(s00); scores[j + 1] = scale * f32Range(s01);
    scores[seqLenK + j] = scale * f32Range(s10); scores[seqLenK + j + 1] = scale * f32Range(s11);
    scores[2 * seqLenK + j] = scale * f32Range(s20); scores[2 * seqLenK + j + 1] = scale * f32Range(s21);
    scores[3 * seqLenK + j] = scale * f32Range(s30); scores[3 * seqLenK + j + 1] = scale * f32Range(s31);
  }
  // leftovers: an odd last key
  if (j < keyEnd) {
    const k0 = op.kRow0 + j * kSeqStride;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let d = 0; d < headDim; d++) {
      const ka = k[k0 + d]!;
      s0 += q[q0 + d]! * ka;
      s1 += q[q1 + d]! * ka;
      s2 += q[q2 + d]! * ka;
      s3 += q[q3 + d]! * ka;
    }
    scores[j] = scale * f32Range(s0);
    scores[seqLenK + j] = scale * f32Range(s1);
    scores[2 * seqLenK + j] = scale * f32Range(s2);
    scores[3 * seqLenK + j] = scale * f32Range(s3);
  }
}

/**
 * f64-qk-1x1: one query row (`op.qRow0`) against keys [keyStart, keyEnd), into `scores` from
 * `scoresOffset`. Used for the last `seqLenQ mod 4` rows; four accumulators break the
 * add dependency chain.
 */
export function scoresOneRow(op: ScoreOperands, scores: Float64Array, scoresOffset: number, keyStart: number, keyEnd: number): void {
  const { q, k, headDim, scale, kSeqStride } = op;
  const q0 = op.qRow0;
  const unrolledEnd = headDim & ~3;
  for (let j = keyStart; j < keyEnd; j++) {
    const k0 = op.kRow0 + j * kSeqStride;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    let d = 0;
    for (; d < unrolledEnd; d += 4) {
      s0 += q[q0 + d]! * k[k0 + d]!;
      s1 += q[q0 + d + 1]! * k[k0 + d + 1]!;
      s2 += q[q0 + d + 2]! * k[k0 + d + 2]!;
      s3 += q[q0 + d + 3]! * k[k0 + d + 3]!;
    }
    for (; d < headDim; d++) s0 += q[q0 + d]! * k[k0 + d]!; // leftovers
    scores[scoresOffset + j] = scale * f32Range(s0 + s1 + (s2 + s3));
  }
}
