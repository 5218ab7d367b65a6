/**
 * Every documented bad input of `attention()` throws the documented class — TypeError for
 * a wrong kind, RangeError for a wrong size or shape — with a message that names the
 * argument, the expected value and the actual one ("NAME: expected X, got Y"). After each
 * error the same instance answers the next valid call correctly.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { BACKEND_NAMES, createAttention, isBackendAvailable, type AttentionInstance, type BackendName } from '../src/index.js';
import { buildCase, expectResult, type BuiltCase } from './helpers.js';

const BACKENDS = BACKEND_NAMES.filter(isBackendAvailable);

/** A valid float32 call (bhsd, B 2, Hq 6, Hkv 2, Lq 5, Lk 9, D 8, Dv 4) that bad inputs are mutated from. */
const valid: BuiltCase = buildCase({ batch: 2, qHeads: 6, kvHeads: 2, seqLenQ: 5, seqLenK: 9, headDim: 8, valueDim: 4, causal: true, returnWeights: true, seed: 11 });
const f32 = (shape: number[]) => ({ data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape });
const Q = valid.q, K = valid.k, V = valid.v;

interface BadCase {
  readonly name: string;
  readonly call: () => [unknown, unknown, unknown, unknown];
  readonly error: typeof TypeError | typeof RangeError;
  /** Substrings the message must contain: the argument, the expected value, the actual value. */
  readonly argument: string;
  readonly expected: string;
  readonly got: string;
}

