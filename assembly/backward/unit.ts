// The backward pass of one unit = (batch item b, KV head): every query head of its group,
// every key. A unit owns its dK and dV rows (keys of one KV head) and its query heads' dQ
// rows, so threads that take disjoint units write disjoint outputs: no float atomics, and a
// unit computes the same bits whichever thread runs it (assembly/backward-threads.ts,
// src/backward/threads.ts).
//
// FlashAttention-2's backward (Dao 2023, Algorithm 2) with the key block as the outer loop:
// for each block of BLOCK_KEYS keys, K and V are transposed into scratch once and dK/dV
// accumulate in scratch over every query row of the group that can see the block; dQ rows
// accumulate in place in the output (the unit is their only writer, so no atomics are
// needed: FlashAttention-2 needs them only because it splits one head's keys over blocks
// of threads). P is recomputed from Q, K and the saved log-sum-exp; nothing of size
// seqLenQ × seqLenK is stored (dbias, when asked for, is the caller's output).
// Tiles skipped: key blocks past the key length, and rows that see none of a block (their
// key range, the key-range rule of assembly/key-range.ts: causal, windows, key lengths).
import { Call, BLOCK_KEYS, CHUNK_ROWS } from './layout';
import { scoreRow, gradRow } from './row';
import { gradRows4 } from './rows4';
import { packBlock, prepareRow, fillMasked } from './block';
import { madd } from '../inline/madd';
import { keyTileUpdate } from './kv-tiles';

/** delta[hh·seqLenQ + i] = Σ_d dO·O of the unit's query rows, four lanes at a time. */
function rowDeltas(c: Call, b: i32, firstHead: i32, group: i32): void {
  const whole = c.valueDim & ~3;
  for (let hh = 0; hh < group; hh++) {
    const h = firstHead + hh;
    for (let i = 0; i < c.seqLenQ; i++) {
      const at = <usize>b * c.oB + <usize>h * c.oH + <usize>i * c.oS;
      let acc = f32x4.splat(0);
      let d = 0;
      for (; d < whole; d += 4) {
        const off = at + (<usize>d << 2);
        acc = madd(v128.load(c.dout + off), v128.load(c.o + off), acc);
      }
      let sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
      for (; d < c.valueDim; d++) { // leftovers
        const off = at + (<usize>d << 2);
        sum += load<f32>(c.dout + off) * load<f32>(c.o + off);
      }
      store<f32>(c.delta + ((<usize>(hh * c.seqLenQ + i)) << 2), sum);
    }
  }
}

/** acc[0..dim) += alpha · src[0..dim); acc is padded to a multiple of 4, src is not. */
@inline function axpyPadded(acc: usize, src: usize, alpha: f32, dim: i32): void {
  const va = f32x4.splat(alpha);
  const whole = dim & ~3;
  let d = 0;
  for (; d < whole; d += 4) {
    const off = <usize>d << 2;
    v128.store(acc + off, madd(va, v128.load(src + off), v128.load(acc + off)));
  }
  for (; d < dim; d++) { // leftovers
    const off = <usize>d << 2;
    store<f32>(acc + off, load<f32>(acc + off) + alpha * load<f32>(src + off));
  }
}

/** dst[0..dim) = src[0..dim) (an accumulator row out to a gradient row). */
@inline function copyRow(dst: usize, src: usize, dim: i32): void {
  memory.copy(dst, src, <usize>dim << 2);
}

/**
 * dq[0..headDim) += Σ_{j<lim, allowed} dl[j] · K[j]: the dQ of one row over one block, key
 * lanes inner so each dQ chunk is loaded and stored once per block.
 */
