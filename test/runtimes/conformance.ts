/**
 * The conformance cases every runtime of the matrix runs (scripts/runtimes/matrix.mjs):
 * Node, Chromium, Deno, Bun, workerd (miniflare) and Vercel's edge-runtime. It imports
 * nothing of the library itself: the runtime's entry passes in the package as that
 * runtime resolved `wasm-attention` (its `exports` condition), so what is tested is the
 * built, packed package. No file system, no Node API: plain ES2022 and WebAssembly.
 *
 * Cases, each run on every backend the runtime has (the JS fallback always among them):
 * 1. `attention()` cases named like XNNPACK's tests, checked against `referenceAttention`
 *    below, a float64 transcription of the definition in src/plan.ts: layouts, masks
 *    (boolean, additive, broadcast, padding, sliding window, fully masked rows), causal
 *    alignments, GQA/MQA, soft-capping, weights, float16, sizes off the SIMD width.
 * 2. A KV-cache case through `onnxAttention` (past_key/past_value → present_key/value).
 * 3. Every ONNX `Attention` vector of test/fixtures/conformance/onnx-attention (the ONNX
 *    project's backend node tests; see its README), bundled in as `virtual:onnx-vectors`.
 */
import { compareTensors, parseVector, runVector, type TensorComparison } from '../../src/conformance/index.js';
import type * as Library from '../../src/index.js';
import type { AttentionInstance, AttentionOptions, BackendName, MaskTensor, Tensor } from '../../src/index.js';
import type { OnnxTensor } from '../../src/onnx/index.js';
import onnxVectors from 'virtual:onnx-vectors';

/** The package's public API, as the runtime imported it. */
export type AttentionLibrary = typeof Library;

export interface ConformanceOptions {
  /**
   * Precompiled kernels to pass in as `createAttention({ module })`, each tested as one
   * more backend (`module:<name>`): the edge runtimes' way in.
   */
  readonly modules?: Partial<Record<Exclude<BackendName, 'js'>, WebAssembly.Module>>;
  /** Stop listing failures after this many (default 20). */
  readonly maxFailures?: number;
}

/** What a runtime reports: one object, serialisable as JSON. */
export interface ConformanceReport {
  /** The backend `init()` chose: what `attention()` runs here. */
  readonly autoBackend: BackendName;
  /** Every backend the cases ran on (`module:…` for kernels passed in). */
  readonly backends: readonly string[];
  readonly features: RuntimeFeatures;
  readonly passed: number;
  readonly failed: number;
  /** One line per failing case × backend, with the worst element and tolerance. */
  readonly failures: readonly string[];
  /** Wall time of the whole run, ms. */
  readonly elapsedMs: number;
}

export interface RuntimeFeatures {
  readonly webAssembly: boolean;
  readonly simd: boolean;
  readonly relaxedSimd: boolean;
  /** WebAssembly threads: shared memory can be created (needs cross-origin isolation in browsers). */
  readonly threads: boolean;
  /** `new WebAssembly.Module(bytes)` works (false in Cloudflare Workers and Vercel Edge). */
  readonly compileFromBytes: boolean;
  /** Browsers only: `crossOriginIsolated` (COOP/COEP); null elsewhere. */
  readonly crossOriginIsolated: boolean | null;
}

// ---------------------------------------------------------------------------------------
// Runtime features
// ---------------------------------------------------------------------------------------

// The smallest modules that need each feature (the same probes as src/backends/select.ts).
const SIMD_PROBE = [0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 17, 11];
const RELAXED_PROBE = [
  0, 97, 115, 109, 1, 0, 0, 0, 1, 6, 1, 96, 1, 123, 1, 123, 3, 2, 1, 0, 10, 13, 1, 11, 0, 32, 0, 32, 0, 32, 0, 253, 133, 2, 11,
];
const EMPTY_MODULE = [0, 97, 115, 109, 1, 0, 0, 0];

