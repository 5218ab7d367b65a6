/**
 * Peers of the multi-head attention layer (issue #14, `npm run bench -- --shapes layer
 * --peers`): the same BERT-base layer (projections x·Wᵀ + b, 12-head attention, output
 * projection) as a third-party user builds it, one thread each.
 *
 * - onnxruntime-web (WebAssembly EP, 1 thread, graphOptimizationLevel 'all'), weights baked
 *   into the model as initializers, three graphs, each checked and piloted, the fastest kept:
 *   `MatMul+MultiHeadAttention` (MatMul/Add projections, com.microsoft.MultiHeadAttention on
 *   packed [B, L, E] q/k/v), `MatMul+Attention-23` (the opset-23 op on 3-D inputs) and
 *   `com.microsoft.Attention` (the fused op that takes the input projection's weights), each
 *   followed by the MatMul/Add output projection.
 * - tfjs-backend-wasm (XNNPACK, 1 thread): forward as a tfjs user writes it (2-D matMul
 *   projections, heads split per head or batched, whichever pilots faster), and `tf.grads`
 *   of Σ out·dout with respect to x and the 8 parameters (what our backward returns).
 *
 * Every peer's output (and tfjs's dx) is checked against ours before timing.
 */
import { encodeModel, type GraphSpec, type Node } from './onnx-model.js';

/** The layer's inputs, parameters (PyTorch layout) and our outputs, to check against. */
export interface LayerCase {
  readonly L: number;
  readonly E: number;
  readonly H: number;
  readonly x: Float32Array;
  readonly inProj: Float32Array;
  readonly inProjBias: Float32Array;
  readonly outProj: Float32Array;
  readonly outProjBias: Float32Array;
  readonly dout: Float32Array;
  readonly output: Float32Array;
  readonly dx: Float32Array;
}

export interface LayerPeer {
  readonly name: string;
  readonly call: () => void | Promise<void>;
  readonly note: string;
}

/** W [rows][cols] → Wᵀ [cols][rows]. */
function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = w[r * cols + c]!;
  return t;
}

/** Throws unless |got − want| ≤ 1e-3·max|want| everywhere (f32 sums in another order: ~1e-6 expected). */
function check(name: string, got: Float32Array, want: Float32Array): void {
  let scale = 0;
  for (const value of want) scale = Math.max(scale, Math.abs(value));
  for (let n = 0; n < want.length; n++) {
    if (!(Math.abs(got[n]! - want[n]!) <= 1e-3 * scale)) throw new Error(`${name}: index ${n}: expected ${want[n]}, got ${got[n]} (tolerance ${1e-3 * scale})`);
  }
}

type OrtGraph = 'MatMul+MultiHeadAttention' | 'MatMul+Attention-23' | 'com.microsoft.Attention';

