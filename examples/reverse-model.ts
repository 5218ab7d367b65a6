/**
 * The tiny model of issue #14's "a model that learns", shared by the Node example
 * (examples/reverse-digits.ts, run by test/examples.test.ts) and the demo page's Train tab
 * (demo/src/train.ts): it learns to reverse a sequence of digits. Built only from this
 * library's multi-head attention layer and plain TypeScript:
 *
 *   h₀ = token embedding + learned position embedding   (positions: 'learned')
 *   hₗ = hₗ₋₁ + mhaₗ(hₗ₋₁), l = 1..layers                 (residual, no norm, no MLP)
 *   logits = h·readoutᵀ + b, softmax cross-entropy, Adam.
 *
 * Output position i must name input token L−1−i, independent of token i, so every position
 * has to attend to another: without attention the loss cannot beat ln(V) (the control).
 *
 * Positions: 'rotary' (the default, as issue #14 asks) gives every layer RoPE (its `rotary`
 * option); 'learned' leaves it out. A trained [L, E] table is added to the embeddings in both
 * modes, because reversal needs absolute positions (output i reads input L−1−i: the offset
 * depends on i) and RoPE gives attention relative ones only: measured (base 10000, seed 1,
 * 200 steps), RoPE alone stays at 0.91–0.96 nats (1 or 2 layers), RoPE + the table is below
 * 0.05 at step 22. {@link layerOptions} is the one place that decides.
 *
 * One step draws a fresh batch from the seeded generator, so a run is a pure function of
 * its options (same seed, same losses, on one backend).
 *
 * In an application, import from 'wasm-attention' and 'wasm-attention/backward' instead.
 */
import type { AttentionInstance } from '../src/index.js';
import { withBackward, type LayerWeights, type MultiHeadAttention, type MultiHeadAttentionOptions } from '../src/backward/index.js';

/** The stated target (test/examples.test.ts, the demo's Train tab): mean cross-entropy per token, nats… */
export const LOSS_THRESHOLD = 0.05;
/** …reached within this many Adam steps from the default options. */
export const STEP_BUDGET = 60;

export interface ReverseModelOptions {
  /** Seed of the initial parameters and of every batch. Default 1. */
  readonly seed?: number;
  /** Sequence length L. Default 6. */
  readonly length?: number;
  /** Vocabulary: digits 0..vocab−1. Default 8. */
  readonly vocab?: number;
  /** Model width E. Default 32. */
  readonly embedDim?: number;
  /** Heads per layer (E/H wide each). Default 4. */
  readonly numHeads?: number;
  /** Attention layers, 1 or 2. Default 1. */
  readonly layers?: number;
  /** Sequences per step. Default 32. */
  readonly batch?: number;
  /** Adam's step size; 0 freezes the model (the test's "optimiser off" control). Default 1e-2. */
  readonly learningRate?: number;
  /** 'rotary': a trained position table added to the embeddings and RoPE in the layers; 'learned': the table only. Default 'rotary'. */
  readonly positions?: 'learned' | 'rotary';
  /** false: the same model without its attention layers (hₗ = hₗ₋₁), a control that cannot learn the task. Default true. */
  readonly attention?: boolean;
}

export interface StepResult {
  /** 0-based index of the step just taken. */
  readonly step: number;
  /** Mean cross-entropy per token of the batch, nats (before this step's update). */
  readonly loss: number;
  /** Fraction of the batch's tokens whose largest logit is the target. */
  readonly accuracy: number;
}

export interface AttentionSnapshot {
  /** The probe sequence the maps are of. */
  readonly digits: Int32Array;
  /** The model's answer for it (argmax per position). */
  readonly predicted: Int32Array;
  /** Per layer, the attention probabilities `[H, L, L]` (head, query, key). */
  readonly maps: Float32Array[];
}

export interface ReverseModel {
  readonly options: Readonly<Required<ReverseModelOptions>>;
  /** Steps taken so far. */
  readonly steps: number;
  /** One training step on a fresh batch. */
  step(): StepResult;
  /** Every head's attention on a fixed probe sequence of distinct digits (inference, no training state touched). */
  snapshot(): AttentionSnapshot;
  dispose(): void;
}

/** mulberry32: a seeded generator in [0, 1). */
export function seeded(seed: number): () => number {
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

const NAME = 'createReverseModel';

function checkInt(name: string, value: number, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) throw new TypeError(`${NAME}: ${name}: expected an integer, got ${String(value)}`);
  if (value < min || value > max) throw new RangeError(`${NAME}: ${name}: expected ${min}..${max}, got ${value}`);
  return value;
}

