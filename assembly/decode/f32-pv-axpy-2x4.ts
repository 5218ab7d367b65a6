// f32-pv-axpy-2x4: the output update of the online softmax for a few query rows,
//   o[t][:] = o[t][:]·alpha[t] + Σ_j p[t][j] · V[j][:]
// walking the value rows in memory order: four keys at a time (two until 2026-12-06: four
// measured 0.93–0.99× the lone-row step relaxed, 0.94–0.98× simd, H32 Lk2048 D128, 3 A/Bs of
// 21–41 rounds each, load 1.7–3.6; same sums, bit for bit), each row's accumulator updated
// in place in scratch (L1) 4 columns per vector, o += p[j]·V[j] + … + p[j+3]·V[j+3].
// For float32 two keys at a time measured the same as a 32-column register blocking (8
// accumulators in registers, each value row read in 4 strided passes): 27.9 vs 27.6 ms per
// step at 8k tokens (H32, D128), 2.4 vs 2.5 ms at 2k, both bound by reading the cache; the
// float16 version of this order (f16-pv-axpy-4x8) is the faster one, and the two are kept alike.
// That order is kept for a lone row (MHA decode). Pairs of a GQA group's rows instead hold
// 2 rows × 16 columns in 8 registers over the whole chunk (block2x16): each value vector is
// loaded once for both rows, and the accumulators once per chunk instead of once per 2 keys
// (H16 KV heads 4, Lk2048 D128: the step 0.68× the old one with the Q·K tile, A/B, load 5).
// Both add p[j]·V[j] to o·alpha in key order, so the sums round as before in the simd build.
// Four rows in one pass (4 rows × 8 columns in 8 registers: 2 value loads and 4 broadcasts per
// 8 multiply-adds, the ratio of two block2x16 passes) measured 0.991× the step relaxed,
// 0.994× with the cache in DRAM, 1.078× / 1.043× simd, and with a 4x2 Q·K tile 1.069× /
// 1.010× relaxed, 1.093× / 1.050× simd (GQA H16 KV heads 4, Lk2048 D128, A/B medians of
// 15–21 rounds, load 0.6–1.0, 2026-12-06): not taken.
// Contract: valueDimPad is a multiple of 4; V rows hold valueDimPad elements.
import { madd } from '../inline/madd';
import { cst, C_EXP_BITS } from '../inline/consts';

/**
 * @param o accumulators, rows `oRowBytes` apart, valueDimPad f32 each (16-byte aligned)
 * @param p probabilities, rows `pRowBytes` apart
 * @param alpha rescale factor of each row (f32 per row)
 * @param v value row 0 of the chunk; rows `vSeqBytes` apart
 */
export function valueRows(
  o: usize, oRowBytes: usize, p: usize, pRowBytes: usize, alpha: usize, rows: i32, valueDimPad: i32,
  v: usize, vSeqBytes: usize, keys: i32,
): void {
  const dimBytes = <usize>valueDimPad << 2;
  let t = 0;
  // Row pairs take the register block when the row is whole blocks of 16 columns (D 64, 128,
  // ...); other widths, and a lone row, the in-place update below.
  for (; t + 2 <= rows && (dimBytes & 63) == 0; t += 2) {
    const p0 = p + <usize>t * pRowBytes;
    const o0 = o + <usize>t * oRowBytes;
    const al0 = v128.load32_splat(alpha + (<usize>t << 2));
    const al1 = v128.load32_splat(alpha + (<usize>t << 2), 4);
    for (let c: usize = 0; c < dimBytes; c += 64) block2x16(o0 + c, o0 + oRowBytes + c, p0, p0 + pRowBytes, al0, al1, v + c, vSeqBytes, keys);
  }
  for (; t < rows; t++) {
    // A lone row keeps the in-place update in memory order, four keys at a time (see the
    // header; register blocking measured no faster for one row, and so did block2x16 with the
    // row paired with itself: 0.995× and 0.986× the step, relaxed and simd, H32 Lk2048 D128,
    // A/B medians of 21 rounds, load 2.9, where two identical builds gave 0.999–1.024×).
    const pt = p + <usize>t * pRowBytes;
    const acc = o + <usize>t * oRowBytes;
    const al = v128.load32_splat(alpha + (<usize>t << 2));
    for (let c: usize = 0; c < dimBytes; c += 16) v128.store(acc + c, f32x4.mul(v128.load(acc + c), al));
    let j = 0;
    for (; j + 4 <= keys; j += 4) {
      const v0 = v + <usize>j * vSeqBytes;
      const v1 = v0 + vSeqBytes;
      const v2 = v1 + vSeqBytes;
      const v3 = v2 + vSeqBytes;
      const p0 = v128.load32_splat(pt + (<usize>j << 2));
      const p1 = v128.load32_splat(pt + (<usize>j << 2), 4);
      const p2 = v128.load32_splat(pt + (<usize>j << 2), 8);
      const p3 = v128.load32_splat(pt + (<usize>j << 2), 12);
      for (let c: usize = 0; c < dimBytes; c += 16) {
        v128.store(acc + c, madd(p3, v128.load(v3 + c), madd(p2, v128.load(v2 + c),
          madd(p1, v128.load(v1 + c), madd(p0, v128.load(v0 + c), v128.load(acc + c))))));
      }
    }
    // leftovers: one key at a time
    for (; j < keys; j++) {
      const v0 = v + <usize>j * vSeqBytes;
      const p0 = v128.load32_splat(pt + (<usize>j << 2));
      for (let c: usize = 0; c < dimBytes; c += 16) v128.store(acc + c, madd(p0, v128.load(v0 + c), v128.load(acc + c)));
    }
  }
}