/** What the runtime supports, probed without the library. */
export function probeFeatures(): RuntimeFeatures {
  const wasm = typeof WebAssembly === 'object';
  const validate = (bytes: number[]) => wasm && WebAssembly.validate(new Uint8Array(bytes));
  let compileFromBytes = false;
  let threads = false;
  if (wasm) {
    try {
      new WebAssembly.Module(new Uint8Array(EMPTY_MODULE));
      compileFromBytes = true;
    } catch {
      compileFromBytes = false; // "Wasm code generation disallowed by embedder"
    }
    try {
      threads = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof SharedArrayBuffer;
    } catch {
      threads = false;
    }
  }
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated;
  return {
    webAssembly: wasm,
    simd: validate(SIMD_PROBE),
    relaxedSimd: validate(RELAXED_PROBE),
    threads,
    compileFromBytes,
    crossOriginIsolated: typeof isolated === 'boolean' && typeof document === 'object' ? isolated : null,
  };
}

// ---------------------------------------------------------------------------------------
// Deterministic inputs
// ---------------------------------------------------------------------------------------

/** mulberry32, seeded: every runtime makes the same inputs. Floats in [-1, 1). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

function filled(length: number, next: () => number, amplitude = 1): Float32Array {
  const data = new Float32Array(length);
  for (let i = 0; i < length; i++) data[i] = next() * amplitude;
  return data;
}

// ---------------------------------------------------------------------------------------
// The float64 oracle (bhsd)
// ---------------------------------------------------------------------------------------

interface Problem {
  readonly batch: number;
  readonly qHeads: number;
  readonly kvHeads: number;
  readonly seqLenQ: number;
  readonly seqLenK: number;
  readonly headDim: number;
  readonly valueDim: number;
  /** bhsd, as float64-exact values (float16 inputs already rounded). */
  readonly q: ArrayLike<number>;
  readonly k: ArrayLike<number>;
  readonly v: ArrayLike<number>;
}

/** Index into a mask of `shape`, broadcast NumPy-style (from the right) to [B, H, Lq, Lk]. */
function maskIndex(shape: readonly number[], b: number, h: number, i: number, j: number): number {
  const coords = [b, h, i, j].slice(4 - shape.length);
  let index = 0;
  for (let axis = 0; axis < shape.length; axis++) index = index * shape[axis]! + (shape[axis] === 1 ? 0 : coords[axis]!);
  return index;
}

/**
 * softmax(q·kᵀ·scale [softcapped] + mask)·v in float64, straight from the definition of
 * src/plan.ts: masked positions are selected away; a row with no key left gives zeros.
 */
function referenceAttention(p: Problem, options: AttentionOptions): { out: Float64Array; weights: Float64Array } {
  const { batch, qHeads, kvHeads, seqLenQ, seqLenK, headDim, valueDim } = p;
  const scale = options.scale ?? 1 / Math.sqrt(headDim);
  const softcap = options.softcap ?? 0;
  const out = new Float64Array(batch * qHeads * seqLenQ * valueDim);
  const weights = new Float64Array(batch * qHeads * seqLenQ * seqLenK);
  const logits = new Float64Array(seqLenK);
  for (let b = 0; b < batch; b++) {
    const validKeys = options.keyLengths ? options.keyLengths[b]! : seqLenK;
    for (let h = 0; h < qHeads; h++) {
      const kvHead = Math.floor(h / (qHeads / kvHeads));
      for (let i = 0; i < seqLenQ; i++) {
        let max = -Infinity;
        for (let j = 0; j < seqLenK; j++) {
          let allowed = j < validKeys;
          if (options.causal === 'top-left') allowed &&= j <= i;
          else if (options.causal) allowed &&= j <= i + (validKeys - seqLenQ);
          let bias = 0;
          const mask = options.mask;
          if (mask) {
            const m = mask.data[maskIndex(mask.shape, b, h, i, j)]!;
            if (mask.data instanceof Uint8Array) allowed &&= m !== 0;
            else if (m === -Infinity) allowed = false;
            else bias = m;
          }
          let logit = 0;
          if (allowed) {
            for (let d = 0; d < headDim; d++) {
              logit += p.q[((b * qHeads + h) * seqLenQ + i) * headDim + d]! * p.k[((b * kvHeads + kvHead) * seqLenK + j) * headDim + d]!;
            }
            logit *= scale;
            if (softcap > 0) logit = softcap * Math.tanh(logit / softcap);
            logit += bias;
          }
          logits[j] = allowed ? logit : -Infinity;
          if (logits[j]! > max) max = logits[j]!;
        }
        const row = ((b * qHeads + h) * seqLenQ + i) * seqLenK;
        if (max === -Infinity) continue; // fully masked row: zeros
        let sum = 0;
        for (let j = 0; j < seqLenK; j++) sum += weights[row + j] = Math.exp(logits[j]! - max);
        for (let j = 0; j < seqLenK; j++) weights[row + j]! /= sum;
        const o = ((b * qHeads + h) * seqLenQ + i) * valueDim;
        for (let j = 0; j < seqLenK; j++) {
          const w = weights[row + j]!;
          if (w === 0) continue;
          for (let d = 0; d < valueDim; d++) out[o + d]! += w * p.v[((b * kvHeads + kvHead) * seqLenK + j) * valueDim + d]!;
        }
      }
    }
  }
  return { out, weights };
}