function resolve(options: ReverseModelOptions): Required<ReverseModelOptions> {
  const o = { seed: 1, length: 6, vocab: 8, embedDim: 32, numHeads: 4, layers: 1, batch: 32, learningRate: 1e-2, positions: 'rotary' as 'learned' | 'rotary', attention: true, ...options };
  checkInt('length', o.length, 2, 64);
  checkInt('vocab', o.vocab, 2, 64);
  checkInt('embedDim', o.embedDim, 1, 1024);
  checkInt('numHeads', o.numHeads, 1, o.embedDim);
  checkInt('layers', o.layers, 1, 2);
  checkInt('batch', o.batch, 1, 4096);
  if (o.embedDim % o.numHeads !== 0) throw new RangeError(`${NAME}: numHeads: expected a divisor of embedDim ${o.embedDim}, got ${o.numHeads}`);
  if (!(o.learningRate >= 0)) throw new RangeError(`${NAME}: learningRate: expected a number ≥ 0, got ${o.learningRate}`);
  if (o.positions !== 'learned' && o.positions !== 'rotary') throw new TypeError(`${NAME}: positions: expected 'learned' or 'rotary', got ${String(o.positions)}`);
  return o;
}

/**
 * The options of layer `l`'s `createMultiHeadAttention`: the one place that decides how the
 * layers see positions.
 */
function layerOptions(o: Required<ReverseModelOptions>, weights: LayerWeights): MultiHeadAttentionOptions {
  // RoPE at the usual base (Su et al. 2021; Llama): head width 8 rotates 4 pairs at
  // 1, 0.1, 0.01 and 0.001 rad per position.
  return { embedDim: o.embedDim, numHeads: o.numHeads, weights, ...(o.positions === 'rotary' ? { rotary: { base: 10000 } } : {}) };
}

/** Row argmax of `logits` [V]. */
function argmax(logits: Float64Array): number {
  let best = 0;
  for (let c = 1; c < logits.length; c++) if (logits[c]! > logits[best]!) best = c;
  return best;
}

/**
 * A reverse-the-digits model on `instance`'s backend, its parameters drawn from `seed`.
 * @param instance from `createAttention()` (any backend); `withBackward` is applied to it
 * @param options {@link ReverseModelOptions}
 * @returns the model; `step()` trains, `snapshot()` reads the attention maps
 * @throws TypeError / RangeError for bad options ("createReverseModel: NAME: expected X, got Y")
 * @example
 * const model = createReverseModel(await createAttention(), { seed: 1 });
 * for (let s = 0; s < STEP_BUDGET; s++) model.step();
 */
