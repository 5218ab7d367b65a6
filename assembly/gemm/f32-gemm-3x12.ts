// f32-gemm-3x12-splat: the library's GEMM, C = A·B (+ bias), on B packed once in 8-column
// panels: the layer's projections and gradients (src/layer/gemm.ts), and the GEMM rate the
// bench sets attention against (bench/gemm-case.ts) and the SIMD peak (bench/layer.ts).
//
// Micro-kernel of the relaxed build: 3 rows of A × 12 columns of B, 9 f32x4 accumulators (the
// simd build keeps the attention kernels' 4x8, below). Per k: 3 vector loads
// of B (4 columns each, from one or two 8-column panels: a tile starts on a multiple of 4),
// 3 load32_splat of A[m..m+2][k], 9 multiply-adds (inline/madd.ts: relaxed_madd or mul+add
// per build). Leftover columns (< 12) go 4 at a time, leftover rows (and a decode step's GEMV,
// M < 3) one row at a time, 32 columns per pass.
//
// Why 3x12: independent FMA chains reach 47.5 GFLOP/s with 8, 50.0 with 9, 53.7 with 10, 54.9
// with 12 (Intel Xeon, Node 20, `node scripts/run-ts.mjs bench/simd-peak.ts`,
// bench/results/2026-12-06-node20-intel-xeon-simd-peak-chains.txt). The attention kernels' 4x8
// tile (8 chains), which this file used until 2026-12-06, ran at 0.82–0.84 of the 12-chain peak;
// 3x12 at 0.880 / 0.858 / 0.853 / 0.865 on Node 20 / 22 / 24 / 26 (`node bench/gemm-ab.mjs`,
// bench/results/2026-12-06-intel-xeon-gemm-ab.txt). It is the widest tile V8 11.3/12.4 (Node 20/22) keep in
// registers: they issue every load of a step before its multiply-adds, so a tile holds its B
// vectors and A splats at once beside its accumulators, 3 + 3 + 9 = 15 XMM registers (V8 uses
// xmm0–14). Measured and not taken: 5x8 (2 + 5 + 10) spills two accumulators, 0.54 of the peak
// (6x8 0.61; on V8 13+, Node 24/26, 5x8 ran 51.9–52.5 GFLOP/s, but one build serves every
// engine); 5x8 with 3 rows splatted from scalar loads (no XMM held) 0.825, the extra shuffles
// taking the FMA ports; a 4x8 k-loop unrolled by 2 spills (0.60). The simd build's
// multiply-add is f32x4.mul then f32x4.add, whose product needs one more register: 3x12 spills
// there (30.1 vs 38.6 GFLOP/s for 4x8, which runs at the mul + add peak), so it keeps 4x8:
// 2 vector loads of a panel and 4 splats per k, 8 accumulators, as f32-qk-4x8's scoreTile.
//
// Layouts (all f32, byte addresses, no alignment required):
//   A  row-major [M][K] (row stride K), read in place, or (gemmPanelsTransA) Aᵀ row-major
//      [K][M], each row block copied out as [K][4] first;
//   B  pre-packed in ceil(N/8) column panels, panel p = [K][8] holding B[k][8p..8p+8),
//      columns past N zero (src/layer/pack.ts packB). Packing B once is what GEMM libraries
//      do with weights (XNNPACK packs them at creation); the 4x8 loop on row-major B (vector
//      loads stepping 4·N bytes) measured 3–4% slower (H8 N1024 D64 pairs, AMD).
//   C  row-major [M][N] (row stride N), overwritten.
//
// Loop order: blocks of B's panels outermost (PANEL_BLOCK_BYTES, so a block stays in L2;
// the layer's weights need it, below), then row blocks of A, then the block's columns. For
// the attention-sized GEMMs B fits one block: the rows of A then stay in L1 across the panels
// (the other order streamed A, more than L2, once per panel: 0.95× the P·V GEMM's rate, AMD).
//
// Every entry is the chain acc = madd(b_k, a_k, acc), k = 0..K−1 from acc = 0, whichever tile
// or thread computes it, so tiles, panel blocks and thread splits give the same bits.
import { madd } from '../inline/madd';

