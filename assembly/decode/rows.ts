// Decode for one row block: up to ROWS query rows (the group's query heads × queries) that
// share one KV head, in one pass over that head's cache: chunks of CHUNK_KEYS keys, each
// scored for every row, soft-maxed online per row, and accumulated into the rows' outputs.
// Each K and V row is read from memory once per block, whatever the GQA group size.
// attendRowsPartial runs the same pass over one range of the block's keys and leaves the
// rows' softmax states instead of outputs (flash-decoding: decode/partials.ts, merged by src/threads/decode.ts).
//
// K/V modes (`kvDtype`): 0 float32, read in place; 2 float16 with Inf/NaN somewhere in the
// cache: each chunk converted exactly into an f32 tile (cache/f16.ts, halfTileToF32), then
// the float32 kernels; 1 float16 without Inf/NaN (the host tracks it): the 5-operation
// conversion of cache/f16.ts, whose 2^-112 is folded into q (scores) and p (values) and
// whose de-interleaved lanes are matched by packing q, and reading o, in that order. With
// at most INLINE_ROWS rows the f16 kernels convert in registers (decode proper: each row
// converts again); with more, each chunk is converted once into a tile for all rows.
// 3 int8 (cache/i8.ts), in the int8 builds (INT8_DOT): integer dot products, no element
// converted: the block's query rows quantised once to i16 (i8-qk-dot-1x4), the chunk's
// p·(value row scale) per row to i16 (i8-pv-dot-2x16). In the default builds: each chunk
// converted into an f32 tile of the unscaled int8 values, the row scales folded into the
// scores (K) and into p (V) once per key.
import {
  paramI32, paramF32, HEAD_DIM, VALUE_DIM, SEQ_LEN_Q, SEQ_LEN_K, Q_PTR, Q_BATCH_STRIDE,
  Q_HEAD_STRIDE, Q_SEQ_STRIDE, K_SEQ_STRIDE, V_SEQ_STRIDE, OUT_PTR, OUT_BATCH_STRIDE,
  OUT_HEAD_STRIDE, OUT_SEQ_STRIDE, SCALE, SOFTCAP, BIAS_PTR, BIAS_BATCH_STRIDE,
  BIAS_HEAD_STRIDE, BIAS_QUERY_STRIDE, WEIGHTS_PTR, Q_HEADS, KV_HEADS, LSE_PTR, ALIBI_SLOPES_PTR,
} from '../abi';
import { expNonPositive } from '../inline/exp';
import {
  CHUNK_KEYS, STATE_M, STATE_L, STATE_ALPHA, STATE_LIMIT, STATE_START, STATE_SINK, padDimOf, elementShiftOf, qpOffset,
  sOffset, oOffset, tileOffset, scalesOffset, rowExtraBytes,
} from './scratch';
import { scoreRows } from './f32-qk-dot-1x4';
import { valueRows, valueRowsMasked, rowsFinite } from './f32-pv-axpy-2x4';
import { softmaxRow } from './softmax-row';
import { scoreRowsHalf } from './f16-qk-dot-1x4';
import { valueRowsHalf } from './f16-pv-axpy-4x8';
import { halfTileToF32, halfTileToF32Scaled } from '../cache/f16';
import { quantizeQueries, scoreRowsInt8 } from './i8-qk-dot-1x4';
import { valueRowsInt8 } from './i8-pv-dot-2x16';
import { int8TileToF32, foldScales } from '../cache/i8';
import { storePartials } from './partials';
import { windowLeft, windowRight, keyRangeEnd, keyRangeStart } from '../key-range';

/**
 * Rows up to which float16 chunks are converted in registers rather than into a tile.
 * Measured (H32, 2048 tokens, D128, ms per step): 2 rows (GQA 32/16) 2.06 in registers vs
 * 2.33 through the tile; 4 rows (GQA 32/8) 1.99 vs 1.87. A lone row (MHA) through the tile
 * and the float32 kernels measured 1.96× the step in registers (H32, A/B, relaxed, 21 rounds,
 * load 3.8, 2026-12-06).
 */
export const INLINE_ROWS: i32 = 2;

