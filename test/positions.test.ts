/**
 * The standalone positional helpers (src/positions/): `rotaryEmbedding`,
 * `onnxRotaryEmbedding` beyond the 4 ONNX vectors (test/conformance.test.ts runs those),
 * and `sinusoidalPositionalEncoding`, against float64 transcriptions of their formulas.
 */
import { describe, expect, it } from 'vitest';
import { float32ArrayToHalf, halfArrayToFloat32, onnxRotaryEmbedding, rotaryEmbedding, sinusoidalPositionalEncoding, type OnnxTensor, type RotaryEmbeddingOptions } from '../src/index.js';
import { expectClose, U32 } from './helpers.js';
import { mulberry32, stridesOf } from './reference.js';
import { rotate64 } from './rotary-reference.js';

const random = mulberry32(11);
const values = (n: number) => Float32Array.from({ length: n }, () => random() * 4 - 2);
/**
 * The f32 result is the float64 rotation rounded once: within u = 2^-24 relative. cos/sin
 * and the two products are float64 on both sides (errors ~1e-16 absolute), hence atol 1e-12.
 */
const ROUNDED_ONCE = { atol: 1e-12, rtol: U32 };

function tables(maxPos: number, half: number): { cos: Float32Array; sin: Float32Array } {
  const cos = new Float32Array(maxPos * half);
  const sin = new Float32Array(maxPos * half);
  for (let p = 0; p < maxPos; p++) for (let i = 0; i < half; i++) [cos[p * half + i], sin[p * half + i]] = [Math.cos(p / 3 ** i), Math.sin(p / 3 ** i)];
  return { cos, sin };
}

describe('rotaryEmbedding', () => {
  const [batch, heads, seqLen, headDim] = [2, 3, 5, 12];
  const cases: [string, 'bhsd' | 'bshd' | 'packed', RotaryEmbeddingOptions][] = [
    ['rotate_half_full', 'bhsd', {}],
    ['interleaved_partial_bshd', 'bshd', { interleaved: true, dim: 8, layout: 'bshd' }],
    ['packed_offset_base', 'packed', { numHeads: heads, base: 500000, positions: 7 }],
    ['positions_array_scaling', 'bhsd', { positions: Int32Array.from({ length: batch * seqLen }, (_, n) => (n * 37) % 101), scaling: { type: 'linear', factor: 8 } }],
    ['tables_interleaved', 'bhsd', { ...tables(20, 6), interleaved: true, positions: 10 }],
  ];
  for (const [name, layout, options] of cases) {
    it(name, () => {
      const x = values(batch * heads * seqLen * headDim);
      const shape = layout === 'bhsd' ? [batch, heads, seqLen, headDim] : layout === 'bshd' ? [batch, seqLen, heads, headDim] : [batch, seqLen, heads * headDim];
      const copy = x.slice();
      const got = rotaryEmbedding({ data: x, shape }, options);
      expect(x).toEqual(copy);
      expect(got.shape).toEqual(shape);
      const { positions: p } = options;
      const position = (b: number, s: number) => (typeof p === 'number' ? s + p : p ? p[b * seqLen + s]! : s);
      const want = rotate64(x, stridesOf(layout === 'bhsd' ? 'bhsd' : 'bshd', heads, seqLen, headDim), batch, heads, seqLen, headDim, options, position);
      expectClose(got.data as Float32Array, want, ROUNDED_ONCE, name, shape);
    });
  }

  it('float16_in_float16_out', () => {
    const x = values(1 * 2 * 3 * 8);
    const bits = float32ArrayToHalf(x);
    const got = rotaryEmbedding({ data: bits, shape: [1, 2, 3, 8] });
    expect(got.data).toBeInstanceOf(Uint16Array);
    const want = rotate64(halfArrayToFloat32(bits), stridesOf('bhsd', 2, 3, 8), 1, 2, 3, 8, {}, (_, s) => s);
    expectClose(halfArrayToFloat32(got.data as Uint16Array), want, { atol: 2 ** -25, rtol: 2 ** -11 }, 'float16 (rounded once to half)');
  });

  it('position_0_is_the_identity_and_norms_are_kept', () => {
    const x = values(16);
    const got = rotaryEmbedding({ data: x, shape: [1, 1, 1, 16] }).data as Float32Array;
    expect(Array.from(got)).toEqual(Array.from(x));
    const moved = rotaryEmbedding({ data: x, shape: [1, 1, 1, 16] }, { positions: 12345 }).data as Float32Array;
    const norm = (a: Float32Array) => Math.hypot(...a);
    expect(norm(moved)).toBeCloseTo(norm(x), 5);
  });

  it('rejects bad input', () => {
    const x = { data: new Float32Array(24), shape: [1, 2, 3, 4] };
    expect(() => rotaryEmbedding(x, { dim: 3 })).toThrow(/^options\.dim: expected an even/);
    expect(() => rotaryEmbedding({ data: new Float32Array(24), shape: [2, 3, 4] })).toThrow(/^options\.numHeads: /);
    expect(() => rotaryEmbedding({ data: new Float32Array(24), shape: [2, 3, 4] }, { numHeads: 5 })).toThrow(RangeError);
    expect(() => rotaryEmbedding(x, { positions: Int32Array.of(1) })).toThrow(/^options\.positions: expected length 1·3 = 3/);
    expect(() => rotaryEmbedding(x, { layout: 'sbhd' as never })).toThrow(TypeError);
    expect(() => rotaryEmbedding({ data: new Float64Array(24), shape: [1, 2, 3, 4] } as never)).toThrow(/^x\.data: /);
    expect(() => rotaryEmbedding(x, { ...tables(2, 2) })).toThrow(/^options\.positions \(default\): expected a row of the cos\/sin tables, in \[0, 1\], got position 2/);
  });
});