/**
 * C[M][N] = A[M][K] · B[K][N], with B pre-packed in 8-column panels (see the header).
 * Contract: M, N, K >= 0; the three regions lie in memory; C overlaps neither A nor B.
 * @param aPtr byte address of A, row-major [M][K]
 * @param bPtr byte address of packed B: ceil(N/8) panels of [K][8] f32
 * @param cPtr byte address of C, row-major [M][N]
 * @param M rows of A and C
 * @param N columns of B and C
 * @param K columns of A, rows of B (the reduction length)
 */
export function gemm(aPtr: usize, bPtr: usize, cPtr: usize, M: i32, N: i32, K: i32): void {
  gemmPanels(aPtr, bPtr, 0, cPtr, M, N, K, 0, (N + 7) >> 3);
}

/**
 * Columns [8·firstPanel, min(N, 8·endPanel)) of C = A·B (+ bias): the panels a thread of the
 * layer's split GEMM owns (assembly/backward-threads.ts gemmRange; C's row stride stays N).
 * Every entry is the same k = 0..K−1 chain of multiply-adds whichever tile or panel range
 * computes it, so a split over panels gives the bits of one call. The bias, when given, is
 * added to the finished sum (one f32 add, as the layer's JS `c += b` rounds it), not used
 * as the accumulator's start, which would round differently.
 * Contract: as {@link gemm}; 0 <= firstPanel <= endPanel <= ceil(N/8); biasPtr 0 (none) or
 * the byte address of ceil(N/8)·8 f32 (lanes past N are read, not used).
 */
export function gemmPanels(
  aPtr: usize, bPtr: usize, biasPtr: usize, cPtr: usize, M: i32, N: i32, K: i32, firstPanel: i32, endPanel: i32,
): void {
  panelsStrided(aPtr, <usize>max(K, 0) << 2, 4, bPtr, biasPtr, cPtr, M, N, K, firstPanel, endPanel);
}

/**
 * As {@link gemmPanels} with A given transposed: C = A·B (+ bias) with `aPtr` holding Aᵀ,
 * row-major [K][M] (row k = A's column k). A layer's weight gradient dW = dYᵀ·X reads dY
 * [rows][out] as it is (K = rows, M = out), where the layer transposed it in JS first (4 per
 * backward; without them the backward took 0.958× the time,
 * bench/results/2026-12-06-node20-intel-xeon-layer-transA.txt). The same k = 0..K−1 chain per
 * entry as gemmPanels on the transposed copy: the same bits. Each row block of A (3 or 4
 * adjacent f32 of every row of Aᵀ) is first copied to `blockPtr` as [K][4], once per block of
 * panels: read in place, its K lines 4M bytes apart fall into a few L1 sets (4 of 64 at M 768),
 * and the GEMM took 18.9 ms against 17.0 for a JS transpose and gemmPanels (M768 N768 K512, 4x8
 * tiles, Intel Xeon; a throwaway script, once).
 * Contract: as gemmPanels, with A's region K·M f32 at aPtr; blockPtr: 16·K bytes overlapping
 * nothing else (16-byte aligned for speed; WASM needs no alignment). The rows past the last
 * full block (M % 3 or M % 4) are read in place, 4M bytes apart: slow for large K, rare (the
 * layer's M is a head-size multiple).
 */
export function gemmPanelsTransA(
  aPtr: usize, bPtr: usize, biasPtr: usize, cPtr: usize, M: i32, N: i32, K: i32, firstPanel: i32, endPanel: i32,
  blockPtr: usize,
): void {
  panelsStrided(aPtr, 4, <usize>max(M, 0) << 2, bPtr, biasPtr, cPtr, M, N, K, firstPanel, endPanel, blockPtr);
}

/**
 * The loop of gemmPanels over an A whose entry (m, k) is at aPtr + m·aRowBytes + k·aStep:
 * row-major A (aRowBytes = 4K, aStep = 4) or its transpose stored row-major (4, 4M).
 * blockPtr 0: A's row blocks are read in place; else each is first copied there as [K][4].
 */
