/**
 * Decode and long-context measurements for the benchmark (the `decode` and `long` shape
 * sets), called by bench/main.ts; each function is self-contained (creates its own
 * instance, cache and inputs) so a worker process can run one and print its result.
 *
 * - `measureDecode`: one generation step through the public KV-cache API, as a user pays
 *   it: `append` the new token's K/V row, `decode` its query against the cache (q and out
 *   pinned in WASM memory: zero copy), then `truncate` back so every step sees the same
 *   length. The cache was filled once, outside timing.
 * - `measureReadBound`: the floor for that step on this machine: the kernel's `readSum`
 *   export reading the same number of bytes (the K and V of the cache, in its dtype) once,
 *   from linear memory of another instance of the same kernel module.
 * - `measureLongPrefill`: the tiled kernel on a causal prefill (default 32,768 tokens, H8,
 *   D64) through `attention()`, reporting the peak WASM memory beyond Q, K, V and the output.
 *
 * Ratios to report side by side in one run: onnxruntime-web's best graph on the `decode`
 * shape (`H32 Lq1 Lk2048 D128`, peers 'onnxruntime-web 1T') / measureDecode (target ≥ 3),
 * measureDecode / measureReadBound (target ≤ 1.5), and measureDecode float32 / float16 at
 * `cached: 8192` (target ≥ 1.3).
 */
import { createAttention, type BackendName, type KVCache, type PinnedTensor } from '../src/index.js';
import { testingSimdBase64 } from '../src/gen/testing-kernels.js';
import { timeCalls, type Prepared, type Timing, type TimingOptions } from './measure.js';
import type { Inputs } from './shapes.js';

export interface DecodeCase {
  /** Query heads. */
  readonly heads: number;
  /** Key/value heads (a divisor of `heads`). */
  readonly kvHeads: number;
  /** Tokens in the cache when the step's query attends (including the step's own token). */
  readonly cached: number;
  readonly headDim: number;
  readonly dtype: 'float32' | 'float16' | 'int8';
}

export interface DecodeTiming extends Timing {
  /** Bytes of K and V the step reads (the cache's `cached` rows, in its dtype). */
  readonly cacheBytes: number;
  /** cacheBytes / median time, in GB/s. */
  readonly gbPerS: number;
  readonly note: string;
}

const DEFAULT_TIMING: TimingOptions = { runs: 7, minMs: 300 };

/** Seeded N(0, 1) values (mulberry32 + Box–Muller), so runs are repeatable. */
function normal(length: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return out;
}

/** Bytes of K and V for `c.cached` tokens in the case's dtype (int8: each row's f32 scale included). */
export function cacheBytesOf(c: DecodeCase): number {
  if (c.dtype === 'int8') return 2 * c.kvHeads * c.cached * (Math.ceil(c.headDim / 16) * 16 + 4);
  return 2 * c.kvHeads * c.cached * c.headDim * (c.dtype === 'float16' ? 2 : 4);
}

/**
 * Prepares one decode step on `backend`. With `inputs` (bench/shapes.ts `makeInputs` of the
 * `decode` shape, kvHeads = heads) the cache holds exactly the peers' K/V, so `output()`
 * can go through the benchmark's correctness gate (bench/check.ts); otherwise seeded data.
 */
