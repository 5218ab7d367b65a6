// f32 rows → int8 cache rows, at append (issue #15: "quantised once at append, in the
// kernel"). The layout and the rule are src/cache/int8.ts's, and so are the bytes, bit for
// bit (test/cache-int8-append.test.ts):
//   q[d]  = roundTiesToEven(f64(x[d])·127 / f64(max|x|))   (0 for an all-zero row)
//   scale = f32(f64(max|x|) / 127)
// computed in f64 as the JS path does: x·127 is exact in f64 (24 + 7 significant bits, and
// no f32 subnormal underflows there), the division is correctly rounded in both, f64.nearest
// is ties-to-even, and |q| <= 127 so the saturating conversion and the narrowings never clip.
// An f32 division or a multiply by 127/max would differ from JS in the last bit of the
// quotient, and so in a tie's direction.
//
// Exported by the int8 builds (assembly/int8.ts) and the threads builds only: the default
// builds keep the JS path (src/cache/int8.ts) within the default entry's size budget.
// Per 4 elements: one f32x4 load, 2 promotions, 2 mul, 2 div, 2 nearest, 2 conversions, a
// shuffle, 2 narrowings, one 4-byte store; the f64x2 divisions bound it.

/**
 * Quantises `rows` rows of `dim` f32 (`srcRowStride` elements apart from `src`) into int8
 * rows `dstRowBytes` apart from `dst`: `dataBytes` bytes of int8 (zero past `dim`) then the
 * row's f32 scale.
 * Contract: every value is finite (the caller checks before any write); dim <= dataBytes;
 * dst rows 4-byte aligned; src 4-byte aligned.
 */
export function quantizeI8Rows(dst: usize, dstRowBytes: usize, dataBytes: i32, src: usize, srcRowStride: usize, rows: i32, dim: i32): void {
  for (let r = 0; r < rows; r++) quantizeRow(dst + <usize>r * dstRowBytes, dataBytes, src + ((<usize>r * srcRowStride) << 2), dim);
}

// @ts-ignore: decorator
@inline function quantizeRow(dst: usize, dataBytes: i32, src: usize, dim: i32): void {
  const dim4 = dim & ~3;
  let m = f32x4.splat(0);
  for (let d = 0; d < dim4; d += 4) m = f32x4.max(m, f32x4.abs(v128.load(src + (<usize>d << 2))));
  let top = max(max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
  for (let d = dim4; d < dim; d++) top = max(top, abs(load<f32>(src + (<usize>d << 2)))); // leftovers
  const maxAbs = <f64>top;
  let d = 0;
  if (maxAbs != 0) {
    const k127 = f64x2.splat(127);
    const den = f64x2.splat(maxAbs);
    for (; d < dim4; d += 4) {
      const x = v128.load(src + (<usize>d << 2));
      const lo = f64x2.nearest(f64x2.div(f64x2.mul(f64x2.promote_low_f32x4(x), k127), den));
      const hi = f64x2.nearest(f64x2.div(f64x2.mul(f64x2.promote_low_f32x4(i32x4.shuffle(x, x, 2, 3, 2, 3)), k127), den));
      const q = i32x4.shuffle(i32x4.trunc_sat_f64x2_s_zero(lo), i32x4.trunc_sat_f64x2_s_zero(hi), 0, 1, 4, 5);
      const q16 = i16x8.narrow_i32x4_s(q, q);
      v128.store32_lane(dst + <usize>d, i8x16.narrow_i16x8_s(q16, q16), 0);
    }
    for (; d < dim; d++) store<i8>(dst + <usize>d, <i8><i32>nearest<f64>((<f64>load<f32>(src + (<usize>d << 2)) * 127) / maxAbs)); // leftovers
  }
  memory.fill(dst + <usize>d, 0, <usize>(dataBytes - d)); // zero row, or the padding past dim
  store<f32>(dst + <usize>dataBytes, <f32>(maxAbs / 127));
}
