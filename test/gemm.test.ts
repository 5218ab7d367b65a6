// The plain GEMM export (assembly/gemm/f32-gemm-3x12.ts) of both kernel builds against
// float64 A·B, on sizes not divisible by the 4-row micro-kernel (M), the 8-column panel
// (N) or anything (K), with A and C at unaligned addresses and guard words around C.
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';
import { describe, expect, it } from 'vitest';
import { packB } from '../src/layer/pack';
import { nodeFlags } from '../scripts/node-flags.mjs';

// Node 20 needs a flag for relaxed SIMD (read when a module is compiled); Node 22+ has no
// such flag and prints an error for it (scripts/node-flags.mjs says which).
for (const flag of nodeFlags()) v8.setFlagsFromString(flag);

interface GemmKernel {
  memory: WebAssembly.Memory;
  heapBase(): number;
  gemm(aPtr: number, bPtr: number, cPtr: number, M: number, N: number, K: number): void;
}

const BUILDS = ['simd', 'relaxed'] as const;
const GUARD = 8; // f32 words of sentinel on each side of C
const SENTINEL = -12345.5;

function loadGemm(build: string): GemmKernel {
  const bytes = readFileSync(new URL(`../build/attention-testing-${build}.wasm`, import.meta.url));
  return new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports as unknown as GemmKernel;
}

/** mulberry32 in [-1, 1). */
function randoms(length: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/**
 * Runs gemm on M×K · K×N and checks every entry against float64, within the float32
 * accumulation bound (K + 2)·2⁻²⁴·Σ|a·b| (a sum of K products, fused or not); checks the
 * guard words around C. A and C start 4 bytes past a 16-byte boundary (no alignment is
 * promised to the caller). Returns the largest error relative to Σ|a·b|.
 */
function check(kernel: GemmKernel, name: string, M: number, N: number, K: number, seed: number): number {
  const a = randoms(M * K, seed);
  const b = randoms(K * N, seed + 1);
  const packed = packB(b, K, N);
  let at = Math.ceil(kernel.heapBase() / 16) * 16;
  const take = (elements: number) => {
    const ptr = at + 4;
    at += Math.ceil((elements * 4 + 4) / 16) * 16 + 16;
    return ptr;
  };
  const aPtr = take(a.length);
  const bPtr = take(packed.length);
  const cGuarded = take(M * N + 2 * GUARD);
  const cPtr = cGuarded + GUARD * 4;
  const need = at - kernel.memory.buffer.byteLength;
  if (need > 0) kernel.memory.grow(Math.ceil(need / 65536));
  const f32 = new Float32Array(kernel.memory.buffer);
  f32.set(a, aPtr >> 2);
  f32.set(packed, bPtr >> 2);
  f32.fill(SENTINEL, cGuarded >> 2, (cGuarded >> 2) + M * N + 2 * GUARD);

  kernel.gemm(aPtr, bPtr, cPtr, M, N, K);

  const c = new Float32Array(kernel.memory.buffer, cPtr, M * N);
  const guards = new Float32Array(kernel.memory.buffer, cGuarded, M * N + 2 * GUARD);
  for (let i = 0; i < GUARD; i++) {
    expect(guards[i], `${name}: guard word ${i} before C overwritten`).toBe(SENTINEL);
    expect(guards[GUARD + M * N + i], `${name}: guard word ${i} after C overwritten`).toBe(SENTINEL);
  }
  let worst = 0;
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let sum = 0;
      let magnitude = 0;
      for (let k = 0; k < K; k++) {
        const p = a[m * K + k]! * b[k * N + n]!;
        sum += p;
        magnitude += Math.abs(p);
      }
      const got = c[m * N + n]!;
      const error = Math.abs(got - sum);
      const bound = (K + 2) * 2 ** -24 * magnitude;
      if (!(error <= bound)) {
        throw new Error(`${name} [M ${M}, N ${N}, K ${K}]: C[${m}][${n}] expected ${sum} (float64), got ${got}, |error| ${error} > bound ${bound}`);
      }
      if (magnitude > 0) worst = Math.max(worst, error / magnitude);
    }
  }
  return worst;
}

