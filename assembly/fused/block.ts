// Fused attention for one block of up to 8 query rows of one (batch, head): the
// FlashAttention-2 outer loop over key tiles, with the online softmax, O(tile·headDim)
// extra memory and no seqLenQ x seqLenK buffer.
import {
  paramI32, paramF32, HEAD_DIM, VALUE_DIM, Q_SEQ_STRIDE, K_SEQ_STRIDE, V_SEQ_STRIDE,
  OUT_SEQ_STRIDE, BIAS_QUERY_STRIDE, SCALE, SOFTCAP,
} from '../abi';
import { BLOCK_KEYS, BLOCK_QUERIES, qpOffset, tileOffset, otOffset } from '../scratch';
import { scoreTile } from '../kernels/f32-qk-4x8';
import { valueTile } from '../kernels/f32-pv-4x8';
import { softcapTile, causalTile, biasTile } from '../kernels/f32-mask-tile-8';
import {
  softmaxReset, softmaxTile, STATE_L_A, STATE_ALPHA_A,
} from '../kernels/f32-softmax-online-8';

/**
 * Computes out rows [firstQuery, firstQuery + rows) of one (batch, head).
 * Contract: 1 <= rows <= 8; keys [0, keyEnd) are inside the key length; `offset` is the
 * causal offset clamped to [-(seqLenQ + 1), seqLenK], or seqLenK when not causal (then no
 * key is causally masked). Addresses are bytes; qRow, outRow, biasRow point at row
 * firstQuery; biasRow is 0 without bias.
 */
export function attendBlock(
  params: usize, scratch: usize,
  qRow: usize, kHead: usize, vHead: usize, outRow: usize, biasRow: usize,
  firstQuery: i32, rows: i32, keyEnd: i32, offset: i32,
): void {
  const headDim = paramI32(params, HEAD_DIM);
  const valueDim = paramI32(params, VALUE_DIM);
  const kSeqBytes = <usize>paramI32(params, K_SEQ_STRIDE) << 2;
  const vSeqBytes = <usize>paramI32(params, V_SEQ_STRIDE) << 2;
  const biasQueryBytes = <usize>paramI32(params, BIAS_QUERY_STRIDE) << 2;
  const scale = paramF32(params, SCALE);
  const softcap = paramF32(params, SOFTCAP);
  const state = scratch;
  const qp = scratch + qpOffset();
  const s = scratch + tileOffset(headDim);
  const ot = scratch + otOffset(headDim);

  packQueries(qp, qRow, <usize>paramI32(params, Q_SEQ_STRIDE) << 2, rows, headDim);
  softmaxReset(state);
  memory.fill(ot, 0, <usize>valueDim << 5);

  // Causal skipping: keys past lastQuery + offset are masked for the whole block and are
  // never read (≈ half the work for a square causal plan); keys before firstQuery + offset
  // + 1 are allowed for every query, so only the diagonal tiles pay for the select.
  const blockEnd = min(keyEnd, firstQuery + rows + offset);
  const fullEnd = firstQuery + offset + 1;
  // The tile holds scores in log2 units (score·log2e), so that the softmax takes 2^x, whose
  // range reduction is exact and cheaper than e^x's (inline/exp.ts): log2e is folded into
  // the scale, or into the cap's final multiply with soft-capping, and into the bias.
  const log2e: f32 = 1.4426950408889634;
  const tileScale = softcap > 0 ? scale : scale * log2e;
  for (let j0 = 0; j0 < blockEnd; j0 += BLOCK_KEYS) {
    const keys = min(BLOCK_KEYS, blockEnd - j0);
    scoreTile(s, qp, kHead + <usize>j0 * kSeqBytes, kSeqBytes, keys, headDim, tileScale);
    if (softcap > 0) softcapTile(s, keys, softcap, log2e);
    // Bias before the causal select: -Infinity + (+Infinity bias) must end as -Infinity.
    if (biasRow != 0) biasTile(s, keys, biasRow + (<usize>j0 << 2), biasQueryBytes, rows, log2e);
    if (j0 + keys > fullEnd) causalTile(s, keys, j0, firstQuery, offset);
    softmaxTile(s, keys, state);
    valueTile(
      ot, s, vHead + <usize>j0 * vSeqBytes, vSeqBytes, keys, valueDim,
      state + STATE_ALPHA_A,
    );
  }
  writeOutput(outRow, <usize>paramI32(params, OUT_SEQ_STRIDE) << 2, ot, state, rows, valueDim);
}

/** qp[d][q] = Q[q][d] for q < rows, 0 in the padding lanes. */
function packQueries(qp: usize, qRow: usize, qSeqBytes: usize, rows: i32, headDim: i32): void {
  if (rows < BLOCK_QUERIES) memory.fill(qp, 0, <usize>headDim << 5);
  for (let q = 0; q < rows; q++) {
    const src = qRow + <usize>q * qSeqBytes;
    const dst = qp + (<usize>q << 2);
    for (let d = 0; d < headDim; d++) {
      store<f32>(dst + (<usize>d << 5), load<f32>(src + (<usize>d << 2)));
    }
  }
}

/** out[q][c] = ot[c][q] / l[q], and 0 for a row with no allowed key (l = 0), never NaN. */
function writeOutput(
  outRow: usize, outSeqBytes: usize, ot: usize, state: usize, rows: i32, valueDim: i32,
): void {
  for (let q = 0; q < rows; q++) {
    const l = load<f32>(state + STATE_L_A + (<usize>q << 2));
    const dst = outRow + <usize>q * outSeqBytes;
    const src = ot + (<usize>q << 2);
    for (let c = 0; c < valueDim; c++) {
      const o = load<f32>(src + (<usize>c << 5));
      store<f32>(dst + (<usize>c << 2), select<f32>(0, o / l, l == 0));
    }
  }
}
