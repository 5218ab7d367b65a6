/**
 * int8 quantisation at append (issue #15: "quantised once at append, in the kernel"): the
 * int8 builds (`wasm-attention/int8`) and the threads builds quantise in WASM
 * (assembly/cache/f32-i8-quantize-4.ts), the JS backend and the default builds in JS
 * (src/cache/int8.ts). Every one must store the same bytes: each row's int8 data and the
 * bits of its f32 scale are checked against the rule written here from its definition
 *   q = nearestEven(x·127 / max|x|) (0 for an all-zero row), scale = f32(max|x| / 127)
 * on rows chosen for the edges: exact ties (both signs), zeros and −0, subnormals (whose
 * quotients tie too), ±FLT_MAX, huge next to subnormal, dims not a multiple of 4 or 16.
 * Exact: no tolerance (the kernel computes in f64 what the JS path computes in f64).
 * On the code before the kernel path, `kernel_path_taken` fails (no appendInt8 on the int8
 * and threads builds' storages: src/backends/wasm/int8-append.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAttention, isBackendAvailable, type AttentionInstance, type KVCache, type Tensor } from '../src/index.js';
import type { CacheStorage } from '../src/cache/engine.js';
import { int8Kernel } from '../src/int8/index.js';
import { nearestEven } from './int8-reference.js';
import { mulberry32 } from './reference.js';
import { WASM_BACKENDS } from './threads-helpers.js';

const INSTANCES = [
  ...(isBackendAvailable('js') ? [{ label: 'js', options: { backend: 'js' as const }, kernel: false }] : []),
  ...WASM_BACKENDS.map((name) => ({ label: `${name} default build`, options: { backend: name }, kernel: false })),
  ...WASM_BACKENDS.map((name) => ({ label: `${name} int8 build`, options: { backend: name, module: int8Kernel(name) }, kernel: true })),
  ...WASM_BACKENDS.map((name) => ({ label: `${name} threads 2`, options: { backend: name, threads: 2 }, kernel: true })),
];

const FLT_MAX = 3.4028234663852886e38;
const SUB = 2 ** -149; // smallest f32 subnormal

/** Special rows, cycled to `dim` values: each row's max is its first element's magnitude or larger. */
const SPECIAL: readonly (readonly number[])[] = [
  [127, 2.5, -2.5, 3.5, -3.5, 0.5, -0.5, 1.5, 126.5, -126.5, 0], // ties at scale 1
  [0], // all zero: scale 0, q 0
  [-0, 0], // −0 stores 0
  [1000 * SUB, 500 * SUB, -500 * SUB, 3 * SUB, -SUB, 0], // subnormals; 500·127/1000 = 63.5 ties
  [FLT_MAX, -FLT_MAX, FLT_MAX / 2, -1e38, SUB, -1e-30], // ±FLT_MAX; FLT_MAX/2 → 63.5 ties
  [-4, 1, 2, -2, 1e-40, 3], // max from a negative value; a subnormal beside normals
  [1e-30, -1e-30, 5e-31], // tiny normals: the quotient is exact-ish, not the scale
];

/** `rows` rows of `dim`: SPECIAL rows first (cycled to fill the row), then random ones. */
function rowsOf(rows: number, dim: number, seed: number): Float32Array {
  const next = mulberry32(seed);
  const out = new Float32Array(rows * dim);
  for (let r = 0; r < rows; r++) {
    const special = SPECIAL[(r + seed) % (SPECIAL.length + 3)]; // some random rows among them
    for (let d = 0; d < dim; d++) out[r * dim + d] = special ? special[d % special.length]! : (next() * 2 - 1) * (d === 3 ? 20 : 1);
  }
  return out;
}

/** The rule, from its definition: the int8 values and the f32 scale of one row. */
function rule(x: ArrayLike<number>): { q: number[]; scale: number } {
  let max = 0;
  for (let d = 0; d < x.length; d++) max = Math.max(max, Math.abs(x[d]!));
  return { q: Array.from(x, (v) => (max === 0 ? 0 : nearestEven((v * 127) / max) || 0)), scale: Math.fround(max / 127) };
}

function storageOf(cache: KVCache): CacheStorage {
  return (cache as unknown as { storage: CacheStorage }).storage;
}

/** Raw row (b, h, s) of K or V: its dim int8 values, its padding bytes, its scale's bits. */
function rawRow(cache: KVCache, values: boolean, kvHeads: number, b: number, h: number, s: number, dim: number) {
  const storage = storageOf(cache);
  const bytes = (values ? storage.values() : storage.keys()) as Int8Array;
  const stride = values ? storage.valueRowStride : storage.keyRowStride;
  const at = ((b * kvHeads + h) * storage.capacity + s) * stride;
  const scaleBits = new DataView(bytes.buffer, bytes.byteOffset).getUint32(at + stride - 4, true);
  return { q: Array.from(bytes.subarray(at, at + dim)), padding: Array.from(bytes.subarray(at + dim, at + stride - 4)), scaleBits };
}

const f32Bits = (x: number) => new Uint32Array(Float32Array.of(x).buffer)[0]!;

