/**
 * Named shape sets of the benchmark, taken from real models' head geometry, and the
 * seeded inputs every implementation receives for a shape.
 */

/** One attention call: q `[batch, heads, seqLenQ, headDim]`, k and v `[batch, kvHeads, seqLenK, headDim]`. */
export interface Shape {
  /** Name of the set the shape belongs to (`--shapes`). */
  readonly set: string;
  readonly batch: number;
  readonly heads: number;
  /** K/V heads (MQA/GQA: fewer than `heads`); default `heads`. Only the threads set's decode steps use it. */
  readonly kvHeads?: number;
  readonly seqLenQ: number;
  readonly seqLenK: number;
  readonly headDim: number;
  readonly causal: boolean;
}

export interface ShapeSet {
  readonly description: string;
  readonly shapes: readonly Shape[];
}

function shape(set: string, heads: number, seqLenQ: number, seqLenK: number, headDim: number, causal: boolean): Shape {
  return { set, batch: 1, heads, seqLenQ, seqLenK, headDim, causal };
}

/** Prompt-processing shapes; `causal` repeats them with the causal mask. */
function prefill(set: string, causal: boolean): Shape[] {
  return [shape(set, 8, 1024, 1024, 64, causal), shape(set, 12, 512, 512, 64, causal), shape(set, 8, 2048, 2048, 64, causal)];
}

// Kept here, not in threads-cases.ts: this module is also bundled for the browser demo,
// which must not pull in node:os / node:child_process.
/**
 * The `threads` shape set: two prefill shapes (dense and causal), one MHA decode step, and
 * two MQA decode steps against an 8k-token cache: H32 KV1 D128 (32 query rows: 2 row blocks
 * of the decode kernel, split by row block) and Gemma-2B's H8 KV1 D256 (one row block: its
 * keys are split over the threads, flash-decoding, src/threads/decode.ts).
 */
export const THREADS_SHAPES: readonly Shape[] = [
  { set: 'threads', batch: 1, heads: 8, seqLenQ: 1024, seqLenK: 1024, headDim: 64, causal: false },
  { set: 'threads', batch: 1, heads: 8, seqLenQ: 2048, seqLenK: 2048, headDim: 64, causal: false },
  { set: 'threads', batch: 1, heads: 8, seqLenQ: 2048, seqLenK: 2048, headDim: 64, causal: true },
  { set: 'threads', batch: 1, heads: 32, seqLenQ: 1, seqLenK: 2048, headDim: 128, causal: false },
  { set: 'threads', batch: 1, heads: 32, kvHeads: 1, seqLenQ: 1, seqLenK: 8192, headDim: 128, causal: false },
  { set: 'threads', batch: 1, heads: 8, kvHeads: 1, seqLenQ: 1, seqLenK: 8192, headDim: 256, causal: false },
];

export const SHAPE_SETS: Readonly<Record<string, ShapeSet>> = {
  tiny: {
    description: 'BERT-base / GPT-2 small head geometry (H12, D64) on a 128-token input: per-call overhead dominates',
    shapes: [shape('tiny', 12, 128, 128, 64, false)],
  },
  prefill: {
    description: 'dense (encoder) attention over whole sequences: Whisper-base/T5-small (H8 D64) and BERT-base (H12 D64)',
    shapes: prefill('prefill', false),
  },
  causal: {
    description: 'the prefill shapes with a causal mask (decoder prompt processing)',
    shapes: prefill('causal', true),
  },
  long: {
    description: 'a 4k-token causal prompt (H8 D64), and one decode step against an 8k-token KV cache (H8 D128) with a float32 and a float16 cache',
    shapes: [shape('long', 8, 4096, 4096, 64, true), shape('long', 8, 1, 8192, 128, false)],
  },
  decode: {
    description: 'one new token against a 2048-token KV cache, Llama-2-7B geometry (H32 D128)',
    shapes: [shape('decode', 32, 1, 2048, 128, false)],
  },
  gemm: {
    description: "the prefill shapes' two GEMMs (Q·Kᵀ, S·V) on the kernel's plain `gemm` export: the rate attention would reach without fusion work",
    shapes: prefill('gemm', false),
  },
  threads: {
    description: 'thread scaling (bench/threads-cases.ts): prefill H8 N1024/N2048 D64 and the decode step H32 Lk2048 D128 on 1 and 2 threads of each WASM backend',
    shapes: THREADS_SHAPES,
  },
};

/**
 * Shape sets run when `--shapes` is not given. `threads` is opt-in (it measures scaling,
 * and needs an idle machine to mean anything). `long` is left out to keep the default run
 * under 3 minutes on a 2-core machine (the JS backend spends seconds per call on it).
 */
export const DEFAULT_SETS: readonly string[] = ['tiny', 'prefill', 'causal', 'decode'];

/** `H8 N1024 D64 causal`, or `H32 Lq1 Lk2048 D128` when the sequence lengths differ, `H8 KV1 …` for MQA/GQA. */
export function shapeLabel(s: Shape): string {
  const batch = s.batch === 1 ? '' : `B${s.batch} `;
  const kv = s.kvHeads !== undefined && s.kvHeads !== s.heads ? ` KV${s.kvHeads}` : '';
  const lengths = s.seqLenQ === s.seqLenK ? `N${s.seqLenQ}` : `Lq${s.seqLenQ} Lk${s.seqLenK}`;
  return `${batch}H${s.heads}${kv} ${lengths} D${s.headDim}${s.causal ? ' causal' : ''}`;
}

/**
 * Nominal FLOPs of a call: 4·B·H·Lq·Lk·D (Q·Kᵀ and P·V, one multiply and one add each).
 * Causal calls are given the same nominal count as dense ones, so the work a kernel skips
 * above the diagonal shows as a higher rate (and a shorter time), not as a smaller count.
 */
export function flopsOf(s: Shape): number {
  return 4 * s.batch * s.heads * s.seqLenQ * s.seqLenK * s.headDim;
}

export interface Inputs {
  /** `[batch, heads, seqLen, headDim]` (bhsd), row-major. */
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
  readonly scale: number;
}

/** mulberry32: a small, fast, seedable 32-bit PRNG; returns floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box–Muller), so logits have the spread of real activations. */
function fillNormal(array: Float32Array, random: () => number): Float32Array {
  for (let i = 0; i < array.length; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random()));
    const angle = 2 * Math.PI * random();
    array[i] = radius * Math.cos(angle);
    if (i + 1 < array.length) array[i + 1] = radius * Math.sin(angle);
  }
  return array;
}

/** FNV-1a of a string: a seed that depends on the shape only, so every process makes the same inputs. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The inputs of a shape: q, k, v ~ N(0, 1), seeded by the shape, scale 1/√D. */
export function makeInputs(s: Shape): Inputs {
  const random = mulberry32(hash(shapeLabel(s)));
  const qLength = s.batch * s.heads * s.seqLenQ * s.headDim;
  const kvLength = s.batch * (s.kvHeads ?? s.heads) * s.seqLenK * s.headDim;
  return {
    q: fillNormal(new Float32Array(qLength), random),
    k: fillNormal(new Float32Array(kvLength), random),
    v: fillNormal(new Float32Array(kvLength), random),
    scale: 1 / Math.sqrt(s.headDim),
  };
}
