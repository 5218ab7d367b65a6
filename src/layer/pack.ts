/**
 * The packed-B layout of the `gemm` kernel export (assembly/gemm/f32-gemm-3x12.ts): B
 * [K][N] as ceil(N/8) column panels of [K][8], panel p holding columns 8p..8p+7, columns
 * past N zero. Each step of the micro-kernel then loads 32 contiguous bytes of B. Packing
 * is done once per weight matrix (as XNNPACK packs weights at operator creation); the layer
 * (./gemm.ts) keeps the packed weights, bench/gemm-case.ts and the tests pack with this.
 */

/** Elements of the packed form of a [K][N] matrix: ceil(N/8)·K·8. */
export function packedLength(K: number, N: number): number {
  return Math.ceil(N / 8) * K * 8;
}

/**
 * Packs B [K][N] into `gemm` panels.
 * @param b row-major [K][N], or, when `transposed`, Bᵀ row-major [N][K] (a weight W [out][in]
 *   of `y = x·Wᵀ` is packed with `transposed = true`, K = in, N = out)
 * @param K rows of B (the reduction length)
 * @param N columns of B
 * @param transposed whether `b` holds Bᵀ
 * @param out where to write (length ≥ packedLength(K, N)); a new array by default
 * @returns the packed panels
 * @example
 * const packed = packB(w, inDim, outDim, true); // for y = x·wᵀ
 */
export function packB(b: Float32Array, K: number, N: number, transposed = false, out?: Float32Array): Float32Array {
  const packed = out ?? new Float32Array(packedLength(K, N));
  if (out) packed.fill(0, 0, packedLength(K, N));
  const panelLength = K * 8;
  // Both walks read `b` in memory order (each packed row of a panel is 8 contiguous floats).
  if (transposed) {
    for (let n = 0; n < N; n++) {
      const base = (n >> 3) * panelLength + (n & 7);
      for (let k = 0; k < K; k++) packed[base + k * 8] = b[n * K + k]!;
    }
  } else {
    for (let k = 0; k < K; k++) {
      const row = k * N;
      for (let n = 0; n < N; n++) packed[(n >> 3) * panelLength + k * 8 + (n & 7)] = b[row + n]!;
    }
  }
  return packed;
}
