// i8-pv-dot-2x16: the output update of the online softmax over int8 cached values
// (cache/i8.ts), as integer dot products over pairs of keys:
//   o[t][:] = o[t][:]·alpha[t] + ws_t · Σ_j w16[t][j] · v8[j][:]
// where w_j = p[t][j]·vs_j (p times value row j's scale) is quantised per row and chunk to
// i16, w16 = round(w_j / ws_t), ws_t = max_j w_j / 32767. Two value rows are interleaved
// byte by byte (punpcklbw/punpckhbw), sign-extended to i16 and multiplied by the splatted
// weight pair (w16[j], w16[j+1]) with i32x4.dot_i16x8_s: 2 keys × 4 columns per
// instruction, into i32 accumulators of 32 columns (16 for a dim's last 16) kept in
// registers over the chunk; the chunk's sums are converted and scaled once. 17 operations
// per 2 keys × 16 columns, against 2 × 2 × (5 + 2) for float16.
// Measured, not taken (H8 Lk8192 D128, relaxed, one thread): the weights rounded to 7 bits
// and 4 value rows interleaved for i16x8.relaxed_dot_i8x16_i7x16_s (pmaddubsw: 4 keys × 4
// columns per 3 operations) ran the step 0.89× as long, but the chunk's step ws = max w/127
// raised the output's RMS error on random N(0,1) data from 8.7e-3 to 1.5e-2 (H4 L2048
// D128; outlier channels: 2.1e-2 both): the weights' rounding then rivals the values' own.
// Exact alternatives measured: rows loaded with load8x8_s and interleaved as i16 (as many
// shuffles: within noise); the next chunk's rows touched a few lines per step of the loops
// instead of walked before the kernel (1.08–1.26× the step, the float16 step run between
// rounds as in bench/int8-targets.ts). The fused i32x4.relaxed_dot_i8x16_i7x16_add_s is wrong on Node 20 (V8 11.3):
// [1,0,…]·[1,…] + [100,0,0,0] gave [2,0,0,0] (2·dot, the accumulator dropped).
// Exactness: |w16| <= 32767, |v8| <= 127, 32 pairs per chunk of 64 keys: an i32 lane stays
// below 2^31 (2^28). The i16 rounding of w moves the output by at most
// ws_t/2 · 127 per key, ≤ CHUNK_KEYS·127/65534 · max_j vs_j · l in all (the chunk's ws_t ≤
// Σ_j p_j·max vs; test/cache-int8.test.ts states and checks the bound).
// Contract: valueDim16 is a multiple of 16; value rows hold valueDim16 int8 then their f32
// scale, vSeqBytes apart; p rows hold keys probabilities (>= 0, masked ones -0) and -0 up to
// keys rounded to 4 (softmaxRow); keys <= 64; `w` has room for CHUNK_KEYS + 8 i16, 16-byte
// aligned; memory holds 3 rows past the chunk's last (the odd key's partner, weighted 0, and
// the scales read with the last step of 4 keys: the per-call region lies above every cache,
// as for i8-qk-dot-1x4's keys).

/** Largest |w16|: 32 pairs of 32767 · 127 stay below 2^31. */
const W_MAX: f32 = 32767;

