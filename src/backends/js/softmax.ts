/**
 * Turns one row of logits into unnormalised softmax terms, in place, following
 * src/plan.ts: softcap, then select-masking with the bias, then a two-pass softmax with
 * max subtraction. Writes the requested weights stage on the way.
 *
 * Two passes over a row buffer (max, then exp) rather than an online softmax: in JS
 * the row is already in a Float64Array, and one exact max is simpler than rescaling.
 * The division by the sum is deferred to the output (one multiply per output element
 * instead of one per key); `probs` weights are normalised as they are written.
 */
import { SCORE_LIMIT, type WeightsStage } from '../../plan.js';

/** min(max(x, −SCORE_LIMIT), SCORE_LIMIT); NaN stays NaN (src/plan.ts). */
function clampScore(x: number): number {
  return x > SCORE_LIMIT ? SCORE_LIMIT : x < -SCORE_LIMIT ? -SCORE_LIMIT : x;
}

/** One query row of one block, as the softmax needs it (one mutable instance, reused row after row). */
export interface SoftmaxRow {
  /**
   * Row buffer; `scores[offset + j]` holds the logit of key j for keyStart <= j < keyLimit, and for
   * every j < seqLenK when the weights stage is 'logits' or 'capped'.
   */
  scores: Float64Array;
  offset: number;
  /** Keys outside [keyStart, keyLimit) are masked by the key-range rule (src/key-range.ts). */
  keyStart: number;
  keyLimit: number;
  seqLenK: number;
  softcap: number;
  /** Additive bias row (contiguous over keys) at `biasOffset`, or null. */
  bias: Float32Array | null;
  biasOffset: number;
  /** Weights row at `weightsOffset`, or null. */
  weights: Float32Array | null;
  weightsOffset: number;
  weightsStage: WeightsStage;
  /** Bit set in `allowedRows[j]` for each key this row may attend. */
  allowedRows: Uint8Array;
  rowBit: number;
  /** ALiBi: −alibiSlope·|position − j| is added to the score of key j (slope 0: none). */
  alibiSlope: number;
  position: number;
  /** Written by softmaxRow: ln Σ exp(biased) over the allowed keys (−Infinity for none). */
  lse: number;
}

/**
 * Replaces the row's scores in [keyStart, keyLimit) by exp(biased − max) (0 where masked) and
 * marks the allowed keys in `allowedRows`.
 *
 * @returns 1 / Σ exp(biased − max), or 0 for a row with no allowed key (its
 *   output and probabilities are then 0, never NaN)
 */
export function softmaxRow(row: SoftmaxRow): number {
  const { scores, offset, keyStart, keyLimit, softcap, bias, weights, weightsStage } = row;
  if (weights && weightsStage === 'logits') writeWeights(row, 0, row.seqLenK);
  if (softcap > 0) {
    // 'capped' weights need the capped value of masked keys too.
    const every = weights && weightsStage === 'capped';
    const capEnd = every ? row.seqLenK : keyLimit;
    for (let j = every ? 0 : keyStart; j < capEnd; j++) scores[offset + j] = softcap * Math.tanh(scores[offset + j]! / softcap);
  }
  if (weights && weightsStage === 'capped') writeWeights(row, 0, row.seqLenK);

  let max = selectAndMax(row);
  if (weights && weightsStage === 'biased') writeBiasedWeights(row);

  if (Number.isNaN(max)) {
    // Allowed keys whose scores are all NaN: the row is NaN (as in the kernels), not "masked".
    max = 0;
  } else if (max === -Infinity) {
    clearAllowed(row);
    if (weights && weightsStage === 'probs') writeProbs(row, 0);
    row.lse = -Infinity;
    return 0;
  }
  let sum = 0;
  for (let j = keyStart; j < keyLimit; j++) {
    // Masked keys hold -Infinity, so exp gives exactly 0: no branch needed.
    const term = Math.exp(scores[offset + j]! - max);
    scores[offset + j] = term;
    sum += term;
  }
  const inverseSum = 1 / sum;
  row.lse = max + Math.log(sum);
  if (weights && weightsStage === 'probs') writeProbs(row, inverseSum);
  return inverseSum;
}

/**
 * Clamps the scores of allowed keys, adds the ALiBi term and the bias and clamps again (src/plan.ts), sets
 * masked keys (bias −Infinity) to −Infinity (a *select*: a NaN or Infinity logit there is
 * discarded, not added to), marks allowed keys, and returns the max over allowed keys (NaN
 * never wins a `>` comparison): −Infinity when no key is allowed, NaN when keys are allowed
 * but every one of their scores is NaN.
 */
function selectAndMax(row: SoftmaxRow): number {
  const { scores, offset, keyStart, keyLimit, bias, biasOffset, allowedRows, rowBit, alibiSlope: slope, position } = row;
  let max = -Infinity;
  let allowed = 0;
  if (!bias) {
    for (let j = keyStart; j < keyLimit; j++) {
      const x = slope === 0 ? clampScore(scores[offset + j]!) : clampScore(clampScore(scores[offset + j]!) - slope * Math.abs(position - j));
      scores[offset + j] = x;
      if (x > max) max = x;
      allowedRows[j] = allowedRows[j]! | rowBit;
    }
    allowed = keyLimit - keyStart;
  } else {
    for (let j = keyStart; j < keyLimit; j++) {
      const b = bias[biasOffset + j]!;
      if (b === -Infinity) {
        scores[offset + j] = -Infinity;
        continue;
      }
      const x = clampScore(clampScore(scores[offset + j]!) - slope * Math.abs(position - j) + b);
      scores[offset + j] = x;
      if (x > max) max = x;
      allowedRows[j] = allowedRows[j]! | rowBit;
      allowed++;
    }
  }
  return max === -Infinity && allowed > 0 ? NaN : max;
}

function clearAllowed(row: SoftmaxRow): void {
  const mask = ~row.rowBit;
  for (let j = row.keyStart; j < row.keyLimit; j++) row.allowedRows[j] = row.allowedRows[j]! & mask;
}

function writeWeights(row: SoftmaxRow, start: number, end: number): void {
  const { scores, offset, weightsOffset } = row;
  const weights = row.weights!;
  for (let j = start; j < end; j++) weights[weightsOffset + j] = scores[offset + j]!;
}

function writeBiasedWeights(row: SoftmaxRow): void {
  writeWeights(row, row.keyStart, row.keyLimit);
  row.weights!.fill(-Infinity, row.weightsOffset, row.weightsOffset + row.keyStart);
  row.weights!.fill(-Infinity, row.weightsOffset + row.keyLimit, row.weightsOffset + row.seqLenK);
}

function writeProbs(row: SoftmaxRow, inverseSum: number): void {
  const { scores, offset, weightsOffset, keyStart, keyLimit } = row;
  const weights = row.weights!;
  if (inverseSum === 0) {
    weights.fill(0, weightsOffset, weightsOffset + row.seqLenK);
    return;
  }
  weights.fill(0, weightsOffset, weightsOffset + keyStart);
  for (let j = keyStart; j < keyLimit; j++) weights[weightsOffset + j] = scores[offset + j]! * inverseSum;
  weights.fill(0, weightsOffset + keyLimit, weightsOffset + row.seqLenK);
}