describe.each(INSTANCES)('int8 append, $label', ({ label, options, kernel }) => {
  let attn: AttentionInstance;
  beforeAll(async () => {
    attn = await createAttention(options);
  });
  afterAll(() => attn.dispose());

  it('kernel_path_taken', () => {
    const cache = attn.createKVCache({ batch: 1, kvHeads: 1, headDim: 4, maxSeqLen: 4, dtype: 'int8' });
    expect(storageOf(cache).appendInt8 !== undefined, `${label}: quantises in the kernel`).toBe(kernel);
    cache.dispose();
  });

  it.each([1, 3, 4, 7, 16, 20, 33, 128])('same_bytes_as_the_rule_head_dim_%i', (headDim) => {
      // Ragged batch; f32 bhsd rows, then half bits in bshd (exact halves).
    const batch = 2, kvHeads = 2, valueDim = headDim + 5, first = 9, second = 4;
    const cache = attn.createKVCache({ batch, kvHeads, headDim, valueDim, maxSeqLen: first + second, dtype: 'int8' });
    const k1 = rowsOf(batch * kvHeads * first, headDim, 1), v1 = rowsOf(batch * kvHeads * first, valueDim, 2);
    cache.append({ data: k1, shape: [batch, kvHeads, first, headDim] }, { data: v1, shape: [batch, kvHeads, first, valueDim] }, { lengths: [first, first - 2] });
    const next = mulberry32(4);
    const halves = (dim: number) => Float32Array.from({ length: batch * second * kvHeads * dim }, () => Math.round((next() * 2 - 1) * 64) / 64); // exact in half
    const k2 = halves(headDim), v2 = halves(valueDim);
    const bits = (x: Float32Array) => ({ dtype: 'float16', data: Uint16Array.from(x, (value) => halfBitsOfExact(value)) });
    cache.append({ ...bits(k2), shape: [batch, second, kvHeads, headDim] } as Tensor, { ...bits(v2), shape: [batch, second, kvHeads, valueDim] } as Tensor, { layout: 'bshd' });
    for (const [values, dim, one, two] of [[false, headDim, k1, k2], [true, valueDim, v1, v2]] as const) {
      for (let b = 0; b < batch; b++) {
        for (let h = 0; h < kvHeads; h++) {
          const length = b === 0 ? first : first - 2;
          for (let s = 0; s < length + second; s++) {
            const src = s < length ? one.subarray(((b * kvHeads + h) * first + s) * dim, ((b * kvHeads + h) * first + s + 1) * dim)
              : two.subarray(((b * second + s - length) * kvHeads + h) * dim, ((b * second + s - length) * kvHeads + h + 1) * dim);
            const want = rule(src);
            const got = rawRow(cache, values, kvHeads, b, h, s, dim);
            const where = `${label} ${values ? 'v' : 'k'}[${b},${h},${s}] dim ${dim}`;
            expect(got.q, `${where}: int8 values of [${Array.from(src.subarray(0, 6))}...]`).toEqual(want.q);
            expect(got.scaleBits, `${where}: scale bits (want ${want.scale})`).toBe(f32Bits(want.scale));
            expect(got.padding.every((x) => x === 0), `${where}: padding zero`).toBe(true);
          }
        }
      }
    }
    cache.dispose();
  });

  it('pinned_rows_quantised_in_place_of_host_rows', () => {
    // k and v in the instance's own memory (createTensor; a plain array on js).
    const cache = attn.createKVCache({ batch: 1, kvHeads: 3, headDim: 20, maxSeqLen: 40, initialSeqLen: 1, dtype: 'int8' });
    const k = attn.createTensor([1, 3, 11, 20]), v = attn.createTensor([1, 3, 11, 20]);
    k.data.set(rowsOf(33, 20, 5));
    v.data.set(rowsOf(33, 20, 6));
    const host = { k: k.data.slice(), v: v.data.slice() };
    cache.append(k, v); // grows the storage 1 → 11 rows
    cache.append(k, v);
    for (let s = 0; s < 22; s++) {
      for (let h = 0; h < 3; h++) {
        const at = (h * 11 + (s % 11)) * 20;
        expect(rawRow(cache, false, 3, 0, h, s, 20).q, `${label} k[${h},${s}]`).toEqual(rule(host.k.subarray(at, at + 20)).q);
        expect(rawRow(cache, true, 3, 0, h, s, 20).scaleBits, `${label} v[${h},${s}] scale`).toBe(f32Bits(rule(host.v.subarray(at, at + 20)).scale));
      }
    }
    k.dispose();
    v.dispose();
    cache.dispose();
  });

  it.each([['k', NaN], ['k', -Infinity], ['v', Infinity], ['v', NaN]] as const)('non_finite_%s_%s_range_error_bytes_unchanged', (which, bad) => {
    const cache = attn.createKVCache({ batch: 1, kvHeads: 2, headDim: 20, maxSeqLen: 8, dtype: 'int8' });
    const ok = () => ({ data: rowsOf(2 * 3, 20, 7), shape: [1, 2, 3, 20] });
    cache.append(ok(), ok());
    const storage = storageOf(cache);
    const before = [Int8Array.from(storage.keys() as Int8Array), Int8Array.from(storage.values() as Int8Array)];
    const badRows = ok();
    badRows.data[2 * 60 - 1] = bad; // the last value: every other row would quantise first
    expect(() => cache.append(which === 'k' ? badRows : ok(), which === 'v' ? badRows : ok())).toThrow(RangeError);
    expect(cache.length).toBe(3);
    expect(Array.from(storage.keys() as Int8Array)).toEqual(Array.from(before[0]!));
    expect(Array.from(storage.values() as Int8Array)).toEqual(Array.from(before[1]!));
    cache.dispose();
  });
});

/** Half bits of a value exactly representable in half (normal or zero; the rows above are). */
function halfBitsOfExact(x: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, x);
  const bits = view.getUint32(0);
  const sign = (bits >>> 16) & 0x8000;
  const exponent = ((bits >>> 23) & 0xff) - 127 + 15;
  if ((bits & 0x7fffffff) === 0) return sign;
  if (exponent <= 0) throw new Error(`halfBitsOfExact: ${x} is subnormal in half`);
  return sign | (exponent << 10) | ((bits >>> 13) & 0x3ff);
}
