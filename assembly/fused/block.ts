// Fused attention for one block of up to 8 query rows of one (batch, head): the
// FlashAttention-2 outer loop over key tiles, with the online softmax, O(tile·headDim)
// extra memory and no seqLenQ x seqLenK buffer.
import {
  paramI32, paramF32, HEAD_DIM, VALUE_DIM, Q_SEQ_STRIDE, K_SEQ_STRIDE, V_SEQ_STRIDE,
  OUT_SEQ_STRIDE, BIAS_QUERY_STRIDE, SCALE, SOFTCAP,
} from '../abi';
import { BLOCK_KEYS, BLOCK_QUERIES, qpOffset, tileOffset, otOffset } from '../scratch';
import { scoreTile } from '../kernels/f32-qk-4x8';
import { valueTile, valueTileMasked, valuesFinite } from '../kernels/f32-pv-4x8';
import { softcapTile, unitTile, rangeTile, biasTile, alibiTile } from '../kernels/f32-mask-tile-8';
import { windowLeft, windowRight, keyRangeEnd, keyRangeStart } from '../key-range';
import { cst, C_ZERO, C_INF, C_SCORE_MAX, C_SCORE_MAX_LOG2 } from '../inline/consts';
import {
  softmaxReset, softmaxTile, STATE_M_A, STATE_L_A, STATE_ALPHA_A,
} from '../kernels/f32-softmax-online-8';

/**
 * Computes out rows [firstQuery, firstQuery + rows) of one (batch, head).
 * Contract: 1 <= rows <= 8; keys [0, keyEnd) are inside the key length; `offset` is the
 * batch item's position offset (key-range.ts; any i32). Addresses are bytes; qRow, outRow,
 * biasRow, lseRow point at row firstQuery; biasRow is 0 without bias, lseRow 0 without
 * log-sum-exp (else (m, l) pairs). alibiSlope is the head's ALiBi slope (0: none).
 */