// @ts-ignore: decorator
@inline function panelsStrided(
  aPtr: usize, aRowBytes: usize, aStep: usize, bPtr: usize, biasPtr: usize, cPtr: usize, M: i32, N: i32, K: i32,
  firstPanel: i32, endPanel: i32, blockPtr: usize = 0,
): void {
  if (M <= 0 || N <= 0 || firstPanel >= endPanel) return;
  const cRowBytes = <usize>N << 2;
  const panelBytes = <usize>max(K, 0) << 5;
  const n0 = firstPanel << 3;
  const n1 = min(N, endPanel << 3);
  // Blocks of B's panels that stay in L2 while every row block of A passes them (see
  // PANEL_BLOCK_BYTES); the row blocks inside, so each block's rows of A stay in L1.
  const blockCols = blockColumns(panelBytes);
  const fullRows = M - M % BLOCK_ROWS;
  for (let nb = n0; nb < n1; nb += blockCols) {
    const nbEnd = min(n1, nb + blockCols);
    for (let m = 0; m < fullRows; m += BLOCK_ROWS) {
      let a = aPtr + <usize>m * aRowBytes;
      let rowBytes = aRowBytes, step = aStep;
      if (blockPtr != 0) {
        // gemmPanelsTransA: the block's rows (adjacent f32 of each row of Aᵀ) as [K][4]
        copyRowBlock(blockPtr, a, K, aStep, m + 4 <= M);
        a = blockPtr;
        rowBytes = 4;
        step = 16;
      }
      const c = cPtr + <usize>m * cRowBytes;
      let n = nb;
      if (ASC_FEATURE_RELAXED_SIMD) {
        for (; n + 12 <= nbEnd; n += 12) tile3x12(a, rowBytes, step, bPtr, panelBytes, n, K, c, cRowBytes, biasPtr);
        // leftovers: 4 columns at a time, the last possibly fewer
        for (; n < nbEnd; n += 4) tile3x4(a, rowBytes, step, bPtr, panelBytes, n, K, c, cRowBytes, min(4, nbEnd - n), biasPtr);
      } else {
        for (; n < nbEnd; n += 8) {
          tile4x8(a, rowBytes, step, bPtr + <usize>(n >> 3) * panelBytes, K, c + (<usize>n << 2), cRowBytes, min(8, nbEnd - n), biasAt(biasPtr, n));
        }
      }
    }
  }
  let m = fullRows;
  // leftovers, and the whole of a decode step's GEMV (M < BLOCK_ROWS): one row of A at a time, 4
  // panels (32 columns) per pass while they last. The 1x8 tile has only 2 accumulator
  // chains, so it waits on the multiply-add latency (~4 cycles) and streams B at ~7 bytes per
  // cycle; 1x32 has 8 chains and reads 4 panels side by side, enough to keep up with memory.
  for (; m < M; m++) {
    const a = aPtr + <usize>m * aRowBytes;
    const c = cPtr + <usize>m * cRowBytes;
    let n = n0;
    for (; n + 32 <= n1; n += 32) tile1x32(a, aStep, bPtr + <usize>(n >> 3) * panelBytes, panelBytes, K, c + (<usize>n << 2), biasAt(biasPtr, n));
    for (; n < n1; n += 8) {
      tile1x8(a, aStep, bPtr + <usize>(n >> 3) * panelBytes, K, c + (<usize>n << 2), min(8, n1 - n), biasAt(biasPtr, n));
    }
  }
}

/**
 * Rows of A per micro-kernel call: 3x12 in the relaxed build, 4x8 in the simd build (see the
 * header). ASC_FEATURE_RELAXED_SIMD is a compile-time constant: each build has one tile.
 */
const BLOCK_ROWS: i32 = ASC_FEATURE_RELAXED_SIMD ? 3 : 4;

/**
 * Bytes of packed B one block of panels may hold. Every row block of A reads all the panels
 * of its block, so the block must stay in L2 between row blocks: the whole of B did on the AMD
 * EPYC where this loop was tuned, but the layer's 768×768 weights (2.25 MiB) overflow the
 * 2 MiB L2 of the Intel Xeon (2026-12-06), where every row block then streamed B from L3 and
 * the GEMM ran at 0.63 of the SIMD peak (bench --shapes layer). 512 KiB leaves room in the
 * smaller L2 (1 MiB on the EPYC) for A's rows and C. Measured on the Xeon (`npm run bench --
 * --shapes layer --runs 3`, M512 N768 K768, relaxed, 4x8 tiles): 0.63 → 0.83 of the SIMD peak;
 * blocks of 256 KiB and 1 MiB gave the same 0.82–0.83.
 */