describe('onnxRotaryEmbedding beyond the vectors', () => {
  const f32 = (data: Float32Array, shape: number[]): OnnxTensor => ({ data, shape });
  it('3d_num_heads_partial_interleaved_int32_ids', () => {
    const [batch, seqLen, heads, headDim, rotaryDim] = [2, 3, 2, 10, 6];
    const x = values(batch * seqLen * heads * headDim);
    const { cos, sin } = tables(9, rotaryDim / 2);
    const ids = Int32Array.of(0, 4, 8, 2, 2, 7);
    const [y] = onnxRotaryEmbedding([f32(x, [batch, seqLen, heads * headDim]), f32(cos, [9, 3]), f32(sin, [9, 3]), { data: ids, shape: [batch, seqLen] }], { num_heads: heads, rotary_embedding_dim: rotaryDim, interleaved: 1 });
    const want = rotate64(x, stridesOf('bshd', heads, seqLen, headDim), batch, heads, seqLen, headDim, { cos, sin, dim: rotaryDim, interleaved: true }, (b, s) => ids[b * seqLen + s]!);
    expect(y.shape).toEqual([batch, seqLen, heads * headDim]);
    expect(y.dtype).toBe('float32');
    expectClose(y.data as Float32Array, want, ROUNDED_ONCE, 'Y');
  });

  it('4d_gathered_caches_float16', () => {
    const [batch, heads, seqLen, headDim] = [1, 2, 4, 8];
    const x = float32ArrayToHalf(values(batch * heads * seqLen * headDim));
    const { cos, sin } = tables(batch * seqLen, headDim / 2);
    const [y] = onnxRotaryEmbedding([{ data: x, shape: [batch, heads, seqLen, headDim] }, { data: float32ArrayToHalf(cos), shape: [batch, seqLen, 4] }, { data: float32ArrayToHalf(sin), shape: [batch, seqLen, 4] }]);
    expect(y.dtype).toBe('float16');
    const halfTables = { cos: halfArrayToFloat32(float32ArrayToHalf(cos)), sin: halfArrayToFloat32(float32ArrayToHalf(sin)) };
    const want = rotate64(halfArrayToFloat32(x), stridesOf('bhsd', heads, seqLen, headDim), batch, heads, seqLen, headDim, halfTables, (b, s) => b * seqLen + s);
    expectClose(halfArrayToFloat32(y.data as Uint16Array), want, { atol: 2 ** -25, rtol: 2 ** -11 }, 'Y float16');
  });

  const X = f32(new Float32Array(2 * 2 * 3 * 8), [2, 2, 3, 8]);
  const T = f32(new Float32Array(10 * 4), [10, 4]);
  const ids = { data: new BigInt64Array(6), shape: [2, 3] };
  const bad: [string, unknown[], unknown, typeof TypeError | typeof RangeError, RegExp][] = [
    ['inputs not an array', X as never, {}, TypeError, /^inputs: /],
    ['two inputs', [X, T], {}, RangeError, /^inputs\.length: /],
    ['unknown attribute', [X, T, T, ids], { rotary_dim: 4 }, TypeError, /^attrs\.rotary_dim: /],
    ['interleaved 2', [X, T, T, ids], { interleaved: 2 }, RangeError, /^attrs\.interleaved: /],
    ['odd rotary dim', [X, T, T, ids], { rotary_embedding_dim: 3 }, RangeError, /^attrs\.rotary_embedding_dim: /],
    ['rotary dim above head_size', [X, T, T, ids], { rotary_embedding_dim: 10 }, RangeError, /^attrs\.rotary_embedding_dim: /],
    ['3-D without num_heads', [f32(new Float32Array(48), [2, 3, 8]), T, T, ids], {}, TypeError, /^attrs\.num_heads: /],
    ['4-D with another num_heads', [X, T, T, ids], { num_heads: 4 }, RangeError, /^attrs\.num_heads: /],
    ['cache width', [X, f32(new Float32Array(30), [10, 3]), T, ids], {}, RangeError, /^cos_cache\.shape\[1\]: expected 4/],
    ['sin rows', [X, T, f32(new Float32Array(36), [9, 4]), ids], {}, RangeError, /^sin_cache\.shape\[0\]: /],
    ['cache dtype', [X, { data: new Uint16Array(40), shape: [10, 4] }, T, ids], {}, TypeError, /^cos_cache\.dtype: /],
    ['position id past the caches', [X, T, T, { data: BigInt64Array.of(0n, 1n, 10n, 0n, 0n, 0n), shape: [2, 3] }], {}, RangeError, /^position_ids\[2\]: expected a row of the caches, in \[0, 9\], got 10/],
    ['position ids shape', [X, T, T, { data: new BigInt64Array(3), shape: [1, 3] }], {}, RangeError, /^position_ids\.shape\[0\]: /],
    ['gathered caches of rank 2', [X, T, T], {}, RangeError, /^cos_cache\.shape: expected rank 3/],
    ['position ids of float32', [X, T, T, f32(new Float32Array(6), [2, 3])], {}, TypeError, /^position_ids\.dtype: /],
  ];
  for (const [name, inputs, attrs, error, message] of bad) {
    it(`rejects: ${name}`, () => {
      const call = () => onnxRotaryEmbedding(inputs as OnnxTensor[], attrs as never);
      expect(call).toThrow(error);
      expect(call).toThrow(message);
    });
  }
});

describe('sinusoidalPositionalEncoding', () => {
  it('matches_the_paper_formula', () => {
    const { data, shape } = sinusoidalPositionalEncoding(50, 16);
    expect(shape).toEqual([50, 16]);
    const want = new Float64Array(50 * 16);
    for (let pos = 0; pos < 50; pos++)
      for (let d = 0; d < 16; d++) {
        const angle = pos / 10000 ** ((2 * Math.floor(d / 2)) / 16);
        want[pos * 16 + d] = d % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
      }
    expectClose(data, want, ROUNDED_ONCE, 'PE');
    expect(data[0]).toBe(0); // sin(0)
    expect(data[1]).toBe(1); // cos(0)
  });
  it('rejects_bad_sizes', () => {
    expect(() => sinusoidalPositionalEncoding(4, 7)).toThrow(/^dim: expected an even number/);
    expect(() => sinusoidalPositionalEncoding(-1, 8)).toThrow(RangeError);
    expect(() => sinusoidalPositionalEncoding('4' as never, 8)).toThrow(TypeError);
    expect(sinusoidalPositionalEncoding(0, 8).data.length).toBe(0);
  });
});
