// Entry point: walks batch x query head x query blocks and hands each block to the fused
// kernel (fused/block.ts), or each row to the weights path (weights/row.ts).
import {
  paramI32, BATCH, Q_HEADS, KV_HEADS, SEQ_LEN_Q, SEQ_LEN_K, HEAD_DIM, VALUE_DIM,
  Q_PTR, Q_BATCH_STRIDE, Q_HEAD_STRIDE, Q_SEQ_STRIDE,
  K_PTR, K_BATCH_STRIDE, K_HEAD_STRIDE, V_PTR, V_BATCH_STRIDE, V_HEAD_STRIDE,
  OUT_PTR, OUT_BATCH_STRIDE, OUT_HEAD_STRIDE, OUT_SEQ_STRIDE,
  KEY_LENGTHS_PTR,
  BIAS_PTR, BIAS_BATCH_STRIDE, BIAS_HEAD_STRIDE, BIAS_QUERY_STRIDE,
  WEIGHTS_PTR, SCRATCH_PTR, SCRATCH_BYTES, LSE_PTR, ALIBI_SLOPES_PTR,
} from './abi';
import { OK, ERR_BAD_SHAPE, ERR_SCRATCH_TOO_SMALL, ERR_SCRATCH_MISALIGNED, ERR_BAD_RANGE } from './errors';
import { BLOCK_QUERIES, scratchBytes } from './scratch';
import { attendBlock } from './fused/block';
import { attendRowWithWeights } from './weights/row';
import { positionOffset } from './key-range';

/**
 * Runs the plan in the parameter block at `params` (field table: abi.ts).
 * The host validates plans; only what would trap or corrupt memory is checked here.
 * @param params byte address of the parameter block (PARAM_COUNT 32-bit fields, abi.ts)
 * @returns 0 on success; 1 scratch too small; 2 bad shape; 3 scratch not 16-byte aligned
 */
export function attention(params: usize): i32 {
  // Every unit; with constant 0/1 the unit test below folds away (binaryen inlines
  // attendUnits here), so the single-thread kernel is the one it was before threads.
  return attendUnits(params, 0, 1);
}

/**
 * Runs the share of one thread (src/threads/): the work units u with u % stride == first,
 * where unit u = (b·qHeads + h)·ceil(seqLenQ / 8) + (i / 8) is one 8-query block of one
 * query head (every row of that block on the weights path). Interleaving the blocks keeps
 * causal work balanced between threads. Each unit writes only its own output rows (and
 * weight rows), so threads with the same plan and disjoint scratch never write the same
 * byte, and a unit's result does not depend on the split: threaded output is bit-identical.
 * @param params byte address of the parameter block; its scratch region is this thread's own
 * @param first this thread's index, in [0, stride)
 * @param stride number of threads sharing the plan, >= 1
 * @returns as {@link attention}; 4 for a bad range
 */
export function attentionRange(params: usize, first: i32, stride: i32): i32 {
  if (stride < 1 || first < 0 || first >= stride) return ERR_BAD_RANGE;
  return attendUnits(params, first, stride);
}