export async function prepareDecode(backend: BackendName, c: DecodeCase, inputs?: Inputs): Promise<Prepared & { dispose(): void }> {
  const attn = await createAttention({ backend });
  if (attn.backend !== backend) throw new Error(`asked for backend '${backend}', got '${attn.backend}'`);
  const { heads, kvHeads, cached, headDim, dtype } = c;
  const k = inputs?.k ?? normal(kvHeads * cached * headDim, 1);
  const v = inputs?.v ?? normal(kvHeads * cached * headDim, 2);
  const cache: KVCache = attn.createKVCache({ batch: 1, kvHeads, headDim, maxSeqLen: cached, dtype });
  // Prefill the first cached − 1 rows once; the step appends the last one.
  const rows = (x: Float32Array, first: number, count: number) => {
    const out = new Float32Array(kvHeads * count * headDim);
    for (let h = 0; h < kvHeads; h++) out.set(x.subarray((h * cached + first) * headDim, (h * cached + first + count) * headDim), h * count * headDim);
    return { data: out, shape: [1, kvHeads, count, headDim] };
  };
  cache.append(rows(k, 0, cached - 1), rows(v, 0, cached - 1));
  const kStep = rows(k, cached - 1, 1);
  const vStep = rows(v, cached - 1, 1);
  const q: PinnedTensor = attn.createTensor([1, heads, 1, headDim]);
  const out: PinnedTensor = attn.createTensor([1, heads, 1, headDim]);
  q.data.set(inputs?.q ?? normal(heads * headDim, 3));
  const call = (): void => {
    cache.append(kStep, vStep);
    attn.decode(q, cache, { causal: true, out });
    cache.truncate(cached - 1);
  };
  return {
    call,
    isAsync: false,
    async output() {
      call();
      return out.data.slice();
    },
    note: `KV cache ${dtype}, ${kvHeads === heads ? 'MHA' : `GQA ${heads}/${kvHeads}`}, append + decode (pinned q/out)`,
    dispose() {
      cache.dispose();
      q.dispose();
      out.dispose();
    },
  };
}

/** Times one decode step (see `prepareDecode`) on `backend`. */
export async function measureDecode(backend: BackendName, c: DecodeCase, timing: TimingOptions = DEFAULT_TIMING): Promise<DecodeTiming> {
  const prepared = await prepareDecode(backend, c);
  const result = await timeCalls(prepared.call, false, timing);
  prepared.dispose();
  const cacheBytes = cacheBytesOf(c);
  return { ...result, cacheBytes, gbPerS: cacheBytes / (result.medianMs * 1e6), note: prepared.note! };
}

/**
 * Times reading the case's cache bytes once with SIMD loads in WASM (the kernel's
 * `readSum` over the same byte count): the memory-bandwidth floor of a decode step.
 */
export async function measureReadBound(c: DecodeCase, timing: TimingOptions = DEFAULT_TIMING): Promise<DecodeTiming> {
  const bytes = Math.ceil(cacheBytesOf(c) / 64) * 64;
  const binary = Uint8Array.from(atob(testingSimdBase64), (ch) => ch.charCodeAt(0));
  const kernel = new WebAssembly.Instance(new WebAssembly.Module(binary), {}).exports as unknown as {
    memory: WebAssembly.Memory;
    heapBase(): number;
    readSum(ptr: number, bytes: number): number;
  };
  const base = kernel.heapBase();
  const grow = Math.ceil((base + bytes - kernel.memory.buffer.byteLength) / 65536);
  if (grow > 0) kernel.memory.grow(grow);
  new Float32Array(kernel.memory.buffer, base, bytes / 4).set(normal(bytes / 4, 4));
  let sink = 0;
  const result = await timeCalls(() => void (sink += kernel.readSum(base, bytes)), false, timing);
  if (Number.isNaN(sink)) throw new Error('readSum: unexpected NaN');
  return { ...result, cacheBytes: bytes, gbPerS: bytes / (result.medianMs * 1e6), note: 'WASM f32x4 sum over the cache bytes' };
}

export interface LongPrefillResult {
  readonly ms: number;
  /** WASM memory after the call (the peak: memory never shrinks). */
  readonly memoryBytes: number;
  /** memoryBytes − bytes of Q, K, V and the output (f32): what the kernel needed beyond them. */
  readonly extraBytes: number;
}

/** One causal prefill of `seqLen` tokens (H `heads`, D `headDim`) through `attention()`. */
export async function measureLongPrefill(
  backend: BackendName,
  { heads = 8, seqLen = 32768, headDim = 64 }: { heads?: number; seqLen?: number; headDim?: number } = {},
): Promise<LongPrefillResult> {
  const attn = await createAttention({ backend });
  const length = heads * seqLen * headDim;
  const tensor = (seed: number) => ({ data: normal(length, seed), shape: [1, heads, seqLen, headDim] });
  const q = tensor(5), k = tensor(6), v = tensor(7);
  const start = performance.now();
  attn.attention(q, k, v, { causal: true });
  const ms = performance.now() - start;
  const memoryBytes = attn.memoryBytes;
  return { ms, memoryBytes, extraBytes: memoryBytes - 4 * length * 4 };
}
