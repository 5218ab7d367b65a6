/**
 * A tiny model that learns to reverse a sequence of digits, built only from this library's
 * multi-head attention layer and plain TypeScript (issue #14): token + learned position
 * embeddings, one `createMultiHeadAttention` layer with a residual connection, a linear
 * read-out, softmax cross-entropy and Adam. Output position i must name input token
 * L−1−i, so every position has to attend to another: the task needs attention.
 *
 * Run by test/examples.test.ts (`npx vitest run test/examples.test.ts`).
 * In an application, import from 'wasm-attention' and 'wasm-attention/backward' instead.
 */
import { createAttention, type BackendChoice } from '../src/index.js';
import { withBackward, type LayerWeights } from '../src/backward/index.js';

export interface TrainOptions {
  readonly backend?: BackendChoice;
  readonly seed?: number;
  readonly steps?: number;
  /** Sequence length, vocabulary (digits 0..vocab−1), model width, heads, batch. */
  readonly length?: number;
  readonly vocab?: number;
  readonly embedDim?: number;
  readonly numHeads?: number;
  readonly batch?: number;
  readonly learningRate?: number;
  /** Default true; false trains the same model without the attention layer (y = h), a control. */
  readonly attention?: boolean;
  readonly onStep?: (step: number, loss: number) => void;
}

/** mulberry32: a seeded generator in [0, 1). */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Adam (Kingma & Ba, 2015) over named Float32Array parameters, updated in place. */
class Adam {
  private readonly m = new Map<string, Float32Array>();
  private readonly v = new Map<string, Float32Array>();
  private t = 0;
  constructor(private readonly lr: number, private readonly beta1 = 0.9, private readonly beta2 = 0.999, private readonly eps = 1e-8) {}
  step(params: Record<string, Float32Array>, grads: Record<string, Float32Array>): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t;
    const c2 = 1 - this.beta2 ** this.t;
    for (const [name, p] of Object.entries(params)) {
      const g = grads[name]!;
      let m = this.m.get(name);
      let v = this.v.get(name);
      if (!m || !v) this.m.set(name, (m = new Float32Array(p.length))), this.v.set(name, (v = new Float32Array(p.length)));
      for (let n = 0; n < p.length; n++) {
        m[n] = this.beta1 * m[n]! + (1 - this.beta1) * g[n]!;
        v[n] = this.beta2 * v[n]! + (1 - this.beta2) * g[n]! * g[n]!;
        p[n]! -= (this.lr * (m[n]! / c1)) / (Math.sqrt(v[n]! / c2) + this.eps);
      }
    }
  }
}

/**
 * Trains the model and returns the loss of every step (mean cross-entropy per token, nats).
 * @param options sizes, seed, step budget, backend
 * @returns the losses, in step order
 * @example
 * const losses = await trainReverse({ steps: 300 });
 */
export async function trainReverse(options: TrainOptions = {}): Promise<number[]> {
  const { backend = 'auto', seed = 1, steps = 300, length: L = 6, vocab: V = 8, embedDim: E = 32, numHeads: H = 4, batch: B = 32, learningRate = 1e-2, attention = true } = options;
  const random = seeded(seed);
  const init = (n: number, scale: number) => Float32Array.from({ length: n }, () => (random() * 2 - 1) * scale);
  const s = 1 / Math.sqrt(E);
  const params: Record<string, Float32Array> = {
    tokens: init(V * E, 1), positions: init(L * E, 1), readout: init(V * E, s), readoutBias: new Float32Array(V),
    inProj: init(3 * E * E, s), inProjBias: new Float32Array(3 * E), outProj: init(E * E, s), outProjBias: new Float32Array(E),
  };
  const layerWeights = () => ({ inProj: params.inProj!, inProjBias: params.inProjBias!, outProj: params.outProj!, outProjBias: params.outProjBias! });
  const attn = withBackward(await createAttention({ backend }));
  const mha = attn.createMultiHeadAttention({ embedDim: E, numHeads: H, weights: layerWeights() });
  const adam = new Adam(learningRate);
  const losses: number[] = [];
  for (let step = 0; step < steps; step++) {
    const digits = Int32Array.from({ length: B * L }, () => Math.floor(random() * V));
    // h = token + position embedding; y = h + mha(h); logits = y·readoutᵀ + b
    const h = new Float32Array(B * L * E);
    for (let r = 0; r < B * L; r++) for (let e = 0; e < E; e++) h[r * E + e] = params.tokens![digits[r]! * E + e]! + params.positions![(r % L) * E + e]!;
    const y = attention ? mha.forward({ data: h, shape: [B, L, E] }, { train: true }).output.data.map((o, n) => o + h[n]!) : h;
    const dy = new Float32Array(B * L * E);
    const dReadout = new Float32Array(V * E);
    const dReadoutBias = new Float32Array(V);
    const logits = new Float64Array(V);
    let loss = 0;
    for (let r = 0; r < B * L; r++) {
      const b = Math.floor(r / L);
      const target = digits[b * L + (L - 1 - (r % L))]!;
      let max = -Infinity;
      for (let c = 0; c < V; c++) {
        let z = params.readoutBias![c]!;
        for (let e = 0; e < E; e++) z += y[r * E + e]! * params.readout![c * E + e]!;
        logits[c] = z;
        max = Math.max(max, z);
      }
      let sum = 0;
      for (let c = 0; c < V; c++) sum += Math.exp(logits[c]! - max);
      loss += Math.log(sum) + max - logits[target]!;
      for (let c = 0; c < V; c++) {
        const g = (Math.exp(logits[c]! - max) / sum - (c === target ? 1 : 0)) / (B * L);
        dReadoutBias[c]! += g;
        for (let e = 0; e < E; e++) {
          dReadout[c * E + e]! += g * y[r * E + e]!;
          dy[r * E + e]! += g * params.readout![c * E + e]!;
        }
      }
    }
    losses.push(loss / (B * L));
    options.onStep?.(step, loss / (B * L));
    const grads = attention ? mha.backward({ data: dy, shape: [B, L, E] }) : { dx: { data: new Float32Array(dy.length) }, weights: { inProj: new Float32Array(3 * E * E), inProjBias: new Float32Array(3 * E), outProj: new Float32Array(E * E), outProjBias: new Float32Array(E) } };
    const dTokens = new Float32Array(V * E);
    const dPositions = new Float32Array(L * E);
    for (let r = 0; r < B * L; r++) {
      for (let e = 0; e < E; e++) {
        const dh = dy[r * E + e]! + grads.dx.data[r * E + e]!; // the residual and the layer
        dTokens[digits[r]! * E + e]! += dh;
        dPositions[(r % L) * E + e]! += dh;
      }
    }
    const w = grads.weights as Required<Pick<LayerWeights, 'inProj' | 'inProjBias' | 'outProj' | 'outProjBias'>>;
    adam.step(params, { tokens: dTokens, positions: dPositions, readout: dReadout, readoutBias: dReadoutBias, inProj: w.inProj, inProjBias: w.inProjBias, outProj: w.outProj, outProjBias: w.outProjBias });
    mha.setWeights(layerWeights());
  }
  mha.dispose();
  return losses;
}
