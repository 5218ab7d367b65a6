/**
 * A runtime that refuses to grow WASM memory (a browser tab near its limit, a `maximum`
 * reached): the call throws a RangeError that says what it needed, in the library's
 * "expected X, got Y" form, and the instance stays usable: the next call, once memory may
 * grow again, gives the same bits as a fresh instance. Growth is refused by stubbing
 * `WebAssembly.Memory.prototype.grow` as V8 refuses it (a RangeError of its own).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable } from '../src/index.js';
import { withBackward } from '../src/backward/index.js';
import { mulberry32, randomFloat32 } from './reference.js';

const WASM_BACKENDS = BACKEND_NAMES.filter((name) => name !== 'js' && isBackendAvailable(name));

function refuseGrowth(): void {
  vi.spyOn(WebAssembly.Memory.prototype, 'grow').mockImplementation(() => {
    throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded');
  });
}

const tensor = (shape: number[], seed: number) => ({ data: randomFloat32(shape.reduce((a, b) => a * b), mulberry32(seed)), shape });

afterEach(() => {
  vi.restoreAllMocks();
});

describe.each(WASM_BACKENDS)('WASM memory that cannot grow, %s', (backend) => {
  it('attention: a RangeError naming the bytes, then the same instance works', async () => {
    const attn = await createAttention({ backend });
    const [q, k, v] = [1, 2, 3].map((seed) => tensor([1, 4, 300, 64], seed));
    refuseGrowth();
    expect(() => attn.attention(q!, k!, v!)).toThrow(RangeError);
    expect(() => attn.attention(q!, k!, v!)).toThrow(/attention: expected a call whose \d+ bytes the runtime can allocate as WASM memory, got a refusal to grow/);
    vi.restoreAllMocks();
    const got = attn.attention(q!, k!, v!).output.data as Float32Array;
    const want = (await createAttention({ backend })).attention(q!, k!, v!).output.data as Float32Array;
    expect(Array.from(got)).toEqual(Array.from(want));
  });

  it('attentionAsync on 2 threads (shared memory): a rejected RangeError, then the pool works', async () => {
    const attn = await createAttention({ backend, threads: 2 });
    try {
      const [q, k, v] = [4, 5, 6].map((seed) => tensor([1, 4, 300, 64], seed));
      refuseGrowth();
      await expect(attn.attentionAsync(q!, k!, v!)).rejects.toThrow(/expected a call whose \d+ bytes the runtime can allocate as WASM memory, got a refusal to grow/);
      vi.restoreAllMocks();
      const got = (await attn.attentionAsync(q!, k!, v!)).output.data as Float32Array;
      const want = (await createAttention({ backend })).attention(q!, k!, v!).output.data as Float32Array;
      expect(Array.from(got)).toEqual(Array.from(want));
    } finally {
      attn.dispose();
    }
  });

  it('the multi-head layer: a RangeError naming the bytes, then the same layer works', async () => {
    const attn = withBackward(await createAttention({ backend }));
    const [E, H, L] = [64, 4, 300];
    const random = mulberry32(7);
    const weights = { inProj: randomFloat32(3 * E * E, random, 0.1), inProjBias: randomFloat32(3 * E, random, 0.1), outProj: randomFloat32(E * E, random, 0.1), outProjBias: randomFloat32(E, random, 0.1) };
    const layer = attn.createMultiHeadAttention({ embedDim: E, numHeads: H, weights });
    const x = tensor([1, L, E], 8);
    refuseGrowth();
    expect(() => layer.forward(x)).toThrow(/expected a call whose \d+ bytes the runtime can allocate as WASM memory, got a refusal to grow/);
    vi.restoreAllMocks();
    const got = layer.forward(x).output.data;
    const fresh = withBackward(await createAttention({ backend })).createMultiHeadAttention({ embedDim: E, numHeads: H, weights });
    expect(Array.from(got)).toEqual(Array.from(fresh.forward(x).output.data));
  });
});
