/**
 * onnxruntime-web, WebAssembly execution provider, with 1 or 2 threads.
 *
 * The graph is built in code (onnx-model.ts) in three forms; each is loaded, checked
 * against the reference and timed briefly, and the fastest is measured (its name is
 * reported). Per call, as an ORT user pays it: three `ort.Tensor`s wrap our Float32Arrays
 * (no copy), `session.run` copies them into the wasm heap and the output out of it.
 */
import type { Prepared } from '../measure.js';
import type { PeerContext } from './index.js';
import { buildAttentionModel, ONNX_GRAPH_KINDS, type OnnxGraphKind } from './onnx-model.js';

// Minimal view of the onnxruntime-web API used here (the package is loaded at run time).
interface OrtTensor {
  readonly data: unknown;
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
}
interface Ort {
  env: { wasm: { numThreads: number; simd?: boolean }; logLevel?: string };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => OrtTensor;
  InferenceSession: { create(model: Uint8Array, options: object): Promise<OrtSession> };
}

/** `[B, H, L, D]` → `[B, L, H·D]` (and back with `inverse`): MultiHeadAttention's packed query/output layout. */
function transposeHeads(data: Float32Array, batch: number, heads: number, seqLen: number, headDim: number, inverse = false): Float32Array {
  const result = new Float32Array(data.length);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let i = 0; i < seqLen; i++) {
        const bhsd = ((b * heads + h) * seqLen + i) * headDim;
        const bshd = ((b * seqLen + i) * heads + h) * headDim;
        const [from, to] = inverse ? [bshd, bhsd] : [bhsd, bshd];
        result.set(data.subarray(from, from + headDim), to);
      }
    }
  }
  return result;
}

export async function prepareOrt(context: PeerContext, threads: number): Promise<Prepared> {
  const { shape, inputs } = context;
  const ort = context.require('onnxruntime-web') as Ort;
  // Must be set before the first session: it sizes the wasm thread pool. In Node the wasm
  // and its .mjs loader are found next to the package's dist/ entry (no wasmPaths needed).
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = 'error';
  const { batch: B, heads: H, seqLenQ: Lq, seqLenK: Lk, headDim: D } = shape;
  const dims = { ...shape, scale: inputs.scale };
  const kvDims = [B, H, Lk, D];

  const variants: { kind: OnnxGraphKind; pilotMs: number; call: () => Promise<void>; output: () => Float32Array }[] = [];
  const failures: string[] = [];
  for (const kind of ONNX_GRAPH_KINDS) {
    try {
      const session = await ort.InferenceSession.create(buildAttentionModel(kind, dims), {
        executionProviders: ['wasm'],
        graphOptimizationLevel: 'all',
      });
      const packed = kind === 'MultiHeadAttention';
      // MultiHeadAttention takes the query packed [B, Lq, H·D]: packed once here, outside
      // timing, as a model whose activations are already in that layout would have it.
      const q = packed ? transposeHeads(inputs.q, B, H, Lq, D) : inputs.q;
      const qDims = packed ? [B, Lq, H * D] : [B, H, Lq, D];
      let y: Float32Array = new Float32Array(0);
      const call = async (): Promise<void> => {
        const result = await session.run({
          q: new ort.Tensor('float32', q, qDims),
          k: new ort.Tensor('float32', inputs.k, kvDims),
          v: new ort.Tensor('float32', inputs.v, kvDims),
        });
        y = result.y!.data as Float32Array;
      };
      const output = () => (packed ? transposeHeads(y, B, H, Lq, D, true) : y);
      await call();
      context.check(`onnxruntime-web ${kind}`, output());
      variants.push({ kind, call, output, pilotMs: await context.pilot(call) });
    } catch (error) {
      failures.push(`${kind}: ${String(error).split('\n')[0]!.slice(0, 120)}`);
    }
  }
  if (variants.length === 0) throw new Error(`no ONNX graph ran: ${failures.join('; ')}`);
  variants.sort((a, b) => a.pilotMs - b.pilotMs);
  const best = variants[0]!;
  const tried = variants.map((v) => `${v.kind} ${v.pilotMs.toFixed(1)} ms`).join(', ');
  return {
    call: best.call,
    isAsync: true,
    async output() {
      await best.call();
      return best.output();
    },
    note: `${best.kind} graph, fastest of ${variants.length} in a pilot`,
    details: `pilot time per call: ${tried}${failures.length ? `; failed: ${failures.join('; ')}` : ''}`,
  };
}
