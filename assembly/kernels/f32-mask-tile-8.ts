// Soft-capping and masking of one transposed score tile S[key][8 queries], in place,
// in the order of src/plan.ts: capped = softcap·tanh(logit/softcap); then masked positions
// are *selected* to -Infinity (never added to: a NaN/±Infinity logit cannot leak) and the
// additive bias is added elsewhere. Key-length masking needs no select: the caller never
// iterates past the key length.
import { softcapVec } from '../inline/softcap';
import { cst, C_NEG_INF } from '../inline/consts';

/**
 * s[j][q] = unit · cap · tanh(s[j][q] / cap) for keys j in [0, keys).
 * @param unit factor of the result (log2e: the fused softmax takes scores in log2 units)
 */
export function softcapTile(s: usize, keys: i32, cap: f32, unit: f32): void {
  const vcap = f32x4.splat(cap * unit);
  const vinv = f32x4.splat(<f32>1 / cap);
  const end = s + (<usize>keys << 5);
  for (let p = s; p < end; p += 16) {
    v128.store(p, softcapVec(v128.load(p), vcap, vinv));
  }
}

/**
 * Causal select: s[j][q] = -Infinity where key (firstKey + j) > query (firstQuery + q) + offset.
 * Written as (firstKey + j − offset) <= firstQuery + q, an i32x4 compare per half row.
 */
export function causalTile(s: usize, keys: i32, firstKey: i32, firstQuery: i32, offset: i32): void {
  const qa = i32x4.add(i32x4.splat(firstQuery), i32x4(0, 1, 2, 3));
  const qb = i32x4.add(qa, i32x4.splat(4));
  const negInf = cst(C_NEG_INF);
  for (let j = 0; j < keys; j++) {
    const p = s + (<usize>j << 5);
    const jv = i32x4.splat(firstKey + j - offset);
    v128.store(p, v128.bitselect(v128.load(p), negInf, i32x4.le_s(jv, qa)));
    v128.store(p, v128.bitselect(v128.load(p, 16), negInf, i32x4.le_s(jv, qb)), 16);
  }
}

/**
 * Additive bias with select: s[j][q] = bias[q][j] == -Infinity ? -Infinity : s[j][q] + unit · bias[q][j]
 * for the first `rows` queries (padding lanes are left alone, their bias rows may not exist).
 * Scalar: the bias is [query][key] and the tile [key][query]; this transposing pass costs
 * little next to the two 4x8 matrix kernels of the tile (O(keys·8) vs O(keys·8·headDim)).
 * @param bias byte address of bias[query 0][key 0 of the tile]
 * @param biasQueryBytes byte stride between the bias rows of consecutive queries
 * @param unit factor of the bias (log2e: the fused softmax takes scores in log2 units)
 */
export function biasTile(
  s: usize, keys: i32, bias: usize, biasQueryBytes: usize, rows: i32, unit: f32,
): void {
  for (let q = 0; q < rows; q++) {
    const row = bias + <usize>q * biasQueryBytes;
    const col = s + (<usize>q << 2);
    for (let j = 0; j < keys; j++) {
      const b = load<f32>(row + (<usize>j << 2));
      const p = col + (<usize>j << 5);
      store<f32>(p, select<f32>(-Infinity, load<f32>(p) + b * unit, b == -Infinity));
    }
  }
}
