// Four query rows (of one query head) against one block of BLOCK_KEYS keys: the unit's
// inner step when the block's K and V are finite (unit.ts; otherwise one row at a time,
// which skips masked keys so a NaN there cannot leak through 0·NaN).
//
// Four rows share every load of the transposed key and value blocks (16 multiply-adds per
// four loads instead of four), and each dK/dV accumulator chunk is loaded and stored once
// per four rows. Measured (H8 N1024 D64, relaxed SIMD, one thread, bench/backward.ts, side
// by side): see the README's bench figures.
import { madd } from '../inline/madd';
import { Call, BLOCK_KEYS } from './layout';
import { finishScores, gradLanes } from './row';

/** The `count` (< 4) floats at p, zeros after: a tail chunk that never reads past the row. */
@inline function loadTail(p: usize, count: i32): v128 {
  let x = f32x4.splat(0);
  if (count > 0) x = f32x4.replace_lane(x, 0, load<f32>(p));
  if (count > 1) x = f32x4.replace_lane(x, 1, load<f32>(p, 4));
  if (count > 2) x = f32x4.replace_lane(x, 2, load<f32>(p, 8));
  return x;
}

/** Chunk `d` (4 lanes from element d) of a row of `dim` elements, zero past the row. */
@inline function chunk(row: usize, d: i32, dim: i32): v128 {
  const p = row + (<usize>d << 2);
  return d + 4 <= dim ? v128.load(p) : loadTail(p, dim - d);
}

/** Stores the lanes of chunk `d` that lie inside a row of `dim` elements. */
@inline function storeChunk(row: usize, d: i32, dim: i32, x: v128): void {
  const p = row + (<usize>d << 2);
  if (d + 4 <= dim) {
    v128.store(p, x);
    return;
  }
  const count = dim - d;
  store<f32>(p, f32x4.extract_lane(x, 0));
  if (count > 1) store<f32>(p, f32x4.extract_lane(x, 1), 4);
  if (count > 2) store<f32>(p, f32x4.extract_lane(x, 2), 8);
}

/**
 * The step of rows i..i+3 of head h: scores, p, dl into the row buffers, then
 * dV += Pᵀ·dO, dK += dLᵀ·Q (into the block's accumulators), dQ += dL·K (in place).
 * `rowLse`/`delta` addresses: the four rows' lse and delta (contiguous); `lims` the four rows'
 * allowed key counts in the block (0 for a row with no gradient), `keys` their maximum.
 */
export function gradRows4(
  c: Call, qRow: usize, doRow: usize, dqRow: usize, lseAt: usize, deltaAt: usize,
  kBlock: usize, keys: i32, dbiasRow: usize, lims: usize,
): void {
  scores4(c, qRow);

  // dP = dO·Vᵀ, the same way.
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  let e0 = a0, e1 = a0, e2 = a0, e3 = a0, g0 = a0, g1 = a0, g2 = a0, g3 = a0;
  const oS = c.oS, qS = c.qS;
  a0 = f32x4.splat(0); a1 = a0; a2 = a0; a3 = a0; b0 = a0; b1 = a0; b2 = a0; b3 = a0;
  e0 = a0; e1 = a0; e2 = a0; e3 = a0; g0 = a0; g1 = a0; g2 = a0; g3 = a0;
  for (let d = 0; d < c.valueDim; d++) {
    const at = c.vt + (<usize>d << 6);
    const v0 = v128.load(at), v1 = v128.load(at, 16), v2 = v128.load(at, 32), v3 = v128.load(at, 48);
    const off = <usize>d << 2;
    let x = v128.load32_splat(doRow + off);
    a0 = madd(x, v0, a0); a1 = madd(x, v1, a1); a2 = madd(x, v2, a2); a3 = madd(x, v3, a3);
    x = v128.load32_splat(doRow + oS + off);
    b0 = madd(x, v0, b0); b1 = madd(x, v1, b1); b2 = madd(x, v2, b2); b3 = madd(x, v3, b3);
    x = v128.load32_splat(doRow + 2 * oS + off);
    e0 = madd(x, v0, e0); e1 = madd(x, v1, e1); e2 = madd(x, v2, e2); e3 = madd(x, v3, e3);
    x = v128.load32_splat(doRow + 3 * oS + off);
    g0 = madd(x, v0, g0); g1 = madd(x, v1, g1); g2 = madd(x, v2, g2); g3 = madd(x, v3, g3);
  }
  const capped = c.softcap > 0;
  const scale = f32x4.splat(c.scale);
  rowLanes(c, 0, a0, a1, a2, a3, lseAt, deltaAt, capped, scale);
  rowLanes(c, 1, b0, b1, b2, b3, lseAt, deltaAt, capped, scale);
  rowLanes(c, 2, e0, e1, e2, e3, lseAt, deltaAt, capped, scale);
  rowLanes(c, 3, g0, g1, g2, g3, lseAt, deltaAt, capped, scale);
  if (dbiasRow != 0) {
    for (let r = 0; r < 4; r++) {
      const lim = load<i32>(lims + (<usize>r << 2));
      const dst = dbiasRow + <usize>r * (<usize>c.seqLenK << 2);
      for (let j = 0; j < lim; j++) store<f32>(dst + (<usize>j << 2), load<f32>(c.sRow + (<usize>r << 6) + (<usize>j << 2)));
    }
  }

  // dV[j] += Σ_r p[r][j]·dO[r] and dK[j] += Σ_r dl[r][j]·q[r], chunk by chunk; the four
  // rows' chunks stay in registers across the keys.
  const valueDim4 = (c.valueDim + 3) & ~3;
  for (let d = 0; d < c.valueDim; d += 4) {
    const o0 = chunk(doRow, d, c.valueDim), o1 = chunk(doRow + oS, d, c.valueDim);
    const o2 = chunk(doRow + 2 * oS, d, c.valueDim), o3 = chunk(doRow + 3 * oS, d, c.valueDim);
    let acc = c.dvAcc + (<usize>d << 2);
    const stride = <usize>valueDim4 << 2;
    for (let j = 0; j < keys; j++) {
      const pj = c.pRow + (<usize>j << 2);
      let x = madd(v128.load32_splat(pj), o0, v128.load(acc));
      x = madd(v128.load32_splat(pj + 64), o1, x);
      x = madd(v128.load32_splat(pj + 128), o2, x);
      v128.store(acc, madd(v128.load32_splat(pj + 192), o3, x));
      acc += stride;
    }
  }
  const headDim4 = (c.headDim + 3) & ~3;
  for (let d = 0; d < c.headDim; d += 4) {
    const q0 = chunk(qRow, d, c.headDim), q1 = chunk(qRow + qS, d, c.headDim);
    const q2 = chunk(qRow + 2 * qS, d, c.headDim), q3 = chunk(qRow + 3 * qS, d, c.headDim);
    let acc = c.dkAcc + (<usize>d << 2);
    const stride = <usize>headDim4 << 2;
    let krow = kBlock;
    // dQ chunk of the four rows, accumulated over the same keys.
    let dq0 = chunk(dqRow, d, c.headDim), dq1 = chunk(dqRow + qS, d, c.headDim);
    let dq2 = chunk(dqRow + 2 * qS, d, c.headDim), dq3 = chunk(dqRow + 3 * qS, d, c.headDim);
    for (let j = 0; j < keys; j++) {
      const lj = c.dlRow + (<usize>j << 2);
      const l0 = v128.load32_splat(lj), l1 = v128.load32_splat(lj + 64), l2 = v128.load32_splat(lj + 128), l3 = v128.load32_splat(lj + 192);
      let x = madd(l0, q0, v128.load(acc));
      x = madd(l1, q1, x);
      x = madd(l2, q2, x);
      v128.store(acc, madd(l3, q3, x));
      acc += stride;
      const kv = chunk(krow, d, c.headDim);
      dq0 = madd(l0, kv, dq0);
      dq1 = madd(l1, kv, dq1);
      dq2 = madd(l2, kv, dq2);
      dq3 = madd(l3, kv, dq3);
      krow += c.kS;
    }
    storeChunk(dqRow, d, c.headDim, dq0);
    storeChunk(dqRow + qS, d, c.headDim, dq1);
    storeChunk(dqRow + 2 * qS, d, c.headDim, dq2);
    storeChunk(dqRow + 3 * qS, d, c.headDim, dq3);
  }
}