const PANEL_BLOCK_BYTES: usize = 512 << 10;

/** Columns per block of panels: a multiple of 8, at least one panel. */
// @ts-ignore: decorator
@inline function blockColumns(panelBytes: usize): i32 {
  const panels: usize = panelBytes == 0 ? 1 : max<usize>(1, PANEL_BLOCK_BYTES / panelBytes);
  return <i32>min<usize>(panels, 1 << 24) << 3;
}

/** The bias of column n, or 0 (none). */
// @ts-ignore: decorator
@inline function biasAt(biasPtr: usize, n: i32): usize {
  return biasPtr == 0 ? 0 : biasPtr + (<usize>n << 2);
}

/** C[0][0..32) = A[0] · 4 consecutive panels (panelBytes apart). */
// @ts-ignore: decorator
@inline function tile1x32(a: usize, aStep: usize, panel: usize, panelBytes: usize, K: i32, c: usize, bias: usize): void {
  let a0 = a;
  let c0 = f32x4.splat(0), d0 = f32x4.splat(0), c1 = f32x4.splat(0), d1 = f32x4.splat(0);
  let c2 = f32x4.splat(0), d2 = f32x4.splat(0), c3 = f32x4.splat(0), d3 = f32x4.splat(0);
  let b0 = panel;
  // The other panels at fixed distances from b0: one pointer to advance.
  const p1 = panelBytes, p2 = panelBytes << 1, p3 = panelBytes * 3;
  const bEnd = panel + (<usize>max(K, 0) << 5);
  while (b0 < bEnd) {
    const x = v128.load32_splat(a0);
    c0 = madd(v128.load(b0), x, c0);
    d0 = madd(v128.load(b0, 16), x, d0);
    c1 = madd(v128.load(b0 + p1), x, c1);
    d1 = madd(v128.load(b0 + p1, 16), x, d1);
    c2 = madd(v128.load(b0 + p2), x, c2);
    d2 = madd(v128.load(b0 + p2, 16), x, d2);
    c3 = madd(v128.load(b0 + p3), x, c3);
    d3 = madd(v128.load(b0 + p3, 16), x, d3);
    b0 += 32;
    a0 += aStep;
  }
  storeRow(c, c0, d0, 8, bias);
  storeRow(c + 32, c1, d1, 8, bias == 0 ? 0 : bias + 32);
  storeRow(c + 64, c2, d2, 8, bias == 0 ? 0 : bias + 64);
  storeRow(c + 96, c3, d3, 8, bias == 0 ? 0 : bias + 96);
}

/** Byte address of B[0][n..n+4) in the packed panels (n a multiple of 4): one panel's half. */
// @ts-ignore: decorator
@inline function columnsAt(bPtr: usize, panelBytes: usize, n: i32): usize {
  return bPtr + <usize>(n >> 3) * panelBytes + (<usize>(n & 7) << 2);
}

/** 4 columns of a finished row (+ their bias unless 0), `cols` (<= 4) of them stored at c. */
// @ts-ignore: decorator
@inline function storeColumns(c: usize, v: v128, cols: i32, bias: usize): void {
  if (bias != 0) v = f32x4.add(v, v128.load(bias));
  if (cols == 4) v128.store(c, v);
  else storeLanes(c, v, cols);
}

/**
 * C[0..3)[n..n+12) = A[0..3) · B[.][n..n+12) (+ bias): the micro-kernel (see the header).
 * Contract: n is a multiple of 4 and n + 12 <= N.
 */