// @ts-ignore: decorator
@inline function attendUnits(params: usize, first: i32, stride: i32): i32 {
  const batch = paramI32(params, BATCH);
  const qHeads = paramI32(params, Q_HEADS);
  const kvHeads = paramI32(params, KV_HEADS);
  const seqLenQ = paramI32(params, SEQ_LEN_Q);
  const seqLenK = paramI32(params, SEQ_LEN_K);
  if (
    batch < 0 || qHeads < 0 || kvHeads <= 0 || qHeads % kvHeads != 0 || seqLenQ < 0 || seqLenK < 0
    || paramI32(params, HEAD_DIM) < 0 || paramI32(params, VALUE_DIM) < 0
  ) return ERR_BAD_SHAPE;
  const scratch = <usize>paramI32(params, SCRATCH_PTR);
  if (paramI32(params, SCRATCH_BYTES) < scratchBytes(params)) return ERR_SCRATCH_TOO_SMALL;
  if ((scratch & 15) != 0) return ERR_SCRATCH_MISALIGNED;

  const group = qHeads / kvHeads;
  const keyLengths = <usize>paramI32(params, KEY_LENGTHS_PTR);
  const bias = <usize>paramI32(params, BIAS_PTR);
  const weights = <usize>paramI32(params, WEIGHTS_PTR);
  const lse = <usize>paramI32(params, LSE_PTR); // (m, l) pairs per row, 8 bytes
  const slopes = <usize>paramI32(params, ALIBI_SLOPES_PTR);
  const qSeqBytes = <usize>paramI32(params, Q_SEQ_STRIDE) << 2;
  const outSeqBytes = <usize>paramI32(params, OUT_SEQ_STRIDE) << 2;
  const biasQueryBytes = <usize>paramI32(params, BIAS_QUERY_STRIDE) << 2;
  const weightsRowBytes = <usize>seqLenK << 2;

  const blocksPerHead = (seqLenQ + BLOCK_QUERIES - 1) / BLOCK_QUERIES;
  let unit = 0; // (b·qHeads + h)·blocksPerHead + block: see attentionRange
  for (let b = 0; b < batch; b++) {
    let keyEnd = seqLenK;
    if (keyLengths != 0) keyEnd = min(max(load<i32>(keyLengths + (<usize>b << 2)), 0), seqLenK);
    const offset = positionOffset(params, b); // the key-range rule: key-range.ts
    for (let h = 0; h < qHeads; h++) {
      const alibiSlope: f32 = slopes == 0 ? 0 : load<f32>(slopes + (<usize>h << 2));
      const kvHead = h / group; // GQA/MQA: K/V shared in place, never copied
      const qHead = headAddress(params, Q_PTR, Q_BATCH_STRIDE, Q_HEAD_STRIDE, b, h);
      const kHead = headAddress(params, K_PTR, K_BATCH_STRIDE, K_HEAD_STRIDE, b, kvHead);
      const vHead = headAddress(params, V_PTR, V_BATCH_STRIDE, V_HEAD_STRIDE, b, kvHead);
      const outHead = headAddress(params, OUT_PTR, OUT_BATCH_STRIDE, OUT_HEAD_STRIDE, b, h);
      const biasHead: usize = bias == 0 ? 0
        : headAddress(params, BIAS_PTR, BIAS_BATCH_STRIDE, BIAS_HEAD_STRIDE, b, h);
      const lseHead: usize = lse == 0 ? 0 : lse + ((<usize>(b * qHeads + h) * <usize>seqLenQ) << 3);
      if (weights != 0) {
        const weightsHead = weights + (<usize>(b * qHeads + h) * <usize>seqLenQ) * weightsRowBytes;
        for (let i = 0; i < seqLenQ; i++) {
          if ((unit + i / BLOCK_QUERIES) % stride != first) continue;
          attendRowWithWeights(
            params, scratch,
            qHead + <usize>i * qSeqBytes, kHead, vHead, outHead + <usize>i * outSeqBytes,
            bias == 0 ? <usize>0 : biasHead + <usize>i * biasQueryBytes,
            weightsHead + <usize>i * weightsRowBytes,
            lse == 0 ? <usize>0 : lseHead + (<usize>i << 3),
            i, keyEnd, offset, alibiSlope,
          );
        }
      } else {
        for (let i = 0; i < seqLenQ; i += BLOCK_QUERIES) {
          if ((unit + i / BLOCK_QUERIES) % stride != first) continue;
          attendBlock(
            params, scratch,
            qHead + <usize>i * qSeqBytes, kHead, vHead, outHead + <usize>i * outSeqBytes,
            bias == 0 ? <usize>0 : biasHead + <usize>i * biasQueryBytes,
            lse == 0 ? <usize>0 : lseHead + (<usize>i << 3),
            i, min(BLOCK_QUERIES, seqLenQ - i), keyEnd, offset, alibiSlope,
          );
        }
      }
      unit += blocksPerHead;
    }
  }
  return OK;
}

/** Byte address of [b, head, 0, 0] of a tensor whose pointer/strides are at the given fields. */
// @ts-ignore: decorator
@inline function headAddress(
  params: usize, ptrField: i32, batchStrideField: i32, headStrideField: i32, b: i32, head: i32,
): usize {
  return <usize>paramI32(params, ptrField)
    + (<usize>(b * paramI32(params, batchStrideField) + head * paramI32(params, headStrideField)) << 2);
}
