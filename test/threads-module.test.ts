/**
 * `createAttention({ threads, threadsModule })`: how an application that bundles the library
 * hands it the threads module (`wasm-attention/threads`, here src/threads/index.ts), since
 * the default `import('./threads/index.js')` next to the library's file does not survive
 * bundling (issue #11; the packed package bundled by esbuild is the `pack threads` line of
 * `npm run test:runtimes`). Per WASM backend: the loader's module runs the pool, and its
 * result is bit-identical to the single-thread instance's.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createAttention, type AttentionInstance } from '../src/index.js';
import { expectSameBits, random, WASM_BACKENDS } from './threads-helpers.js';

const live: AttentionInstance[] = [];
afterEach(() => {
  live.splice(0).forEach((attn) => attn.dispose());
  vi.restoreAllMocks();
});

const tensor = (shape: number[], seed: number) => ({ data: random(shape.reduce((a, b) => a * b, 1), seed), shape });

describe.each(WASM_BACKENDS)('threadsModule (%s)', (backend) => {
  it('loader_module_runs_two_threads_bit_identical', async () => {
    const loads: string[] = [];
    const attn = await createAttention({
      backend,
      threads: 2,
      threadsModule: () => {
        loads.push('threads');
        return import('../src/threads/index.js');
      },
    });
    live.push(attn);
    const single = await createAttention({ backend });
    live.push(single);
    expect(loads).toEqual(['threads']);
    expect(attn.threads).toBe(2);
    // H4 L64 D32: 4 heads × 8 query blocks, dealt out to both threads.
    const q = tensor([1, 4, 64, 32], 1), k = tensor([1, 4, 64, 32], 2), v = tensor([1, 4, 64, 32], 3);
    const got = await attn.attentionAsync(q, k, v, { causal: true });
    const want = single.attention(q, k, v, { causal: true });
    expectSameBits(got.output.data, want.output.data, `${backend} threadsModule H4 L64 D32 causal`, ['threaded', 'single-thread']);
  });

  it('loader_that_rejects_warns_and_runs_one_thread', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    const attn = await createAttention({ backend, threads: 2, threadsModule: () => Promise.reject(new Error('offline')) });
    live.push(attn);
    expect(attn.threads).toBe(1);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]![0])).toMatch(/options\.threadsModule\(\).*offline/);
  });

  it('loader_ignored_with_one_thread', async () => {
    const loader = vi.fn(() => import('../src/threads/index.js'));
    const attn = await createAttention({ backend, threads: 1, threadsModule: loader });
    live.push(attn);
    expect(loader).not.toHaveBeenCalled();
  });
});

describe('threadsModule validation', () => {
  it('not_a_function_throws_type_error', async () => {
    await expect(createAttention({ threads: 2, threadsModule: 'wasm-attention/threads' as never })).rejects.toThrow(
      new TypeError("options.threadsModule: expected a function returning import('wasm-attention/threads'), got \"wasm-attention/threads\""),
    );
  });

  it('module_without_start_threads_throws_type_error', async () => {
    await expect(createAttention({ backend: 'js', threads: 2, threadsModule: () => Promise.resolve({}) })).rejects.toThrow(TypeError);
    await expect(createAttention({ backend: 'js', threads: 2, threadsModule: () => Promise.resolve({}) })).rejects.toThrow(
      /^options\.threadsModule\(\): expected a promise of the module of 'wasm-attention\/threads'/,
    );
  });
});