function layerModel(kind: OrtGraph, c: LayerCase): Uint8Array {
  const { L, E, H } = c;
  const slice = (from: number, to: number) => c.inProj.subarray(from * E * E, to * E * E);
  const bias = (i: number) => c.inProjBias.subarray(i * E, (i + 1) * E);
  const init: NonNullable<GraphSpec['initializers']> = [{ name: 'wo', shape: [E, E], data: transpose(c.outProj, E, E) }, { name: 'bo', shape: [E], data: c.outProjBias }];
  const nodes: Node[] = [];
  if (kind === 'com.microsoft.Attention') {
    // weights [E, 3E] = [Wqᵀ | Wkᵀ | Wvᵀ], i.e. the transpose of PyTorch's in_proj_weight.
    init.push({ name: 'w', shape: [E, 3 * E], data: transpose(c.inProj, 3 * E, E) }, { name: 'b', shape: [3 * E], data: c.inProjBias });
    nodes.push({ op: 'Attention', domain: 'com.microsoft', inputs: ['x', 'w', 'b'], outputs: ['a'], attributes: [{ name: 'num_heads', int: H }] });
  } else {
    for (const [i, p] of ['q', 'k', 'v'].entries()) {
      init.push({ name: `w${p}`, shape: [E, E], data: transpose(slice(i, i + 1), E, E) }, { name: `b${p}`, shape: [E], data: bias(i) });
      nodes.push({ op: 'MatMul', inputs: ['x', `w${p}`], outputs: [`${p}0`] }, { op: 'Add', inputs: [`${p}0`, `b${p}`], outputs: [p] });
    }
    nodes.push(
      kind === 'MatMul+MultiHeadAttention'
        ? { op: 'MultiHeadAttention', domain: 'com.microsoft', inputs: ['q', 'k', 'v'], outputs: ['a'], attributes: [{ name: 'num_heads', int: H }] }
        : { op: 'Attention', inputs: ['q', 'k', 'v'], outputs: ['a'], attributes: [{ name: 'q_num_heads', int: H }, { name: 'kv_num_heads', int: H }] },
    );
  }
  nodes.push({ op: 'MatMul', inputs: ['a', 'wo'], outputs: ['y0'] }, { op: 'Add', inputs: ['y0', 'bo'], outputs: ['y'] });
  const opsets = kind === 'MatMul+Attention-23' ? [{ domain: '', version: 23 }] : [{ domain: '', version: 17 }, { domain: 'com.microsoft', version: 1 }];
  return encodeModel({ opsets, nodes, inputs: [{ name: 'x', shape: [1, L, E] }], output: { name: 'y', shape: [1, L, E] }, initializers: init });
}

interface Ort {
  env: { wasm: { numThreads: number }; logLevel?: string };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => unknown;
  InferenceSession: { create(model: Uint8Array, options: object): Promise<{ run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown }>> }> };
}

