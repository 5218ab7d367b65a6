// f32-pv-axpy-2x4: the output update of the online softmax for a few query rows,
//   o[t][:] = o[t][:]·alpha[t] + Σ_j p[t][j] · V[j][:]
// walking the value rows in memory order: two keys at a time, each row's accumulator
// updated in place in scratch (L1) 4 columns per vector, o += p[j]·V[j] + p[j+1]·V[j+1].
// For float32 this measured the same as a 32-column register blocking (8 accumulators in
// registers, each value row read in 4 strided passes): 27.9 vs 27.6 ms per step at 8k
// tokens (H32, D128), 2.4 vs 2.5 ms at 2k, both bound by reading the cache; the float16
// version of this order (f16-pv-axpy-4x8) is the faster one, and the two are kept alike.
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
  for (let t = 0; t < rows; t++) {
    const al = v128.load32_splat(alpha + (<usize>t << 2));
    const acc = o + <usize>t * oRowBytes;
    for (let c: usize = 0; c < dimBytes; c += 16) v128.store(acc + c, f32x4.mul(v128.load(acc + c), al));
  }
  let j = 0;
  for (; j + 2 <= keys; j += 2) {
    const v0 = v + <usize>j * vSeqBytes;
    const v1 = v0 + vSeqBytes;
    for (let t = 0; t < rows; t++) {
      const pj = p + <usize>t * pRowBytes + (<usize>j << 2);
      const p0 = v128.load32_splat(pj);
      const p1 = v128.load32_splat(pj, 4);
      const acc = o + <usize>t * oRowBytes;
      for (let c: usize = 0; c < dimBytes; c += 16) {
        v128.store(acc + c, madd(p1, v128.load(v1 + c), madd(p0, v128.load(v0 + c), v128.load(acc + c))));
      }
    }
  }
  // leftovers: one key
  if (j < keys) {
    const v0 = v + <usize>j * vSeqBytes;
    for (let t = 0; t < rows; t++) {
      const p0 = v128.load32_splat(p + <usize>t * pRowBytes + (<usize>j << 2));
      const acc = o + <usize>t * oRowBytes;
      for (let c: usize = 0; c < dimBytes; c += 16) v128.store(acc + c, madd(p0, v128.load(v0 + c), v128.load(acc + c)));
    }
  }
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
