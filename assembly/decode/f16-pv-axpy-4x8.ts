// f16-pv-axpy-4x8: the output update of the online softmax over float16 cached values,
// converting in registers (cache/f16.ts fast path), in the memory order of f32-pv-axpy-2x4:
//   o[t][:] = o[t][:]·alpha[t] + Σ_j p[t][j] · V[j][:]
// four keys at a time (one load and store of the accumulators per 4 keys), 8 columns (one
// v128 of halves → even and odd f32x4) per step. Eight keys per pass (as float32's lone row
// took four, f32-pv-axpy-2x4) measured 1.024× the step (H32 Lk2048 D128, relaxed, A/B median
// of 21 rounds, load 1.2, 2026-12-06) for 82 more gzipped bytes of the wasm.
// Contract: valueDim8 is a multiple of 8; value rows hold valueDim8 halves with no
// Inf/NaN; p is pre-multiplied by 2^112 (undoing the conversion's 2^-112); o is
// de-interleaved per 8 columns ([0,2,4,6,1,3,5,7]) and un-permuted by the caller.
import { madd } from '../inline/madd';
import { evenHalvesScaled, oddHalvesScaled, scaledMask } from '../cache/f16';

/**
 * @param v half value row 0 of the chunk; rows vSeqBytes apart
 * Other parameters as valueRows (f32-pv-axpy-2x4.ts).
 */
export function valueRowsHalf(
  o: usize, oRowBytes: usize, p: usize, pRowBytes: usize, alpha: usize, rows: i32, valueDim8: i32,
  v: usize, vSeqBytes: usize, keys: i32,
): void {
  const halfBytes = <usize>valueDim8 << 1;
  const mask = scaledMask();
  for (let t = 0; t < rows; t++) {
    const al = v128.load32_splat(alpha + (<usize>t << 2));
    const acc = o + <usize>t * oRowBytes;
    for (let c: usize = 0; c < halfBytes << 1; c += 16) v128.store(acc + c, f32x4.mul(v128.load(acc + c), al));
  }
  let j = 0;
  for (; j + 4 <= keys; j += 4) {
    const v0 = v + <usize>j * vSeqBytes;
    const v1 = v0 + vSeqBytes;
    const v2 = v1 + vSeqBytes;
    const v3 = v2 + vSeqBytes;
    for (let t = 0; t < rows; t++) {
      const pj = p + <usize>t * pRowBytes + (<usize>j << 2);
      const p0 = v128.load32_splat(pj);
      const p1 = v128.load32_splat(pj, 4);
      const p2 = v128.load32_splat(pj, 8);
      const p3 = v128.load32_splat(pj, 12);
      let acc = o + <usize>t * oRowBytes;
      for (let c: usize = 0; c < halfBytes; c += 16, acc += 32) {
        const x0 = v128.load(v0 + c);
        const x1 = v128.load(v1 + c);
        const x2 = v128.load(v2 + c);
        const x3 = v128.load(v3 + c);
        let e = madd(p0, evenHalvesScaled(x0, mask), v128.load(acc));
        let d = madd(p0, oddHalvesScaled(x0, mask), v128.load(acc, 16));
        e = madd(p1, evenHalvesScaled(x1, mask), e);
        d = madd(p1, oddHalvesScaled(x1, mask), d);
        e = madd(p2, evenHalvesScaled(x2, mask), e);
        d = madd(p2, oddHalvesScaled(x2, mask), d);
        v128.store(acc, madd(p3, evenHalvesScaled(x3, mask), e));
        v128.store(acc, madd(p3, oddHalvesScaled(x3, mask), d), 16);
      }
    }
  }
  // leftovers: one key at a time
  for (; j < keys; j++) {
    const v0 = v + <usize>j * vSeqBytes;
    for (let t = 0; t < rows; t++) {
      const p0 = v128.load32_splat(p + <usize>t * pRowBytes + (<usize>j << 2));
      let acc = o + <usize>t * oRowBytes;
      for (let c: usize = 0; c < halfBytes; c += 16, acc += 32) {
        const x0 = v128.load(v0 + c);
        v128.store(acc, madd(p0, evenHalvesScaled(x0, mask), v128.load(acc)));
        v128.store(acc, madd(p0, oddHalvesScaled(x0, mask), v128.load(acc, 16)), 16);
      }
    }
  }
}
