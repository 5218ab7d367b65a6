// int8 KV caches (kvDtype 3): symmetric int8 with one f32 scale per (token, KV head) row.
// Row layout (src/cache/convert.ts quantizeRow writes it, on every backend alike):
//   bytes [0, dim16)       round(x·127 / max|x|) per element, zero padding past the dim
//   bytes [dim16, dim16+4) the row's scale, f32(max|x| / 127)
// so a row stride of dim16 + 4 bytes (D128: 132 bytes, 0.258× a float32 row of 512).
// Two kernels, chosen at compile time (INT8_DOT, asconfig.json `use`):
// - the int8 builds (`int8-*`, `threads*`): integer dot products, no value ever converted
//   (decode/i8-qk-dot-1x4.ts, decode/i8-pv-dot-2x16.ts);
// - the default builds: each chunk converted to an f32 tile of the int8 values as they are
//   (below), then the float32 kernels: 1.3 KB less code per build (the default entry's
//   size budget), 2–3× slower per int8 step (README "int8 KV cache").
// Both fold each row's scale into the scores (K) and into p (V), once per key.
//
// Conversion: sign-extend 16 bytes to 2 i16x8 then 4 i32x4 (pmovsx), then cvtdq2ps: exact,
// |value| <= 127. 3.25 operations per 4 values (a float16 fast conversion costs 2.5).

/**
 * Converts a tile of `rows` int8 rows to f32 rows, unscaled: dst[r][0..dim16) = src[r][..],
 * and copies each row's scale to scales[r].
 * Contract: dim16 is a multiple of 16; source rows are `srcRowBytes` apart (>= dim16 + 4),
 * the scale at byte dim16 of the row; dst rows are dim16 f32, 16-byte aligned.
 */
export function int8TileToF32(dst: usize, scales: usize, src: usize, srcRowBytes: usize, rows: i32, dim16: i32): void {
  const rowBytes = <usize>dim16;
  for (let r = 0; r < rows; r++) {
    let s = src + <usize>r * srcRowBytes;
    const end = s + rowBytes;
    store<f32>(scales + (<usize>r << 2), load<f32>(end));
    let d = dst + (<usize>r * rowBytes << 2);
    for (; s < end; s += 16, d += 64) {
      const x = v128.load(s);
      const lo = i16x8.extend_low_i8x16_s(x);
      const hi = i16x8.extend_high_i8x16_s(x);
      v128.store(d, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(lo)));
      v128.store(d, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(lo)), 16);
      v128.store(d, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(hi)), 32);
      v128.store(d, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(hi)), 48);
    }
  }
  // Scales of the padding lanes (up to 4 keys): 0, so foldScales never reads stale scratch.
  for (let r = rows; r < ((rows + 3) & ~3); r++) store<f32>(scales + (<usize>r << 2), 0);
}

/**
 * Folds the chunk's row scales into a block of score or probability rows:
 * x[t][j] *= scales[j] for t < rows, j < keys rounded up to 4 (int8TileToF32 zeroes the
 * padding lanes of `scales`; a score's padding lane is set to -Infinity by softmaxRow after
 * this, and valueRows reads p only below `keys`).
 */
export function foldScales(x: usize, xRowBytes: usize, rows: i32, keys: i32, scales: usize): void {
  const end = <usize>((keys + 3) & ~3) << 2;
  for (let t = 0; t < rows; t++) {
    const row = x + <usize>t * xRowBytes;
    for (let j: usize = 0; j < end; j += 16) v128.store(row + j, f32x4.mul(v128.load(row + j), v128.load(scales + j)));
  }
}
