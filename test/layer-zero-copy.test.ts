// The layer's projections feed its attention without copies (issue #14, src/layer/kernel.ts):
// on the WASM backends a forward copies x (and key/value) in and the output out, nothing
// else, counted by a spy on every float32 typed-array `set` and `slice` (before this change:
// 12 tensors of B·L·E for self-attention: x in thrice, Q, K, V out of the GEMM memory and
// into the attention's, its output out and in again, the output out); and the results are
// bit-identical to that copying pipeline (the same GEMM calls and attention() on the
// caller's instance, the old forward), for every option the layer passes to the attention.
import { afterEach, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type BackendName } from '../src/index.js';
import { withBackward, type LayerForwardOptions, type MultiHeadAttentionOptions } from '../src/backward/index.js';
import { copyingLayer } from '../bench/layer-copying.js';
import type { AttentionOptions } from '../src/types.js';
import { mulberry32, randomFloat32 } from './reference.js';

const WASM_BACKENDS = BACKEND_NAMES.filter((name): name is Exclude<BackendName, 'js'> => name !== 'js' && isBackendAvailable(name));

/** Float32 elements copied by `set` (into a Float32Array) and `slice` (of one) while `run` runs. */
function countCopies<T>(run: () => T): { result: T; copied: number } {
  const proto = Object.getPrototypeOf(Float32Array.prototype) as { set: (...args: unknown[]) => void; slice: (...args: unknown[]) => unknown };
  const { set, slice } = proto;
  let copied = 0;
  proto.set = function (this: unknown, ...args: unknown[]) {
    if (this instanceof Float32Array) copied += (args[0] as ArrayLike<number>).length;
    return set.apply(this, args);
  };
  proto.slice = function (this: unknown, ...args: unknown[]) {
    const out = slice.apply(this, args);
    if (out instanceof Float32Array) copied += out.length;
    return out;
  };
  try {
    return { result: run(), copied };
  } finally {
    proto.set = set;
    proto.slice = slice;
  }
}

function expectSameBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length);
  const b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  let differ = 0;
  for (let n = 0; n < a.length; n++) if (a[n] !== b[n]) differ++;
  expect(differ, `${what}: entries whose bits differ`).toBe(0);
}

interface Case {
  readonly E: number;
  readonly H: number;
  readonly Hkv: number;
  readonly B: number;
  readonly L: number;
  /** Key/value rows; undefined: self-attention. */
  readonly S?: number;
  readonly layer: Partial<MultiHeadAttentionOptions>;
  readonly forward: LayerForwardOptions;
}

const CASES: [string, Case][] = [
  ['self-attention E64 H4 B2 L37', { E: 64, H: 4, Hkv: 4, B: 2, L: 37, layer: {}, forward: {} }],
  ['cross-attention S23, float mask, per-head weights, no bias', { E: 48, H: 3, Hkv: 3, B: 2, L: 19, S: 23, layer: { bias: false }, forward: { needWeights: true, averageWeights: false } }],
  ['GQA 8/2 causal, RoPE, keyLengths', { E: 64, H: 8, Hkv: 2, B: 2, L: 21, layer: { causal: true, rotary: { base: 100 } }, forward: { keyLengths: [21, 13] } }],
  ['window 5 and ALiBi, averaged weights', { E: 32, H: 4, Hkv: 4, B: 1, L: 40, layer: { window: 5, alibi: true }, forward: { needWeights: true } }],
  // BERT-base's width: the first backward grows memory by MiBs (GEMM scratch) under views made
  // before it. Passed by every smaller case: a first backward's dWo all NaN (a detached view's
  // length read after the growth, src/layer/gemm.ts run), and, with dWo's dy read from the
  // layer's slot after the attention backward, a second backward's dx wrong (2026-12-06).
  ['BERT width E768 H12 L384', { E: 768, H: 12, Hkv: 12, B: 1, L: 384, layer: {}, forward: {} }],
];

