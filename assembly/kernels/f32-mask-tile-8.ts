// Soft-capping and masking of one transposed score tile S[key][8 queries], in place,
// in the order of src/plan.ts: capped = softcap·tanh(logit/softcap), clamped to the score
// limit; then the additive bias (clamped again), and masked positions *selected* to
// -Infinity (never added to: a NaN/±Infinity logit cannot leak). Keys outside every row's
// range need no select: the caller never iterates over them (fused/block.ts). The scores are in log2 units
// (fused/block.ts), so the clamp bound is C_SCORE_MAX_LOG2 = f32(2^127·log2e).
import { softcapVec } from '../inline/softcap';
import { cst, clampAt, C_NEG_INF, C_SCORE_MAX_LOG2 } from '../inline/consts';
import { keyRangeEnd, keyRangeStart } from '../key-range';
import { madd } from '../inline/madd';

/** The clamp bound in log2 units, halved (exact: a power-of-two scaling), for biasTile. */
const HALF_LIMIT_LOG2: f32 = 1.2273091917627103e38;

/**
 * s[j][q] = clamp(unit · cap · tanh(s[j][q] / cap)) for keys j in [0, keys).
 * cap is 0 or a normal float32 (the host checks it), so 1/cap is finite; cap·unit is
 * folded into one factor unless it overflows (cap > FLT_MAX/log2e), then applied as two.
 * @param unit factor of the result (log2e: the fused softmax takes scores in log2 units)
 */
export function softcapTile(s: usize, keys: i32, cap: f32, unit: f32): void {
  const capUnit = cap * unit;
  const folded = capUnit != Infinity;
  const vcap = f32x4.splat(folded ? capUnit : cap);
  const vunit = f32x4.splat(folded ? 1 : unit);
  const vinv = f32x4.splat(<f32>1 / cap);
  const end = s + (<usize>keys << 5);
  for (let p = s; p < end; p += 16) {
    const x = f32x4.mul(softcapVec(v128.load(p), vcap, vinv), vunit);
    v128.store(p, clampAt(x, C_SCORE_MAX_LOG2));
  }
}

/**
 * s[j][q] = s[j][q] · unit for keys j in [0, keys): the log2 conversion of a tile scored with
 * a scale so large that scale·log2e overflows (then scoreTile clamps to ±2^127 in natural
 * units, and ±2^127·log2e is the log2 bound: the same clamp).
 */
export function unitTile(s: usize, keys: i32, unit: f32): void {
  const vunit = f32x4.splat(unit);
  const end = s + (<usize>keys << 5);
  for (let p = s; p < end; p += 16) v128.store(p, f32x4.mul(v128.load(p), vunit));
}

/**
 * ALiBi: s[j][q] += slope · |firstQuery + q + offset − (firstKey + j)| for keys j in
 * [0, keys), where slope = −slope_h·log2e (log2 units, as the tile) and `offset` the block's
 * position offset (key-range.ts). Computed here, never materialised: per key, the 8 distances
 * are two i32x4 counted down by one, then abs, convert and one multiply-add per 4 scores.
 * No clamp: |slope_h| <= 2^64 (src/alibi.ts), so |term| < 2^97, less than half an ulp of a
 * score at the clamp bound (2^104): the sum never leaves it.
 */
export function alibiTile(s: usize, keys: i32, firstKey: i32, firstQuery: i32, offset: i32, slope: f32): void {
  let da = i32x4.add(i32x4.splat(firstQuery + offset - firstKey), i32x4(0, 1, 2, 3));
  let db = i32x4.add(da, i32x4.splat(4));
  const one = i32x4.splat(1);
  const vslope = f32x4.splat(slope);
  const end = s + (<usize>keys << 5);
  for (let p = s; p < end; p += 32) {
    v128.store(p, madd(f32x4.convert_i32x4_s(i32x4.abs(da)), vslope, v128.load(p)));
    v128.store(p, madd(f32x4.convert_i32x4_s(i32x4.abs(db)), vslope, v128.load(p, 16)), 16);
    da = i32x4.sub(da, one);
    db = i32x4.sub(db, one);
  }
}

/**
 * Key-range select (key-range.ts): s[j][q] = -Infinity unless key firstKey + j lies in
 * [start, end) of query firstQuery + q. Lane bounds are formed once per tile, then two
 * i32x4 compares per half row; only tiles that cross a row's range boundary pay for it.
 */
