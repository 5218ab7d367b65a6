/**
 * The GEMM of the multi-head attention layer: C[M][N] = A[M][K] · B (+ bias), B packed once
 * (./pack.ts) and kept, on the `gemm` export of the backward kernel builds (relaxed or plain
 * SIMD: 3x12 tiles relaxed, 4x8 plain) or in plain JS on the `js` backend.
 * A WASM engine works in a layer kernel's memory (./kernel.ts: one instance of that build,
 * shared with the layer's attention): packed weights in blocks kept for the engine's life
 * (like a KV cache), each copying call's A and C in one scratch block, and `matmulPinned`
 * reading and writing PinnedTensors of that memory in place.
 *
 * Numerics: every backend sums the K products of an entry in order k = 0..K−1, in f32 on
 * WASM (relaxed builds may fuse the multiply-add), in f64 on JS; the error bound of both is
 * K·2⁻²⁴·Σ|a·b| (test/gemm.test.ts checks it against float64).
 */
import { rangeError } from '../errors.js';
import type { PinnedTensor } from '../cache/types.js';
import type { BackendName } from '../plan.js';
import { createLayerKernel, type LayerKernel } from './kernel.js';
import { packB, packedLength } from './pack.js';

/** A matrix packed for the engine that made it, with its bias when packed with one. */
export interface PackedMatrix {
  readonly K: number;
  readonly N: number;
  /** Byte address in the engine's memory (WASM), or the panels themselves (JS). */
  readonly ptr: number;
  readonly data: Float32Array | null;
  /** The bias kept with the panels (padded to whole panels), or 0 / null for none. */
  readonly biasPtr: number;
  readonly bias: Float32Array | null;
}

export interface GemmEngine {
  readonly backend: BackendName;
  /** Packs B (or Bᵀ when `transposed`, e.g. a weight [out][in] of x·Wᵀ) to keep, and its bias [N] if given; see packB. */
  pack(b: Float32Array, K: number, N: number, transposed: boolean, bias?: Float32Array | null): PackedMatrix;
  /** Packs new values into an existing handle (same K, N; a bias only if it was packed with one). */
  repack(into: PackedMatrix, b: Float32Array, transposed: boolean, bias?: Float32Array | null): void;
  /**
   * C = A·B (+ bias per column), A row-major [M][K]; a new array of M·N. An A that is a view
   * of the engine's own memory (a PinnedTensor's data) is read in place.
   */
  matmul(a: Float32Array, M: number, b: PackedMatrix, bias?: Float32Array | null): Float32Array;
  /** C = A·B with B row-major [K][N] used once (packed per call, not kept). */
  matmulOnce(a: Float32Array, M: number, b: Float32Array, K: number, N: number): Float32Array;
  /**
   * C = Aᵀ·B [M][N] with `a` = A row-major [K][M] and B row-major [K][N] used once: a weight
   * gradient dW = dYᵀ·X from dY [rows][out] and X [rows][in] as they are (K = rows). The bits
   * of `matmulOnce` on the transposed A.
   */
  matmulTransA(a: Float32Array, K: number, M: number, b: Float32Array, N: number): Float32Array;
  dispose(): void;
}

/**
 * The WASM engines' zero-copy form: A and C are tensors of the engine's memory (its
 * kernel's `slot`s), the bias the one packed with B. No byte is copied.
 */
export interface PinnedGemm extends GemmEngine {
  readonly kernel: LayerKernel;
  matmulPinned(a: PinnedTensor, M: number, b: PackedMatrix, c: PinnedTensor): void;
}

const align = (bytes: number) => Math.ceil(bytes / 16) * 16;

/** Elements the kernel reads of a bias of N: whole 8-column panels. */
export const paddedBiasLength = (N: number) => Math.ceil(N / 8) * 8;

function addBias(c: Float32Array, M: number, N: number, bias: Float32Array | null | undefined): Float32Array {
  if (bias) for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) c[m * N + n]! += bias[n]!;
  return c;
}

/** The JS fallback: the kernel's loop over the same packed panels, summed in f64. */
export function jsGemm(a: Float32Array, packed: Float32Array, c: Float32Array, M: number, N: number, K: number): void {
  const acc = new Float64Array(8);
  for (let m = 0; m < M; m++) {
    const row = m * K;
    for (let n0 = 0; n0 < N; n0 += 8) {
      acc.fill(0);
      const panel = (n0 >> 3) * K * 8;
      for (let k = 0; k < K; k++) {
        const x = a[row + k]!;
        const b = panel + k * 8;
        for (let j = 0; j < 8; j++) acc[j]! += x * packed[b + j]!;
      }
      const cols = Math.min(8, N - n0);
      for (let j = 0; j < cols; j++) c[m * N + n0 + j] = acc[j]!;
    }
  }
}

