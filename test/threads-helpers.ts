/**
 * What the threads, decodeAsync and pinned-tensor tests share: the WASM backends that run
 * here, the threaded backend behind an instance, seeded inputs, and a bit-for-bit check.
 */
import { expect } from 'vitest';
import { isBackendAvailable, type AttentionInstance } from '../src/index.js';
import type { ThreadedBackend } from '../src/threads/backend.js';
import { mulberry32 } from './reference.js';

export const WASM_BACKENDS = (['wasm-simd', 'wasm-relaxed-simd'] as const).filter(isBackendAvailable);

/** The threaded backend of an instance created with `threads` (null without). */
export function threadedOf(attn: AttentionInstance): ThreadedBackend {
  return (attn as unknown as { threaded: ThreadedBackend }).threaded;
}

/** `length` seeded values in [-1, 1). */
export function random(length: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  return Float32Array.from({ length }, () => next() * 2 - 1);
}

/**
 * Fails unless `got` and `want` hold the same bits (float32, or float16 bits in a
 * Uint16Array), naming the first element that differs.
 * @param labels how the message names the two sides, e.g. ['threaded', 'single-thread']
 */
export function expectSameBits(got: ArrayLike<number>, want: ArrayLike<number>, context: string, labels: readonly [string, string] = ['got', 'want']): void {
  const bits = (values: ArrayLike<number>) =>
    values instanceof Uint16Array ? values : values instanceof Float32Array ? new Uint32Array(values.buffer, values.byteOffset, values.length) : new Uint32Array(Float32Array.from(values).buffer);
  const x = bits(got);
  const y = bits(want);
  expect(x.length, `${context}: length`).toBe(y.length);
  for (let n = 0; n < x.length; n++) {
    if (x[n] !== y[n]) throw new Error(`${context}: element ${n} differs: ${labels[0]} ${got[n]}, ${labels[1]} ${want[n]}`);
  }
}