/** [B, H, L, D] → [B, L, H, D]; for packed 3-D inputs the same bytes read as [B, L, H·D]. */
function bhsdToBshd(data: ArrayLike<number>, batch: number, heads: number, seqLen: number, dim: number): Float32Array {
  const result = new Float32Array(batch * heads * seqLen * dim);
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < heads; h++)
      for (let s = 0; s < seqLen; s++)
        for (let d = 0; d < dim; d++) result[((b * seqLen + s) * heads + h) * dim + d] = data[((b * heads + h) * seqLen + s) * dim + d]!;
  return result;
}

// ---------------------------------------------------------------------------------------
// The attention() cases
// ---------------------------------------------------------------------------------------

interface ApiCase {
  readonly name: string;
  readonly batch?: number;
  readonly qHeads?: number;
  readonly kvHeads?: number;
  readonly seqLenQ: number;
  readonly seqLenK: number;
  readonly headDim: number;
  readonly valueDim?: number;
  readonly layout?: 'bhsd' | 'bshd' | 'packed';
  readonly float16?: boolean;
  /** Options besides layout/numHeads/kvHeads/returnWeights; masks built from the shape. */
  readonly options?: (shape: { batch: number; qHeads: number; seqLenQ: number; seqLenK: number }, next: () => number) => AttentionOptions;
}

function boolMask(shape: number[], allowed: (b: number, h: number, i: number, j: number) => boolean): MaskTensor {
  const [B, H, Lq, Lk] = [1, 1, 1, 1, ...shape].slice(-4) as [number, number, number, number];
  const data = new Uint8Array(B * H * Lq * Lk);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < Lq; i++) for (let j = 0; j < Lk; j++) data[((b * H + h) * Lq + i) * Lk + j] = allowed(b, h, i, j) ? 1 : 0;
  return { data, shape };
}