export function attendBlock(
  params: usize, scratch: usize,
  qRow: usize, kHead: usize, vHead: usize, outRow: usize, biasRow: usize, lseRow: usize,
  firstQuery: i32, rows: i32, keyEnd: i32, offset: i32, alibiSlope: f32,
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

  // Key-range skipping (key-range.ts): keys outside [start of the first row, end of the
  // last row) are masked for the whole block and never read (≈ half the work for a square
  // causal plan; all but the window's for a sliding window); keys in [start of the last
  // row, end of the first row) are allowed for every row, so only the tiles that cross a
  // row's range boundary (the causal diagonal, the window's far edge) pay for the select.
  const left = windowLeft(params);
  const right = windowRight(params);
  const lastQuery = firstQuery + rows - 1;
  const blockEnd = keyRangeEnd(lastQuery, offset, right, keyEnd);
  const fullEnd = keyRangeEnd(firstQuery, offset, right, keyEnd);
  const blockStart = keyRangeStart(firstQuery, offset, left, fullEnd);
  const fullStart = keyRangeStart(lastQuery, offset, left, blockEnd);
  // The tile holds scores in log2 units (score·log2e), so that the softmax takes 2^x, whose
  // range reduction is exact and cheaper than e^x's (inline/exp.ts): log2e is folded into
  // the scale, or into the cap's final multiply with soft-capping, and into the bias.
  // The score clamp of src/plan.ts happens where the score is final before the bias: in the
  // score tile without softcap (bound in log2 units), after the cap with it (scoreTile's
  // clamp is then off: C_INF). A scale whose product with log2e overflows f32 (|scale| >
  // 2.36e38, accepted by the host) is applied alone, clamped at ±2^127, then converted.
  const log2e: f32 = 1.4426950408889634;
  let tileScale = softcap > 0 ? scale : scale * log2e;
  let limitAt = softcap > 0 ? C_INF : C_SCORE_MAX_LOG2;
  const scaleOverflows = tileScale == Infinity || tileScale == -Infinity;
  if (scaleOverflows) {
    tileScale = scale;
    limitAt = C_SCORE_MAX;
  }
  const extras = softcap > 0 || scaleOverflows || alibiSlope != 0 || biasRow != 0;
  for (let j0 = blockStart; j0 < blockEnd; j0 += BLOCK_KEYS) {
    const keys = min(BLOCK_KEYS, blockEnd - j0);
    scoreTile(s, qp, kHead + <usize>j0 * kSeqBytes, kSeqBytes, keys, headDim, tileScale, limitAt);
    const biasTileRow: usize = biasRow == 0 ? 0 : biasRow + (<usize>j0 << 2);
    const masked = extras && scoreExtras(
      s, keys, j0, firstQuery, offset, rows, softcap, scaleOverflows, alibiSlope, biasTileRow, biasQueryBytes,
    );
    const diagonal = j0 < fullStart || j0 + keys > fullEnd;
    if (diagonal) rangeTile(s, keys, j0, firstQuery, offset, left, right, keyEnd);
    softmaxTile(s, keys, state);
    // A masked lane has p = 0, and 0 · NaN = NaN: a tile with a masked (query, key) whose
    // value rows are not all finite takes the path that skips masked lanes. Dense tiles
    // (no -Infinity bias, off the range boundaries) never check: they pay nothing. On the
    // causal diagonal only keys >= fullEnd (at most 7) have a masked lane: only their
    // rows are checked: checking all 64 was 1–8% slower on H8 N1024 causal, relaxed (CPU
    // time, best and mean medians of 4 fresh processes under load 11–13: noisy). A tile
    // that crosses a window's far edge (j0 < fullStart) checks all its rows.
    const vTile = vHead + <usize>j0 * vSeqBytes;
    const firstChecked = masked || j0 < fullStart ? 0 : max(fullEnd - j0, 0);
    if (
      (masked || diagonal)
      && !valuesFinite(vTile + <usize>firstChecked * vSeqBytes, vSeqBytes, keys - firstChecked, valueDim)
    ) {
      valueTileMasked(
        ot, s, vTile, vSeqBytes, keys, valueDim, state + STATE_ALPHA_A,
        j0, firstQuery, offset, left, right, keyEnd, diagonal, biasTileRow, biasQueryBytes, rows,
      );
    } else {
      valueTile(ot, s, vTile, vSeqBytes, keys, valueDim, state + STATE_ALPHA_A);
    }
  }
  writeOutput(outRow, <usize>paramI32(params, OUT_SEQ_STRIDE) << 2, ot, state, rows, valueDim);
  if (lseRow != 0) writeStates(lseRow, state, rows);
}

/**
 * The score tile's optional steps, in src/plan.ts's order: the soft cap (or the log2
 * conversion of a scale whose product with log2e overflows), ALiBi, the bias. Returns
 * whether the bias masked a position of the first `rows` queries. A function of its own,
 * not inlined into attendBlock (binaryen inlines a one-caller function only below 200
 * nodes at -O3; this one is larger): attendBlock's body shrank 2071 → 1192 bytes (simd
 * build), and V8 recompiles that hot body with TurboFan during the first call, so start-up
 * pays for fewer bytes (issue #15; figures in scripts/runtimes/startup.mjs's comment).
 * Plain attention never calls it: one well-predicted branch per tile.
 */
function scoreExtras(
  s: usize, keys: i32, j0: i32, firstQuery: i32, offset: i32, rows: i32,
  softcap: f32, scaleOverflows: bool, alibiSlope: f32, biasTileRow: usize, biasQueryBytes: usize,
): bool {
  const log2e: f32 = 1.4426950408889634;
  if (softcap > 0) softcapTile(s, keys, softcap, log2e);
  else if (scaleOverflows) unitTile(s, keys, log2e);
  // ALiBi after the cap, before the mask (src/plan.ts), in log2 units: |slope·log2e| <= 2^64.5.
  if (alibiSlope != 0) alibiTile(s, keys, j0, firstQuery, offset, -alibiSlope * log2e);
  // Bias before the range select: -Infinity + (+Infinity bias) must end as -Infinity.
  return biasTileRow != 0 && biasTile(s, keys, biasTileRow, biasQueryBytes, rows, log2e);
}

/**
 * Each row's softmax state for the log-sum-exp: (m·ln2, l), m converted from log2 units here,
 * once (the host takes lse = m + ln(l), src/backends/wasm/memory-plan.ts).
 */