function dqRow(c: Call, dqAt: usize, kBlock: usize, lim: i32): void {
  const headDim = c.headDim;
  const whole = headDim & ~3;
  const dl = c.dlRow;
  const biasRow = c.biasRow;
  let d = 0;
  for (; d < whole; d += 4) {
    const off = <usize>d << 2;
    let acc = v128.load(dqAt + off);
    let krow = kBlock + off;
    for (let j = 0; j < lim; j++) {
      // A -Infinity bias masks the key: skipped, so a non-finite K there cannot leak.
      if (load<f32>(biasRow + (<usize>j << 2)) != -Infinity) {
        acc = madd(v128.load32_splat(dl + (<usize>j << 2)), v128.load(krow), acc);
      }
      krow += c.kS;
    }
    v128.store(dqAt + off, acc);
  }
  for (; d < headDim; d++) { // leftovers
    const off = <usize>d << 2;
    let acc = load<f32>(dqAt + off);
    for (let j = 0; j < lim; j++) {
      if (load<f32>(biasRow + (<usize>j << 2)) != -Infinity) acc += load<f32>(dl + (<usize>j << 2)) * load<f32>(kBlock + <usize>j * c.kS + off);
    }
    store<f32>(dqAt + off, acc);
  }
}

/**
 * Rows i..i+3 of head h over the block at j0 (n keys), through gradRows4, their p and dl
 * into chunk slot `slot` (rows 4·slot…) with their dO and Q row addresses. Returns the keys
 * the four rows see (their largest count), 0 (slot left unused) when none sees the block.
 */
function fourRows(c: Call, b: i32, h: i32, hh: i32, i: i32, j0: i32, n: i32, offset: i32, keyLength: i32, kBlock: usize, slot: i32): i32 {
  const rowBase = (b * c.qHeads + h) * c.seqLenQ;
  let keys = 0;
  for (let r = 0; r < 4; r++) {
    const row = i + r;
    const lse = load<f32>(c.lse + (<usize>(rowBase + row) << 2));
    let lim = prepareRow(c, b, h, row, j0, n, offset, keyLength, <usize>r);
    if (lse == -Infinity || lim == 0) {
      lim = 0; // no gradient from this row: every lane masked
      fillMasked(c, <usize>r);
    }
    store<i32>(c.lims + (<usize>r << 2), lim);
    keys = max(keys, lim);
  }
  if (keys == 0) return 0;
  const qRow = c.q + <usize>b * c.qB + <usize>h * c.qH + <usize>i * c.qS;
  const doRow = c.dout + <usize>b * c.oB + <usize>h * c.oH + <usize>i * c.oS;
  const dqRow = c.dq + <usize>b * c.qB + <usize>h * c.qH + <usize>i * c.qS;
  const dbiasRow = c.dbias != 0 ? c.dbias + ((<usize>(rowBase + i) * c.seqLenK + j0) << 2) : 0;
  const lseAt = c.lse + (<usize>(rowBase + i) << 2);
  const deltaAt = c.delta + (<usize>(hh * c.seqLenQ + i) << 2);
  const at = <usize>slot << 8; // four rows of 16 f32
  gradRows4(c, qRow, doRow, dqRow, lseAt, deltaAt, kBlock, keys, dbiasRow, c.lims, c.pChunk + at, c.dlChunk + at);
  for (let r = 0; r < 4; r++) {
    const t = <usize>(slot * 4 + r) * sizeof<usize>();
    store<usize>(c.rowO + t, doRow + <usize>r * c.oS);
    store<usize>(c.rowQ + t, qRow + <usize>r * c.qS);
  }
  return keys;
}

/**
 * The fast path's rows of head h from row i (groups of four, as many as fit before
 * seqLenQ), a chunk of CHUNK_ROWS at a time: gradRows4 per group, then dV += Pᵀ·dO and
 * dK += dLᵀ·Q over the chunk (kv-tiles.ts). Returns the first row left over (< 4 remain).
 */
function fastRows(c: Call, b: i32, h: i32, hh: i32, i: i32, j0: i32, n: i32, offset: i32, keyLength: i32, kBlock: usize): i32 {
  const valueDim4 = (c.valueDim + 3) & ~3;
  const headDim4 = (c.headDim + 3) & ~3;
  while (i + 4 <= c.seqLenQ) {
    let slots = 0;
    let keys = 0;
    for (; slots < CHUNK_ROWS / 4 && i + 4 <= c.seqLenQ; i += 4) {
      const seen = fourRows(c, b, h, hh, i, j0, n, offset, keyLength, kBlock, slots);
      if (seen == 0) continue; // skipped: no row of the four sees the block
      keys = max(keys, seen);
      slots++;
    }
    if (slots == 0) continue;
    keyTileUpdate(c.dvAcc, <usize>valueDim4 << 2, c.pChunk, c.rowO, slots * 4, keys, c.valueDim);
    keyTileUpdate(c.dkAcc, <usize>headDim4 << 2, c.dlChunk, c.rowQ, slots * 4, keys, c.headDim);
  }
  return i;
}