const bad: BadCase[] = [
  // The tensors themselves
  { name: 'q_null', call: () => [null, K, V, {}], error: TypeError, argument: 'q:', expected: 'expected a tensor { data, shape }', got: 'got null' },
  { name: 'k_number', call: () => [Q, 5, V, {}], error: TypeError, argument: 'k:', expected: 'expected a tensor', got: 'got 5' },
  { name: 'v_string', call: () => [Q, K, 'v', {}], error: TypeError, argument: 'v:', expected: 'expected a tensor', got: 'got "v"' },
  { name: 'q_without_shape', call: () => [{ data: Q.data }, K, V, {}], error: TypeError, argument: 'q:', expected: 'expected a tensor', got: 'got Object' },
  { name: 'q_data_array', call: () => [{ data: Array.from(Q.data), shape: Q.shape }, K, V, {}], error: TypeError, argument: 'q.data:', expected: 'expected Float32Array', got: `got Array of length ${Q.data.length}` },
  { name: 'k_data_float64array', call: () => [Q, { data: Float64Array.from(K.data), shape: K.shape }, V, {}], error: TypeError, argument: 'k.data:', expected: 'expected Float32Array', got: `got Float64Array of length ${K.data.length}` },
  { name: 'v_data_int32array', call: () => [Q, K, { data: new Int32Array(V.data.length), shape: V.shape }, {}], error: TypeError, argument: 'v.data:', expected: 'expected Float32Array', got: `got Int32Array of length ${V.data.length}` },
  { name: 'q_shape_not_array', call: () => [{ data: Q.data, shape: '2,6,5,8' }, K, V, {}], error: TypeError, argument: 'q.shape:', expected: 'expected an array of dimensions', got: 'got "2,6,5,8"' },
  { name: 'q_shape_negative', call: () => [{ data: Q.data, shape: [2, -6, 5, -8] }, K, V, {}], error: RangeError, argument: 'q.shape[1]:', expected: 'expected a non-negative integer', got: 'got -6' },
  { name: 'q_shape_fractional', call: () => [{ data: Q.data, shape: [2, 6, 5, 7.5] }, K, V, {}], error: RangeError, argument: 'q.shape[3]:', expected: 'expected a non-negative integer', got: 'got 7.5' },
  { name: 'q_length_neq_shape_product', call: () => [{ data: Q.data.subarray(1), shape: Q.shape }, K, V, {}], error: RangeError, argument: 'q.data:', expected: 'expected length 480 (the product of shape [2, 6, 5, 8])', got: 'got length 479' },
  { name: 'v_length_neq_shape_product', call: () => [Q, K, { data: new Float32Array(V.data.length + 4), shape: V.shape }, {}], error: RangeError, argument: 'v.data:', expected: 'expected length 144', got: 'got length 148' },
  { name: 'q_zero_heads', call: () => [f32([2, 0, 5, 8]), K, V, {}], error: RangeError, argument: 'q.shape[1]', expected: '>= 1', got: '0' },
  { name: 'k_zero_seq_len', call: () => [Q, f32([2, 2, 0, 8]), f32([2, 2, 0, 4]), {}], error: RangeError, argument: 'k.shape[2]', expected: '>= 1', got: '0' },

  // Ranks and dimensions
  { name: 'q_rank_2', call: () => [f32([30, 16]), K, V, {}], error: RangeError, argument: 'q.shape:', expected: 'expected rank 4', got: 'got rank 2 [30, 16]' },
  { name: 'q_rank_5', call: () => [f32([1, 2, 6, 5, 8]), K, V, {}], error: RangeError, argument: 'q.shape:', expected: 'rank 3', got: 'got rank 5' },
  { name: 'k_rank_neq_q_rank', call: () => [Q, f32([2, 9, 16]), V, {}], error: RangeError, argument: 'k.shape:', expected: 'expected rank 4 like q', got: 'got rank 3 [2, 9, 16]' },
  { name: 'batch_mismatch', call: () => [Q, f32([3, 2, 9, 8]), f32([3, 2, 9, 4]), {}], error: RangeError, argument: 'k.shape[0]:', expected: 'expected 2 (batch of q)', got: 'got 3' },
  { name: 'v_batch_mismatch', call: () => [Q, K, f32([1, 2, 9, 4]), {}], error: RangeError, argument: 'v.shape[0]:', expected: 'expected 2 (batch of q)', got: 'got 1' },
  { name: 'head_dim_mismatch', call: () => [Q, f32([2, 2, 9, 7]), V, {}], error: RangeError, argument: 'k.shape[3]:', expected: 'expected 8 (head dim of q)', got: 'got 7' },
  { name: 'head_dim_mismatch_bshd', call: () => [f32([2, 5, 6, 8]), f32([2, 9, 2, 6]), f32([2, 9, 2, 4]), { layout: 'bshd' }], error: RangeError, argument: 'k.shape[3]:', expected: 'expected 8', got: 'got 6' },
  { name: 'kv_len_mismatch', call: () => [Q, K, f32([2, 2, 8, 4]), {}], error: RangeError, argument: 'v.shape[2]:', expected: 'expected 9 (sequence length of k)', got: 'got 8' },
  { name: 'kv_heads_mismatch', call: () => [Q, K, f32([2, 3, 9, 4]), {}], error: RangeError, argument: 'v.shape[1]:', expected: 'expected 2 (heads of k)', got: 'got 3' },
  { name: 'q_heads_not_multiple_of_kv_heads', call: () => [Q, f32([2, 4, 9, 8]), f32([2, 4, 9, 4]), {}], error: RangeError, argument: 'k.shape[1]:', expected: 'a divisor of the 6 query heads', got: 'got 4' },
  { name: 'packed_q_heads_not_multiple_of_kv_heads', call: () => [f32([2, 5, 48]), f32([2, 9, 32]), f32([2, 9, 16]), { numHeads: 6, kvHeads: 4 }], error: RangeError, argument: 'options.kvHeads:', expected: 'a divisor of the 6 query heads', got: 'got 4' },
  { name: 'bshd_q_heads_not_multiple_of_kv_heads', call: () => [f32([2, 5, 6, 8]), f32([2, 9, 4, 8]), f32([2, 9, 4, 4]), { layout: 'bshd' }], error: RangeError, argument: 'k.shape[2]:', expected: 'a divisor of the 6 query heads', got: 'got 4' },
  { name: 'num_heads_neq_4d_heads', call: () => [Q, K, V, { numHeads: 3 }], error: RangeError, argument: 'options.numHeads:', expected: 'expected the head count of q (6)', got: 'got 3' },
  { name: 'kv_heads_neq_4d_heads', call: () => [Q, K, V, { kvHeads: 1 }], error: RangeError, argument: 'options.kvHeads:', expected: 'expected the head count of k (2)', got: 'got 1' },

  // Packed 3-D
  { name: 'packed_3d_without_num_heads', call: () => [f32([2, 5, 48]), f32([2, 9, 16]), f32([2, 9, 8]), {}], error: TypeError, argument: 'options.numHeads:', expected: 'expected a positive integer', got: 'got undefined' },
  { name: 'packed_hidden_not_divisible', call: () => [f32([2, 5, 48]), f32([2, 9, 16]), f32([2, 9, 8]), { numHeads: 5, kvHeads: 2 }], error: RangeError, argument: 'q.shape[2]:', expected: 'a multiple of options.numHeads = 5', got: 'got 48' },
  { name: 'packed_kv_hidden_not_divisible', call: () => [f32([2, 5, 48]), f32([2, 9, 16]), f32([2, 9, 8]), { numHeads: 6, kvHeads: 3 }], error: RangeError, argument: 'k.shape[2]:', expected: 'a multiple of options.kvHeads = 3', got: 'got 16' },
  { name: 'packed_num_heads_zero', call: () => [f32([2, 5, 48]), f32([2, 9, 16]), f32([2, 9, 8]), { numHeads: 0 }], error: RangeError, argument: 'options.numHeads:', expected: 'expected an integer >= 1', got: 'got 0' },
  { name: 'packed_num_heads_string', call: () => [f32([2, 5, 48]), f32([2, 9, 16]), f32([2, 9, 8]), { numHeads: '6' }], error: TypeError, argument: 'options.numHeads:', expected: 'expected an integer', got: 'got "6"' },

  // Mask
  { name: 'mask_not_broadcastable', call: () => [Q, K, V, { mask: { data: new Uint8Array(5 * 8), shape: [5, 8] } }], error: RangeError, argument: 'options.mask.shape:', expected: 'broadcastable to [batch, qHeads, seqLenQ, seqLenK] = [2, 6, 5, 9]', got: 'got [5, 8]' },
  { name: 'mask_heads_not_broadcastable', call: () => [Q, K, V, { mask: { data: new Float32Array(2 * 2 * 5 * 9), shape: [2, 2, 5, 9] } }], error: RangeError, argument: 'options.mask.shape:', expected: 'broadcastable', got: 'got [2, 2, 5, 9]' },
  { name: 'mask_rank_5', call: () => [Q, K, V, { mask: { data: new Uint8Array(9), shape: [1, 1, 1, 1, 9] } }], error: RangeError, argument: 'options.mask.shape:', expected: 'rank 1 to 4', got: 'got [1, 1, 1, 1, 9]' },
  { name: 'mask_data_int32array', call: () => [Q, K, V, { mask: { data: new Int32Array(9), shape: [9] } }], error: TypeError, argument: 'options.mask.data:', expected: 'expected Uint8Array (boolean, 1 = attend), Float32Array (additive)', got: 'got Int32Array of length 9' },
  { name: 'mask_data_float64array', call: () => [Q, K, V, { mask: { data: new Float64Array(9), shape: [9] } }], error: TypeError, argument: 'options.mask.data:', expected: 'expected Uint8Array', got: 'got Float64Array of length 9' },
  { name: 'mask_data_array', call: () => [Q, K, V, { mask: { data: new Array(9).fill(1), shape: [9] } }], error: TypeError, argument: 'options.mask.data:', expected: 'expected Uint8Array', got: 'got Array of length 9' },
  { name: 'mask_not_a_tensor', call: () => [Q, K, V, { mask: new Uint8Array(9) }], error: TypeError, argument: 'options.mask:', expected: 'expected a tensor { data, shape }', got: 'got Uint8Array of length 9' },
  { name: 'mask_length_neq_shape_product', call: () => [Q, K, V, { mask: { data: new Uint8Array(10), shape: [9] } }], error: RangeError, argument: 'options.mask.data:', expected: 'expected length 9', got: 'got length 10' },

  // keyLengths
  { name: 'key_lengths_wrong_length', call: () => [Q, K, V, { keyLengths: [9, 9, 9] }], error: RangeError, argument: 'options.keyLengths:', expected: 'expected length 2 (one per batch item)', got: 'got length 3' },
  { name: 'key_lengths_gt_kv_len', call: () => [Q, K, V, { keyLengths: [9, 10] }], error: RangeError, argument: 'options.keyLengths[1]:', expected: 'expected an integer in [0, 9]', got: 'got 10' },
  { name: 'key_lengths_negative', call: () => [Q, K, V, { keyLengths: Int32Array.of(-1, 3) }], error: RangeError, argument: 'options.keyLengths[0]:', expected: 'in [0, 9]', got: 'got -1' },
  { name: 'key_lengths_fractional', call: () => [Q, K, V, { keyLengths: [2.5, 3] }], error: RangeError, argument: 'options.keyLengths[0]:', expected: 'an integer', got: 'got 2.5' },
  { name: 'key_lengths_nan', call: () => [Q, K, V, { keyLengths: [3, NaN] }], error: RangeError, argument: 'options.keyLengths[1]:', expected: 'an integer', got: 'got NaN' },
  { name: 'key_lengths_not_array', call: () => [Q, K, V, { keyLengths: 9 }], error: TypeError, argument: 'options.keyLengths:', expected: 'an array or typed array of 2 integers', got: 'got 9' },
  { name: 'key_lengths_element_string', call: () => [Q, K, V, { keyLengths: ['9', 9] }], error: TypeError, argument: 'options.keyLengths[0]:', expected: 'an integer', got: 'got "9"' },

  // Other options
  { name: 'causal_string_yes', call: () => [Q, K, V, { causal: 'yes' }], error: TypeError, argument: 'options.causal:', expected: "expected true | false | 'top-left' | 'bottom-right'", got: 'got "yes"' },
  { name: 'causal_underscore_typo', call: () => [Q, K, V, { causal: 'bottom_right' }], error: TypeError, argument: 'options.causal:', expected: "'bottom-right'", got: 'got "bottom_right"' },
  { name: 'causal_number_1', call: () => [Q, K, V, { causal: 1 }], error: TypeError, argument: 'options.causal:', expected: 'true | false', got: 'got 1' },
  { name: 'unknown_option_casual', call: () => [Q, K, V, { casual: true }], error: TypeError, argument: 'options.casual:', expected: 'expected one of layout, numHeads, kvHeads, dtype, scale, causal, mask, keyLengths, softcap, returnWeights, out', got: 'got an unknown option' },
  { name: 'options_not_object', call: () => [Q, K, V, 'causal'], error: TypeError, argument: 'options:', expected: 'expected an object', got: 'got "causal"' },
  { name: 'layout_unknown', call: () => [Q, K, V, { layout: 'bsdh' }], error: TypeError, argument: 'options.layout:', expected: "expected 'bhsd' | 'bshd'", got: 'got "bsdh"' },
  { name: 'dtype_unknown', call: () => [Q, K, V, { dtype: 'bfloat16' }], error: TypeError, argument: 'options.dtype:', expected: "expected 'float32' | 'float16'", got: 'got "bfloat16"' },
  { name: 'scale_nan', call: () => [Q, K, V, { scale: NaN }], error: RangeError, argument: 'options.scale:', expected: 'expected a finite number', got: 'got NaN' },
  { name: 'scale_infinity', call: () => [Q, K, V, { scale: Infinity }], error: RangeError, argument: 'options.scale:', expected: 'expected a finite number', got: 'got Infinity' },
  { name: 'scale_string', call: () => [Q, K, V, { scale: '0.5' }], error: TypeError, argument: 'options.scale:', expected: 'expected a number', got: 'got "0.5"' },
  { name: 'softcap_negative', call: () => [Q, K, V, { softcap: -1 }], error: RangeError, argument: 'options.softcap:', expected: 'expected a finite non-negative number', got: 'got -1' },
  { name: 'softcap_nan', call: () => [Q, K, V, { softcap: NaN }], error: RangeError, argument: 'options.softcap:', expected: 'non-negative', got: 'got NaN' },
  { name: 'return_weights_not_boolean', call: () => [Q, K, V, { returnWeights: 1 }], error: TypeError, argument: 'options.returnWeights:', expected: 'expected a boolean', got: 'got 1' },

  // out
  { name: 'out_wrong_length', call: () => [Q, K, V, { out: new Float32Array(valid.wantOut.length - 1) }], error: RangeError, argument: 'options.out:', expected: `expected length ${valid.wantOut.length} (output shape [2, 6, 5, 4])`, got: `got length ${valid.wantOut.length - 1}` },
  { name: 'out_float64array', call: () => [Q, K, V, { out: new Float64Array(valid.wantOut.length) }], error: TypeError, argument: 'options.out:', expected: 'expected a Float32Array', got: 'got Float64Array of length 240' },
  { name: 'out_uint16_for_float32', call: () => [Q, K, V, { out: new Uint16Array(valid.wantOut.length) }], error: TypeError, argument: 'options.out:', expected: 'expected a Float32Array', got: 'got Uint16Array of length 240' },
  { name: 'out_array', call: () => [Q, K, V, { out: new Array(valid.wantOut.length).fill(0) }], error: TypeError, argument: 'options.out:', expected: 'expected a Float32Array', got: 'got Array of length 240' },

  // dtypes
  { name: 'mixed_dtypes_k_uint16', call: () => [Q, { data: new Uint16Array(K.data.length), shape: K.shape }, V, {}], error: TypeError, argument: 'k.data:', expected: "Float32Array for dtype 'float32'", got: `got Uint16Array of length ${K.data.length}` },
  { name: 'mixed_dtypes_q_uint16', call: () => [{ data: new Uint16Array(Q.data.length), shape: Q.shape }, K, V, {}], error: TypeError, argument: 'k.data:', expected: "Uint16Array or Float16Array for dtype 'float16'", got: 'got Float32Array' },
  { name: 'dtype_float16_with_float32_data', call: () => [Q, K, V, { dtype: 'float16' }], error: TypeError, argument: 'q.data:', expected: "for dtype 'float16'", got: 'got Float32Array' },
  { name: 'dtype_float32_with_uint16_data', call: () => [{ data: new Uint16Array(Q.data.length), shape: Q.shape }, K, V, { dtype: 'float32' }], error: TypeError, argument: 'q.data:', expected: "Float32Array for dtype 'float32'", got: 'got Uint16Array' },
  { name: 'out_float32_for_float16', call: () => [
    { data: new Uint16Array(Q.data.length), shape: Q.shape }, { data: new Uint16Array(K.data.length), shape: K.shape }, { data: new Uint16Array(V.data.length), shape: V.shape },
    { out: new Float32Array(valid.wantOut.length) },
  ], error: TypeError, argument: 'options.out:', expected: 'a Uint16Array or Float16Array (float16)', got: 'got Float32Array' },

  // Memory: weights of [1, 1, 40000, 40000] = 1.6e9 f32 = 6.4 GB, beyond a wasm32 memory. Rejected at
  // the boundary (src/attention.ts), from the shapes alone, before anything is allocated.
  { name: 'weights_beyond_4_gib', call: () => [f32([1, 1, 40000, 1]), f32([1, 1, 40000, 1]), f32([1, 1, 40000, 1]), { returnWeights: true }], error: RangeError, argument: 'options.returnWeights:', expected: 'expected a call (f32 q, k, v, mask, output, weights) of at most 4294901760 bytes', got: 'weights [1, 1, 40000, 40000])' },
  // An output of [1, 1, 65536, 16384] = 2^30 f32 = 4 GiB from inputs of a few hundred KB
  // (q [1, 1, 65536, 1], k [1, 1, 1, 1], v [1, 1, 1, 16384]): rejected at the boundary too
  // (the limit, src/limits.ts, is 2^32 − 64 KiB bytes on every backend).
  { name: 'output_of_4_gib', call: () => [f32([1, 1, 65536, 1]), f32([1, 1, 1, 1]), f32([1, 1, 1, 16384]), {}], error: RangeError, argument: 'q, k, v:', expected: 'expected a call (f32 q, k, v, mask, output) of at most 4294901760 bytes', got: 'output [1, 1, 65536, 16384]' },
];

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe.each(BACKENDS)('backend %s', (backendName: BackendName) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention({ backend: backendName });
  });

  it.each(bad.map((c) => [c.name, c] as const))('%s', (_, c) => {
    const [q, k, v, options] = c.call();
    const error = thrown(() => attn.attention(q as never, k as never, v as never, options as never));
    const message = error instanceof Error ? error.message : String(error);
    expect(error, `${c.name}: expected a ${c.error.name}, got ${error === undefined ? 'no error' : `${(error as Error).name}: ${message}`}`).toBeInstanceOf(c.error);
    expect((error as Error).constructor, `${c.name}: exactly ${c.error.name}, not a subclass`).toBe(c.error);
    for (const part of [c.argument, c.expected, c.got]) expect(message, `${c.name}: message names "${part}"`).toContain(part);
    // The same instance then answers a valid call correctly.
    expectResult(attn.attention(valid.q, valid.k, valid.v, valid.options), valid, `${backendName} after ${c.name}`);
  });

  it('weights_beyond_4_gib is rejected before any allocation or memory growth', () => {
    const before = attn.memoryBytes;
    const big = f32([1, 1, 40000, 1]);
    // 40000² = 1.6e9 weights: an allocation of 6.4 GB would take seconds; the boundary check takes none.
    // (No timing assertion: the allocation and growth are observed directly.)
    const buffersBefore = process.memoryUsage().arrayBuffers;
    expect(() => attn.attention(big, big, big, { returnWeights: true })).toThrow(RangeError);
    expect(process.memoryUsage().arrayBuffers - buffersBefore, 'host ArrayBuffer bytes allocated by the rejected call').toBeLessThan(1 << 20);
    expect(attn.memoryBytes, 'WASM memory did not grow').toBe(before);
  });

  it('weights_of_exactly_4_gib is rejected before any allocation or memory growth', () => {
    // [1, 1, 32768, 32768] weights are 2^30 f32 = exactly 4 GiB: with q, k, v and the output
    // next to them the call cannot fit in a wasm32 memory, on any backend (identical semantics).
    const before = attn.memoryBytes;
    const big = f32([1, 1, 32768, 1]);
    const buffersBefore = process.memoryUsage().arrayBuffers;
    const error = thrown(() => attn.attention(big, big, big, { returnWeights: true }));
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toContain('options.returnWeights:');
    expect(process.memoryUsage().arrayBuffers - buffersBefore, 'host ArrayBuffer bytes allocated by the rejected call').toBeLessThan(1 << 20);
    expect(attn.memoryBytes, 'WASM memory did not grow').toBe(before);
    expectResult(attn.attention(valid.q, valid.k, valid.v, valid.options), valid, `${backendName} after the 4 GiB call`);
  });

  it('output_of_4_gib is rejected before any allocation or memory growth', () => {
    const before = attn.memoryBytes;
    const buffersBefore = process.memoryUsage().arrayBuffers;
    expect(() => attn.attention(f32([1, 1, 65536, 1]), f32([1, 1, 1, 1]), f32([1, 1, 1, 16384]))).toThrow(RangeError);
    expect(process.memoryUsage().arrayBuffers - buffersBefore, 'host ArrayBuffer bytes allocated by the rejected call').toBeLessThan(1 << 20);
    expect(attn.memoryBytes, 'WASM memory did not grow').toBe(before);
  });

  it('float16_error_then_float16_call', () => {
    // A float16 call after a failed float16 call (the host workspace holds f32 copies of half inputs).
    const half = buildCase({ batch: 1, qHeads: 2, seqLenQ: 4, seqLenK: 6, headDim: 8, dtype: 'float16', returnWeights: true });
    expect(() => attn.attention(half.q, half.k, half.v, { ...half.options, keyLengths: [7] })).toThrow(RangeError);
    expectResult(attn.attention(half.q, half.k, half.v, half.options), half, `${backendName} float16 after error`);
  });
});
