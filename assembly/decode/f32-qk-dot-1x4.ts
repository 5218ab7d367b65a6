// f32-qk-dot-1x4: scores of a few query rows against a chunk of cached keys, for decode.
//
// Decode has one query row per head (a few per KV head with GQA), so the 4x8 tiles of the
// prefill kernel (8 query lanes) would waste 7/8 of their lanes. Here each key row is read
// whole and in memory order, 64 bytes per step into 4 independent f32x4 accumulators
// (dotSplit); 4 keys are reduced together by a 4x4 transpose-add (reduce4), so one vector
// store writes 4 scores. Reading key rows one after the other, rather than 4 rows
// interleaved 16 bytes at a time, measured 27.6 vs 31 ms per step at 8k tokens (H32, D128,
// cache in DRAM) and 2.7 vs 3.3 ms at 2k: the hardware prefetchers follow one stream
// better than four (on the Intel machine, before decode/rows.ts touchRows walked each chunk
// in memory order first). Pairs of rows take a 2x4 tile (tile2x4: per 16 bytes, 2 q and 4
// key loads feed 8 multiply-adds in 8 chains, where row-by-key dots load 2 vectors per
// multiply-add and re-read the 4 key rows from L1 for every row), and a lone row (MHA decode,
// the last of an odd group) its 1x4 cut (tile1x4): 4 keys side by side, each q vector
// loaded once for the 4. On the AMD EPYC, against the row-by-key dots of the lone row,
// the 2x4 tile paired with itself measured 0.88–0.91× the step and tile1x4 0.81× (H32 Lk2048
// D128, A/B medians of 21–31 rounds, load 2–5; tile1x4 against the paired tile 0.88–0.92×
// in 3 A/Bs of 21–41 rounds, 1.02× in a 4th); an earlier A/B of 7 rounds had given 1.07× for
// a 1x4 tile. tile1x4 costs the default entry 59 gzipped bytes (16 in the wasm alone; the
// paired tile saved 71 in the wasm). dotSplit remains for leftover keys.
// Four rows per KV head (GQA H16 over 4 KV heads, Lk2048 D128) keep two 2x4 passes per 4 keys:
// a 4x2 tile (4 q + 2 key vectors, 8 chains) has the same 6 loads per 8 multiply-adds and
// measured 1.007× the step (0.985–1.047) relaxed, 0.998× with the cache in DRAM
// (bench/ab-kernels.mjs --cold), 1.023× / 1.018× simd; a 2x6 tile (12 chains, 15 registers
// live) 1.23× relaxed; tile2x4 unrolled by 2 (32 bytes per step, constant offsets) 1.18× (1.13× with
// the cache in DRAM), +268 B of wasm (A/B medians of 15–21 rounds, load 0.6–3.8, 2026-12-06): not taken.
// Contract: dimPad is a multiple of 4 and both query and key rows hold dimPad elements
// (zero padding past headDim); key rows are kSeqBytes apart.
import { madd } from '../inline/madd';

/** Σ of each of 4 accumulators, as one vector [Σa0, Σa1, Σa2, Σa3]. */
// @ts-ignore: decorator
@inline export function reduce4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const t01 = f32x4.add(f32x4.shuffle(a0, a1, 0, 4, 1, 5), f32x4.shuffle(a0, a1, 2, 6, 3, 7));
  const t23 = f32x4.add(f32x4.shuffle(a2, a3, 0, 4, 1, 5), f32x4.shuffle(a2, a3, 2, 6, 3, 7));
  return f32x4.add(f32x4.shuffle(t01, t23, 0, 1, 4, 5), f32x4.shuffle(t01, t23, 2, 3, 6, 7));
}

/**
 * Lane sums of q·k over dimBytes (a multiple of 16): one key row read sequentially. Not inlined: 4 copies of it cost the default entry ≈ 200 gzipped bytes.
 */
function dotSplit(q: usize, k: usize, dimBytes: usize): v128 {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  // 4 chains, rotated every vector (the moves cost nothing after renaming): one loop for every
  // width, where an unrolled loop needs a leftover loop too (bytes of the default entry).
  for (let d: usize = 0; d < dimBytes; d += 16) {
    const n = madd(v128.load(q + d), v128.load(k + d), a3);
    a3 = a2; a2 = a1; a1 = a0; a0 = n;
  }
  return f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
}

/**
 * Scores of 2 query rows against 4 key rows, stored as 4 scores at s0 (row 0) and at s1
 * (row 1), times `mul`: each key vector is loaded once for both rows and each q vector once
 * for 4 keys (6 loads per 8 multiply-adds, against 2 per 1 for a row-by-key dot), with 8
 * independent accumulators (latency hidden: a chain of 4 would bound the loop by the add latency).
 */