/** The layer's weights (separate q/k/v for GQA) and the old forward: GEMMs copied in and out, attention() on `attn`. */
function setUp(attn: ReturnType<typeof withBackward>, c: Case, seed: number) {
  const { E, H, Hkv, B, L } = c;
  const S = c.S ?? L;
  const KV = (E / H) * Hkv;
  const random = mulberry32(seed);
  const bias = c.layer.bias !== false;
  const W = { q: randomFloat32(E * E, random, 0.5), k: randomFloat32(KV * E, random, 0.5), v: randomFloat32(KV * E, random, 0.5), o: randomFloat32(E * E, random, 0.5) };
  const b = { q: randomFloat32(E, random), k: randomFloat32(KV, random), v: randomFloat32(KV, random), o: randomFloat32(E, random) };
  const weights = { qProj: W.q, kProj: W.k, vProj: W.v, outProj: W.o, ...(bias ? { qBias: b.q, kBias: b.k, vBias: b.v, outProjBias: b.o } : {}) };
  const x = randomFloat32(B * L * E, random);
  const key = c.S === undefined ? undefined : randomFloat32(B * S * E, random);
  const value = c.S === undefined ? undefined : randomFloat32(B * S * E, random);
  const mask = c.S === undefined ? undefined : { data: randomFloat32(B * L * S, random), shape: [B, 1, L, S] };
  const forwardOptions: LayerForwardOptions = { ...c.forward, ...(key ? { key: { data: key, shape: [B, S, E] }, value: { data: value!, shape: [B, S, E] } } : {}), ...(mask ? { mask } : {}) };

  const attentionOptions: AttentionOptions = {
    numHeads: H,
    kvHeads: Hkv,
    ...(c.layer.causal !== undefined ? { causal: c.layer.causal } : {}),
    ...(c.layer.window !== undefined ? { window: c.layer.window } : {}),
    ...(c.layer.alibi !== undefined ? { alibi: c.layer.alibi } : {}),
    ...(mask ? { mask } : {}),
    ...(c.forward.keyLengths ? { keyLengths: c.forward.keyLengths } : {}),
    ...(c.layer.rotary ? { rotary: c.layer.rotary } : {}),
  };
  const copying = copyingLayer(attn, { B, L, S, E, H, Hkv }, W, bias ? b : null, attentionOptions);
  const oldForward = () => copying.forward(x, key, value, c.forward.needWeights === true);
  const layerOptions: MultiHeadAttentionOptions = { embedDim: E, numHeads: H, kvHeads: Hkv, ...c.layer, weights };
  return { x, key, value, forwardOptions, oldForward, copying, layerOptions, S, KV, dispose: () => copying.dispose() };
}

