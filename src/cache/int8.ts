/**
 * int8 cache rows (`dtype: 'int8'`): symmetric int8 with one f32 scale per row (one token of
 * one KV head), the same bytes on every backend:
 *
 *   bytes [0, dataBytes)               q[d] = roundTiesToEven(x[d] · 127 / max|x|), zero past dim
 *   bytes [dataBytes, dataBytes + 4)   scale = f32(max|x| / 127)   (0 for an all-zero row)
 *
 * so a row takes `dataBytes + 4` bytes (the WASM backends: dataBytes = dim rounded up to 16,
 * read as whole v128s by assembly/cache/i8.ts; JS: dim rounded up to 4). The value a row
 * stands for is q[d]·scale, computed in f32.
 *
 * Why one scale per row rather than per 32 elements (llama.cpp's q8_0): memory and speed.
 * A row scale costs 4 bytes per row (D128: 132 bytes, 0.258× float32, within the 0.27×
 * target; f32 scales per 32 elements would be 144 bytes, 0.281×) and one multiply per key,
 * folded into the score and into p, where block scales need a multiply per 32 elements
 * and a reduction per block. The price is accuracy on rows with outlier channels: the step
 * is set by the largest element, so the others lose resolution. The output error stays
 * within the bound of the README ("int8 KV cache"), tested on such data
 * (test/cache-int8.test.ts); measured per 32-element blocks, see bench/int8-accuracy.ts.
 *
 * The quantisation is computed in float64 (x·127 exact, one correctly rounded division), so
 * every engine that runs this function stores the same bytes.
 */

/** Bytes of one int8 row's data part for `dim` elements, padded to `pad` (16 WASM, 4 JS). */
export function int8DataBytes(dim: number, pad: number): number {
  return Math.ceil(dim / pad) * pad;
}

/** round half to even of a float64 (Math.round rounds halves up). */
export function roundTiesToEven(y: number): number {
  const r = Math.round(y);
  return r - y === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * A Float32Array over the same bytes as `bytes` (its byteOffset a multiple of 4, its length
 * too): where the row scales are read and written.
 */
export function scaleView(bytes: Int8Array): Float32Array {
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length >> 2);
}

/**
 * Quantises `count` values of `src` (from `srcOffset`; f32, or half bits decoded by
 * `halfTable`) into the int8 row at byte `rowOffset` of `dst` whose data part is `dataBytes`
 * long (count <= dataBytes; the padding is written 0), scale included.
 * Contract: every value is finite (checked by the caller before any write); rowOffset and
 * dataBytes are multiples of 4; `scales` is scaleView(dst).
 */
export function quantizeRow(
  dst: Int8Array, scales: Float32Array, rowOffset: number, dataBytes: number,
  src: Float32Array | Uint16Array, srcOffset: number, count: number, halfTable: Float32Array | null,
): void {
  let max = 0;
  for (let n = 0; n < count; n++) {
    const x = halfTable ? halfTable[src[srcOffset + n]!]! : src[srcOffset + n]!;
    max = Math.max(max, Math.abs(x));
  }
  for (let n = 0; n < count; n++) {
    const x = halfTable ? halfTable[src[srcOffset + n]!]! : src[srcOffset + n]!;
    // |x| <= max: the quotient is in [-127, 127], so no clamp is needed.
    dst[rowOffset + n] = max === 0 ? 0 : roundTiesToEven((x * 127) / max);
  }
  dst.fill(0, rowOffset + count, rowOffset + dataBytes);
  scales[(rowOffset + dataBytes) >> 2] = max / 127;
}

/** Writes the f32 values of the int8 row at byte `rowOffset` (f32(q·scale)) to dst[dstOffset, +count). */
export function dequantizeRow(
  dst: Float32Array, dstOffset: number, src: Int8Array, scales: Float32Array, rowOffset: number, dataBytes: number, count: number,
): void {
  const scale = scales[(rowOffset + dataBytes) >> 2]!;
  for (let n = 0; n < count; n++) dst[dstOffset + n] = src[rowOffset + n]! * scale;
}

/**
 * Index of the first non-finite value among `data` (f32, or half bits when `half`), or -1:
 * an int8 cache cannot store one (there is no int8 Inf/NaN, and it would set the scale).
 */
export function firstNonFinite(data: Float32Array | Uint16Array, half: boolean): number {
  if (half) {
    for (let n = 0; n < data.length; n++) if ((data[n]! & 0x7c00) === 0x7c00) return n;
    return -1;
  }
  for (let n = 0; n < data.length; n++) if (!Number.isFinite(data[n]!)) return n;
  return -1;
}
