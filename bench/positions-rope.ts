/**
 * RoPE rows of `--shapes positions` (issue #12 targets), registered in bench/positions.ts:
 * - prefill H8 N1024 D64 (dense and causal): `rotary: { base: 10000 }` vs no rotary;
 *   target ≤ 1.05. q, k, v are plain Float32Arrays on both sides (both copy them into WASM
 *   memory; rotary adds the angles and one SIMD pass over the copies of q and k).
 * - decode step H32 L2048 D128, float32 cache: a cache created with `rotary` (keys rotated
 *   at append) vs a plain one; target ≤ 1.03. The step rotates its one query row per head.
 */
import type { AttentionInstance } from '../src/index.js';
import type { PositionCase } from './positions.js';

const tensor = (seed: number, shape: number[]) => ({ data: Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * 0.37 + seed)), shape });

function prefill(causal: boolean): PositionCase {
  const [heads, length, headDim] = [8, 1024, 64];
  return {
    name: `prefill H${heads} N${length} D${headDim}${causal ? ' causal' : ''}: rotary { base: 10000 } vs none`,
    target: '≤ 1.05',
    meets: (ratio) => ratio <= 1.05,
    setup(attn: AttentionInstance) {
      const shape = [1, heads, length, headDim];
      const [q, k, v] = [tensor(1, shape), tensor(2, shape), tensor(3, shape)];
      const out = new Float32Array(q.data.length);
      const flops = 4 * heads * headDim * (causal ? (length * (length + 1)) / 2 : length * length);
      return {
        baseline: { label: 'no rotary', flops, run: () => attn.attention(q, k, v, { causal, out }) },
        candidate: { label: 'rotary', flops, run: () => attn.attention(q, k, v, { causal, out, rotary: { base: 10000 } }) },
      };
    },
  };
}

const decodeStep: PositionCase = {
  name: 'decode step H32 L2048 D128 float32 cache: rotary cache vs plain cache',
  target: '≤ 1.03',
  meets: (ratio) => ratio <= 1.03,
  setup(attn: AttentionInstance) {
    const [heads, length, headDim] = [32, 2048, 128];
    const k = tensor(2, [1, heads, length, headDim]);
    const v = tensor(3, [1, heads, length, headDim]);
    const q = tensor(1, [1, heads, 1, headDim]);
    const out = new Float32Array(q.data.length);
    const plain = attn.createKVCache({ batch: 1, kvHeads: heads, headDim, maxSeqLen: length });
    const rotary = attn.createKVCache({ batch: 1, kvHeads: heads, headDim, maxSeqLen: length, rotary: { base: 10000 } });
    plain.append(k, v);
    rotary.append(k, v);
    const flops = 4 * heads * headDim * length;
    return {
      baseline: { label: 'plain cache', flops, run: () => attn.decode(q, plain, { causal: true, out }) },
      candidate: { label: 'rotary cache', flops, run: () => attn.decode(q, rotary, { causal: true, out }) },
      dispose: () => [plain, rotary].forEach((cache) => cache.dispose()),
    };
  },
};

export const ROPE_CASES: readonly PositionCase[] = [prefill(false), prefill(true), decodeStep];
