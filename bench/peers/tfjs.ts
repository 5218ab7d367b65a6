/**
 * TensorFlow.js with its WebAssembly (XNNPACK) or plain-JS CPU backend. tfjs has no fused
 * attention op, so a call is what a tfjs user writes: per head, 2-D
 * `matMul(q, transpose(k)) · scale (+ causal bias) → softmax → matMul(·, v)`, then
 * `dataSync()` into the output. Input tensors are created from our Float32Arrays on every
 * call (the copy into the backend is paid per call, as by a user).
 *
 * `matMul(q, transpose(k))` rather than `matMul(q, k, false, true)`: on tfjs-backend-wasm
 * 4.22 the transposeB path is ~10× slower for a [1024, 64]·[64, 1024] product (56 ms vs
 * 5.6 ms, measured here), so the explicit transpose is its fast path.
 */
import { dirname } from 'node:path';
import type { Prepared } from '../measure.js';
import type { PeerContext } from './index.js';
import { causalBias } from './onnx-model.js';

// Minimal view of the tfjs-core API used here (the package is loaded at run time).
interface TfTensor {
  dataSync(): Float32Array;
  dispose(): void;
}
interface Tf {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  env(): { set(flag: string, value: unknown): void };
  tidy<T>(fn: () => T): T;
  tensor2d(values: Float32Array, shape: [number, number]): TfTensor;
  matMul(a: TfTensor, b: TfTensor): TfTensor;
  transpose(a: TfTensor): TfTensor;
  mul(a: TfTensor, b: TfTensor | number): TfTensor;
  add(a: TfTensor, b: TfTensor): TfTensor;
  softmax(a: TfTensor): TfTensor;
}

export async function prepareTfjs(context: PeerContext, backend: 'wasm' | 'cpu'): Promise<Prepared> {
  const { shape, inputs } = context;
  const tf = context.require('@tensorflow/tfjs-core') as Tf;
  let threads = () => 1;
  if (backend === 'wasm') {
    const wasm = context.require('@tensorflow/tfjs-backend-wasm') as { setWasmPaths(prefix: string): void; getThreadsCount(): number };
    threads = () => wasm.getThreadsCount();
    // In Node the backend reads its .wasm files from this prefix with fs: the package's dist/.
    wasm.setWasmPaths(`${dirname(context.require.resolve('@tensorflow/tfjs-backend-wasm'))}/`);
  } else {
    context.require('@tensorflow/tfjs-backend-cpu');
  }
  tf.env().set('IS_TEST', true); // silences the "install tfjs-node" banner on stdout
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend '${backend}' failed to initialise`);
  await tf.ready();

  const { batch, heads, seqLenQ: Lq, seqLenK: Lk, headDim: D } = shape;
  const { q, k, v, scale } = inputs;
  // The mask is a constant of the model: made once, like a user's cached causal mask.
  const bias = shape.causal ? tf.tensor2d(causalBias(Lq, Lk), [Lq, Lk]) : null;
  let out: Float32Array = new Float32Array(0);

  const call = (): void => {
    out = new Float32Array(batch * heads * Lq * D);
    for (let h = 0; h < batch * heads; h++) {
      const q0 = h * Lq * D;
      const kv0 = h * Lk * D;
      const y = tf.tidy(() => {
        const qh = tf.tensor2d(q.subarray(q0, q0 + Lq * D), [Lq, D]);
        const kh = tf.tensor2d(k.subarray(kv0, kv0 + Lk * D), [Lk, D]);
        const vh = tf.tensor2d(v.subarray(kv0, kv0 + Lk * D), [Lk, D]);
        const logits = tf.mul(tf.matMul(qh, tf.transpose(kh)), scale);
        return tf.matMul(tf.softmax(bias ? tf.add(logits, bias) : logits), vh);
      });
      out.set(y.dataSync(), q0);
      y.dispose();
    }
  };
  return {
    call,
    isAsync: false,
    async output() {
      call();
      return out;
    },
    note: `per-head 2-D matMul+softmax+matMul on tfjs-backend-${tf.getBackend()}, ${threads()} thread${threads() === 1 ? '' : 's'}`,
  };
}