// @ts-ignore: decorator
@inline function tile3x12(
  a: usize, aRowBytes: usize, aStep: usize, bPtr: usize, panelBytes: usize, n: i32, K: i32, c: usize, cRowBytes: usize,
  biasPtr: usize,
): void {
  let b0 = columnsAt(bPtr, panelBytes, n);
  let b1 = columnsAt(bPtr, panelBytes, n + 4);
  let b2 = columnsAt(bPtr, panelBytes, n + 8);
  let a0 = a;
  let a1 = a0 + aRowBytes;
  let a2 = a1 + aRowBytes;
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c22 = f32x4.splat(0);
  // Not unrolled over k: V8 11.3 would issue both steps' loads first and spill (see the header).
  for (let k = 0; k < K; k++) {
    const v0 = v128.load(b0);
    const v1 = v128.load(b1);
    const v2 = v128.load(b2);
    let x = v128.load32_splat(a0);
    c00 = madd(v0, x, c00);
    c01 = madd(v1, x, c01);
    c02 = madd(v2, x, c02);
    x = v128.load32_splat(a1);
    c10 = madd(v0, x, c10);
    c11 = madd(v1, x, c11);
    c12 = madd(v2, x, c12);
    x = v128.load32_splat(a2);
    c20 = madd(v0, x, c20);
    c21 = madd(v1, x, c21);
    c22 = madd(v2, x, c22);
    b0 += 32;
    b1 += 32;
    b2 += 32;
    a0 += aStep;
    a1 += aStep;
    a2 += aStep;
  }
  const row = c + (<usize>n << 2);
  const bias = biasAt(biasPtr, n);
  storeTwelve(row, c00, c01, c02, bias);
  storeTwelve(row + cRowBytes, c10, c11, c12, bias);
  storeTwelve(row + (cRowBytes << 1), c20, c21, c22, bias);
}

/** 12 finished columns of one row (+ their bias unless 0) at c. */
// @ts-ignore: decorator
@inline function storeTwelve(c: usize, v0: v128, v1: v128, v2: v128, bias: usize): void {
  storeColumns(c, v0, 4, bias);
  storeColumns(c + 16, v1, 4, bias == 0 ? 0 : bias + 16);
  storeColumns(c + 32, v2, 4, bias == 0 ? 0 : bias + 32);
}

/**
 * C[0..3)[n..n+cols) = A[0..3) · B[.][n..n+cols) (+ bias), cols <= 4: a row block's last
 * columns. Reads 4 columns of B (a panel's lanes past N are zero).
 */
// @ts-ignore: decorator
@inline function tile3x4(
  a: usize, aRowBytes: usize, aStep: usize, bPtr: usize, panelBytes: usize, n: i32, K: i32, c: usize, cRowBytes: usize,
  cols: i32, biasPtr: usize,
): void {
  let b0 = columnsAt(bPtr, panelBytes, n);
  let a0 = a;
  let a1 = a0 + aRowBytes;
  let a2 = a1 + aRowBytes;
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0);
  for (let k = 0; k < K; k++) {
    const v0 = v128.load(b0);
    c0 = madd(v0, v128.load32_splat(a0), c0);
    c1 = madd(v0, v128.load32_splat(a1), c1);
    c2 = madd(v0, v128.load32_splat(a2), c2);
    b0 += 32;
    a0 += aStep;
    a1 += aStep;
    a2 += aStep;
  }
  const row = c + (<usize>n << 2);
  const bias = biasAt(biasPtr, n);
  storeColumns(row, c0, cols, bias);
  storeColumns(row + cRowBytes, c1, cols, bias);
  storeColumns(row + (cRowBytes << 1), c2, cols, bias);
}

/**
 * dst[k][0..BLOCK_ROWS) = the f32 at src + k·aStep, k < K, as [K][4]: a row block of
 * gemmPanelsTransA's A. `wide`: 4 f32 lie in memory at every k (always with 4-row blocks; with
 * 3, unless the block is A's last 3 rows), so one vector load copies each k.
 */
// @ts-ignore: decorator
@inline function copyRowBlock(dst: usize, src: usize, K: i32, aStep: usize, wide: bool): void {
  if (wide) {
    for (let k = 0; k < K; k++) v128.store(dst + (<usize>k << 4), v128.load(src + <usize>k * aStep));
  } else {
    for (let k = 0; k < K; k++) {
      const from = src + <usize>k * aStep;
      const to = dst + (<usize>k << 4);
      store<f32>(to, load<f32>(from));
      store<f32>(to, load<f32>(from, 4), 4);
      store<f32>(to, load<f32>(from, 8), 8);
    }
  }
}