/**
 * The biased scores of rows at qRow, qRow + qS, ... (four rows) into the row buffers
 * (finishScores): 16 accumulators, each kt load shared by the four rows. The row buffers'
 * bias rows must be filled.
 */
export function scores4(c: Call, qRow: usize): void {
  // Scores of the four rows: 16 accumulators, each kt load shared by four rows.
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  let e0 = a0, e1 = a0, e2 = a0, e3 = a0, g0 = a0, g1 = a0, g2 = a0, g3 = a0;
  const qS = c.qS;
  for (let d = 0; d < c.headDim; d++) {
    const at = c.kt + (<usize>d << 6);
    const k0 = v128.load(at), k1 = v128.load(at, 16), k2 = v128.load(at, 32), k3 = v128.load(at, 48);
    const off = <usize>d << 2;
    let x = v128.load32_splat(qRow + off);
    a0 = madd(x, k0, a0); a1 = madd(x, k1, a1); a2 = madd(x, k2, a2); a3 = madd(x, k3, a3);
    x = v128.load32_splat(qRow + qS + off);
    b0 = madd(x, k0, b0); b1 = madd(x, k1, b1); b2 = madd(x, k2, b2); b3 = madd(x, k3, b3);
    x = v128.load32_splat(qRow + 2 * qS + off);
    e0 = madd(x, k0, e0); e1 = madd(x, k1, e1); e2 = madd(x, k2, e2); e3 = madd(x, k3, e3);
    x = v128.load32_splat(qRow + 3 * qS + off);
    g0 = madd(x, k0, g0); g1 = madd(x, k1, g1); g2 = madd(x, k2, g2); g3 = madd(x, k3, g3);
  }
  finishScores(c, 0, a0, a1, a2, a3);
  finishScores(c, 1, b0, b1, b2, b3);
  finishScores(c, 2, e0, e1, e2, e3);
  finishScores(c, 3, g0, g1, g2, g3);

}

/** p, dS and dl of row r from its dP vectors. */
@inline function rowLanes(c: Call, r: usize, d0: v128, d1: v128, d2: v128, d3: v128, lseAt: usize, deltaAt: usize, capped: bool, scale: v128): void {
  const lse = v128.load32_splat(lseAt + (r << 2));
  const delta = v128.load32_splat(deltaAt + (r << 2));
  const at = r << 6;
  gradLanes(c, at, d0, lse, delta, capped, scale);
  gradLanes(c, at + 16, d1, lse, delta, capped, scale);
  gradLanes(c, at + 32, d2, lse, delta, capped, scale);
  gradLanes(c, at + 48, d3, lse, delta, capped, scale);
}

export { BLOCK_KEYS };