// @ts-ignore: decorator
@inline function tile2x4(q0: usize, q1: usize, k0: usize, kSeqBytes: usize, dimBytes: usize, s0: usize, s1: usize, mul: v128): void {
  const k1 = k0 + kSeqBytes, k2 = k1 + kSeqBytes, k3 = k2 + kSeqBytes;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  for (let d: usize = 0; d < dimBytes; d += 16) {
    const x0 = v128.load(q0 + d);
    const x1 = v128.load(q1 + d);
    let y = v128.load(k0 + d);
    a0 = madd(x0, y, a0); b0 = madd(x1, y, b0);
    y = v128.load(k1 + d);
    a1 = madd(x0, y, a1); b1 = madd(x1, y, b1);
    y = v128.load(k2 + d);
    a2 = madd(x0, y, a2); b2 = madd(x1, y, b2);
    y = v128.load(k3 + d);
    a3 = madd(x0, y, a3); b3 = madd(x1, y, b3);
  }
  v128.store(s0, f32x4.mul(reduce4(a0, a1, a2, a3), mul));
  v128.store(s1, f32x4.mul(reduce4(b0, b1, b2, b3), mul));
}

/**
 * tile2x4 for one query row: 4 scores at s0; 4 key loads and 1 q load feed 4 multiply-adds
 * in 4 chains (the same order of sums as tile2x4's row 0).
 */
// @ts-ignore: decorator
@inline function tile1x4(q0: usize, k0: usize, kSeqBytes: usize, dimBytes: usize, s0: usize, mul: v128): void {
  const k1 = k0 + kSeqBytes, k2 = k1 + kSeqBytes, k3 = k2 + kSeqBytes;
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  for (let d: usize = 0; d < dimBytes; d += 16) {
    const x0 = v128.load(q0 + d);
    a0 = madd(x0, v128.load(k0 + d), a0);
    a1 = madd(x0, v128.load(k1 + d), a1);
    a2 = madd(x0, v128.load(k2 + d), a2);
    a3 = madd(x0, v128.load(k3 + d), a3);
  }
  v128.store(s0, f32x4.mul(reduce4(a0, a1, a2, a3), mul));
}

/**
 * s[t][j] = scale · factor · Σ_d q[t][d] · K[j][d] for rows t < rows and keys j < keys
 * (factor undoes a power-of-two scaling of q or K: 1 for float32 caches).
 * @param s scores, rows `sRowBytes` apart (16-byte aligned)
 * @param q query rows, `qRowBytes` apart, dimPad f32 each (16-byte aligned)
 * @param k key row 0 of the chunk; rows `kSeqBytes` apart
 */
export function scoreRows(
  s: usize, sRowBytes: usize, q: usize, qRowBytes: usize, rows: i32, dimPad: i32,
  k: usize, kSeqBytes: usize, keys: i32, scale: f32, factor: f32,
): void {
  // scale·factor as one multiplier: factor is a power of two, so (x·factor)·scale = x·(factor·scale) exactly.
  const mul = f32x4.splat(scale * factor);
  const dimBytes = <usize>dimPad << 2;
  let j = 0;
  for (; j + 4 <= keys; j += 4) {
    const k0 = k + <usize>j * kSeqBytes;
    const sj = s + (<usize>j << 2);
    for (let t = 0; t < rows; t += 2) {
      // A lone row (MHA decode: every block; the last of an odd group): tile1x4.
      const qRow = q + <usize>t * qRowBytes;
      const sRow = sj + <usize>t * sRowBytes;
      const pair = t + 1 < rows;
      if (pair) tile2x4(qRow, qRow + qRowBytes, k0, kSeqBytes, dimBytes, sRow, sRow + sRowBytes, mul);
      else tile1x4(qRow, k0, kSeqBytes, dimBytes, sRow, mul);
    }
  }
  // leftovers: one key at a time
  for (; j < keys; j++) {
    const k0 = k + <usize>j * kSeqBytes;
    for (let t = 0; t < rows; t++) {
      const a0 = dotSplit(q + <usize>t * qRowBytes, k0, dimBytes);
      const sum = f32x4.extract_lane(a0, 0) + f32x4.extract_lane(a0, 1)
        + f32x4.extract_lane(a0, 2) + f32x4.extract_lane(a0, 3);
      store<f32>(s + <usize>t * sRowBytes + (<usize>j << 2), sum * f32x4.extract_lane(mul, 0));
    }
  }
}
