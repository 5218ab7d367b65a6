/**
 * What this browser offers the kernels, probed with the smallest modules that need each
 * feature (the probes of src/backends/select.ts, wasm-feature-detect's approach).
 */

export interface BrowserFeatures {
  readonly webAssembly: boolean;
  readonly simd: boolean;
  readonly relaxedSimd: boolean;
  /** Shared WebAssembly memory plus atomics validate, and SharedArrayBuffer exists (needs isolation). */
  readonly threads: boolean;
  readonly crossOriginIsolated: boolean;
  readonly cores: number;
}

const validate = (bytes: number[]) => typeof WebAssembly === 'object' && WebAssembly.validate(new Uint8Array(bytes));

/** `(func (result v128) i32.const 0 i32x4.splat)` */
const SIMD = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 17, 11];
/** `(func (param v128) (result v128) local.get 0 ×3 f32x4.relaxed_madd)` */
const RELAXED = [0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 0, 32, 0, 253, 133, 2, 11];
/** wasm-feature-detect's `threads` probe: a shared memory and `i32.atomic.load`. */
const THREADS = [
  0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 65, 0, 254, 16, 2, 0, 26, 11,
];

export function probeBrowser(): BrowserFeatures {
  const isolated = globalThis.crossOriginIsolated === true;
  return {
    webAssembly: typeof WebAssembly === 'object',
    simd: validate(SIMD),
    relaxedSimd: validate(RELAXED),
    threads: validate(THREADS) && typeof SharedArrayBuffer === 'function' && isolated,
    crossOriginIsolated: isolated,
    cores: navigator.hardwareConcurrency || 1,
  };
}