function writeStates(lseRow: usize, state: usize, rows: i32): void {
  const ln2: f32 = 0.6931471805599453;
  for (let q = 0; q < rows; q++) {
    const at = lseRow + (<usize>q << 3);
    store<f32>(at, load<f32>(state + STATE_M_A + (<usize>q << 2)) * ln2);
    store<f32>(at, load<f32>(state + STATE_L_A + (<usize>q << 2)), 4);
  }
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

/**
 * out[q][c] = ot[c][q] / l[q], and 0 for a row with no allowed key (l = 0), never NaN.
 * Vectorized by 4x4 transposes of ot, for the queries of each full half of the block and
 * the columns up to the last multiple of 4 (the division stays a division: same result as
 * the scalar one, lane by lane). Measured (H8 N1024 D64, best median of 5 processes, CPU
 * time): 54.4 → 53.2 ms simd, 43.0 → 42.8 ms relaxed, vs one scalar
 * division per element.
 */
function writeOutput(
  outRow: usize, outSeqBytes: usize, ot: usize, state: usize, rows: i32, valueDim: i32,
): void {
  const vecCols = valueDim & ~3;
  const vecRows = rows & ~3;
  for (let q0 = 0; q0 < vecRows; q0 += 4) {
    const l = v128.load(state + STATE_L_A + (<usize>q0 << 2));
    const zero = f32x4.eq(l, cst(C_ZERO));
    const l0 = v128.shuffle<f32>(l, l, 0, 0, 0, 0), z0 = v128.shuffle<f32>(zero, zero, 0, 0, 0, 0);
    const l1 = v128.shuffle<f32>(l, l, 1, 1, 1, 1), z1 = v128.shuffle<f32>(zero, zero, 1, 1, 1, 1);
    const l2 = v128.shuffle<f32>(l, l, 2, 2, 2, 2), z2 = v128.shuffle<f32>(zero, zero, 2, 2, 2, 2);
    const l3 = v128.shuffle<f32>(l, l, 3, 3, 3, 3), z3 = v128.shuffle<f32>(zero, zero, 3, 3, 3, 3);
    const d0 = outRow + <usize>q0 * outSeqBytes;
    const d1 = d0 + outSeqBytes;
    const d2 = d1 + outSeqBytes;
    const d3 = d2 + outSeqBytes;
    const src = ot + (<usize>q0 << 2);
    for (let c = 0; c < vecCols; c += 4) {
      const p = src + (<usize>c << 5);
      const a0 = v128.load(p), a1 = v128.load(p, 32), a2 = v128.load(p, 64), a3 = v128.load(p, 96);
      const t0 = v128.shuffle<f32>(a0, a1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(a0, a1, 2, 6, 3, 7);
      const t2 = v128.shuffle<f32>(a2, a3, 0, 4, 1, 5);
      const t3 = v128.shuffle<f32>(a2, a3, 2, 6, 3, 7);
      const o = <usize>c << 2;
      v128.store(d0 + o, v128.andnot(f32x4.div(v128.shuffle<f32>(t0, t2, 0, 1, 4, 5), l0), z0));
      v128.store(d1 + o, v128.andnot(f32x4.div(v128.shuffle<f32>(t0, t2, 2, 3, 6, 7), l1), z1));
      v128.store(d2 + o, v128.andnot(f32x4.div(v128.shuffle<f32>(t1, t3, 0, 1, 4, 5), l2), z2));
      v128.store(d3 + o, v128.andnot(f32x4.div(v128.shuffle<f32>(t1, t3, 2, 3, 6, 7), l3), z3));
    }
  }
  // leftovers: the columns past vecCols of the rows above, and every column of the rest
  for (let q = 0; q < rows; q++) {
    const l = load<f32>(state + STATE_L_A + (<usize>q << 2));
    const dst = outRow + <usize>q * outSeqBytes;
    const src = ot + (<usize>q << 2);
    for (let c = q < vecRows ? vecCols : 0; c < valueDim; c++) {
      const o = load<f32>(src + (<usize>c << 5));
      store<f32>(dst + (<usize>c << 2), select<f32>(0, o / l, l == 0));
    }
  }
}