const API_CASES: readonly ApiCase[] = [
  { name: 'bhsd_basic', batch: 2, qHeads: 3, seqLenQ: 5, seqLenK: 7, headDim: 8 },
  { name: 'head_dim_lt_4_value_dim_neq_head_dim', seqLenQ: 4, seqLenK: 6, headDim: 3, valueDim: 5 },
  { name: 'sizes_not_multiple_of_simd_or_tile', batch: 1, qHeads: 2, seqLenQ: 13, seqLenK: 17, headDim: 19 },
  { name: 'kv_len_eq_1', seqLenQ: 3, seqLenK: 1, headDim: 8 },
  { name: 'scale_explicit', seqLenQ: 4, seqLenK: 4, headDim: 16, options: () => ({ scale: 0.7 }) },
  { name: 'causal_bottom_right_q_len_lt_kv_len', qHeads: 2, seqLenQ: 3, seqLenK: 9, headDim: 8, options: () => ({ causal: true }) },
  { name: 'causal_top_left_q_len_neq_kv_len', qHeads: 2, seqLenQ: 5, seqLenK: 8, headDim: 8, options: () => ({ causal: 'top-left' }) },
  {
    name: 'bool_mask_broadcast_lq_lk_with_fully_masked_row',
    batch: 2,
    qHeads: 2,
    seqLenQ: 4,
    seqLenK: 6,
    headDim: 8,
    options: ({ seqLenQ, seqLenK }) => ({ mask: boolMask([seqLenQ, seqLenK], (_b, _h, i, j) => i !== 2 && (i + j) % 3 !== 0) }),
  },
  {
    name: 'additive_mask_4d_with_neg_inf',
    batch: 2,
    qHeads: 2,
    seqLenQ: 3,
    seqLenK: 5,
    headDim: 4,
    options: ({ batch, qHeads, seqLenQ, seqLenK }, next) => {
      const data = filled(batch * qHeads * seqLenQ * seqLenK, next, 2);
      for (let n = 0; n < data.length; n += 4) data[n] = -Infinity;
      return { mask: { data, shape: [batch, qHeads, seqLenQ, seqLenK] } };
    },
  },
  {
    name: 'padding_key_lengths_with_empty_item',
    batch: 3,
    qHeads: 2,
    seqLenQ: 4,
    seqLenK: 7,
    headDim: 8,
    options: () => ({ keyLengths: [2, 7, 0] }),
  },
  {
    name: 'padding_key_lengths_causal',
    batch: 2,
    seqLenQ: 3,
    seqLenK: 6,
    headDim: 8,
    options: () => ({ keyLengths: [4, 6], causal: true }),
  },
  {
    name: 'sliding_window_3_causal',
    qHeads: 2,
    seqLenQ: 9,
    seqLenK: 9,
    headDim: 8,
    options: ({ seqLenQ, seqLenK }) => ({ causal: true, mask: boolMask([seqLenQ, seqLenK], (_b, _h, i, j) => i - j < 3) }),
  },
  { name: 'gqa_6_query_heads_2_kv_heads', qHeads: 6, kvHeads: 2, seqLenQ: 5, seqLenK: 5, headDim: 8, options: () => ({ causal: true }) },
  { name: 'mqa_bshd', batch: 2, qHeads: 4, kvHeads: 1, seqLenQ: 3, seqLenK: 6, headDim: 8, layout: 'bshd' },
  { name: 'packed_3d_gqa', batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 5, seqLenK: 5, headDim: 4, layout: 'packed' },
  { name: 'softcap', qHeads: 2, seqLenQ: 4, seqLenK: 6, headDim: 8, options: () => ({ softcap: 0.5, scale: 2 }) },
  { name: 'float16', batch: 2, qHeads: 2, seqLenQ: 5, seqLenK: 7, headDim: 8, float16: true },
  {
    name: 'float16_gqa_causal_bshd',
    qHeads: 4,
    kvHeads: 2,
    seqLenQ: 6,
    seqLenK: 6,
    headDim: 8,
    float16: true,
    layout: 'bshd',
    options: () => ({ causal: true }),
  },
];