// @ts-ignore: a compile-time constant of asconfig.json's `use`: 1 in the int8 builds
const INTEGER_INT8: bool = INT8_DOT != 0;

/**
 * Loads one word per 64 bytes of `rows` rows (rowBytes long, `stride` apart), in memory
 * order, before a kernel reads the chunk in its own order (4 key rows side by side, or
 * column blocks over all rows): these loads are independent, so the core keeps many cache
 * misses in flight at once, where the kernel's loop, slowed by its arithmetic, has few.
 * Only the rows' own bytes are read. The OR goes to `sink`, so that no compiler drops the loads.
 */
// @ts-ignore: decorator
@inline function touchRows(from: usize, rows: i32, stride: usize, rowBytes: usize, sink: usize): void {
  // Back-to-back rows only (a cache's layout; any other stride skips the touch): one flat
  // walk measured 0.78× the float32 step against none, where a row-by-row walk measured
  // 0.96× (21 A/B rounds each, load 8–14). With 4 rows per KV head (GQA H16 over 4, Lk2048
  // D128, relaxed, cache in DRAM: bench/ab-kernels.mjs --cold; 11–15 rounds, load 0.6–3.8,
  // 2026-12-06) the walks cost 0.08 ms of the 0.52 ms step when the cache sits in L3 and save
  // more from DRAM: without either walk 1.147× (0.853× from L3), without the K walk 1.47×,
  // without the V walk 1.075× (0.94× from L3), one load per 128 bytes 1.38×; the V walk
  // interleaved with the scores (32 lines per 4 keys) 1.054×, K and V walked together 1.008×,
  // chunks of 32 or 128 keys 1.00×.
  if (stride != rowBytes) return;
  let acc: u32 = 0;
  for (let at = from; at < from + <usize>rows * stride; at += 64) acc |= load<u32>(at);
  store<u32>(sink, acc);
}

/** 2^n as f32, for n in [-126, 127]. */
// @ts-ignore: decorator
@inline function pow2(n: i32): f32 {
  return reinterpret<f32>((n + 127) << 23);
}

/**
 * Computes rows [firstRow, firstRow + rows) of KV head `kvHead` of batch item `b`; row r is
 * query head kvHead·group + r / seqLenQ, query r % seqLenQ.
 * Contract: 1 <= rows <= ROWS; kHead/vHead address row 0 of the head's cache; cache rows
 * hold padDim(dim) elements (zero padding); keyEnd in [0, seqLenK]; offset: the batch
 * item's position offset (key-range.ts); kvDtype 0, 1, 2 or 3 (see above). Keys outside every
 * row's range are never read (a 4k window over a 32k cache reads 4k keys), but for up to 3
 * rows past a chunk's last key that the int8 builds read and ignore (i8-qk-dot-1x4.ts; memory
 * holds them: the per-call region lies above every cache).
 */
export function attendRows(
  params: usize, scratch: usize, b: i32, kvHead: i32, firstRow: i32, rows: i32,
  kHead: usize, vHead: usize, keyEnd: i32, offset: i32, kvDtype: i32,
): void {
  // The constants fold the key-range code away: this is the one-pass walk as it always was.
  attendKeys(params, scratch, b, kvHead, firstRow, rows, kHead, vHead, keyEnd, offset, kvDtype, 0, 1, 0);
}

/**
 * As attendRows, over key range `split` of `splits` only, leaving the rows' partial states
 * in `record` (decode/partials.ts) instead of outputs; weights, when requested, receive the
 * range's masked scores, normalized by the host's merge (src/threads/decode.ts). The block's keys
 * [blockStart, blockEnd) (the union of its rows' key ranges) are cut at chunk boundaries
 * into `splits` ranges of ⌊chunks/splits⌋ or ⌈chunks/splits⌉ chunks (chunks =
 * ⌈(blockEnd − blockStart) / CHUNK_KEYS⌉), so each range walks whole chunks as the one pass
 * does, and only keys inside the window are split; a range may be empty.
 * Contract: attendRows's; 0 <= split < splits; record 4-byte aligned, partialRecordBytes long.
 */