/**
 * aᵀ of a row-major [rows][cols]: [cols][rows], in 16×16 blocks, so that both arrays are walked
 * a cache line at a time (the JS engine's matmulTransA; the WASM engines need no transpose).
 */
function transposeRows(a: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  const BLOCK = 16;
  for (let r0 = 0; r0 < rows; r0 += BLOCK) {
    const r1 = Math.min(rows, r0 + BLOCK);
    for (let c0 = 0; c0 < cols; c0 += BLOCK) {
      const c1 = Math.min(cols, c0 + BLOCK);
      for (let c = c0; c < c1; c++) for (let r = r0; r < r1; r++) t[c * rows + r] = a[r * cols + c]!;
    }
  }
  return t;
}

function createJsGemm(): GemmEngine {
  const pack = (b: Float32Array, K: number, N: number, transposed: boolean, bias?: Float32Array | null): PackedMatrix => ({ K, N, ptr: 0, data: packB(b, K, N, transposed), biasPtr: 0, bias: bias ? bias.slice() : null });
  const matmul = (a: Float32Array, M: number, b: PackedMatrix, bias?: Float32Array | null) => {
    checkRows(a, M, b.K);
    const c = new Float32Array(M * b.N);
    jsGemm(a, b.data!, c, M, b.N, b.K);
    return addBias(c, M, b.N, bias);
  };
  return {
    backend: 'js',
    pack,
    repack(into, b, transposed, bias) {
      packB(b, into.K, into.N, transposed, into.data!);
      if (bias && into.bias) into.bias.set(bias);
    },
    matmul,
    matmulOnce: (a, M, b, K, N) => (checkB(b, K, N), matmul(a, M, pack(b, K, N, false))),
    matmulTransA: (a, K, M, b, N) => (checkRows(a, M, K), checkB(b, K, N), matmul(transposeRows(a, K, M), M, pack(b, K, N, false))),
    dispose: () => undefined,
  };
}

