/**
 * Runs one (batch, query head) of a plan: blocks of ROW_BLOCK query rows, each block
 * scored against the keys it may see, softmaxed row by row, then multiplied by V.
 *
 * Work skipped, per src/plan.ts masking: keys outside a row block's key range (from the
 * first row's start to the last row's end, src/key-range.ts: window, causal, keyLengths)
 * are never scored nor read from V, so a causal plan with seqLenQ = seqLenK does about
 * half the work, and a windowed one the window's. The exception is weights
 * of stage 'logits' or 'capped', which report every key and so need every logit.
 */
import type { AttentionPlan } from '../../plan.js';
import { keyRange } from '../../key-range.js';
import { accumulateValues, type ValueOperands } from './accumulate.js';
import { ROW_BLOCK, type Scratch } from './scratch.js';
import { scoresFourRows, scoresOneRow, type ScoreOperands } from './scores.js';
import { softmaxRow, type SoftmaxRow } from './softmax.js';

/** Per-call operand records, built once per plan and re-pointed block by block. */
export interface HeadOperands {
  readonly scores: ScoreOperands;
  readonly values: ValueOperands;
  readonly row: SoftmaxRow;
}

export function makeHeadOperands(plan: AttentionPlan, scratch: Scratch): HeadOperands {
  return {
    scores: {
      q: plan.q, qRow0: 0, qSeqStride: plan.qStrides.seq,
      k: plan.k, kRow0: 0, kSeqStride: plan.kStrides.seq,
      headDim: plan.headDim, seqLenK: plan.seqLenK, scale: plan.scale,
    },
    values: {
      terms: scratch.scores, seqLenK: plan.seqLenK,
      v: plan.v, vRow0: 0, vSeqStride: plan.vStrides.seq, valueDim: plan.valueDim,
      accumulators: scratch.accumulators, allowedRows: scratch.allowedRows,
    },
    row: {
      scores: scratch.scores, offset: 0, keyStart: 0, keyLimit: 0, seqLenK: plan.seqLenK,
      softcap: plan.softcap, bias: plan.bias, biasOffset: 0,
      weights: plan.weights, weightsOffset: 0, weightsStage: plan.weightsStage,
      allowedRows: scratch.allowedRows, rowBit: 0,
      alibiSlope: 0, position: 0, lse: 0,
    },
  };
}

/** Computes out (and weights) of query head h of batch item b. */
export function runHead(plan: AttentionPlan, scratch: Scratch, operands: HeadOperands, b: number, h: number): void {
  const { seqLenQ, seqLenK, valueDim } = plan;
  const kvHead = Math.floor(h / (plan.qHeads / plan.kvHeads));
  const needsEveryLogit = plan.weights !== null && (plan.weightsStage === 'logits' || plan.weightsStage === 'capped');
  const { scores: scoreOp, values: valueOp, row } = operands;
  scoreOp.kRow0 = b * plan.kStrides.batch + kvHead * plan.kStrides.head;
  valueOp.vRow0 = b * plan.vStrides.batch + kvHead * plan.vStrides.head;
  const qHead0 = b * plan.qStrides.batch + h * plan.qStrides.head;
  const outHead0 = b * plan.outStrides.batch + h * plan.outStrides.head;
  const biasHead0 = b * plan.biasStrides.batch + h * plan.biasStrides.head;
  const weightsHead0 = (b * plan.qHeads + h) * seqLenQ * seqLenK;
  const lseHead0 = (b * plan.qHeads + h) * seqLenQ;
  row.alibiSlope = plan.alibiSlopes ? plan.alibiSlopes[h]! : 0;
  const offset = plan.positionOffsets[b]!;
  const range = { start: 0, end: 0 };

  for (let i0 = 0; i0 < seqLenQ; i0 += ROW_BLOCK) {
    const rows = Math.min(ROW_BLOCK, seqLenQ - i0);
    // Both bounds grow with i: the block's keys run from its first row's start to its last row's end.
    const blockStart = keyRange(plan, b, i0, range).start;
    const blockLimit = keyRange(plan, b, i0 + rows - 1, range).end;
    const computedStart = needsEveryLogit ? 0 : blockStart;
    const computedEnd = needsEveryLogit ? seqLenK : blockLimit;

    scoreOp.qRow0 = qHead0 + i0 * plan.qStrides.seq;
    if (rows === ROW_BLOCK) {
      scoresFourRows(scoreOp, scratch.scores, computedStart, computedEnd);
    } else {
      for (let r = 0; r < rows; r++, scoreOp.qRow0 += plan.qStrides.seq) {
        scoresOneRow(scoreOp, scratch.scores, r * seqLenK, computedStart, computedEnd);
      }
    }

    scratch.allowedRows.fill(0, blockStart, blockLimit);
    for (let r = 0; r < rows; r++) {
      const i = i0 + r;
      row.offset = r * seqLenK;
      keyRange(plan, b, i, range);
      row.keyStart = range.start;
      row.keyLimit = range.end;
      row.biasOffset = biasHead0 + i * plan.biasStrides.query;
      row.weightsOffset = weightsHead0 + i * seqLenK;
      row.rowBit = 1 << r;
      row.position = i + offset;
      scratch.inverseSums[r] = softmaxRow(row);
      if (plan.lse) plan.lse[lseHead0 + i] = row.lse;
    }

    const acc = scratch.accumulators;
    acc.fill(0, 0, rows * valueDim);
    accumulateValues(valueOp, rows, blockStart, blockLimit);
    for (let r = 0; r < rows; r++) {
      const inverseSum = scratch.inverseSums[r]!;
      const out0 = outHead0 + (i0 + r) * plan.outStrides.seq;
      for (let d = 0; d < valueDim; d++) plan.out[out0 + d] = acc[r * valueDim + d]! * inverseSum;
    }
  }
}