/** Runs one attention() case on one instance; returns the comparisons of output and weights. */
function runApiCase(lib: AttentionLibrary, instance: AttentionInstance, c: ApiCase, seed: number): TensorComparison[] {
  const batch = c.batch ?? 1;
  const qHeads = c.qHeads ?? 1;
  const kvHeads = c.kvHeads ?? qHeads;
  const valueDim = c.valueDim ?? c.headDim;
  const { seqLenQ, seqLenK, headDim } = c;
  const next = random(seed);
  let q = filled(batch * qHeads * seqLenQ * headDim, next);
  let k = filled(batch * kvHeads * seqLenK * headDim, next);
  let v = filled(batch * kvHeads * seqLenK * valueDim, next);
  if (c.float16) {
    // The oracle sees exactly the values the library receives.
    const roundToHalf = (x: Float32Array) => lib.halfArrayToFloat32(lib.float32ArrayToHalf(x));
    [q, k, v] = [roundToHalf(q), roundToHalf(k), roundToHalf(v)];
  }
  const options = c.options?.({ batch, qHeads, seqLenQ, seqLenK }, next) ?? {};
  const want = referenceAttention({ batch, qHeads, kvHeads, seqLenQ, seqLenK, headDim, valueDim, q, k, v }, options);

  // Lay the inputs out as the case asks, and the expected output the same way.
  const layout = c.layout ?? 'bhsd';
  const arrange = (x: ArrayLike<number>, heads: number, seqLen: number, dim: number) =>
    layout === 'bhsd' ? Float32Array.from(x) : bhsdToBshd(x, batch, heads, seqLen, dim);
  const shapeOf = (heads: number, seqLen: number, dim: number) =>
    layout === 'bhsd' ? [batch, heads, seqLen, dim] : layout === 'bshd' ? [batch, seqLen, heads, dim] : [batch, seqLen, heads * dim];
  const encode = (x: Float32Array) => (c.float16 ? lib.float32ArrayToHalf(x) : x);
  const tensor = (x: ArrayLike<number>, heads: number, seqLen: number, dim: number): Tensor => ({
    data: encode(arrange(x, heads, seqLen, dim)),
    shape: shapeOf(heads, seqLen, dim),
  });
  const call: AttentionOptions = {
    ...options,
    ...(layout === 'bshd' ? { layout } : layout === 'packed' ? { numHeads: qHeads, kvHeads } : {}),
    returnWeights: true,
  };
  const got = instance.attention(tensor(q, qHeads, seqLenQ, headDim), tensor(k, kvHeads, seqLenK, headDim), tensor(v, kvHeads, seqLenK, valueDim), call);

  const dtype = c.float16 ? 'float16' : 'float32';
  const expected = (x: ArrayLike<number>, shape: number[]): OnnxTensor => ({ data: encode(Float32Array.from(x)), shape, dtype });
  const wantOut = expected(arrange(want.out, qHeads, seqLenQ, valueDim), shapeOf(qHeads, seqLenQ, valueDim));
  const wantWeights = expected(want.weights, [batch, qHeads, seqLenQ, seqLenK]);
  const asOnnx = (t: Tensor | undefined): OnnxTensor | null => (t ? { data: t.data, shape: t.shape, dtype } : null);
  return [compareTensors(asOnnx(got.output), wantOut), compareTensors(asOnnx(got.weights), wantWeights)];
}

/** A KV cache through onnxAttention: Y over [past ‖ new] keys, and present_* = past ‖ new exactly. */
function runCacheCase(instance: AttentionInstance, seed: number): TensorComparison[] {
  const [batch, qHeads, kvHeads, pastLen, newLen, headDim] = [2, 4, 2, 5, 3, 8];
  const totalLen = pastLen + newLen;
  const next = random(seed);
  const q = filled(batch * qHeads * newLen * headDim, next);
  const pastKey = filled(batch * kvHeads * pastLen * headDim, next);
  const pastValue = filled(batch * kvHeads * pastLen * headDim, next);
  const newKey = filled(batch * kvHeads * newLen * headDim, next);
  const newValue = filled(batch * kvHeads * newLen * headDim, next);
  const concat = (past: Float32Array, fresh: Float32Array) => {
    const all = new Float32Array(batch * kvHeads * totalLen * headDim);
    for (let bh = 0; bh < batch * kvHeads; bh++) {
      all.set(past.subarray(bh * pastLen * headDim, (bh + 1) * pastLen * headDim), bh * totalLen * headDim);
      all.set(fresh.subarray(bh * newLen * headDim, (bh + 1) * newLen * headDim), (bh * totalLen + pastLen) * headDim);
    }
    return all;
  };
  const presentKey = concat(pastKey, newKey);
  const presentValue = concat(pastValue, newValue);
  const want = referenceAttention(
    { batch, qHeads, kvHeads, seqLenQ: newLen, seqLenK: totalLen, headDim, valueDim: headDim, q, k: presentKey, v: presentValue },
    { causal: true },
  );
  const t = (data: Float32Array, heads: number, seqLen: number): OnnxTensor => ({ data, shape: [batch, heads, seqLen, headDim], dtype: 'float32' });
  const [y, gotKey, gotValue] = instance.onnxAttention(
    [t(q, qHeads, newLen), t(newKey, kvHeads, newLen), t(newValue, kvHeads, newLen), null, t(pastKey, kvHeads, pastLen), t(pastValue, kvHeads, pastLen)],
    { is_causal: 1 },
  );
  return [
    compareTensors(y, t(Float32Array.from(want.out), qHeads, newLen)),
    compareTensors(gotKey, t(presentKey, kvHeads, totalLen)),
    compareTensors(gotValue, t(presentValue, kvHeads, totalLen)),
  ];
}

