/**
 * WASM linear memory of an instance (`instance.memoryBytes`): grown only when a call needs
 * more than every call before it (src/backends/wasm/memory-plan.ts), in one step, never per
 * call; unchanged by failed calls; private to its instance.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type BackendName } from '../src/index.js';
import { buildCase, expectResult, type CaseSpec } from './helpers.js';

const WASM_BACKENDS = BACKEND_NAMES.filter((name) => name !== 'js' && isBackendAvailable(name));

const SMALL: CaseSpec = { batch: 1, qHeads: 2, seqLenQ: 4, seqLenK: 8, headDim: 8, causal: true, seed: 1 };
// About 2 MB of tensors (q, k, v, weights): far beyond the first call's memory.
const LARGE: CaseSpec = { batch: 2, qHeads: 4, kvHeads: 2, seqLenQ: 96, seqLenK: 160, headDim: 64, mask: { kind: 'additive', shape: [96, 160] }, returnWeights: true, seed: 2 };
const MEDIUM: CaseSpec = { batch: 1, qHeads: 4, seqLenQ: 50, seqLenK: 70, headDim: 32, returnWeights: true, seed: 3 };

afterEach(() => {
  vi.restoreAllMocks();
});

if (WASM_BACKENDS.length === 0) {
  // Visible in the report; attention.test.ts fails outright when wasm-simd is missing (CI has it).
  describe.skip('memory: no WASM backend is available in this runtime (WebAssembly SIMD missing)', () => {
    it('skipped', () => {});
  });
}

describe.each(WASM_BACKENDS)('memory %s', (backendName: BackendName) => {
  it('ten_thousand_calls_of_one_shape_do_not_grow_memory', async () => {
    const attn = await createAttention({ backend: backendName });
    const c = buildCase(SMALL);
    attn.attention(c.q, c.k, c.v, c.options);
    const afterFirst = attn.memoryBytes;
    expect(afterFirst).toBeGreaterThan(0);
    let last = attn.attention(c.q, c.k, c.v, c.options);
    for (let n = 1; n < 10_000; n++) {
      last = attn.attention(c.q, c.k, c.v, c.options);
      if (attn.memoryBytes !== afterFirst) expect.fail(`call ${n + 1}: memoryBytes changed from ${afterFirst} to ${attn.memoryBytes}`);
    }
    expect(attn.memoryBytes).toBe(afterFirst);
    expectResult(last, c, `${backendName} call 10,000`);
  });

  // The last two shapes need a scratch region that crosses a 64 KiB page boundary past
  // their tensors (they once grew the memory twice in one call).
  const LARGER: [string, CaseSpec][] = [
    ['mask and weights', LARGE],
    ['kv_len 3000 head_dim 8', { batch: 1, qHeads: 1, seqLenQ: 8, seqLenK: 3000, headDim: 8, seed: 4 }],
    ['kv_len 3000 head_dim 64 weights', { batch: 1, qHeads: 1, seqLenQ: 8, seqLenK: 3000, headDim: 64, returnWeights: true, seed: 5 }],
  ];
  it.each(LARGER)('larger_call_grows_memory_once_smaller_call_after_it_does_not (%s)', async (_, largeSpec) => {
    const attn = await createAttention({ backend: backendName });
    const small = buildCase(SMALL), large = buildCase(largeSpec), medium = buildCase(MEDIUM);
    attn.attention(small.q, small.k, small.v, small.options);
    const afterSmall = attn.memoryBytes;

    const grow = vi.spyOn(WebAssembly.Memory.prototype, 'grow');
    expectResult(attn.attention(large.q, large.k, large.v, large.options), large, `${backendName} large`);
    const afterLarge = attn.memoryBytes;
    expect(afterLarge, 'the large call grew the memory').toBeGreaterThan(afterSmall);
    expect(grow, 'one growth for the large call (not one per region or per step)').toHaveBeenCalledTimes(1);

    grow.mockClear();
    expectResult(attn.attention(medium.q, medium.k, medium.v, medium.options), medium, `${backendName} medium after large`);
    expectResult(attn.attention(small.q, small.k, small.v, small.options), small, `${backendName} small after large`);
    expectResult(attn.attention(large.q, large.k, large.v, large.options), large, `${backendName} large again`);
    expect(grow, 'no growth for calls no larger than the largest so far').not.toHaveBeenCalled();
    expect(attn.memoryBytes).toBe(afterLarge);
  });

  it('refused_growth_throws_range_error_then_next_call_is_correct', async () => {
    const attn = await createAttention({ backend: backendName });
    const small = buildCase(SMALL), large = buildCase(LARGE);
    attn.attention(small.q, small.k, small.v, small.options);
    const before = attn.memoryBytes;
    // The runtime refusing to grow (out of memory, a memory limit) is a RangeError like V8's own.
    vi.spyOn(WebAssembly.Memory.prototype, 'grow').mockImplementationOnce(() => {
      throw new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded');
    });
    let error: unknown;
    try {
      attn.attention(large.q, large.k, large.v, large.options);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toMatch(/expected .+, got .+/);
    expect(attn.memoryBytes, 'memory unchanged by the refused call').toBe(before);
    // Same instance: the small shape still works, then the large one grows for real.
    expectResult(attn.attention(small.q, small.k, small.v, small.options), small, `${backendName} small after refusal`);
    expectResult(attn.attention(large.q, large.k, large.v, large.options), large, `${backendName} large after refusal`);
    expect(attn.memoryBytes).toBeGreaterThan(before);
  });

  it('validation_errors_leave_memory_and_results_intact', async () => {
    const attn = await createAttention({ backend: backendName });
    const c = buildCase(MEDIUM);
    attn.attention(c.q, c.k, c.v, c.options);
    const before = attn.memoryBytes;
    expect(() => attn.attention(c.q, c.k, c.v, { ...c.options, keyLengths: [71] })).toThrow(RangeError);
    expect(() => attn.attention(c.q, c.k, c.v, { ...c.options, casual: true } as never)).toThrow(TypeError);
    expect(() => attn.attention(c.q, c.k, c.v, { ...c.options, out: new Float32Array(1) })).toThrow(RangeError);
    expect(attn.memoryBytes).toBe(before);
    expectResult(attn.attention(c.q, c.k, c.v, c.options), c, `${backendName} after validation errors`);
  });

  it('two_instances_are_independent', async () => {
    const a = await createAttention({ backend: backendName });
    const b = await createAttention({ backend: backendName });
    const small = buildCase(SMALL), large = buildCase(LARGE), medium = buildCase(MEDIUM);
    const resultA = a.attention(small.q, small.k, small.v, small.options);
    const resultB = b.attention(medium.q, medium.k, medium.v, medium.options);
    const memoryA = a.memoryBytes;
    const memoryB = b.memoryBytes;
    // A grows; B does not notice.
    expectResult(a.attention(large.q, large.k, large.v, large.options), large, `${backendName} A large`);
    expect(a.memoryBytes).toBeGreaterThan(memoryA);
    expect(b.memoryBytes).toBe(memoryB);
    // Earlier results of either instance are plain arrays, not views of either memory.
    expectResult(resultA, small, `${backendName} A's first result after A's large call`);
    expectResult(resultB, medium, `${backendName} B's first result after A's large call`);
    // Interleaved calls stay right on both.
    for (let n = 0; n < 3; n++) {
      expectResult(b.attention(small.q, small.k, small.v, small.options), small, `${backendName} B small #${n}`);
      expectResult(a.attention(medium.q, medium.k, medium.v, medium.options), medium, `${backendName} A medium #${n}`);
    }
    expect(b.memoryBytes).toBe(memoryB);
  });

  // The output is written over q's copy (src/backends/wasm/memory-plan.ts, outOverQ): a
  // first call takes three tensors of WASM memory, not four (fewer fresh pages touched at
  // start-up). Each tensor here is 256 KiB; params, offsets and scratch take a few KiB, so
  // four regions need at least 4 × 256 KiB and three fit in 3 × 256 KiB + 2 pages.
  // Failed before that change (memory 1,114,112 B > 917,504 B).
  it('output_over_q_copy_takes_no_region_of_its_own', async () => {
    const attn = await createAttention({ backend: backendName });
    const c = buildCase({ batch: 1, qHeads: 8, seqLenQ: 128, seqLenK: 128, headDim: 64, seed: 6 });
    const tensorBytes = 8 * 128 * 64 * 4;
    expectResult(attn.attention(c.q, c.k, c.v, c.options), c, `${backendName} first call`);
    expect(attn.memoryBytes, 'memory after the first call').toBeLessThanOrEqual(3 * tensorBytes + 2 * 65536);
    // The q region holds outputs now: a second call copies q in again and is still right.
    expectResult(attn.attention(c.q, c.k, c.v, c.options), c, `${backendName} second call`);
  });
});
