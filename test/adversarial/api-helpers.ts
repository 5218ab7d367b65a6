/**
 * What the adversarial API suite shares: one instance per backend ('wasm-relaxed-simd',
 * 'wasm-simd', 'js') plus a threaded one (threads: 2, every call split: MIN_MACS_PER_THREAD
 * set to 0 by the files that use it), and a `run` that goes through the pool on the threaded
 * instance (attentionAsync) and through attention() elsewhere.
 *
 * Expected values are the same instance's answer to the same numbers given the ordinary way
 * (fresh arrays, own keys, no aliasing): a call that must behave "as if" must give the same
 * bits, so no tolerance is involved. That every backend agrees with the float64 reference is
 * test/attention.test.ts's job.
 */
import { BACKEND_NAMES, createAttention, isBackendAvailable, type AttentionInstance, type AttentionOptions, type AttentionResult, type Tensor } from '../../src/index.js';
import { random } from '../threads-helpers.js';

export { expectSameBits, random } from '../threads-helpers.js';

export interface InstanceKind {
  readonly label: string;
  /** True for the threaded instance: calls go through attentionAsync / decodeAsync. */
  readonly threaded: boolean;
  make(): Promise<AttentionInstance>;
}

const SINGLE = BACKEND_NAMES.filter(isBackendAvailable);
/** The build the threaded instance runs: relaxed SIMD where the runtime has it. */
export const THREADED_BACKEND = SINGLE.includes('wasm-relaxed-simd') ? 'wasm-relaxed-simd' : 'wasm-simd';

export const INSTANCE_KINDS: readonly InstanceKind[] = [
  ...SINGLE.map((backend) => ({ label: backend, threaded: false, make: () => createAttention({ backend }) })),
  { label: 'threads:2', threaded: true, make: () => createAttention({ backend: THREADED_BACKEND, threads: 2 }) },
];

/** attention() on a single-thread instance, attentionAsync() (split over the pool) on the threaded one. */
export function run(kind: InstanceKind, attn: AttentionInstance, q: Tensor, k: Tensor, v: Tensor, options?: AttentionOptions): Promise<AttentionResult> {
  return kind.threaded ? attn.attentionAsync(q, k, v, options) : Promise.resolve(attn.attention(q, k, v, options));
}

/** A float32 bhsd tensor of seeded values in [-1, 1). */
export function tensor(shape: number[], seed: number): { data: Float32Array; shape: number[] } {
  return { data: random(shape.reduce((a, b) => a * b, 1), seed), shape };
}

/** Microtask ticks: `await ticks(n)` yields to n queued promise jobs. */
export async function ticks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}