/** C[0..4)[0..cols) = A[0..4) · panel (+ bias[0..cols)), cols <= 8: the simd build's micro-kernel (see the header). */
// @ts-ignore: decorator
@inline function tile4x8(
  a: usize, aRowBytes: usize, aStep: usize, panel: usize, K: i32, c: usize, cRowBytes: usize, cols: i32, bias: usize,
): void {
  let a0 = a;
  let a1 = a0 + aRowBytes;
  let a2 = a1 + aRowBytes;
  let a3 = a2 + aRowBytes;
  let c0 = f32x4.splat(0), d0 = f32x4.splat(0);
  let c1 = f32x4.splat(0), d1 = f32x4.splat(0);
  let c2 = f32x4.splat(0), d2 = f32x4.splat(0);
  let c3 = f32x4.splat(0), d3 = f32x4.splat(0);
  let b = panel;
  const bEnd = panel + (<usize>max(K, 0) << 5);
  // Not unrolled over k, for the reason given in f32-qk-4x8 (TurboFan hoists the loads of
  // an unrolled body and spills accumulators; measured slower there).
  while (b < bEnd) {
    const ba = v128.load(b);
    const bb = v128.load(b, 16);
    let x = v128.load32_splat(a0);
    c0 = madd(ba, x, c0);
    d0 = madd(bb, x, d0);
    x = v128.load32_splat(a1);
    c1 = madd(ba, x, c1);
    d1 = madd(bb, x, d1);
    x = v128.load32_splat(a2);
    c2 = madd(ba, x, c2);
    d2 = madd(bb, x, d2);
    x = v128.load32_splat(a3);
    c3 = madd(ba, x, c3);
    d3 = madd(bb, x, d3);
    b += 32;
    a0 += aStep;
    a1 += aStep;
    a2 += aStep;
    a3 += aStep;
  }
  storeRow(c, c0, d0, cols, bias);
  storeRow(c + cRowBytes, c1, d1, cols, bias);
  storeRow(c + (cRowBytes << 1), c2, d2, cols, bias);
  storeRow(c + cRowBytes * 3, c3, d3, cols, bias);
}

/** C[0][0..cols) = A[0] · panel (+ bias[0..cols)), cols <= 8. */
// @ts-ignore: decorator
@inline function tile1x8(a: usize, aStep: usize, panel: usize, K: i32, c: usize, cols: i32, bias: usize): void {
  let a0 = a;
  let c0 = f32x4.splat(0), d0 = f32x4.splat(0);
  let b = panel;
  const bEnd = panel + (<usize>max(K, 0) << 5);
  while (b < bEnd) {
    const x = v128.load32_splat(a0);
    c0 = madd(v128.load(b), x, c0);
    d0 = madd(v128.load(b, 16), x, d0);
    b += 32;
    a0 += aStep;
  }
  storeRow(c, c0, d0, cols, bias);
}

/**
 * Stores the first `cols` (<= 8) lanes of lo:hi (+ the 8 f32 at `bias` unless it is 0) at c.
 * A partial panel is stored lane by lane, not staged in a static buffer: the threads build
 * runs this on several threads over one shared memory, where a static would be a race.
 */
// @ts-ignore: decorator
@inline function storeRow(c: usize, lo: v128, hi: v128, cols: i32, bias: usize): void {
  if (bias != 0) {
    lo = f32x4.add(lo, v128.load(bias));
    hi = f32x4.add(hi, v128.load(bias, 16));
  }
  if (cols == 8) {
    v128.store(c, lo);
    v128.store(c, hi, 16);
  } else if (cols >= 4) {
    // leftovers: the last panel of a width not divisible by 8
    v128.store(c, lo);
    storeLanes(c + 16, hi, cols - 4);
  } else {
    storeLanes(c, lo, cols);
  }
}

/** Stores the first n (< 4) lanes of v at c. */
// @ts-ignore: decorator
@inline function storeLanes(c: usize, v: v128, n: i32): void {
  if (n > 0) store<f32>(c, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(c, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(c, f32x4.extract_lane(v, 2), 8);
}