export function rangeTile(
  s: usize, keys: i32, firstKey: i32, firstQuery: i32, offset: i32, left: i32, right: i32, keyEnd: i32,
): void {
  const endA = endLanes(firstQuery, offset, right, keyEnd);
  const endB = endLanes(firstQuery + 4, offset, right, keyEnd);
  const startA = startLanes(firstQuery, offset, left, endA);
  const startB = startLanes(firstQuery + 4, offset, left, endB);
  const negInf = cst(C_NEG_INF);
  for (let j = 0; j < keys; j++) {
    const p = s + (<usize>j << 5);
    const jv = i32x4.splat(firstKey + j);
    const inA = v128.and(i32x4.ge_s(jv, startA), i32x4.lt_s(jv, endA));
    const inB = v128.and(i32x4.ge_s(jv, startB), i32x4.lt_s(jv, endB));
    v128.store(p, v128.bitselect(v128.load(p), negInf, inA));
    v128.store(p, v128.bitselect(v128.load(p, 16), negInf, inB), 16);
  }
}

/** The key-range ends of queries q..q+3, as i32 lanes. */
// @ts-ignore: decorator
@inline function endLanes(q: i32, offset: i32, right: i32, keyEnd: i32): v128 {
  let v = i32x4.splat(keyRangeEnd(q, offset, right, keyEnd));
  v = i32x4.replace_lane(v, 1, keyRangeEnd(q + 1, offset, right, keyEnd));
  v = i32x4.replace_lane(v, 2, keyRangeEnd(q + 2, offset, right, keyEnd));
  return i32x4.replace_lane(v, 3, keyRangeEnd(q + 3, offset, right, keyEnd));
}

/** The key-range starts of queries q..q+3, given their ends, as i32 lanes. */
// @ts-ignore: decorator
@inline function startLanes(q: i32, offset: i32, left: i32, ends: v128): v128 {
  let v = i32x4.splat(keyRangeStart(q, offset, left, i32x4.extract_lane(ends, 0)));
  v = i32x4.replace_lane(v, 1, keyRangeStart(q + 1, offset, left, i32x4.extract_lane(ends, 1)));
  v = i32x4.replace_lane(v, 2, keyRangeStart(q + 2, offset, left, i32x4.extract_lane(ends, 2)));
  return i32x4.replace_lane(v, 3, keyRangeStart(q + 3, offset, left, i32x4.extract_lane(ends, 3)));
}

/**
 * Additive bias with select: s[j][q] = bias[q][j] == -Infinity ? -Infinity
 * : clamp(s[j][q] + unit · bias[q][j]) for the first `rows` queries (padding lanes are left
 * alone, their bias rows may not exist).
 * Scalar: the bias is [query][key] and the tile [key][query]; this transposing pass costs
 * little next to the two 4x8 matrix kernels of the tile (O(keys·8) vs O(keys·8·headDim)).
 * The sum is formed at half scale, s/2 + bias·(unit/2), then doubled: bias·log2e alone
 * overflows f32 for |bias| > FLT_MAX/log2e (a -FLT_MAX "finfo.min" mask, say), and the
 * halves are exact, so the clamp sees the sum the float64 contract describes (src/plan.ts).
 * @param bias byte address of bias[query 0][key 0 of the tile]
 * @param biasQueryBytes byte stride between the bias rows of consecutive queries
 * @param unit factor of the bias (log2e: the fused softmax takes scores in log2 units)
 * @returns whether some position of the first `rows` queries is masked (bias -Infinity)
 */
export function biasTile(
  s: usize, keys: i32, bias: usize, biasQueryBytes: usize, rows: i32, unit: f32,
): bool {
  let masked = false;
  const halfUnit = unit * 0.5;
  for (let q = 0; q < rows; q++) {
    const row = bias + <usize>q * biasQueryBytes;
    const col = s + (<usize>q << 2);
    for (let j = 0; j < keys; j++) {
      const b = load<f32>(row + (<usize>j << 2));
      const p = col + (<usize>j << 5);
      let h = load<f32>(p) * 0.5 + b * halfUnit;
      // Clamp by compare and select: a NaN h compares false and stays NaN.
      h = select<f32>(HALF_LIMIT_LOG2, h, h > HALF_LIMIT_LOG2);
      h = select<f32>(-HALF_LIMIT_LOG2, h, h < -HALF_LIMIT_LOG2);
      const isMasked = b == -Infinity;
      masked = masked || isMasked;
      store<f32>(p, select<f32>(-Infinity, h * 2, isMasked));
    }
  }
  return masked;
}