// ---------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------

interface NamedInstance {
  readonly label: string;
  readonly instance: AttentionInstance;
}

async function instancesToTest(lib: AttentionLibrary, options: ConformanceOptions): Promise<NamedInstance[]> {
  const instances: NamedInstance[] = [];
  for (const name of lib.BACKEND_NAMES) {
    if (lib.isBackendAvailable(name)) instances.push({ label: name, instance: await lib.createAttention({ backend: name }) });
  }
  for (const [name, module] of Object.entries(options.modules ?? {})) {
    const instance = await lib.createAttention({ module });
    if (instance.backend !== name) throw new Error(`createAttention({ module }) with the ${name} build reports backend '${instance.backend}'`);
    instances.push({ label: `module:${name}`, instance });
  }
  return instances;
}

/**
 * Runs every case on every backend this runtime has and returns the report.
 *
 * @param lib - the package, as this runtime imported it
 * @param options - kernels to pass in as `module` (edge runtimes)
 * @returns the report; `failed === 0` means the runtime conforms
 * @throws nothing for a failing case (it is counted and described); only for a broken setup
 * @example
 * import * as lib from 'wasm-attention';
 * const report = await runConformance(lib);
 */
export async function runConformance(lib: AttentionLibrary, options: ConformanceOptions = {}): Promise<ConformanceReport> {
  const started = Date.now();
  const features = probeFeatures();
  const autoBackend = (await lib.init()).backend;
  const instances = await instancesToTest(lib, options);
  const vectors = (onnxVectors as unknown[]).map((json, n) => parseVector(json, `virtual:onnx-vectors[${n}]`));
  if (vectors.length === 0) throw new Error('no ONNX vectors were bundled (virtual:onnx-vectors is empty)');

  let passed = 0;
  const failures: string[] = [];
  const record = (name: string, label: string, comparisons: readonly TensorComparison[] | Error) => {
    const failing = comparisons instanceof Error ? [comparisons.message] : comparisons.filter((c) => !c.ok).map((c) => c.message);
    if (failing.length === 0) passed++;
    else failures.push(`${name} [${label}]: ${failing.join(' | ')}`);
  };
  const attempt = (run: () => readonly TensorComparison[]): readonly TensorComparison[] | Error => {
    try {
      return run();
    } catch (error) {
      return error instanceof Error ? new Error(`threw ${error.name}: ${error.message}`) : new Error(String(error));
    }
  };

  for (const { label, instance } of instances) {
    API_CASES.forEach((c, n) => record(c.name, label, attempt(() => runApiCase(lib, instance, c, 1000 + n))));
    record('onnx_kv_cache_past_present', label, attempt(() => runCacheCase(instance, 77)));
    for (const vector of vectors) {
      const result = runVector(vector, (inputs, attrs) => instance.onnxAttention(inputs, attrs));
      record(vector.name, label, result.error !== undefined ? new Error(`threw ${String(result.error)}`) : result.outputs.map((o) => o.comparison));
    }
  }
  // The top-level `attention()` runs on the default instance that `init()` set up.
  const topLevel = { attention: lib.attention } as unknown as AttentionInstance;
  record('top_level_attention', `auto:${autoBackend}`, attempt(() => runApiCase(lib, topLevel, API_CASES[0]!, 1000)));

  const maxFailures = options.maxFailures ?? 20;
  return {
    autoBackend,
    backends: instances.map((i) => i.label),
    features,
    passed,
    failed: failures.length,
    failures: failures.slice(0, maxFailures),
    elapsedMs: Date.now() - started,
  };
}