/** Bytes 0–7 of two value rows interleaved (x0[0], x1[0], x0[1], …): 2 keys per i16 pair once sign-extended. */
// @ts-ignore: decorator
@inline function zipLow(x0: v128, x1: v128): v128 {
  return i8x16.shuffle(x0, x1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
}

/** Bytes 8–15 of two value rows interleaved, as zipLow. */
// @ts-ignore: decorator
@inline function zipHigh(x0: v128, x1: v128): v128 {
  return i8x16.shuffle(x0, x1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
}

/** o = o·alpha + f32(sum)·ws for 4 output columns at `at`: the chunk's integer sums, rescaled once. */
// @ts-ignore: decorator
@inline function rescaleInto(at: usize, alpha: v128, sum: v128, ws: v128): void {
  v128.store(at, f32x4.add(f32x4.mul(v128.load(at), alpha), f32x4.mul(f32x4.convert_i32x4_s(sum), ws)));
}

/**
 * @param o accumulators, rows `oRowBytes` apart, valueDim16 f32 each (16-byte aligned)
 * @param p probabilities, rows `pRowBytes` apart
 * @param alpha rescale factor of each row (f32 per row)
 * @param w scratch for the quantised weights of one row (CHUNK_KEYS + 8 i16, 16-byte aligned)
 * @param v int8 value row 0 of the chunk; rows `vSeqBytes` apart
 */
export function valueRowsInt8(
  o: usize, oRowBytes: usize, p: usize, pRowBytes: usize, alpha: usize, rows: i32, valueDim16: i32,
  w: usize, v: usize, vSeqBytes: usize, keys: i32,
): void {
  const dim = <usize>valueDim16;
  const pairs = (keys + 1) >> 1;
  for (let t = 0; t < rows; t++) {
    const pRow = p + <usize>t * pRowBytes;
    // w_j = p_j · vs_j and its largest value (p >= 0: no abs needed; -0 for masked keys),
    // 4 keys per step (the scalar loop it replaces: 0.96× the step at H8 Lk8192 D128, A/B
    // in one process): the last step's keys past `keys` have p = -0 and read the scales of
    // up to 3 rows past the chunk's last (see the contract): their w is ±0 or NaN, which
    // pmax never keeps (it keeps its first operand on a NaN), and whose i16 the pairs past
    // `keys` never use (the odd key's partner is stored as 0 below).
    let vmax = f32x4.splat(0);
    for (let j = 0; j < keys; j += 4) {
      const at = pRow + (<usize>j << 2);
      const scaleAt = v + <usize>j * vSeqBytes + dim;
      let vs = f32x4.splat(load<f32>(scaleAt));
      vs = f32x4.replace_lane(vs, 1, load<f32>(scaleAt + vSeqBytes));
      vs = f32x4.replace_lane(vs, 2, load<f32>(scaleAt + (vSeqBytes << 1)));
      vs = f32x4.replace_lane(vs, 3, load<f32>(scaleAt + vSeqBytes * 3));
      const wv = f32x4.mul(v128.load(at), vs);
      v128.store(at, wv);
      vmax = f32x4.pmax(vmax, wv);
    }
    const wMax = max(max(f32x4.extract_lane(vmax, 0), f32x4.extract_lane(vmax, 1)), max(f32x4.extract_lane(vmax, 2), f32x4.extract_lane(vmax, 3)));
    const inv = f32x4.splat(wMax > 0 ? W_MAX / wMax : 0);
    const ws = f32x4.splat(wMax / W_MAX);
    // round(w_j / ws) as i16, 8 per step; the pad keys (up to the next multiple of 8) are
    // zero weights, so an odd last key pairs with a weight of 0.
    for (let j = 0; j < keys; j += 8) {
      const a = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(pRow + (<usize>j << 2)), inv)));
      const b = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(pRow + (<usize>j << 2), 16), inv)));
      v128.store(w + (<usize>j << 1), i16x8.narrow_i32x4_s(a, b));
    }
    store<u32>(w + (<usize>keys << 1), 0); // the odd key's partner weight and one past it
    const al = v128.load32_splat(alpha + (<usize>t << 2));
    const acc = o + <usize>t * oRowBytes;
    // 32 columns per pass over the chunk's rows (8 accumulators, one weight load for both
    // halves: 0.98× the step of 16-column passes, p10 0.95×, A/B with copies of each build),
    // then 16 for the rest.
    let c: usize = 0;
    for (; c + 32 <= dim; c += 32) {
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
      let b0 = i32x4.splat(0), b1 = i32x4.splat(0), b2 = i32x4.splat(0), b3 = i32x4.splat(0);
      let row = v + c;
      for (let pair = 0; pair < pairs; pair++, row += vSeqBytes << 1) {
        const wp = v128.load32_splat(w + (<usize>pair << 2)); // (w16[2·pair], w16[2·pair + 1]) in every lane
        // The odd last key reads the row past the chunk's last, weighted 0: `v` has room.
        const x0 = v128.load(row), x1 = v128.load(row + vSeqBytes);
        const lo = zipLow(x0, x1);
        const hi = zipHigh(x0, x1);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(wp, i16x8.extend_low_i8x16_s(lo)));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(wp, i16x8.extend_high_i8x16_s(lo)));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(wp, i16x8.extend_low_i8x16_s(hi)));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(wp, i16x8.extend_high_i8x16_s(hi)));
        const y0 = v128.load(row, 16), y1 = v128.load(row + vSeqBytes, 16);
        const lo2 = zipLow(y0, y1);
        const hi2 = zipHigh(y0, y1);
        b0 = i32x4.add(b0, i32x4.dot_i16x8_s(wp, i16x8.extend_low_i8x16_s(lo2)));
        b1 = i32x4.add(b1, i32x4.dot_i16x8_s(wp, i16x8.extend_high_i8x16_s(lo2)));
        b2 = i32x4.add(b2, i32x4.dot_i16x8_s(wp, i16x8.extend_low_i8x16_s(hi2)));
        b3 = i32x4.add(b3, i32x4.dot_i16x8_s(wp, i16x8.extend_high_i8x16_s(hi2)));
      }
      const out = acc + (c << 2);
      rescaleInto(out, al, a0, ws);
      rescaleInto(out + 16, al, a1, ws);
      rescaleInto(out + 32, al, a2, ws);
      rescaleInto(out + 48, al, a3, ws);
      rescaleInto(out + 64, al, b0, ws);
      rescaleInto(out + 80, al, b1, ws);
      rescaleInto(out + 96, al, b2, ws);
      rescaleInto(out + 112, al, b3, ws);
    }
    for (; c < dim; c += 16) {
      let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
      let row = v + c;
      for (let pair = 0; pair < pairs; pair++, row += vSeqBytes << 1) {
        const wp = v128.load32_splat(w + (<usize>pair << 2)); // (w16[2·pair], w16[2·pair + 1]) in every lane
        const x0 = v128.load(row);
        // The odd last key reads the row past the chunk's last, weighted 0: `v` has room.
        const x1 = v128.load(row + vSeqBytes);
        const lo = zipLow(x0, x1);
        const hi = zipHigh(x0, x1);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(wp, i16x8.extend_low_i8x16_s(lo)));
        a1 = i32x4.add(a1, i32x4.dot_i16x8_s(wp, i16x8.extend_high_i8x16_s(lo)));
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(wp, i16x8.extend_low_i8x16_s(hi)));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(wp, i16x8.extend_high_i8x16_s(hi)));
      }
      const out = acc + (c << 2);
      rescaleInto(out, al, a0, ws);
      rescaleInto(out + 16, al, a1, ws);
      rescaleInto(out + 32, al, a2, ws);
      rescaleInto(out + 48, al, a3, ws);
    }
  }
}

