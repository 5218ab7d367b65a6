// int8 KV caches (kvDtype 3): symmetric int8 with one f32 scale per (token, KV head) row.
// Row layout (src/cache/convert.ts quantizeRow writes it, on every backend alike):
//   bytes [0, dim16)       round(x·127 / max|x|) per element, zero padding past the dim
//   bytes [dim16, dim16+4) the row's scale, f32(max|x| / 127)
// so a row stride of dim16 + 4 bytes (D128: 132 bytes, 0.258× a float32 row of 512).
// The kernel never converts an int8 value: its dot products are integer ones
// (decode/i8-qk-dot-1x4.ts, decode/i8-pv-dot-2x16.ts), and each row's scale is folded into
// the scores (K) and into p (V), once per key rather than once per element.
// Measured before they replaced a conversion into an f32 tile (3.25 operations per 4 values,
// then the float32 kernels): see README "int8 KV cache".
