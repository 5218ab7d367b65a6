// f32-dkdv-4x8 and f32-dq-4x8: the backward's gradient updates as register tiles of 4 × 8
// (two f32x4 per row of the tile: 8 accumulators + 2 loads + 1 splat = 11 live v128, inside
// the 15 xmm registers V8 allocates; 4 × 16 tiles spill, as the forward's f32-qk-4x8 notes).
//
// dK/dV: acc[j][·] += Σ_t w[t][j] · src_t[·] over the rows t of a chunk (unit.ts gathers up
// to CHUNK_ROWS rows' p and dl before it calls this), so an accumulator tile is loaded and
// stored once per chunk instead of once per four rows, and the inner loop is the forward's
// 6 loads per 8 multiply-adds. dQ: dq[r][·] += Σ_j dl[r][j] · K[j][·] over the block's keys,
// K read in place (finite in the fast path, so 0 · K is 0).
import { madd } from '../inline/madd';

/** The `count` (< 4) floats at p, zeros after: a tail chunk that never reads past the row. */
@inline export function loadTail(p: usize, count: i32): v128 {
  let x = f32x4.splat(0);
  if (count > 0) x = f32x4.replace_lane(x, 0, load<f32>(p));
  if (count > 1) x = f32x4.replace_lane(x, 1, load<f32>(p, 4));
  if (count > 2) x = f32x4.replace_lane(x, 2, load<f32>(p, 8));
  return x;
}

/** Stores the first `count` (< 4) lanes of x at p. */
@inline export function storeTail(p: usize, x: v128, count: i32): void {
  if (count > 0) store<f32>(p, f32x4.extract_lane(x, 0));
  if (count > 1) store<f32>(p, f32x4.extract_lane(x, 1), 4);
  if (count > 2) store<f32>(p, f32x4.extract_lane(x, 2), 8);
}

/**
 * acc[j][0..dim) += Σ_{t<rows} w[t][j] · src_t[0..dim) for keys j < keys (rounded up to 4).
 * @param acc accumulators [16][accStride bytes], padded to a multiple of 4 columns
 * @param w weights [rows][16] f32 (p for dV, dl for dK; 0 on masked lanes)
 * @param rowAt the rows' source addresses, [rows] usize (dO rows for dV, Q rows for dK)
 */
export function keyTileUpdate(acc: usize, accStride: usize, w: usize, rowAt: usize, rows: i32, keys: i32, dim: i32): void {
  const wEnd = w + (<usize>rows << 6);
  for (let j = 0; j < keys; j += 4) {
    const a0 = acc + <usize>j * accStride;
    const a1 = a0 + accStride, a2 = a1 + accStride, a3 = a2 + accStride;
    const wj = w + (<usize>j << 2);
    let d = 0;
    for (; d + 8 <= dim; d += 8) {
      const off = <usize>d << 2;
      let x0 = v128.load(a0 + off), y0 = v128.load(a0 + off, 16);
      let x1 = v128.load(a1 + off), y1 = v128.load(a1 + off, 16);
      let x2 = v128.load(a2 + off), y2 = v128.load(a2 + off, 16);
      let x3 = v128.load(a3 + off), y3 = v128.load(a3 + off, 16);
      let wt = wj;
      let at = rowAt;
      while (wt < wEnd) {
        const src = load<usize>(at) + off;
        const sa = v128.load(src), sb = v128.load(src, 16);
        let s = v128.load32_splat(wt);
        x0 = madd(s, sa, x0); y0 = madd(s, sb, y0);
        s = v128.load32_splat(wt, 4);
        x1 = madd(s, sa, x1); y1 = madd(s, sb, y1);
        s = v128.load32_splat(wt, 8);
        x2 = madd(s, sa, x2); y2 = madd(s, sb, y2);
        s = v128.load32_splat(wt, 12);
        x3 = madd(s, sa, x3); y3 = madd(s, sb, y3);
        wt += 64;
        at += sizeof<usize>();
      }
      v128.store(a0 + off, x0); v128.store(a0 + off, y0, 16);
      v128.store(a1 + off, x1); v128.store(a1 + off, y1, 16);
      v128.store(a2 + off, x2); v128.store(a2 + off, y2, 16);
      v128.store(a3 + off, x3); v128.store(a3 + off, y3, 16);
    }
    // leftovers: 4 columns at a time, the last chunk zero-padded (acc is padded to 4)
    for (; d < dim; d += 4) {
      const off = <usize>d << 2;
      const whole = d + 4 <= dim;
      let x0 = v128.load(a0 + off), x1 = v128.load(a1 + off), x2 = v128.load(a2 + off), x3 = v128.load(a3 + off);
      let wt = wj;
      let at = rowAt;
      while (wt < wEnd) {
        const src = load<usize>(at) + off;
        const sa = whole ? v128.load(src) : loadTail(src, dim - d);
        x0 = madd(v128.load32_splat(wt), sa, x0);
        x1 = madd(v128.load32_splat(wt, 4), sa, x1);
        x2 = madd(v128.load32_splat(wt, 8), sa, x2);
        x3 = madd(v128.load32_splat(wt, 12), sa, x3);
        wt += 64;
        at += sizeof<usize>();
      }
      v128.store(a0 + off, x0); v128.store(a1 + off, x1); v128.store(a2 + off, x2); v128.store(a3 + off, x3);
    }
  }
}