/** The backward pass of unit (b, kvHead); the outputs are zero on entry (the host fills them). */
export function backwardUnit(c: Call, b: i32, kvHead: i32): void {
  const group = c.qHeads / c.kvHeads;
  const firstHead = kvHead * group;
  const keyLength = c.keyLength(b);
  const offset = c.offset(b);
  const headDim4 = (c.headDim + 3) & ~3;
  const valueDim4 = (c.valueDim + 3) & ~3;
  rowDeltas(c, b, firstHead, group);
  const kHead = c.k + <usize>b * c.kB + <usize>kvHead * c.kH;
  const vHead = c.v + <usize>b * c.vB + <usize>kvHead * c.vH;
  for (let j0 = 0; j0 < keyLength; j0 += BLOCK_KEYS) {
    const n = min(BLOCK_KEYS, keyLength - j0);
    const kBlock = kHead + <usize>j0 * c.kS;
    const vBlock = vHead + <usize>j0 * c.vS;
    const finiteK = packBlock(c.kt, kBlock, c.kS, c.headDim, n);
    // Four rows at a time unless K or V holds a non-finite value in the block: then one row
    // at a time, which skips masked keys (a NaN at a masked key must not reach dQ or dS).
    const fast = packBlock(c.vt, vBlock, c.vS, c.valueDim, n) && finiteK;
    memory.fill(c.dkAcc, 0, <usize>(BLOCK_KEYS * (headDim4 + valueDim4)) << 2);
    // Rows whose key range ends before the block are skipped (both bounds grow with i).
    const firstRow = c.firstRow(j0, offset);
    for (let hh = 0; hh < group; hh++) {
      const h = firstHead + hh;
      const rowBase = (b * c.qHeads + h) * c.seqLenQ;
      let i = firstRow;
      if (fast) i = fastRows(c, b, h, hh, i, j0, n, offset, keyLength, kBlock);
      for (; i < c.seqLenQ; i++) {
        const lse = load<f32>(c.lse + (<usize>(rowBase + i) << 2));
        if (lse == -Infinity) continue; // a row with no allowed key: no gradient
        const lim = prepareRow(c, b, h, i, j0, n, offset, keyLength, 0);
        if (lim == 0) continue;
        const qRow = c.q + <usize>b * c.qB + <usize>h * c.qH + <usize>i * c.qS;
        const doRow = c.dout + <usize>b * c.oB + <usize>h * c.oH + <usize>i * c.oS;
        scoreRow(c, qRow);
        const dbiasRow = c.dbias != 0 ? c.dbias + ((<usize>(rowBase + i) * c.seqLenK + j0) << 2) : 0;
        const delta = load<f32>(c.delta + ((<usize>(hh * c.seqLenQ + i)) << 2));
        gradRow(c, doRow, lse, delta, lim, dbiasRow);
        for (let j = 0; j < lim; j++) {
          if (load<f32>(c.biasRow + (<usize>j << 2)) == -Infinity) continue; // masked key
          axpyPadded(c.dvAcc + ((<usize>(j * valueDim4)) << 2), doRow, load<f32>(c.pRow + (<usize>j << 2)), c.valueDim);
          axpyPadded(c.dkAcc + ((<usize>(j * headDim4)) << 2), qRow, load<f32>(c.dlRow + (<usize>j << 2)), c.headDim);
        }
        dqRow(c, c.dq + <usize>b * c.qB + <usize>h * c.qH + <usize>i * c.qS, kBlock, lim);
      }
    }
    const dkHead = c.dk + <usize>b * c.kB + <usize>kvHead * c.kH;
    const dvHead = c.dv + <usize>b * c.vB + <usize>kvHead * c.vH;
    for (let j = 0; j < n; j++) {
      copyRow(dkHead + <usize>(j0 + j) * c.kS, c.dkAcc + ((<usize>(j * headDim4)) << 2), c.headDim);
      copyRow(dvHead + <usize>(j0 + j) * c.vS, c.dvAcc + ((<usize>(j * valueDim4)) << 2), c.valueDim);
    }
  }
}
