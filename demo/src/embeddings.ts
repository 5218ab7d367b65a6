/**
 * Toy inputs for the Explore tab: no trained model, so everything is fixed and
 * deterministic, and the patterns on the page come from two things only, token identity
 * and position.
 *
 * - Token embedding: a pseudo-random vector seeded by the token's text (FNV-1a hash →
 *   mulberry32 → normal samples), so the same word always gets the same vector, and two
 *   different words get nearly orthogonal ones.
 * - Positional encoding: the sinusoidal one of "Attention Is All You Need" (Vaswani et al.
 *   2017, §3.5): PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...), so nearby
 *   positions have similar encodings.
 * - Head h mixes the two with its own weights (the first head mostly looks at tokens, the
 *   last mostly at positions), then projects onto its own pseudo-random `headDim`-wide
 *   subspace. Queries and keys share that projection, so a query attends to keys that are
 *   alike in that subspace: the same word (token heads) or a nearby position (position heads).
 */

/** Width of token embeddings and positional encodings. */
export const MODEL_DIM = 64;

/** FNV-1a hash of a string (32-bit). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** mulberry32: seeded uniform floats in [0, 1). */
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

/** `count` standard normal samples (Box–Muller) from a seed. */
export function normals(seed: number, count: number): Float32Array {
  const random = mulberry32(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return out;
}

/** Words and punctuation marks, lower-cased: "The cat, sat." → the, cat, ",", sat, ".". */
export function tokenize(text: string, maxTokens: number): string[] {
  return (text.toLowerCase().match(/[\p{L}\p{N}']+|[^\s\p{L}\p{N}]/gu) ?? []).slice(0, maxTokens);
}

/** The token's embedding: unit-variance components, seeded by its text. */
export function tokenEmbedding(token: string): Float32Array {
  return normals(fnv1a(token), MODEL_DIM);
}

/** Sinusoidal positional encoding of `position` (Vaswani et al. 2017), scaled to unit variance. */
export function positionalEncoding(position: number): Float32Array {
  const out = new Float32Array(MODEL_DIM);
  for (let i = 0; i < MODEL_DIM / 2; i++) {
    const angle = position / 10000 ** ((2 * i) / MODEL_DIM);
    // sin² + cos² = 1 per pair, so ×√2 gives unit variance like the token embeddings.
    out[2 * i] = Math.SQRT2 * Math.sin(angle);
    out[2 * i + 1] = Math.SQRT2 * Math.cos(angle);
  }
  return out;
}

/** How much head `h` of `heads` looks at tokens (the rest is position): 0.9 down to 0.1. */
export function tokenWeight(h: number, heads: number): number {
  return heads === 1 ? 0.5 : 0.9 - (0.8 * h) / (heads - 1);
}

/**
 * The head inputs `[1, heads, tokens.length, headDim]` (bhsd) for a sequence: head h gets
 * (w·token + (1−w)·position) · P_h, with P_h a fixed pseudo-random MODEL_DIM × headDim
 * projection scaled by 1/√MODEL_DIM.
 */
export function headInputs(tokens: readonly string[], heads: number, headDim: number): Float32Array {
  const out = new Float32Array(heads * tokens.length * headDim);
  const mixed = new Float32Array(MODEL_DIM);
  for (let h = 0; h < heads; h++) {
    const projection = normals(0x9e3779b9 ^ (h + 1), MODEL_DIM * headDim);
    const w = tokenWeight(h, heads);
    tokens.forEach((token, position) => {
      const tok = tokenEmbedding(token);
      const pos = positionalEncoding(position);
      for (let e = 0; e < MODEL_DIM; e++) mixed[e] = w * tok[e]! + (1 - w) * pos[e]!;
      const row = (h * tokens.length + position) * headDim;
      for (let d = 0; d < headDim; d++) {
        let sum = 0;
        for (let e = 0; e < MODEL_DIM; e++) sum += mixed[e]! * projection[e * headDim + d]!;
        out[row + d] = sum / Math.sqrt(MODEL_DIM);
      }
    });
  }
  return out;
}
