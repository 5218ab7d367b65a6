// f32-qk-dot-1x4: scores of a few query rows against a chunk of cached keys, for decode.
//
// Decode has one query row per head (a few per KV head with GQA), so the 4x8 tiles of the
// prefill kernel (8 query lanes) would waste 7/8 of their lanes. Here each key row is read
// whole and in memory order, 64 bytes per step into 4 independent f32x4 accumulators
// (dotSplit); 4 keys are reduced together by a 4x4 transpose-add (reduce4), so one vector
// store writes 4 scores. Reading key rows one after the other, rather than 4 rows
// interleaved 16 bytes at a time, measured 27.6 vs 31 ms per step at 8k tokens (H32, D128,
// cache in DRAM) and 2.7 vs 3.3 ms at 2k: the hardware prefetchers follow one stream
// better than four. The rows of a block loop inside the 4-key step, so the 4 key rows
// (<= 2 KiB) come from memory once and are re-read from L1 by the other rows of a GQA group.
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

/** Lane sums of q·k over dimBytes (a multiple of 16): one key row read sequentially, 64 bytes per step. */
// @ts-ignore: decorator
@inline function dotSplit(q: usize, k: usize, dimBytes: usize): v128 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let d: usize = 0;
  for (; d + 64 <= dimBytes; d += 64) {
    a0 = madd(v128.load(q + d), v128.load(k + d), a0);
    a1 = madd(v128.load(q + d, 16), v128.load(k + d, 16), a1);
    a2 = madd(v128.load(q + d, 32), v128.load(k + d, 32), a2);
    a3 = madd(v128.load(q + d, 48), v128.load(k + d, 48), a3);
  }
  // leftovers: one vector at a time
  for (; d < dimBytes; d += 16) a0 = madd(v128.load(q + d), v128.load(k + d), a0);
  return f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
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
  const vscale = f32x4.splat(scale);
  const vfactor = f32x4.splat(factor);
  const dimBytes = <usize>dimPad << 2;
  let j = 0;
  for (; j + 4 <= keys; j += 4) {
    const k0 = k + <usize>j * kSeqBytes;
    for (let t = 0; t < rows; t++) {
      const qRow = q + <usize>t * qRowBytes;
      const d0 = dotSplit(qRow, k0, dimBytes);
      const d1 = dotSplit(qRow, k0 + kSeqBytes, dimBytes);
      const d2 = dotSplit(qRow, k0 + 2 * kSeqBytes, dimBytes);
      const d3 = dotSplit(qRow, k0 + 3 * kSeqBytes, dimBytes);
      v128.store(s + <usize>t * sRowBytes + (<usize>j << 2), f32x4.mul(f32x4.mul(reduce4(d0, d1, d2, d3), vfactor), vscale));
    }
  }
  // leftovers: one key at a time
  for (; j < keys; j++) {
    const k0 = k + <usize>j * kSeqBytes;
    for (let t = 0; t < rows; t++) {
      const qRow = q + <usize>t * qRowBytes;
      let a0 = f32x4.splat(0);
      for (let d: usize = 0; d < dimBytes; d += 16) a0 = madd(v128.load(qRow + d), v128.load(k0 + d), a0);
      const sum = f32x4.extract_lane(a0, 0) + f32x4.extract_lane(a0, 1)
        + f32x4.extract_lane(a0, 2) + f32x4.extract_lane(a0, 3);
      store<f32>(s + <usize>t * sRowBytes + (<usize>j << 2), sum * factor * scale);
    }
  }
}