/**
 * dq_r[0..dim) += Σ_{j<keys} dl[r][j] · K[j][0..dim) for the four rows dq, dq + qS, ….
 * @param dl the four rows' dlogits, [4][16] f32
 * @param kRow key row 0 of the block (in place, stride kS bytes)
 */
export function queryTileUpdate(dq: usize, qS: usize, dl: usize, kRow: usize, kS: usize, keys: i32, dim: i32): void {
  const dlEnd = dl + (<usize>keys << 2);
  const q1 = dq + qS, q2 = q1 + qS, q3 = q2 + qS;
  let d = 0;
  for (; d + 8 <= dim; d += 8) {
    const off = <usize>d << 2;
    let x0 = v128.load(dq + off), y0 = v128.load(dq + off, 16);
    let x1 = v128.load(q1 + off), y1 = v128.load(q1 + off, 16);
    let x2 = v128.load(q2 + off), y2 = v128.load(q2 + off, 16);
    let x3 = v128.load(q3 + off), y3 = v128.load(q3 + off, 16);
    let k = kRow + off;
    let lt = dl;
    while (lt < dlEnd) {
      const ka = v128.load(k), kb = v128.load(k, 16);
      let s = v128.load32_splat(lt);
      x0 = madd(s, ka, x0); y0 = madd(s, kb, y0);
      s = v128.load32_splat(lt, 64);
      x1 = madd(s, ka, x1); y1 = madd(s, kb, y1);
      s = v128.load32_splat(lt, 128);
      x2 = madd(s, ka, x2); y2 = madd(s, kb, y2);
      s = v128.load32_splat(lt, 192);
      x3 = madd(s, ka, x3); y3 = madd(s, kb, y3);
      lt += 4;
      k += kS;
    }
    v128.store(dq + off, x0); v128.store(dq + off, y0, 16);
    v128.store(q1 + off, x1); v128.store(q1 + off, y1, 16);
    v128.store(q2 + off, x2); v128.store(q2 + off, y2, 16);
    v128.store(q3 + off, x3); v128.store(q3 + off, y3, 16);
  }
  // leftovers: 4 columns at a time; the last chunk read and written lane by lane (dq and K
  // rows are not padded)
  for (; d < dim; d += 4) {
    const off = <usize>d << 2;
    const count = dim - d;
    const whole = count >= 4;
    let x0 = whole ? v128.load(dq + off) : loadTail(dq + off, count);
    let x1 = whole ? v128.load(q1 + off) : loadTail(q1 + off, count);
    let x2 = whole ? v128.load(q2 + off) : loadTail(q2 + off, count);
    let x3 = whole ? v128.load(q3 + off) : loadTail(q3 + off, count);
    let k = kRow + off;
    let lt = dl;
    while (lt < dlEnd) {
      const ka = whole ? v128.load(k) : loadTail(k, count);
      x0 = madd(v128.load32_splat(lt), ka, x0);
      x1 = madd(v128.load32_splat(lt, 64), ka, x1);
      x2 = madd(v128.load32_splat(lt, 128), ka, x2);
      x3 = madd(v128.load32_splat(lt, 192), ka, x3);
      lt += 4;
      k += kS;
    }
    if (whole) {
      v128.store(dq + off, x0); v128.store(q1 + off, x1); v128.store(q2 + off, x2); v128.store(q3 + off, x3);
    } else {
      storeTail(dq + off, x0, count); storeTail(q1 + off, x1, count); storeTail(q2 + off, x2, count); storeTail(q3 + off, x3, count);
    }
  }
}