describe.each(WASM_BACKENDS)('layer without copies, %s', (backend) => {
  const cleanups: (() => void)[] = [];
  afterEach(() => cleanups.splice(0).forEach((f) => f()));

  it.each(CASES)('%s: forward copies only its inputs in and its output out, and equals the copying pipeline bit for bit', async (_name, c) => {
    const attn = withBackward(await createAttention({ backend }));
    const s = setUp(attn, c, c.E * 31 + c.L);
    cleanups.push(s.dispose);
    const layer = attn.createMultiHeadAttention(s.layerOptions);
    cleanups.push(() => layer.dispose());
    const x = { data: s.x, shape: [c.B, c.L, c.E] };
    layer.forward(x, s.forwardOptions); // first call: slots allocated, memory grown
    for (const train of [false, true]) {
      const { result, copied } = countCopies(() => layer.forward(x, { ...s.forwardOptions, train }));
      // x, key, value, the mask and the ALiBi slopes (one per head) go in.
      const inputs = s.x.length + (s.key ? s.key.length + s.value!.length : 0) + (s.forwardOptions.mask ? (s.forwardOptions.mask.data as Float32Array).length : 0) + (c.layer.alibi ? c.H : 0);
      const output = c.B * c.L * c.E;
      // RoPE: q and k are copied out (src/layer/mha.ts forwardPinned) and rotated into the call's region.
      const rotaryCopies = c.layer.rotary ? 2 * (c.B * c.L * c.E + c.B * s.S * s.KV) : 0;
      // Returned weights leave memory once (the kernel writes them there).
      const weights = c.forward.needWeights ? c.B * c.H * c.L * s.S : 0;
      expect(copied, `float32 elements copied (train ${train})`).toBe(inputs + output + rotaryCopies + weights);
      const want = s.oldForward();
      expectSameBits(result.output.data, want.output, `output (train ${train})`);
      if (c.forward.needWeights && c.forward.averageWeights === false) expectSameBits(result.weights!.data, want.weights!, 'per-head weights');
    }
  });

  it.each(CASES)('%s: backward equals the copying backward bit for bit, and copies dout in and the gradients out', async (_name, c) => {
    const attn = withBackward(await createAttention({ backend }));
    const s = setUp(attn, c, c.E * 17 + c.L);
    cleanups.push(s.dispose);
    const layer = attn.createMultiHeadAttention(s.layerOptions);
    cleanups.push(() => layer.dispose());
    const x = { data: s.x, shape: [c.B, c.L, c.E] };
    const dout = { data: Float32Array.from(s.x, (value, i) => Math.sin(i) * value), shape: [c.B, c.L, c.E] };
    layer.forward(x, { ...s.forwardOptions, train: true });
    // The first call allocates the slots and packed weights, growing memory under views made
    // before (a detached view packed NaN into the whole of dWo at the BERT width, 2026-12-06).
    const first = layer.backward(dout);
    layer.forward(x, { ...s.forwardOptions, train: true });
    const { result: got, copied } = countCopies(() => layer.backward(dout));
    const old = s.copying.backward(s.oldForward().saved, dout.data, s.key === undefined);
    for (const [call, result] of [['first call', first], ['second call', got]] as const) {
      expectSameBits(result.dx.data, old.dx, `${call}: dx`);
      if (s.key) {
        expectSameBits(result.dKey!.data, old.dKey, `${call}: dKey`);
        expectSameBits(result.dValue!.data, old.dValue, `${call}: dValue`);
      }
      const w = result.weights;
      for (const [name, mine, want] of [['dWq', w.qProj, old.dW.q], ['dWk', w.kProj, old.dW.k], ['dWv', w.vProj, old.dW.v], ['dWo', w.outProj, old.dW.o]] as const) expectSameBits(mine!, want, `${call}: ${name}`);
      if (c.layer.bias !== false) {
        for (const [name, mine, want] of [['dbq', w.qBias, old.dB.q], ['dbk', w.kBias, old.dB.k], ['dbv', w.vBias, old.dB.v], ['dbo', w.outProjBias, old.dB.o]] as const) expectSameBits(mine!, want, `${call}: ${name}`);
      }
    }
    if (c.layer.rotary) return; // RoPE keeps the copying backward (rotated copies of q and k)
    // In: dout, the mask, the slopes; out: dx (dKey, dValue). The weight gradients' A operands
    // are read as they are (gemmPanelsTransA, no transpose): dq, dk, dv in place, dout (the
    // caller's array) copied in once more for dWo; their results out; their B operands (x,
    // key, value, the attention output) are packed from where they are.
    const [BL, BS, KV] = [c.B * c.L, c.B * s.S, s.KV];
    const mask = s.forwardOptions.mask ? (s.forwardOptions.mask.data as Float32Array).length : 0;
    const outputs = BL * c.E + (s.key ? 2 * BS * c.E : 0);
    const weightGrads = BL * c.E + 2 * c.E * c.E + 2 * KV * c.E;
    expect(copied, 'float32 elements copied by backward').toBe(BL * c.E + mask + (c.layer.alibi ? c.H : 0) + outputs + weightGrads);
  });

  it('a backward after createCache (memory grown between two backwards) equals a fresh layer\'s bit for bit', async () => {
    // The second backward's attention backward grows memory under the plan's views of q, k, v;
    // reading their lengths from those views left dq, dk, dv unzeroed (all of dx, dWq, dbq wrong).
    const attn = withBackward(await createAttention({ backend }));
    const c: Case = { E: 96, H: 3, Hkv: 3, B: 1, L: 200, layer: {}, forward: {} };
    const s = setUp(attn, c, 11);
    cleanups.push(s.dispose);
    const x = { data: s.x, shape: [c.B, c.L, c.E] };
    const dout = { data: Float32Array.from(s.x, (value, i) => Math.cos(i) * value), shape: [c.B, c.L, c.E] };
    const fresh = attn.createMultiHeadAttention(s.layerOptions);
    cleanups.push(() => fresh.dispose());
    fresh.forward(x, { train: true });
    const want = fresh.backward(dout);
    const layer = attn.createMultiHeadAttention(s.layerOptions);
    cleanups.push(() => layer.dispose());
    layer.forward(x, { train: true });
    layer.backward(dout);
    layer.createCache(c.B, 4096);
    layer.forward(x, { train: true });
    const got = layer.backward(dout);
    expectSameBits(got.dx.data, want.dx.data, 'dx');
    for (const name of ['qProj', 'kProj', 'vProj', 'outProj', 'qBias', 'outProjBias'] as const) expectSameBits(got.weights[name]!, want.weights[name]!, name);
  });

  it('step copies the token in, its K/V rows into the cache and its output out, and equals the copying step bit for bit', async () => {
    const attn = withBackward(await createAttention({ backend }));
    const c: Case = { E: 64, H: 8, Hkv: 2, B: 2, L: 9, layer: { causal: true }, forward: {} };
    const s = setUp(attn, c, 7);
    cleanups.push(s.dispose);
    const layer = attn.createMultiHeadAttention(s.layerOptions);
    cleanups.push(() => layer.dispose());
    const cache = layer.createCache(c.B, c.L + 4);
    const oldCache = attn.createKVCache({ batch: c.B, kvHeads: c.Hkv, headDim: c.E / c.H, maxSeqLen: c.L + 4 });
    // The copying step: the same layer's GEMM path with a cache of the caller's instance (another memory).
    const old = attn.createMultiHeadAttention(s.layerOptions);
    cleanups.push(() => old.dispose());
    const prompt = { data: s.x, shape: [c.B, c.L, c.E] };
    expectSameBits(layer.step(prompt, cache).data, old.step(prompt, oldCache).data, 'prompt');
    const token = { data: s.x.subarray(0, c.B * c.E), shape: [c.B, 1, c.E] };
    for (let t = 0; t < 3; t++) {
      const { result, copied } = countCopies(() => layer.step(token, cache));
      // Token in, output out (B·E each); the append writes the K and V rows into the cache.
      expect(copied, 'float32 elements copied by a step').toBeLessThanOrEqual(2 * c.B * c.E + 2 * c.B * s.KV);
      expectSameBits(result.data, old.step(token, oldCache).data, `token ${t}`);
    }
  });
});