export function attendRowsPartial(
  params: usize, scratch: usize, b: i32, kvHead: i32, firstRow: i32, rows: i32,
  kHead: usize, vHead: usize, keyEnd: i32, offset: i32, kvDtype: i32, split: i32, splits: i32, record: usize,
): void {
  attendKeys(params, scratch, b, kvHead, firstRow, rows, kHead, vHead, keyEnd, offset, kvDtype, split, splits, record);
}

/** The body of attendRows (record = 0: normalize into the outputs) and attendRowsPartial. */
// @ts-ignore: decorator
@inline function attendKeys(
  params: usize, scratch: usize, b: i32, kvHead: i32, firstRow: i32, rows: i32,
  kHead: usize, vHead: usize, keyEnd: i32, offset: i32, kvDtype: i32, split: i32, splits: i32, record: usize,
): void {
  const half = kvDtype == 1 || kvDtype == 2;
  const int8 = kvDtype == 3;
  const int8Dot = int8 && INTEGER_INT8;
  const int8Tile = int8 && !INTEGER_INT8;
  const fast = kvDtype == 1;
  const inline = fast && rows <= INLINE_ROWS;
  const headDim = paramI32(params, HEAD_DIM);
  const valueDim = paramI32(params, VALUE_DIM);
  const seqLenQ = paramI32(params, SEQ_LEN_Q);
  const dimPad = padDimOf(headDim, kvDtype);
  const valueDimPad = padDimOf(valueDim, kvDtype);
  const elementShift = elementShiftOf(kvDtype);
  const kSeqBytes = <usize>paramI32(params, K_SEQ_STRIDE) << elementShift;
  const vSeqBytes = <usize>paramI32(params, V_SEQ_STRIDE) << elementShift;
  const qp = scratch + qpOffset();
  const s = scratch + sOffset(dimPad);
  const o = scratch + oOffset(dimPad);
  const tile = scratch + tileOffset(dimPad, valueDimPad);
  const scales = scratch + scalesOffset(dimPad, valueDimPad);
  const qRowBytes = <usize>dimPad << 2;
  const sRowBytes = <usize>CHUNK_KEYS << 2;
  const oRowBytes = <usize>valueDimPad << 2;
  const scale = paramF32(params, SCALE);
  const softcap = paramF32(params, SOFTCAP);
  const left = windowLeft(params);
  const right = windowRight(params);
  const bias = <usize>paramI32(params, BIAS_PTR);
  const weights = <usize>paramI32(params, WEIGHTS_PTR);
  const slopes = <usize>paramI32(params, ALIBI_SLOPES_PTR);

  // Pack the block's query rows (zero padding), and each row's key range (key-range.ts).
  let blockEnd = 0;
  let blockStart = i32.MAX_VALUE;
  let qMax: f32 = 0;
  for (let t = 0; t < rows; t++) {
    const r = firstRow + t;
    const i = r % seqLenQ;
    const src = rowAddress(params, Q_PTR, Q_BATCH_STRIDE, Q_HEAD_STRIDE, Q_SEQ_STRIDE, b, headOf(params, kvHead, r), i);
    const dst = qp + <usize>t * qRowBytes;
    memory.copy(dst, src, <usize>headDim << 2);
    memory.fill(dst + (<usize>headDim << 2), 0, <usize>(dimPad - headDim) << 2);
    if (fast) qMax = max(qMax, packFast(dst, dimPad));
    const limit = keyRangeEnd(i, offset, right, keyEnd);
    const start = keyRangeStart(i, offset, left, limit);
    store<i32>(scratch + STATE_LIMIT + (<usize>t << 2), limit);
    store<i32>(scratch + STATE_START + (<usize>t << 2), start);
    store<f32>(scratch + STATE_M + (<usize>t << 2), -Infinity);
    store<f32>(scratch + STATE_L + (<usize>t << 2), 0);
    blockEnd = max(blockEnd, limit);
    blockStart = min(blockStart, start);
  }
  memory.fill(o, 0, <usize>rows * oRowBytes);
  // int8: q to i16 in place, its scale times `scale` per row in `scales` (i8-qk-dot-1x4).
  if (int8Dot) quantizeQueries(qp, qRowBytes, rows, dimPad, scales, scale);
  // Fast float16: q·2^qShift with |q|·2^qShift <= 2^101 (no overflow; products with the
  // 2^-112-scaled keys stay normal down to |q·k| ≈ 2^-110), undone by factor = 2^(112 − qShift).
  let factor: f32 = 1;
  if (fast) {
    const qExponent = max(<i32>((reinterpret<u32>(qMax) >> 23) & 0xff) - 127, 0);
    const qShift = min(max(100 - qExponent, 0), 100);
    const vshift = f32x4.splat(pow2(qShift));
    for (let p = qp; p < qp + <usize>rows * qRowBytes; p += 16) v128.store(p, f32x4.mul(v128.load(p), vshift));
    factor = pow2(112 - qShift);
  }

  let keyStart = blockStart;
  let keyStop = blockEnd;
  if (splits > 1) {
    const chunks = (blockEnd - blockStart + CHUNK_KEYS - 1) / CHUNK_KEYS;
    keyStart = blockStart + (split * chunks / splits) * CHUNK_KEYS;
    keyStop = min(blockStart + (split + 1) * chunks / splits * CHUNK_KEYS, blockEnd);
  }
  for (let j0 = keyStart; j0 < keyStop; j0 += CHUNK_KEYS) {
    const keys = min(CHUNK_KEYS, blockEnd - j0);
    let k = kHead + <usize>j0 * kSeqBytes;
    // float32: 0.86× the step time (H32, 2k tokens, D128; A/B medians of 9 and 15 rounds, load
    // 8–10); float16 measured 1.02–1.11× (within noise), and 1.056× (1.016–1.121) with a lone
    // row in registers (relaxed, 21 rounds, load 4.5, 2026-12-06), so it does without. The int8
    // builds' keys too: i8-qk-dot-1x4 reads 4 rows side by side in memory order, which the
    // hardware prefetches, and without this walk the int8 step took 0.89× the time (H8 Lk8192
    // D128, ratio to the float16 step 0.461–0.471 vs 0.523–0.542, A/B with copies of each
    // build, 15 rounds, load 1.7–2.1); their values keep theirs (below: with neither walk, 1.16×).
    if (!half && !int8Dot) touchRows(k, keys, kSeqBytes, (<usize>dimPad << elementShift) + rowExtraBytes(kvDtype), scratch + STATE_SINK);
    if (inline) {
      scoreRowsHalf(s, sRowBytes, qp, qRowBytes, rows, dimPad, k, kSeqBytes, keys, scale, factor);
    } else if (int8Dot) {
      scoreRowsInt8(s, sRowBytes, qp, qRowBytes, scales, rows, dimPad, k, kSeqBytes, keys);
    } else {
      let kStride = kSeqBytes;
      if (half) {
        if (fast) halfTileToF32Scaled(tile, k, kSeqBytes, keys, dimPad);
        else halfTileToF32(tile, k, kSeqBytes, keys, dimPad);
        k = tile;
        kStride = qRowBytes;
      } else if (int8Tile) {
        int8TileToF32(tile, scales, k, kSeqBytes, keys, dimPad);
        k = tile;
        kStride = qRowBytes;
      }
      scoreRows(s, sRowBytes, qp, qRowBytes, rows, dimPad, k, kStride, keys, scale, factor);
      if (int8Tile) foldScales(s, sRowBytes, rows, keys, scales);
    }
    let masked = false;
    for (let t = 0; t < rows; t++) {
      const r = firstRow + t;
      const h = headOf(params, kvHead, r);
      const i = r % seqLenQ;
      const biasRow: usize = bias == 0 ? 0
        : rowAddress(params, BIAS_PTR, BIAS_BATCH_STRIDE, BIAS_HEAD_STRIDE, BIAS_QUERY_STRIDE, b, h, i) + (<usize>j0 << 2);
      const weightsRow: usize = weights == 0 ? 0 : weightsAddress(params, b, h, i) + (<usize>j0 << 2);
      const state = scratch + (<usize>t << 2);
      masked = softmaxRow(
        s + <usize>t * sRowBytes, keys, softcap, biasRow,
        load<i32>(scratch + STATE_START + (<usize>t << 2)) - j0,
        load<i32>(scratch + STATE_LIMIT + (<usize>t << 2)) - j0, weightsRow,
        state + STATE_M, state + STATE_L, state + STATE_ALPHA,
        slopes == 0 ? 0 : -load<f32>(slopes + (<usize>h << 2)), i + offset - j0, // ALiBi: the row's key position − j0
      ) || masked;
    }
    if (fast) {
      // p·2^112 undoes the values' 2^-112 (p <= 1: no overflow). l is already summed.
      const up = f32x4.splat(pow2(112));
      for (let t = 0; t < rows; t++) {
        const row = s + <usize>t * sRowBytes;
        for (let p = row; p < row + (<usize>((keys + 3) & ~3) << 2); p += 16) v128.store(p, f32x4.mul(v128.load(p), up));
      }
    }
    let v = vHead + <usize>j0 * vSeqBytes;
    if (!half) touchRows(v, keys, vSeqBytes, (<usize>valueDimPad << elementShift) + rowExtraBytes(kvDtype), scratch + STATE_SINK);
    if (inline) {
      valueRowsHalf(o, oRowBytes, s, sRowBytes, scratch + STATE_ALPHA, rows, valueDimPad, v, vSeqBytes, keys);
    } else if (int8Dot) {
      // An int8 row is always finite: no masked-key check (-0 weights are 0 exactly).
      valueRowsInt8(o, oRowBytes, s, sRowBytes, scratch + STATE_ALPHA, rows, valueDimPad, tile, v, vSeqBytes, keys);
    } else {
      let vStride = vSeqBytes;
      if (half) {
        if (fast) halfTileToF32Scaled(tile, v, vSeqBytes, keys, valueDimPad);
        else halfTileToF32(tile, v, vSeqBytes, keys, valueDimPad);
        v = tile;
        vStride = oRowBytes;
      } else if (int8Tile) {
        // p·scale_j: l is already summed, as for the float16 2^112 above; -0 (masked) stays -0.
        int8TileToF32(tile, scales, v, vSeqBytes, keys, valueDimPad);
        foldScales(s, sRowBytes, rows, keys, scales);
        v = tile;
        vStride = oRowBytes;
      }
      // A masked key has p = -0, and -0 · NaN = NaN: a chunk with a masked key and a value
      // row that is not finite skips masked keys (src/plan.ts). A fast float16 cache holds
      // no Inf/NaN (kvDtype 1), and chunks with no masked key never check.
      // An int8 tile is always finite.
      if (masked && !fast && !int8 && !rowsFinite(v, vStride, keys, valueDimPad)) {
        valueRowsMasked(o, oRowBytes, s, sRowBytes, scratch + STATE_ALPHA, rows, valueDimPad, v, vStride, keys);
      } else {
        valueRows(o, oRowBytes, s, sRowBytes, scratch + STATE_ALPHA, rows, valueDimPad, v, vStride, keys);
      }
    }
  }

  if (record != 0) {
    storePartials(record, scratch, o, oRowBytes, rows, valueDim, fast);
    return;
  }
  // out = o / l (0 for a row with no allowed key, never NaN); weights = exp(w − m) / l.
  const seqLenK = paramI32(params, SEQ_LEN_K);
  const lse = <usize>paramI32(params, LSE_PTR);
  for (let t = 0; t < rows; t++) {
    const r = firstRow + t;
    const h = headOf(params, kvHead, r);
    const i = r % seqLenQ;
    const l = load<f32>(scratch + STATE_L + (<usize>t << 2));
    if (lse != 0) {
      // The row's (m, l), natural units: the host takes lse = m + ln(l).
      const at = lse + (<usize>((b * paramI32(params, Q_HEADS) + h) * seqLenQ + i) << 3);
      store<f32>(at, load<f32>(scratch + STATE_M + (<usize>t << 2)));
      store<f32>(at, l, 4);
    }
    const dst = rowAddress(params, OUT_PTR, OUT_BATCH_STRIDE, OUT_HEAD_STRIDE, OUT_SEQ_STRIDE, b, h, i);
    const src = o + <usize>t * oRowBytes;
    for (let c = 0; c < valueDim; c++) {
      // Fast float16: column c sits at its de-interleaved position within its group of 8.
      const at = fast ? (c & ~7) | ((c & 1) << 2) | ((c & 7) >> 1) : c;
      store<f32>(dst + (<usize>c << 2), select<f32>(0, load<f32>(src + (<usize>at << 2)) / l, l == 0));
    }
    if (weights != 0) {
      const m = load<f32>(scratch + STATE_M + (<usize>t << 2));
      const limit = load<i32>(scratch + STATE_LIMIT + (<usize>t << 2));
      const start = load<i32>(scratch + STATE_START + (<usize>t << 2));
      normalizeWeights(weightsAddress(params, b, h, i), start, limit, seqLenK, m, l);
    }
  }
}