/**
 * 16 columns of 2 rows' accumulators held in 8 registers over all `keys` value rows:
 * per key 4 value loads and 2 p broadcasts feed 8 multiply-adds, and the accumulators are
 * loaded (times alpha) and stored once per chunk, not once per key pair.
 */
// @ts-ignore: decorator
@inline function block2x16(o0: usize, o1: usize, p0: usize, p1: usize, al0: v128, al1: v128, v: usize, vSeqBytes: usize, keys: i32): void {
  let a0 = f32x4.mul(v128.load(o0), al0), a1 = f32x4.mul(v128.load(o0, 16), al0);
  let a2 = f32x4.mul(v128.load(o0, 32), al0), a3 = f32x4.mul(v128.load(o0, 48), al0);
  let b0 = f32x4.mul(v128.load(o1), al1), b1 = f32x4.mul(v128.load(o1, 16), al1);
  let b2 = f32x4.mul(v128.load(o1, 32), al1), b3 = f32x4.mul(v128.load(o1, 48), al1);
  let row = v;
  const end = p0 + (<usize>keys << 2);
  for (let pj = p0, qj = p1; pj < end; pj += 4, qj += 4, row += vSeqBytes) {
    const x = v128.load32_splat(pj);
    const z = v128.load32_splat(qj);
    let y = v128.load(row);
    a0 = madd(x, y, a0); b0 = madd(z, y, b0);
    y = v128.load(row, 16);
    a1 = madd(x, y, a1); b1 = madd(z, y, b1);
    y = v128.load(row, 32);
    a2 = madd(x, y, a2); b2 = madd(z, y, b2);
    y = v128.load(row, 48);
    a3 = madd(x, y, a3); b3 = madd(z, y, b3);
  }
  v128.store(o0, a0); v128.store(o0, a1, 16); v128.store(o0, a2, 32); v128.store(o0, a3, 48);
  v128.store(o1, b0); v128.store(o1, b1, 16); v128.store(o1, b2, 32); v128.store(o1, b3, 48);
}

/**
 * True when the chunk's value rows [0, keys) × [0, valueDimPad) are all finite; checked
 * only for a chunk with a masked key (decode/rows.ts).
 */
export function rowsFinite(v: usize, vSeqBytes: usize, keys: i32, valueDimPad: i32): bool {
  const bits = cst(C_EXP_BITS);
  let bad = v128.xor(bits, bits);
  const dimBytes = <usize>valueDimPad << 2;
  let row = v;
  for (let j = 0; j < keys; j++, row += vSeqBytes) {
    for (let c: usize = 0; c < dimBytes; c += 16) bad = v128.or(bad, i32x4.eq(v128.and(v128.load(row + c), bits), bits));
  }
  return !v128.any_true(bad);
}

/**
 * valueRows skipping the keys masked for each row (p written as -0 by softmaxRow): for a
 * chunk with a masked key and a value row that is not finite, where 0 · NaN would leak it
 * (src/plan.ts: a masked key never contributes). Scalar over the keys; rare.
 */
export function valueRowsMasked(
  o: usize, oRowBytes: usize, p: usize, pRowBytes: usize, alpha: usize, rows: i32, valueDimPad: i32,
  v: usize, vSeqBytes: usize, keys: i32,
): void {
  const dimBytes = <usize>valueDimPad << 2;
  for (let t = 0; t < rows; t++) {
    const al = v128.load32_splat(alpha + (<usize>t << 2));
    const acc = o + <usize>t * oRowBytes;
    for (let c: usize = 0; c < dimBytes; c += 16) v128.store(acc + c, f32x4.mul(v128.load(acc + c), al));
    for (let j = 0; j < keys; j++) {
      const pj = p + <usize>t * pRowBytes + (<usize>j << 2);
      if (load<u32>(pj) == 0x80000000) continue; // -0: masked
      const p0 = v128.load32_splat(pj);
      const v0 = v + <usize>j * vSeqBytes;
      for (let c: usize = 0; c < dimBytes; c += 16) v128.store(acc + c, madd(p0, v128.load(v0 + c), v128.load(acc + c)));
    }
  }
}
