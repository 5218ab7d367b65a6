// Memory of the backward (issue #13): 16k tokens (B1 H8 D64, causal) need at most 64 MiB of
// WASM memory beyond the call's inputs, outputs and gradients. The call runs for real, with
// keyLengths [16] so that it computes one key block (seconds, not minutes): the memory it
// grows to does not depend on the key lengths (its regions are the tensors; its scratch is
// sized by headDim, valueDim and the query rows of one KV head, src/backward/wasm.ts and
// assembly/backward/layout.ts).
import { describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable } from '../src/index.js';
import { backwardModule } from '../src/backward/modules.js';
import { prepareBackward } from '../src/backward/prepare.js';
import { createWasmBackward } from '../src/backward/wasm.js';
import { Workspace } from '../src/workspace.js';

const WASM = BACKEND_NAMES.filter((name) => name !== 'js' && isBackendAvailable(name)) as ('wasm-relaxed-simd' | 'wasm-simd')[];
const MiB = 2 ** 20;

describe.each(WASM)('backward memory on %s', (name) => {
  it('tokens_16k_h8_d64_causal: at most 64 MiB beyond the tensors', async () => {
    const [heads, tokens, dim] = [8, 16384, 64];
    const t = () => ({ data: new Float32Array(heads * tokens * dim).fill(0.01), shape: [1, heads, tokens, dim] });
    const [q, k, v, output, dout] = [t(), t(), t(), t(), t()];
    const lse = new Float32Array(heads * tokens).fill(Math.log(16));
    const instance = await createAttention({ backend: name });
    const backend = createWasmBackward(backwardModule(name));
    const before = backend.memoryBytes();
    const call = prepareBackward(instance, new Workspace(), { q, k, v, output, lse, dout }, { causal: true, keyLengths: [16] });
    backend.run(call.plan);
    // q, k, v, output, dout, dq, dk, dv (32 MiB each) and the lse.
    const tensorBytes = 8 * heads * tokens * dim * 4 + heads * tokens * 4;
    const beyond = backend.memoryBytes() - tensorBytes;
    expect(beyond, `memory ${backend.memoryBytes() / MiB} MiB, tensors ${tensorBytes / MiB} MiB, before the call ${before / MiB} MiB`).toBeLessThanOrEqual(64 * MiB);
    expect(Number.isFinite(call.plan.dq[0]!)).toBe(true);
  }, 120_000);
});

describe.each(WASM)('backward over PinnedTensors on %s', (name) => {
  it('without output: the recomputing forward grows memory under the inputs, the result is a host call\'s bits', async () => {
    // prepareBackward took views of the pinned q, k, v, dout, then recomputed the output with a
    // forward on the same instance, which grew its memory: copying the detached views threw
    // "Cannot perform %TypedArray%.prototype.set on a detached ArrayBuffer".
    const { withBackward } = await import('../src/backward/index.js');
    const shape = [1, 4, 256, 64];
    const n = 4 * 256 * 64;
    const host = ['q', 'k', 'v', 'dout'].map((_, j) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + j)));
    const plain = withBackward(await createAttention({ backend: name }));
    const want = plain.attentionBackward({ q: { data: host[0]!, shape }, k: { data: host[1]!, shape }, v: { data: host[2]!, shape }, dout: { data: host[3]!, shape } }, { causal: true });
    const attn = withBackward(await createAttention({ backend: name }));
    const [q, k, v, dout] = host.map((data) => {
      const t = attn.createTensor(shape);
      t.data.set(data);
      return t;
    });
    const got = attn.attentionBackward({ q: q!, k: k!, v: v!, dout: dout! }, { causal: true });
    for (const g of ['dq', 'dk', 'dv'] as const) {
      const [a, b] = [got[g].data as Float32Array, want[g].data as Float32Array];
      expect(a.every((x, i) => Object.is(x, b[i])), `${g}: bits of the host call`).toBe(true);
    }
  });
});