/** The GEMM on `kernel`'s memory: packed weights in blocks kept for the engine's life, each call's A and C in its scratch block. */
export function createPinnedGemm(kernel: LayerKernel, backend: 'wasm-relaxed-simd' | 'wasm-simd'): PinnedGemm {
  const { exports } = kernel;
  const memory = exports.memory;
  let disposed = false;
  const kept: PinnedTensor[] = [];
  let view = new Float32Array(memory.buffer);
  const f32 = () => (view.buffer === memory.buffer ? view : (view = new Float32Array(memory.buffer)));

  function live(): void {
    if (disposed) throw new TypeError('createMultiHeadAttention: the layer is disposed');
  }

  /** The address of `a` when it is a view of this memory (read in place), else null (copied in). */
  const ownAddress = (a: Float32Array) => (a.buffer === memory.buffer ? a.byteOffset : null);

  function write(into: PackedMatrix, b: Float32Array, transposed: boolean, bias: Float32Array | null | undefined): void {
    const length = packedLength(into.K, into.N);
    packB(b, into.K, into.N, transposed, f32().subarray(into.ptr >>> 2, (into.ptr >>> 2) + length));
    if (bias && into.biasPtr) {
      f32().fill(0, into.biasPtr >>> 2, (into.biasPtr >>> 2) + paddedBiasLength(into.N));
      f32().set(bias, into.biasPtr >>> 2);
    }
  }

  /**
   * C = A·B (+ bias) into a new array. A's rows and the bias are copied into the scratch
   * block unless A is already in this memory; `once`: B row-major [K][N], packed into the
   * scratch for this call. Addresses are taken before and views made after the scratch
   * grows (which detaches every view of the memory, `a` or `once` among them).
   */
  function run(a: Float32Array, M: number, b: PackedMatrix | null, K: number, N: number, bias?: Float32Array | null, once?: Float32Array, transA = false): Float32Array {
    const aAt = ownAddress(a);
    const onceAt = once ? ownAddress(once) : null;
    const packedBytes = once ? align(packedLength(K, N) * 4) : 0;
    const aBytes = aAt === null ? align(a.length * 4) : 0;
    const biasBytes = bias ? align(paddedBiasLength(N) * 4) : 0;
    const blockBytes = transA ? 16 * K : 0; // gemmPanelsTransA's copy of one 4-row block of A
    const base = kernel.scratch(packedBytes + aBytes + biasBytes + blockBytes + align(M * N * 4));
    const bPtr = once ? base : b!.ptr;
    const aPtr = aAt ?? base + packedBytes;
    const biasPtr = bias ? base + packedBytes + aBytes : 0;
    const blockPtr = base + packedBytes + aBytes + biasBytes;
    const cPtr = blockPtr + blockBytes;
    const mem = f32();
    // K·N, not once.length: `once` may be a view of this memory that the scratch's growth has
    // just detached (length 0), which packed NaN into the whole of a first backward's dWo at
    // E 768, L 384 (test/layer-zero-copy.test.ts).
    if (once) packB(onceAt === null ? once : new Float32Array(memory.buffer, onceAt, K * N), K, N, false, mem.subarray(bPtr >>> 2, (bPtr >>> 2) + packedLength(K, N)));
    if (aAt === null) mem.set(a, aPtr >>> 2);
    if (bias) mem.set(bias, biasPtr >>> 2);
    if (transA) exports.gemmPanelsTransA(aPtr, bPtr, biasPtr, cPtr, M, N, K, 0, Math.ceil(N / 8), blockPtr);
    else exports.gemmPanels(aPtr, bPtr, biasPtr, cPtr, M, N, K, 0, Math.ceil(N / 8));
    return mem.slice(cPtr >>> 2, (cPtr >>> 2) + M * N);
  }

  return {
    backend,
    kernel,
    pack(b, K, N, transposed, bias) {
      live();
      const panels = packedLength(K, N);
      const block = kernel.instance.createTensor([panels + (bias ? paddedBiasLength(N) : 0)]);
      kept.push(block);
      const ptr = block.data.byteOffset;
      const packed = { K, N, ptr, data: null, biasPtr: bias ? ptr + panels * 4 : 0, bias: null };
      write(packed, b, transposed, bias);
      return packed;
    },
    repack(into, b, transposed, bias) {
      live();
      write(into, b, transposed, bias);
    },
    matmul(a, M, b, bias) {
      live();
      checkRows(a, M, b.K);
      // The kernel adds the bias to each finished sum: one f32 add, the rounding of the JS
      // engine's addBias, so every backend and thread count agrees on the bits.
      return run(a, M, b, b.K, b.N, bias);
    },
    matmulOnce(a, M, b, K, N) {
      live();
      checkRows(a, M, K);
      checkB(b, K, N);
      return run(a, M, null, K, N, null, b);
    },
    matmulTransA(a, K, M, b, N) {
      live();
      checkRows(a, M, K);
      checkB(b, K, N);
      return run(a, M, null, K, N, null, b, true);
    },
    matmulPinned(a, M, b, c) {
      live();
      if (a.data.length !== M * b.K) throw rangeError('gemm', `A of ${M}·${b.K} elements`, `${a.data.length}`);
      if (c.data.length !== M * b.N) throw rangeError('gemm', `C of ${M}·${b.N} elements`, `${c.data.length}`);
      exports.gemmPanels(a.data.byteOffset, b.ptr, b.biasPtr, c.data.byteOffset, M, b.N, b.K, 0, Math.ceil(b.N / 8));
    },
    dispose() {
      disposed = true;
      for (const block of kept) block.dispose();
      kept.length = 0;
    },
  };
}

function checkRows(a: Float32Array, M: number, K: number): void {
  if (a.length !== M * K) throw rangeError('gemm', `A of ${M}·${K} elements`, `${a.length}`);
}

/** B used once, row-major [K][N]: a short one would read past its end, a long one be cut. */
function checkB(b: Float32Array, K: number, N: number): void {
  if (b.length !== K * N) throw rangeError('gemm', `B of ${K}·${N} elements`, `${b.length}`);
}

/**
 * A GEMM engine on `backend`: its own instance of the backward kernel build of that ISA
 * (an instance on a WASM backend proves the runtime runs it), or JS.
 * @param backend the attention instance's backend
 * @returns the engine; `dispose()` frees its packed matrices
 * @example
 * const g = createGemm('wasm-simd');
 * const w = g.pack(weight, inDim, outDim, true);
 * const y = g.matmul(x, rows, w, bias); // x·weightᵀ + bias
 */
export function createGemm(backend: BackendName): GemmEngine {
  return backend === 'js' ? createJsGemm() : createPinnedGemm(createLayerKernel(backend), backend);
}
