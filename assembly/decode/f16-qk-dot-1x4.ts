// f16-qk-dot-1x4: scores of query rows against a chunk of float16 cached keys, converting
// each key vector in registers (cache/f16.ts fast path: 5 integer operations per 8 halves,
// exact, no multiply). As f32-qk-dot-1x4, 4 keys per stored vector of scores; here two key
// rows are read side by side (dot2Half) so that each q vector serves both (one q load per
// 16 halves instead of per 8). Used when a block has few rows, since each row converts the
// keys again (more rows convert once, into a tile: decode/rows.ts). Four key rows side by
// side per q vector (8 chains, as the float32 lone row's tile1x4) measured 1.18× the step
// for a lone row, 1.15× with rows.ts touchRows (H32 Lk2048 D128, relaxed, A/B medians of 21
// rounds, load 3.5–4, 2026-12-06): two key rows side by side stay.
// Contract: dim8 is a multiple of 8; key rows hold dim8 halves (zero padding) with no
// Inf/NaN; q rows are de-interleaved per 8 ([0,2,4,6,1,3,5,7]) and pre-multiplied by
// 2^qShift (decode/rows.ts); `factor` = 2^(112 − qShift) undoes both scalings.
import { madd } from '../inline/madd';
import { evenHalvesScaled, oddHalvesScaled, scaledMask } from '../cache/f16';

/**
 * Lane sums of q·y(k0) and q·y(k1) over halfBytes of two half key rows (a multiple of 16),
 * each read sequentially; each q vector serves both keys (one q load per 16 halves).
 */
// @ts-ignore: decorator
@inline function dot2Half(q: usize, k0: usize, k1: usize, halfBytes: usize, mask: v128): v128 {
  let e0 = f32x4.splat(0), o0 = f32x4.splat(0), e1 = f32x4.splat(0), o1 = f32x4.splat(0);
  for (let d: usize = 0; d < halfBytes; d += 16) {
    const qd = q + (d << 1);
    const qe = v128.load(qd);
    const qo = v128.load(qd, 16);
    const x0 = v128.load(k0 + d);
    const x1 = v128.load(k1 + d);
    e0 = madd(qe, evenHalvesScaled(x0, mask), e0);
    o0 = madd(qo, oddHalvesScaled(x0, mask), o0);
    e1 = madd(qe, evenHalvesScaled(x1, mask), e1);
    o1 = madd(qo, oddHalvesScaled(x1, mask), o1);
  }
  // Lanes 0..1: pairwise sums of key 0; lanes 2..3: of key 1 (reduce4 finishes the sums).
  const a = f32x4.add(e0, o0);
  const b = f32x4.add(e1, o1);
  return f32x4.add(f32x4.shuffle(a, b, 0, 1, 4, 5), f32x4.shuffle(a, b, 2, 3, 6, 7));
}

/**
 * s[t][j] = scale · factor · Σ q[t]·y(K[j]) for rows t < rows and keys j < keys.
 * @param k half key row 0 of the chunk; rows kSeqBytes apart
 */
export function scoreRowsHalf(
  s: usize, sRowBytes: usize, q: usize, qRowBytes: usize, rows: i32, dim8: i32,
  k: usize, kSeqBytes: usize, keys: i32, scale: f32, factor: f32,
): void {
  const vscale = f32x4.splat(scale);
  const vfactor = f32x4.splat(factor);
  const halfBytes = <usize>dim8 << 1;
  const mask = scaledMask();
  let j = 0;
  for (; j + 4 <= keys; j += 4) {
    const k0 = k + <usize>j * kSeqBytes;
    for (let t = 0; t < rows; t++) {
      const qRow = q + <usize>t * qRowBytes;
      const d01 = dot2Half(qRow, k0, k0 + kSeqBytes, halfBytes, mask);
      const d23 = dot2Half(qRow, k0 + 2 * kSeqBytes, k0 + 3 * kSeqBytes, halfBytes, mask);
      // d01 = [k0 pair sums (2), k1 pair sums (2)]: one more pairwise add gives the 4 dots.
      const sums = f32x4.add(f32x4.shuffle(d01, d23, 0, 2, 4, 6), f32x4.shuffle(d01, d23, 1, 3, 5, 7));
      const dots = f32x4.mul(sums, vfactor);
      v128.store(s + <usize>t * sRowBytes + (<usize>j << 2), f32x4.mul(dots, vscale));
    }
  }
  // leftovers: one key at a time
  for (; j < keys; j++) {
    const k0 = k + <usize>j * kSeqBytes;
    for (let t = 0; t < rows; t++) {
      let qp = q + <usize>t * qRowBytes;
      let a0 = f32x4.splat(0);
      for (let d: usize = 0; d < halfBytes; d += 16, qp += 32) {
        const x = v128.load(k0 + d);
        a0 = madd(v128.load(qp), evenHalvesScaled(x, mask), a0);
        a0 = madd(v128.load(qp, 16), oddHalvesScaled(x, mask), a0);
      }
      const sum = f32x4.extract_lane(a0, 0) + f32x4.extract_lane(a0, 1)
        + f32x4.extract_lane(a0, 2) + f32x4.extract_lane(a0, 3);
      store<f32>(s + <usize>t * sRowBytes + (<usize>j << 2), sum * factor * scale);
    }
  }
}
