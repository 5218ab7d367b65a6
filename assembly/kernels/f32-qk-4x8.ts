// f32-qk-4x8-splat: one score tile Sᵀ = scale · K·Qpᵀ for 8 packed queries.
//
// Layout: Qp is the packed query panel [headDim][8] (query lanes 0..7 contiguous per d,
// zero in unused lanes); K rows are read in place (row-major, any row stride), never packed;
// S is written transposed, [key][8 queries], so that the online softmax that follows is
// vectorized across the 8 queries with no horizontal reduction.
//
// Micro-kernel 4 keys x 8 queries: per d, 2 vector loads of Qp[d], 4 load32_splat of
// K[j..j+3][d], 8 multiply-adds into 8 accumulators. 8 accumulators + 2 Q + 1-2 splats fit
// V8's 15 usable xmm registers; a 4x8 f32x4 tile measured ≈32 GFLOP/s (simd) and
// ≈40 GFLOP/s (relaxed_madd) on this machine, larger tiles spill.
// The scale is applied once per score (logit = scale·(q·k), as src/plan.ts writes it), and
// the score clamped as it is stored (src/plan.ts SCORE_LIMIT): 2 vector ops per 4 scores,
// off the critical path of the D-long multiply-add chains.
import { madd } from '../inline/madd';
import { clampAt } from '../inline/consts';

/**
 * Writes s[j][0..8) = clamp(scale · Σ_d qp[d][0..8) · K[j][d]) for keys j in [0, keys).
 * @param s output tile, [keys][8] f32, 16-byte aligned
 * @param qp packed queries, [headDim][8] f32, 16-byte aligned
 * @param kRow byte address of key row 0 of the tile
 * @param kSeqBytes byte stride between key rows
 * @param limitAt byte offset in CONSTS of the clamp's upper bound (lower bound 16 bytes after):
 *   C_SCORE_MAX_LOG2, C_SCORE_MAX, or C_INF for no clamp (inline/consts.ts, clampAt)
 */
export function scoreTile(
  s: usize, qp: usize, kRow: usize, kSeqBytes: usize, keys: i32, headDim: i32, scale: f32,
  limitAt: usize,
): void {
  const vscale = f32x4.splat(scale);
  let j = 0;
  for (; j + 4 <= keys; j += 4) {
    let k0 = kRow + <usize>j * kSeqBytes;
    let k1 = k0 + kSeqBytes;
    let k2 = k1 + kSeqBytes;
    let k3 = k2 + kSeqBytes;
    let a0 = f32x4.splat(0), b0 = f32x4.splat(0);
    let a1 = f32x4.splat(0), b1 = f32x4.splat(0);
    let a2 = f32x4.splat(0), b2 = f32x4.splat(0);
    let a3 = f32x4.splat(0), b3 = f32x4.splat(0);
    let q = qp;
    const qEnd = qp + (<usize>headDim << 5);
    // Not unrolled over d: unrolling by 2 with immediate offsets was slower (35.1 vs 37.6
    // GFLOP/s simd, 42.4 vs 47.5 relaxed; measured), because TurboFan hoists all the loads
    // of the unrolled body to its top and spills three accumulators.
    while (q < qEnd) {
      const qa = v128.load(q);
      const qb = v128.load(q, 16);
      let x = v128.load32_splat(k0);
      a0 = madd(qa, x, a0);
      b0 = madd(qb, x, b0);
      x = v128.load32_splat(k1);
      a1 = madd(qa, x, a1);
      b1 = madd(qb, x, b1);
      x = v128.load32_splat(k2);
      a2 = madd(qa, x, a2);
      b2 = madd(qb, x, b2);
      x = v128.load32_splat(k3);
      a3 = madd(qa, x, a3);
      b3 = madd(qb, x, b3);
      q += 32;
      k0 += 4;
      k1 += 4;
      k2 += 4;
      k3 += 4;
    }
    const out = s + (<usize>j << 5);
    v128.store(out, clampAt(f32x4.mul(a0, vscale), limitAt));
    v128.store(out, clampAt(f32x4.mul(b0, vscale), limitAt), 16);
    v128.store(out, clampAt(f32x4.mul(a1, vscale), limitAt), 32);
    v128.store(out, clampAt(f32x4.mul(b1, vscale), limitAt), 48);
    v128.store(out, clampAt(f32x4.mul(a2, vscale), limitAt), 64);
    v128.store(out, clampAt(f32x4.mul(b2, vscale), limitAt), 80);
    v128.store(out, clampAt(f32x4.mul(a3, vscale), limitAt), 96);
    v128.store(out, clampAt(f32x4.mul(b3, vscale), limitAt), 112);
  }
  // leftovers: one key at a time
  for (; j < keys; j++) {
    let k0 = kRow + <usize>j * kSeqBytes;
    let a0 = f32x4.splat(0), b0 = f32x4.splat(0);
    let q = qp;
    const qEnd = qp + (<usize>headDim << 5);
    while (q < qEnd) {
      const x = v128.load32_splat(k0);
      a0 = madd(v128.load(q), x, a0);
      b0 = madd(v128.load(q, 16), x, b0);
      q += 32;
      k0 += 4;
    }
    const out = s + (<usize>j << 5);
    v128.store(out, clampAt(f32x4.mul(a0, vscale), limitAt));
    v128.store(out, clampAt(f32x4.mul(b0, vscale), limitAt), 16);
  }
}