export function createReverseModel(instance: AttentionInstance, options: ReverseModelOptions = {}): ReverseModel {
  const o = resolve(options);
  const { length: L, vocab: V, embedDim: E, batch: B, layers } = o;
  const random = seeded(o.seed);
  const init = (n: number, scale: number) => Float32Array.from({ length: n }, () => (random() * 2 - 1) * scale);
  const s = 1 / Math.sqrt(E);
  const params: Record<string, Float32Array> = { tokens: init(V * E, 1), positions: init(L * E, 1), readout: init(V * E, s), readoutBias: new Float32Array(V) };
  for (let l = 0; l < layers; l++) {
    Object.assign(params, { [`inProj${l}`]: init(3 * E * E, s), [`inProjBias${l}`]: new Float32Array(3 * E), [`outProj${l}`]: init(E * E, s), [`outProjBias${l}`]: new Float32Array(E) });
  }
  const layerWeights = (l: number): LayerWeights => ({ inProj: params[`inProj${l}`]!, inProjBias: params[`inProjBias${l}`]!, outProj: params[`outProj${l}`]!, outProjBias: params[`outProjBias${l}`]! });
  const attn = withBackward(instance);
  const mhas: MultiHeadAttention[] = o.attention ? Array.from({ length: layers }, (_, l) => attn.createMultiHeadAttention(layerOptions(o, layerWeights(l)))) : [];
  const adam = new Adam(o.learningRate);
  // A probe of distinct digits (as far as the vocabulary allows), so its reversal reads off the maps.
  const probe = Int32Array.from({ length: L }, (_, i) => (i * 5 + 3) % V);
  let steps = 0;

  /** h₀ for `digits` [rows·L]. */
  const embed = (digits: Int32Array) => {
    const h = new Float32Array(digits.length * E);
    for (let r = 0; r < digits.length; r++) for (let e = 0; e < E; e++) h[r * E + e] = params.tokens![digits[r]! * E + e]! + params.positions![(r % L) * E + e]!;
    return h;
  };
  /** z = readout·y + b for row r of y, into `logits`. */
  const readout = (y: Float32Array, r: number, logits: Float64Array) => {
    for (let c = 0; c < V; c++) {
      let z = params.readoutBias![c]!;
      for (let e = 0; e < E; e++) z += y[r * E + e]! * params.readout![c * E + e]!;
      logits[c] = z;
    }
  };

  return {
    options: o,
    get steps() {
      return steps;
    },
    step() {
      const digits = Int32Array.from({ length: B * L }, () => Math.floor(random() * V));
      // Forward through the residual stack, keeping each layer's training state.
      let y: Float32Array = embed(digits);
      for (const mha of mhas) {
        const h = y;
        y = mha.forward({ data: h, shape: [B, L, E] }, { train: true }).output.data;
        for (let n = 0; n < y.length; n++) y[n]! += h[n]!;
      }
      const dy = new Float32Array(B * L * E);
      const grads: Record<string, Float32Array> = { readout: new Float32Array(V * E), readoutBias: new Float32Array(V), tokens: new Float32Array(V * E), positions: new Float32Array(L * E) };
      const logits = new Float64Array(V);
      let loss = 0;
      let correct = 0;
      for (let r = 0; r < B * L; r++) {
        const target = digits[r - (r % L) + (L - 1 - (r % L))]!;
        readout(y, r, logits);
        const max = logits[argmax(logits)]!;
        if (logits[target] === max) correct++;
        let sum = 0;
        for (let c = 0; c < V; c++) sum += Math.exp(logits[c]! - max);
        loss += Math.log(sum) + max - logits[target]!;
        for (let c = 0; c < V; c++) {
          const g = (Math.exp(logits[c]! - max) / sum - (c === target ? 1 : 0)) / (B * L);
          grads.readoutBias![c]! += g;
          for (let e = 0; e < E; e++) {
            grads.readout![c * E + e]! += g * y[r * E + e]!;
            dy[r * E + e]! += g * params.readout![c * E + e]!;
          }
        }
      }
      // Backward: each residual passes dy through and adds the layer's dx.
      let dh: Float32Array = dy;
      for (let l = mhas.length - 1; l >= 0; l--) {
        const g = mhas[l]!.backward({ data: dh, shape: [B, L, E] });
        const w = g.weights;
        Object.assign(grads, { [`inProj${l}`]: w.inProj!, [`inProjBias${l}`]: w.inProjBias!, [`outProj${l}`]: w.outProj, [`outProjBias${l}`]: w.outProjBias! });
        for (let n = 0; n < dh.length; n++) g.dx.data[n]! += dh[n]!;
        dh = g.dx.data;
      }
      for (let l = mhas.length; l < layers; l++) Object.assign(grads, { [`inProj${l}`]: new Float32Array(3 * E * E), [`inProjBias${l}`]: new Float32Array(3 * E), [`outProj${l}`]: new Float32Array(E * E), [`outProjBias${l}`]: new Float32Array(E) });
      for (let r = 0; r < B * L; r++) {
        for (let e = 0; e < E; e++) {
          grads.tokens![digits[r]! * E + e]! += dh[r * E + e]!;
          grads.positions![(r % L) * E + e]! += dh[r * E + e]!;
        }
      }
      adam.step(params, grads);
      mhas.forEach((mha, l) => mha.setWeights(layerWeights(l)));
      return { step: steps++, loss: loss / (B * L), accuracy: correct / (B * L) };
    },
    snapshot() {
      let y: Float32Array = embed(probe);
      const maps: Float32Array[] = [];
      for (const mha of mhas) {
        const h = y;
        const result = mha.forward({ data: h, shape: [1, L, E] }, { needWeights: true, averageWeights: false });
        maps.push(result.weights!.data);
        y = result.output.data;
        for (let n = 0; n < y.length; n++) y[n]! += h[n]!;
      }
      const logits = new Float64Array(V);
      const predicted = Int32Array.from({ length: L }, (_, r) => (readout(y, r, logits), argmax(logits)));
      return { digits: probe.slice(), predicted, maps };
    },
    dispose() {
      for (const mha of mhas) mha.dispose();
    },
  };
}
