/**
 * Sliding-window rows of `--shapes positions` (issue #12 targets):
 * - prefill, H8 L8192 D64 causal: window 512 vs no window. The keys visited are 513 per
 *   query at most vs (i + 1): 8.0× less work; target ≥ 6× faster.
 * - decode step, Mistral-7B geometry (H32, KV8, D128), float16 cache: a 32k-token cache
 *   with a 4096 window vs a 4096-token cache without one: the same keys read (4097 vs 4096),
 *   so the window must not cost the skipped 28k keys; target ≤ 1.3× the time.
 * q, k, v, out are PinnedTensors (in WASM memory: no copy per call), so the rows time the
 * kernels. GFLOP/s count the keys visited (4·H·D per query-key pair), not a dense L².
 */
import type { AttentionInstance, PinnedTensor } from '../src/index.js';
import type { PositionCase } from './positions.js';

/** A PinnedTensor of `shape` filled with seeded values in [-1, 1). */
export function pinned(attn: AttentionInstance, shape: number[], seed: number): PinnedTensor {
  const tensor = attn.createTensor(shape);
  const data = tensor.data;
  let x = seed >>> 0;
  for (let n = 0; n < data.length; n++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    data[n] = x / 2 ** 31 - 1;
  }
  return tensor;
}

/** Σ_i of the keys query i sees: min(i + 1, window + 1) for a causal square plan. */
function causalPairs(length: number, window: number): number {
  let pairs = 0;
  for (let i = 0; i < length; i++) pairs += Math.min(i + 1, window + 1);
  return pairs;
}

const PREFILL = { heads: 8, length: 8192, headDim: 64, window: 512 };

const prefillWindow: PositionCase = {
  name: `prefill H${PREFILL.heads} L${PREFILL.length} D${PREFILL.headDim} causal: window ${PREFILL.window} vs no window`,
  target: '≤ 0.167 (≥ 6× faster; the work ratio is 8×)',
  meets: (ratio) => ratio <= 1 / 6,
  setup(attn) {
    const { heads, length, headDim, window } = PREFILL;
    const shape = [1, heads, length, headDim];
    const [q, k, v, out] = [pinned(attn, shape, 1), pinned(attn, shape, 2), pinned(attn, shape, 3), attn.createTensor(shape)];
    const flops = (pairs: number) => 4 * heads * headDim * pairs;
    return {
      baseline: { label: 'causal', flops: flops(causalPairs(length, Infinity)), run: () => attn.attention(q, k, v, { causal: true, out }) },
      candidate: { label: `causal, window ${window}`, flops: flops(causalPairs(length, window)), run: () => attn.attention(q, k, v, { causal: true, window, out }) },
      dispose: () => [q, k, v, out].forEach((t) => t.dispose()),
    };
  },
};

const DECODE = { heads: 32, kvHeads: 8, headDim: 128, long: 32768, window: 4096 };

/** A float16 cache of `length` tokens, appended in chunks of 4096 (no 32k-token host array). */
function filledCache(attn: AttentionInstance, length: number) {
  const { kvHeads, headDim } = DECODE;
  const cache = attn.createKVCache({ batch: 1, kvHeads, headDim, maxSeqLen: length, dtype: 'float16' });
  const chunk = Math.min(length, 4096);
  const k = new Float32Array(kvHeads * chunk * headDim);
  const v = new Float32Array(kvHeads * chunk * headDim);
  for (let at = 0; at < length; at += chunk) {
    for (let n = 0; n < k.length; n++) {
      k[n] = Math.sin(n * 0.37 + at);
      v[n] = Math.cos(n * 0.11 + at);
    }
    cache.append({ data: k, shape: [1, kvHeads, chunk, headDim] }, { data: v, shape: [1, kvHeads, chunk, headDim] });
  }
  return cache;
}

const decodeWindow: PositionCase = {
  name: `decode step H${DECODE.heads} KV${DECODE.kvHeads} D${DECODE.headDim} float16: ${DECODE.long / 1024}k cache with window ${DECODE.window} vs ${DECODE.window}-token cache`,
  target: '≤ 1.3',
  meets: (ratio) => ratio <= 1.3,
  setup(attn) {
    const { heads, headDim, long, window } = DECODE;
    const short = filledCache(attn, window);
    const longCache = filledCache(attn, long);
    const q = pinned(attn, [1, heads, 1, headDim], 4);
    const out = attn.createTensor([1, heads, 1, headDim]);
    const flops = (keys: number) => 4 * heads * headDim * keys;
    return {
      baseline: { label: `${window}-token cache`, flops: flops(window), run: () => attn.decode(q, short, { out }) },
      candidate: { label: `${long / 1024}k cache, window ${window}`, flops: flops(window + 1), run: () => attn.decode(q, longCache, { window, out }) },
      dispose: () => {
        short.dispose();
        longCache.dispose();
        q.dispose();
        out.dispose();
      },
    };
  },
};

export const WINDOW_CASES: readonly PositionCase[] = [prefillWindow, decodeWindow];
