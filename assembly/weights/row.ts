// Non-fused path, used only when the caller asks for the attention weights: one query row
// at a time, the whole score row [seqLenK] in scratch, every stage of src/plan.ts
// materialised in order, the requested one copied to the weights row, and the output
// computed from the final probabilities. Simple rather than fast (a diagnostic path), but
// it shares the vector exp and softcap of the fused path, so both give the same output
// within float32 rounding (summation orders differ).
import {
  paramI32, paramF32, HEAD_DIM, VALUE_DIM, SEQ_LEN_K, K_SEQ_STRIDE, V_SEQ_STRIDE, SCALE,
  SOFTCAP, WEIGHTS_STAGE,
} from '../abi';
import { madd } from '../inline/madd';
import { expNonPositive } from '../inline/exp';
import { softcapVec } from '../inline/softcap';
import { windowLeft, windowRight, keyRangeEnd, keyRangeStart } from '../key-range';

/**
 * Computes out row `query` of one (batch, head) and writes its weights row.
 * Contract as attendBlock (fused/block.ts); `row` is scratch of 4·roundUp(seqLenK, 4) bytes.
 */
export function attendRowWithWeights(
  params: usize, row: usize,
  qRow: usize, kHead: usize, vHead: usize, outRow: usize, biasRow: usize, weightsRow: usize,
  lseRow: usize, query: i32, keyEnd: i32, offset: i32, alibiSlope: f32,
): void {
  const headDim = paramI32(params, HEAD_DIM);
  const valueDim = paramI32(params, VALUE_DIM);
  const seqLenK = paramI32(params, SEQ_LEN_K);
  const kSeqBytes = <usize>paramI32(params, K_SEQ_STRIDE) << 2;
  const vSeqBytes = <usize>paramI32(params, V_SEQ_STRIDE) << 2;
  const scale = paramF32(params, SCALE);
  const softcap = paramF32(params, SOFTCAP);
  const stage = paramI32(params, WEIGHTS_STAGE);
  const rowBytes = <usize>seqLenK << 2;
  const paddedEnd = row + (<usize>((seqLenK + 3) & ~3) << 2);

  // stage 'logits'
  for (let j = 0; j < seqLenK; j++) {
    store<f32>(row + (<usize>j << 2), scale * dot(qRow, kHead + <usize>j * kSeqBytes, headDim));
  }
  for (let p = row + rowBytes; p < paddedEnd; p += 4) store<f32>(p, 0);
  if (stage == 0) memory.copy(weightsRow, row, rowBytes);

  // stage 'capped'
  if (softcap > 0) {
    const vcap = f32x4.splat(softcap);
    const vinv = f32x4.splat(<f32>1 / softcap);
    for (let p = row; p < paddedEnd; p += 16) v128.store(p, softcapVec(v128.load(p), vcap, vinv));
  }
  if (stage == 1) memory.copy(weightsRow, row, rowBytes);

  // stage 'biased': scores clamped to ±2^127 before and after the ALiBi term and the bias
  // (src/plan.ts), masked positions selected to -Infinity; keys outside the row's range
  // (key-range.ts) are masked
  const rangeEnd = keyRangeEnd(query, offset, windowRight(params), keyEnd);
  const rangeStart = keyRangeStart(query, offset, windowLeft(params), rangeEnd);
  const at = query + offset; // the query's key position (ALiBi)
  for (let j = 0; j < seqLenK; j++) {
    const p = row + (<usize>j << 2);
    let x = clampScore(load<f32>(p)) - alibiSlope * <f32>abs(at - j);
    let allowed = j >= rangeStart && j < rangeEnd;
    if (biasRow != 0) {
      const b = load<f32>(biasRow + (<usize>j << 2));
      allowed = allowed && b != -Infinity;
      x = x + b;
    }
    store<f32>(p, select<f32>(clampScore(x), -Infinity, allowed));
  }
  if (stage == 2) memory.copy(weightsRow, row, rowBytes);

  // stage 'probs': as the fused path, subtract 0 instead of a -Infinity max (no NaN)
  let m: f32 = -Infinity;
  for (let j = 0; j < seqLenK; j++) {
    const x = load<f32>(row + (<usize>j << 2));
    if (x > m) m = x;
  }
  const mu = f32x4.splat(select<f32>(0, m, m == -Infinity));
  for (let p = row + rowBytes; p < paddedEnd; p += 4) store<f32>(p, -Infinity);
  let lv = f32x4.splat(0);
  for (let p = row; p < paddedEnd; p += 16) {
    const e = expNonPositive(f32x4.sub(v128.load(p), mu));
    v128.store(p, e);
    lv = f32x4.add(lv, e);
  }
  const l = f32x4.extract_lane(lv, 0) + f32x4.extract_lane(lv, 1)
    + f32x4.extract_lane(lv, 2) + f32x4.extract_lane(lv, 3);
  if (lseRow != 0) {
    store<f32>(lseRow, m); // the softmax's (m, l), natural units: lse = m + ln(l) (host)
    store<f32>(lseRow, l, 4);
  }
  const vl = f32x4.splat(l);
  const zeroRow = l == 0;
  for (let p = row; p < paddedEnd; p += 16) {
    v128.store(p, zeroRow ? f32x4.splat(0) : f32x4.div(v128.load(p), vl));
  }
  if (stage == 3) memory.copy(weightsRow, row, rowBytes);

  // out = Σ_j p[j]·V[j] over the allowed keys: a masked key is skipped (its mask recomputed
  // as above), so a NaN/Infinity value row there cannot leak into the output (0·NaN would);
  // an allowed key with p = 0 (underflow) is not, as in the fused path and the reference.
  memory.fill(outRow, 0, <usize>valueDim << 2);
  for (let j = rangeStart; j < rangeEnd; j++) {
    if (biasRow != 0 && load<f32>(biasRow + (<usize>j << 2)) == -Infinity) continue;
    axpy(outRow, vHead + <usize>j * vSeqBytes, load<f32>(row + (<usize>j << 2)), valueDim);
  }
}

/** The score clamp bound, 2^127 (src/plan.ts SCORE_LIMIT). */
const SCORE_MAX: f32 = 1.7014118346046923e38;

/** min(max(x, −2^127), 2^127) by compare and select: NaN stays NaN. */
// @ts-ignore: decorator
@inline function clampScore(x: f32): f32 {
  const y = select<f32>(SCORE_MAX, x, x > SCORE_MAX);
  return select<f32>(-SCORE_MAX, y, y < -SCORE_MAX);
}

/** Σ_d a[d]·b[d], 4 lanes then a horizontal sum. */
function dot(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let d = 0;
  for (; d + 4 <= n; d += 4) {
    const o = <usize>d << 2;
    acc = madd(v128.load(a + o), v128.load(b + o), acc);
  }
  let sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)
    + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  // leftovers
  for (; d < n; d++) sum += load<f32>(a + (<usize>d << 2)) * load<f32>(b + (<usize>d << 2));
  return sum;
}

/** y[c] += alpha·x[c] for c in [0, n). */
function axpy(y: usize, x: usize, alpha: f32, n: i32): void {
  const va = f32x4.splat(alpha);
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    const o = <usize>c << 2;
    v128.store(y + o, madd(v128.load(x + o), va, v128.load(y + o)));
  }
  // leftovers
  for (; c < n; c++) {
    const o = <usize>c << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}