/**
 * De-interleaves a packed query row per 8 elements ([0,2,4,6,1,3,5,7], the lane order of
 * the fast float16 conversion) in place; returns max |q| of the row.
 */
function packFast(row: usize, dim8: i32): f32 {
  let vmax = f32x4.splat(0);
  for (let g = row; g < row + (<usize>dim8 << 2); g += 32) {
    const a = v128.load(g);
    const b = v128.load(g, 16);
    v128.store(g, f32x4.shuffle(a, b, 0, 2, 4, 6));
    v128.store(g, f32x4.shuffle(a, b, 1, 3, 5, 7), 16);
    vmax = f32x4.pmax(vmax, f32x4.pmax(f32x4.abs(a), f32x4.abs(b)));
  }
  return max(max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
}

/**
 * w[j] = exp(w[j] − m) / l for j in [start, limit) (0 when l = 0), and 0 elsewhere in
 * [0, seqLenK) (keys before `start` may never have been visited).
 */
export function normalizeWeights(w: usize, start: i32, limit: i32, seqLenK: i32, m: f32, l: f32): void {
  const u = f32x4.splat(select<f32>(0, m, m == -Infinity));
  const inv = f32x4.splat(l == 0 ? 0 : <f32>1 / l);
  memory.fill(w, 0, <usize>max(start, 0) << 2);
  let j = max(start, 0);
  for (; j + 4 <= limit; j += 4) {
    const p = w + (<usize>j << 2);
    v128.store(p, f32x4.mul(expNonPositive(f32x4.sub(v128.load(p), u)), inv));
  }
  // leftovers
  for (; j < limit; j++) {
    const p = w + (<usize>j << 2);
    store<f32>(p, f32x4.extract_lane(f32x4.mul(expNonPositive(f32x4.sub(f32x4.splat(load<f32>(p)), u)), inv), 0));
  }
  memory.fill(w + (<usize>max(limit, 0) << 2), 0, <usize>(seqLenK - max(limit, 0)) << 2);
}

/** Query head of row r of KV head `kvHead`'s block. */
// @ts-ignore: decorator
@inline export function headOf(params: usize, kvHead: i32, r: i32): i32 {
  const group = paramI32(params, Q_HEADS) / paramI32(params, KV_HEADS);
  return kvHead * group + r / paramI32(params, SEQ_LEN_Q);
}

/** Byte address of f32 element [b, h, i, 0] of a tensor whose pointer/strides are at the given fields. */
// @ts-ignore: decorator
@inline export function rowAddress(
  params: usize, ptrField: i32, batchField: i32, headField: i32, seqField: i32, b: i32, h: i32, i: i32,
): usize {
  return <usize>paramI32(params, ptrField) + (<usize>(
    b * paramI32(params, batchField) + h * paramI32(params, headField) + i * paramI32(params, seqField)
  ) << 2);
}

/** Byte address of weights[b, h, i, 0] (contiguous [batch, qHeads, seqLenQ, seqLenK]). */
// @ts-ignore: decorator
@inline export function weightsAddress(params: usize, b: i32, h: i32, i: i32): usize {
  const seqLenQ = paramI32(params, SEQ_LEN_Q);
  return <usize>paramI32(params, WEIGHTS_PTR)
    + (<usize>((b * paramI32(params, Q_HEADS) + h) * seqLenQ + i) * <usize>paramI32(params, SEQ_LEN_K) << 2);
}
