// i8-qk-dot-1x4: scores of a few query rows against a chunk of int8 cached keys
// (cache/i8.ts), as integer dot products: no key element is ever converted to float.
//
// The query rows are quantised once per row block (quantizeQueries) to i16 with one f32
// scale per row, qs = max|q| / qMax; each 16-byte step of a key row is loaded as two
// sign-extended i16x8 (v128.load8x8_s: pmovsxbw from memory) and multiplied into an i32x4
// accumulator with i32x4.dot_i16x8_s (pmaddwd: 8 multiply-adds in one instruction), so a
// key element costs 3/16 of an operation, against 5/8 + 1/4 for the float16 fast
// conversion and its multiply-add. (load + extend_low/extend_high took 4/16: 0.98× the
// step without it. 8 keys per step, sharing each q load, measured no faster.) As
// f32-qk-dot-1x4, each key row is read whole in memory order and 4 keys are reduced
// together, one stored vector of 4 scores:
//   s[t][j] = f32(Σ_d q16[t][d]·k8[j][d]) · (qs_t · scale) · ks_j
// where ks_j is key row j's scale (the f32 after its data). The integer sum is exact (see
// qMaxOf for the overflow bound); the i16 rounding of q moves a score by at most
// |scale| · qs_t/2 · ‖k̂_j‖₁ (test/cache-int8.test.ts states and checks the bound).
// Contract: dim16 is a multiple of 16; key rows hold dim16 int8 then their f32 scale,
// kSeqBytes apart, and memory holds 3 rows past the chunk's last; s rows have room for keys
// rounded up to 4; q16 rows are dim16 i16, q16RowBytes apart (16-byte aligned).

/**
 * Largest |q16| of a row of dim16 elements: the whole dot product, at most
 * dim16 · qMax · 127, must stay below 2^31 (32767 for dims up to 516).
 */
// @ts-ignore: decorator
@inline export function qMaxOf(dim16: i32): i32 {
  return min(32767, max(1, 0x7fffffff / (127 * dim16)));
}

/**
 * Quantises `rows` packed f32 query rows (dim16 elements each, qRowBytes apart, zero
 * padding) to i16 in place (row t's i16 at the start of its f32 row), and stores
 * qScale[t] = qs_t · scale, qs_t = max|q_t| / qMax. A non-finite q makes the row's scale
 * non-finite, so its scores are NaN as in the float32 path.
 */
export function quantizeQueries(q: usize, qRowBytes: usize, rows: i32, dim16: i32, qScale: usize, scale: f32): void {
  const qMax = <f32>qMaxOf(dim16);
  const rowBytes = <usize>dim16 << 2;
  for (let t = 0; t < rows; t++) {
    const row = q + <usize>t * qRowBytes;
    let vmax = f32x4.splat(0);
    for (let p = row; p < row + rowBytes; p += 16) vmax = f32x4.max(vmax, f32x4.abs(v128.load(p)));
    const m = max(max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
    const inv = f32x4.splat(m > 0 ? qMax / m : 0);
    store<f32>(qScale + (<usize>t << 2), m / qMax * scale);
    // 16 f32 in, 16 i16 out at half the offset: each step reads before it writes.
    let dst = row;
    for (let p = row; p < row + rowBytes; p += 64, dst += 32) {
      const a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), inv)));
      const b = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 16), inv)));
      const c = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 32), inv)));
      const d = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 48), inv)));
      v128.store(dst, i16x8.narrow_i32x4_s(a, b));
      v128.store(dst, i16x8.narrow_i32x4_s(c, d), 16);
    }
  }
}

/** [Σa0, Σa1, Σa2, Σa3] of 4 i32x4, as f32x4 (the transpose-add of f32-qk-dot-1x4's reduce4). */
// @ts-ignore: decorator
@inline function reduce4Int(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const t01 = i32x4.add(i32x4.shuffle(a0, a1, 0, 4, 1, 5), i32x4.shuffle(a0, a1, 2, 6, 3, 7));
  const t23 = i32x4.add(i32x4.shuffle(a2, a3, 0, 4, 1, 5), i32x4.shuffle(a2, a3, 2, 6, 3, 7));
  return f32x4.convert_i32x4_s(i32x4.add(i32x4.shuffle(t01, t23, 0, 1, 4, 5), i32x4.shuffle(t01, t23, 2, 3, 6, 7)));
}

/**
 * s[t][j] = the score of query row t and key j, for t < rows and j < keys (see above).
 * @param s scores, rows `sRowBytes` apart (16-byte aligned)
 * @param q16 quantised query rows (quantizeQueries), `q16RowBytes` apart
 * @param qScale f32 per row: qs_t · scale
 * @param k int8 key row 0 of the chunk; rows `kSeqBytes` apart, each with its scale at byte dim16
 */
export function scoreRowsInt8(
  s: usize, sRowBytes: usize, q16: usize, q16RowBytes: usize, qScale: usize, rows: i32, dim16: i32,
  k: usize, kSeqBytes: usize, keys: i32,
): void {
  const dim = <usize>dim16;
  let j = 0;
  for (; j < keys; j += 4) {
    const k0 = k + <usize>j * kSeqBytes;
    const k1 = k0 + kSeqBytes, k2 = k1 + kSeqBytes, k3 = k2 + kSeqBytes;
    let ks = f32x4.splat(load<f32>(k0 + dim));
    ks = f32x4.replace_lane(ks, 1, load<f32>(k1 + dim));
    ks = f32x4.replace_lane(ks, 2, load<f32>(k2 + dim));
    ks = f32x4.replace_lane(ks, 3, load<f32>(k3 + dim));
    for (let t = 0; t < rows; t++) {
      const qRow = q16 + <usize>t * q16RowBytes;
      // The 4 keys side by side: each q vector loaded once for all 4 (the key rows are
      // each still read in memory order).
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
      for (let d: usize = 0; d < dim; d += 16) {
        const qLo = v128.load(qRow + (d << 1));
        const qHi = v128.load(qRow + (d << 1), 16);
        // load8x8_s sign-extends 8 key bytes as it loads them (pmovsxbw with a memory
        // operand: one instruction), where extend_high costs 2 more on x64.
        a0 = i32x4.add(i32x4.add(a0, i32x4.dot_i16x8_s(qLo, v128.load8x8_s(k0 + d))), i32x4.dot_i16x8_s(qHi, v128.load8x8_s(k0 + d, 8)));
        a1 = i32x4.add(i32x4.add(a1, i32x4.dot_i16x8_s(qLo, v128.load8x8_s(k1 + d))), i32x4.dot_i16x8_s(qHi, v128.load8x8_s(k1 + d, 8)));
        a2 = i32x4.add(i32x4.add(a2, i32x4.dot_i16x8_s(qLo, v128.load8x8_s(k2 + d))), i32x4.dot_i16x8_s(qHi, v128.load8x8_s(k2 + d, 8)));
        a3 = i32x4.add(i32x4.add(a3, i32x4.dot_i16x8_s(qLo, v128.load8x8_s(k3 + d))), i32x4.dot_i16x8_s(qHi, v128.load8x8_s(k3 + d, 8)));
      }
      const dots = reduce4Int(a0, a1, a2, a3);
      const qs = v128.load32_splat(qScale + (<usize>t << 2));
      v128.store(s + <usize>t * sRowBytes + (<usize>j << 2), f32x4.mul(f32x4.mul(dots, qs), ks));
    }
  }
  // No leftover loop: the last step's keys past `keys` are read from the rows that follow
  // (memory holds them: the per-call region lies above every cache) and their scores
  // ignored (softmaxRow masks the lanes past `keys`); 0.3 KB less code.
}