describe.each(BUILDS)('gemm (%s)', (build) => {
  const kernel = loadGemm(build);

  const edges: Record<string, [number, number, number]> = {
    m_eq_1: [1, 8, 16],
    m_lt_4: [3, 8, 16],
    m_div_4: [8, 8, 16],
    m_not_div_4: [13, 16, 16],
    n_eq_1: [4, 1, 16],
    n_lt_4: [4, 3, 16],
    n_lt_8: [4, 7, 16],
    n_not_div_8: [4, 21, 16],
    k_eq_0: [5, 9, 0],
    k_eq_1: [5, 9, 1],
    k_odd: [5, 9, 67],
    all_odd: [7, 13, 11],
    attention_like_qk: [37, 71, 64],
    attention_like_pv: [37, 64, 71],
    // Rows outside 4-row blocks take the 1x32 tile (4 panels) while 32 columns last, then 1x8.
    gemv_n_eq_32: [1, 32, 16],
    gemv_n_32_and_tail: [3, 77, 19],
    m_not_div_4_n_ge_32: [6, 72, 9],
    // The relaxed build's 3x12 tile starts on a multiple of 4 that need not be one of 8 (a
    // tile's 4-column vectors then straddle panels), its leftovers go 4 columns at a time.
    tile_3x12_exact: [3, 12, 16],
    tile_3x12_two_and_tail: [6, 27, 9],
    tile_3x12_tail_lt_4: [9, 38, 5],
    // B's panels go in blocks of 512 KiB (PANEL_BLOCK_BYTES): at K 4096 a panel is 128 KiB, so
    // 4 panels (32 columns) per block; 77 columns = 2 full blocks and a block of 13 (a partial panel).
    panel_blocks_k_4096: [9, 77, 4096],
    panel_blocks_one_panel_each: [5, 17, 20000],
  };
  for (const [name, [M, N, K]] of Object.entries(edges)) {
    it(name, () => {
      check(kernel, name, M, N, K, M * 1000 + N * 10 + K);
    });
  }

  it('size grid: M x N x K, none of them multiples of 4 or 8 except where listed', () => {
    let worst = 0;
    let seed = 1;
    for (const M of [1, 2, 3, 4, 5, 7, 9, 15]) {
      for (const N of [1, 3, 5, 8, 9, 12, 17, 31]) {
        for (const K of [1, 3, 7, 13, 33]) worst = Math.max(worst, check(kernel, `grid #${seed}`, M, N, K, seed++));
      }
    }
    // Observed worst error relative to Σ|a·b| is a few float32 ulps; the bound is per entry.
    expect(worst).toBeLessThan(1e-5);
  });
});

interface PanelsKernel extends GemmKernel {
  gemmPanels(aPtr: number, bPtr: number, biasPtr: number, cPtr: number, M: number, N: number, K: number, first: number, end: number): void;
  gemmPanelsTransA(aPtr: number, bPtr: number, biasPtr: number, cPtr: number, M: number, N: number, K: number, first: number, end: number, blockPtr: number): void;
}

// The exports the layer and its threads call: a range of panels (a thread's share, gemmRange),
// a bias added to each finished sum, and A given transposed. Each must write exactly its
// columns, with gemm's bits plus one f32 add of the bias, and leave the others alone.
describe.each(BUILDS)('gemmPanels and gemmPanelsTransA (%s)', (build) => {
  const kernel = loadGemm(build) as PanelsKernel;
  // [M, N, K, firstPanel, endPanel]; K 5000: a panel is 156 KiB, so 3 panels per 512 KiB block
  const cases: [number, number, number, number, number][] = [
    [7, 21, 9, 0, 3], [7, 21, 9, 1, 3], [10, 77, 13, 2, 9], [8, 77, 5000, 1, 10], [5, 40, 31, 4, 5],
  ];
  it.each(cases)('M %i N %i K %i, panels [%i, %i), with bias', (M, N, K, first, end) => {
    const a = randoms(M * K, M + N + K);
    const b = randoms(K * N, K + 1);
    const bias = randoms(Math.ceil(N / 8) * 8, N + 2);
    const packed = packB(b, K, N);
    const at = new Float32Array(K * M);
    for (let m = 0; m < M; m++) for (let k = 0; k < K; k++) at[k * M + m] = a[m * K + k]!;
    const grow = (bytes: number) => {
      const need = Math.ceil((bytes - kernel.memory.buffer.byteLength) / 65536);
      if (need > 0) kernel.memory.grow(need);
    };
    const base = Math.ceil(kernel.heapBase() / 16) * 16;
    const [aPtr, atPtr] = [base, base + M * K * 4];
    const bPtr = atPtr + M * K * 4;
    const biasPtr = bPtr + packed.length * 4;
    const refPtr = biasPtr + bias.length * 4;
    const cPtr = refPtr + M * N * 4 + 16;
    const blockPtr = cPtr + M * N * 4 + 16;
    grow(blockPtr + 16 * K);
    const f32 = new Float32Array(kernel.memory.buffer);
    f32.set(a, aPtr >> 2);
    f32.set(at, atPtr >> 2);
    f32.set(packed, bPtr >> 2);
    f32.set(bias, biasPtr >> 2);
    kernel.gemm(aPtr, bPtr, refPtr, M, N, K);
    const ref = f32.slice(refPtr >> 2, (refPtr >> 2) + M * N);
    for (const transposed of [false, true]) {
      f32.fill(SENTINEL, cPtr >> 2, (cPtr >> 2) + M * N);
      if (transposed) kernel.gemmPanelsTransA(atPtr, bPtr, biasPtr, cPtr, M, N, K, first, end, blockPtr);
      else kernel.gemmPanels(aPtr, bPtr, biasPtr, cPtr, M, N, K, first, end);
      const c = f32.subarray(cPtr >> 2, (cPtr >> 2) + M * N);
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          const inside = n >= first * 8 && n < end * 8;
          const expected = inside ? Math.fround(ref[m * N + n]! + bias[n]!) : SENTINEL;
          expect(Object.is(c[m * N + n], expected), `${transposed ? 'gemmPanelsTransA' : 'gemmPanels'} C[${m}][${n}]: expected ${expected}, got ${c[m * N + n]}`).toBe(true);
        }
      }
    }
  });
});