/** onnxruntime-web's fastest of the three layer graphs, 1 thread. */
export async function ortLayer(require: NodeRequire, c: LayerCase, log: (line: string) => void): Promise<LayerPeer> {
  const ort = require('onnxruntime-web') as Ort;
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const tried: { kind: OrtGraph; ms: number; call: () => Promise<void> }[] = [];
  for (const kind of ['MatMul+MultiHeadAttention', 'MatMul+Attention-23', 'com.microsoft.Attention'] as const) {
    try {
      const session = await ort.InferenceSession.create(layerModel(kind, c), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
      let y: Float32Array = new Float32Array(0);
      const call = async () => {
        y = (await session.run({ x: new ort.Tensor('float32', c.x, [1, c.L, c.E]) })).y!.data as Float32Array;
      };
      await call();
      check(`onnxruntime-web ${kind}`, y, c.output);
      const started = performance.now();
      await call();
      tried.push({ kind, ms: performance.now() - started, call });
    } catch (error) {
      log(`  onnxruntime-web ${kind}: failed: ${String(error).split('\n')[0]!.slice(0, 160)}`);
    }
  }
  if (!tried.length) throw new Error('onnxruntime-web: no layer graph ran');
  tried.sort((a, b) => a.ms - b.ms);
  return { name: `ORT-web 1T ${tried[0]!.kind}`, call: tried[0]!.call, note: `pilot ms: ${tried.map((t) => `${t.kind} ${t.ms.toFixed(0)}`).join(', ')}` };
}

/** tfjs-backend-wasm (1 thread): the layer's forward, and tf.grads of its forward + backward. */
export async function tfjsLayer(require: NodeRequire, c: LayerCase): Promise<{ forward: LayerPeer; grads: LayerPeer }> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const tf = require('@tensorflow/tfjs') as any; // the full package registers every op's gradient
  const wasm = require('@tensorflow/tfjs-backend-wasm') as { setWasmPaths(prefix: string): void; setThreadsCount?(n: number): void };
  wasm.setWasmPaths(`${require.resolve('@tensorflow/tfjs-backend-wasm').replace(/[^/]*$/, '')}`);
  wasm.setThreadsCount?.(1);
  tf.env().set('IS_TEST', true);
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs backend wasm failed');
  await tf.ready();
  const { L, E, H } = c;
  const D = E / H;
  // The parameters live in the backend (made once, as a model's variables); Wᵀ [in, out].
  const params = [
    tf.tensor2d(transpose(c.inProj.subarray(0, E * E), E, E), [E, E]), tf.tensor1d(c.inProjBias.subarray(0, E)),
    tf.tensor2d(transpose(c.inProj.subarray(E * E, 2 * E * E), E, E), [E, E]), tf.tensor1d(c.inProjBias.subarray(E, 2 * E)),
    tf.tensor2d(transpose(c.inProj.subarray(2 * E * E), E, E), [E, E]), tf.tensor1d(c.inProjBias.subarray(2 * E)),
    tf.tensor2d(transpose(c.outProj, E, E), [E, E]), tf.tensor1d(c.outProjBias),
  ];
  const scale = 1 / Math.sqrt(D);
  // Two ways a tfjs user splits the heads; both are piloted and the faster kept (under load,
  // 2026-12-05: the per-head 2-D q·kᵀ took 127 ms where the batched 3-D one took seconds).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const attention: Record<'batched' | 'per-head', (q: any, k: any, v: any) => any> = {
    batched(q, k, v) {
      // [L, E] → [H, L, D]; the explicit transpose of k is tfjs-wasm's fast path (bench/peers/tfjs.ts).
      const heads = (t: unknown) => tf.transpose(tf.reshape(t, [L, H, D]), [1, 0, 2]);
      const p = tf.softmax(tf.mul(tf.matMul(heads(q), tf.transpose(heads(k), [0, 2, 1])), scale));
      return tf.reshape(tf.transpose(tf.matMul(p, heads(v)), [1, 0, 2]), [L, E]);
    },
    'per-head'(q, k, v) {
      const [qs, ks, vs] = [tf.split(q, H, 1), tf.split(k, H, 1), tf.split(v, H, 1)];
      const outs = qs.map((qh: unknown, h: number) => tf.matMul(tf.softmax(tf.mul(tf.matMul(qh, tf.transpose(ks[h])), scale)), vs[h]));
      return tf.concat(outs, 1);
    },
  };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const layer = (form: 'batched' | 'per-head', ...[x, wq, bq, wk, bk, wv, bv, wo, bo]: any[]) =>
    tf.add(tf.matMul(attention[form](tf.add(tf.matMul(x, wq), bq), tf.add(tf.matMul(x, wk), bk), tf.add(tf.matMul(x, wv), bv)), wo), bo);
  const forwardOf = (form: 'batched' | 'per-head') => () => tf.tidy(() => layer(form, tf.tensor2d(c.x, [L, E]), ...params).dataSync()) as Float32Array;
  const gradsOf = (form: 'batched' | 'per-head') => () =>
    tf.tidy(() => {
      const dout = tf.tensor2d(c.dout, [L, E]);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const all = tf.grads((...xs: any[]) => tf.sum(tf.mul(layer(form, ...xs), dout)))([tf.tensor2d(c.x, [L, E]), ...params]);
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      return all.map((g: any) => g.dataSync())[0];
    }) as Float32Array;
  const fastest = (name: string, make: (form: 'batched' | 'per-head') => () => Float32Array, want: Float32Array) => {
    const pilots = (['per-head', 'batched'] as const).map((form) => {
      const call = make(form);
      check(`${name} ${form}`, call(), want);
      const started = performance.now();
      call();
      return { form, call, ms: performance.now() - started };
    });
    pilots.sort((a, b) => a.ms - b.ms);
    return { call: () => void pilots[0]!.call(), note: `${pilots[0]!.form} heads (pilot ms: ${pilots.map((p) => `${p.form} ${p.ms.toFixed(0)}`).join(', ')})` };
  };
  const forward = fastest('tfjs-wasm forward', forwardOf, c.output);
  const grads = fastest('tfjs-wasm tf.grads dx', gradsOf, c.dx);
  return {
    forward: { name: 'tfjs-wasm 1T forward', call: forward.call, note: forward.note },
    grads: { name: 'tfjs-wasm 1T tf.grads (fwd+bwd)', call: grads.call, note: `dx and the 8 parameter gradients, ${grads.note}` },
  };
}
