/**
 * ONNX `Attention` (opsets 23/24) through `runOnnxAttention`, on every available backend:
 *
 * 1. every conformance vector of test/fixtures/conformance/onnx-attention (taken from the
 *    ONNX backend node tests, see its README and ../SOURCES.md), one test per case × backend;
 * 2. edge semantics the vectors do not cover, against `onnxOracle` below: a float64
 *    transcription of the ONNX operator (onnx/reference/ops/op_attention.py, with the two
 *    decisions documented in src/onnx: mode 0 is pre-softcap, fully masked rows are 0),
 *    written at the ONNX level (dense 4-D tensors, an explicit bias) and so independent of
 *    the plan mapping in src/onnx/run.ts that it checks;
 * 3. boundary validation: the error class and the input's name in the message;
 * 4. a 2048-token case generated on the fly (no timing assertion).
 *
 * Backends: those `src/index.ts` reports available, plus a float64 backend made of the
 * plan oracle in test/reference.ts (so a failure can be told apart: mapping or kernel).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compareTensors, formatResult, parseVector, runVector, type ConformanceVector, type Tolerance } from '../src/conformance/index.js';
import { float32ArrayToHalf, halfArrayToFloat32, halfToFloat } from '../src/float16.js';
import { BACKEND_NAMES, createAttention, isBackendAvailable, onnxRotaryEmbedding, type OnnxRotaryAttributes } from '../src/index.js';
import { runOnnxAttention, type OnnxAttributes, type OnnxOutputs, type OnnxTensor } from '../src/onnx/index.js';
import type { AttentionPlan, Backend, BackendName } from '../src/plan.js';
import { mulberry32, randomFloat32, referenceAttention } from './reference.js';

/** The vectors are carried in the repository (CONFORMANCE_DIR overrides). */
const VECTOR_DIR = process.env.CONFORMANCE_DIR ?? join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'conformance', 'onnx-attention');

// ---------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------

/** A backend made of the float64 plan oracle: writes `out` through its strides, and `weights`. */
function createFloat64Backend(): Backend {
  return {
    name: 'float64-reference' as BackendName,
    run(plan: AttentionPlan): void {
      const { out, weights } = referenceAttention(plan);
      const { batch, qHeads, seqLenQ, valueDim } = plan;
      let n = 0;
      for (let b = 0; b < batch; b++)
        for (let h = 0; h < qHeads; h++)
          for (let i = 0; i < seqLenQ; i++)
            for (let d = 0; d < valueDim; d++) {
              plan.out[b * plan.outStrides.batch + h * plan.outStrides.head + i * plan.outStrides.seq + d] = out[n++]!;
            }
      plan.weights?.set(weights);
    },
  };
}

interface NamedRunner {
  readonly name: string;
  run(inputs: readonly (OnnxTensor | null | undefined)[], attrs?: OnnxAttributes): OnnxOutputs;
}

const float64Backend = createFloat64Backend();

/** The float64 backend, then every backend src/index.ts reports available, through the public instance API. */
async function availableRunners(): Promise<NamedRunner[]> {
  const runners: NamedRunner[] = [{ name: 'float64-reference', run: (inputs, attrs) => runOnnxAttention(float64Backend, inputs, attrs) }];
  for (const name of BACKEND_NAMES) {
    if (!(await isBackendAvailable(name))) continue;
    const instance = await createAttention({ backend: name });
    runners.push({ name, run: (inputs, attrs) => instance.onnxAttention(inputs, attrs) });
  }
  return runners;
}

const runners = await availableRunners();

// ---------------------------------------------------------------------------------------
// 1. Conformance vectors
// ---------------------------------------------------------------------------------------

function loadVectors(): ConformanceVector[] {
  // Missing vectors fail 'finds the vectors' below instead of the whole file.
  if (!existsSync(VECTOR_DIR)) return [];
  return readdirSync(VECTOR_DIR)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => parseVector(JSON.parse(readFileSync(join(VECTOR_DIR, file), 'utf8')), file));
}

const vectors = loadVectors();

describe('ONNX conformance vectors', () => {
  it('finds the vectors', () => {
    expect(vectors.length, `*.json vectors in ${VECTOR_DIR}`).toBeGreaterThanOrEqual(50);
  });
  for (const runner of runners) {
    describe(runner.name, () => {
      for (const vector of vectors) {
        it(vector.name, () => {
          const result = runVector(vector, (inputs, attrs) => runner.run(inputs, attrs));
          expect(result.ok, formatResult(result, runner.name)).toBe(true);
        });
      }
    });
  }
});

// ---------------------------------------------------------------------------------------
// 2. The ONNX-level float64 oracle
// ---------------------------------------------------------------------------------------

interface OracleResult {
  /** Y in Y's layout (`[B, Hq, Lq, Dv]`, or `[B, Lq, Hq·Dv]` for 3-D inputs). */
  readonly y: Float64Array;
  readonly yShape: number[];
  /** `[B, Hq, Lq, Ltotal]` of the requested mode. */
  readonly qk: Float64Array;
  readonly qkShape: number[];
  /** `[B, Hkv, Ltotal, D|Dv]`. */
  readonly presentKey: Float64Array;
  readonly presentValue: Float64Array;
}

function valuesOf(tensor: OnnxTensor): Float64Array {
  const data = tensor.data;
  if (tensor.dtype === 'float16' || data instanceof Uint16Array) return Float64Array.from(data as Uint16Array, (bits) => halfToFloat(bits));
  if (data instanceof BigInt64Array) return Float64Array.from(data, (value) => Number(value));
  return Float64Array.from(data as ArrayLike<number>);
}

/** `[B, L, H·D]` → `[B, H, L, D]`. */
function unpack(values: Float64Array, batch: number, seqLen: number, heads: number): Float64Array {
  const dim = values.length / (batch * seqLen * heads);
  const out = new Float64Array(values.length);
  for (let b = 0; b < batch; b++)
    for (let s = 0; s < seqLen; s++)
      for (let h = 0; h < heads; h++)
        for (let d = 0; d < dim; d++) out[((b * heads + h) * seqLen + s) * dim + d] = values[((b * seqLen + s) * heads + h) * dim + d]!;
  return out;
}

/**
 * The ONNX `Attention` operator in float64, transcribed from the spec (see the file header):
 * dense 4-D tensors, an explicit bias from the mask (padded on its last axis, broadcast),
 * the causal frontier and the padding mask, softcap before the bias, select-masking.
 */
function onnxOracle(inputs: readonly (OnnxTensor | null)[], attrs: OnnxAttributes): OracleResult {
  const [Q, K, V, mask, pastKey, pastValue, nonpad] = inputs;
  const packed = Q!.shape.length === 3;
  const batch = Q!.shape[0]!;
  const qHeads = packed ? attrs.q_num_heads! : Q!.shape[1]!;
  const kvHeads = packed ? attrs.kv_num_heads! : K!.shape[1]!;
  const seqLenQ = packed ? Q!.shape[1]! : Q!.shape[2]!;
  const kvSeqLen = packed ? K!.shape[1]! : K!.shape[2]!;
  const q = packed ? unpack(valuesOf(Q!), batch, seqLenQ, qHeads) : valuesOf(Q!);
  let k = packed ? unpack(valuesOf(K!), batch, kvSeqLen, kvHeads) : valuesOf(K!);
  let v = packed ? unpack(valuesOf(V!), batch, kvSeqLen, kvHeads) : valuesOf(V!);
  const headDim = q.length / (batch * qHeads * seqLenQ);
  const valueDim = packed ? V!.shape[2]! / kvHeads : V!.shape[3]!;
  const past = pastKey ? pastKey.shape[2]! : 0;
  const total = past + kvSeqLen;

  const concat = (pastValues: Float64Array | null, current: Float64Array, dim: number) => {
    const out = new Float64Array(batch * kvHeads * total * dim);
    for (let b = 0; b < batch; b++)
      for (let h = 0; h < kvHeads; h++)
        for (let j = 0; j < total; j++)
          for (let d = 0; d < dim; d++) {
            out[((b * kvHeads + h) * total + j) * dim + d] =
              j < past ? pastValues![((b * kvHeads + h) * past + j) * dim + d]! : current[((b * kvHeads + h) * kvSeqLen + j - past) * dim + d]!;
          }
    return out;
  };
  k = concat(pastKey ? valuesOf(pastKey) : null, k, headDim);
  v = concat(pastValue ? valuesOf(pastValue) : null, v, valueDim);

  // The bias: mask (padded with -inf on its last axis, broadcast) + causal + padding.
  const maskValues = mask ? valuesOf(mask) : null;
  const maskShape = mask ? [1, 1, 1, 1, ...mask.shape].slice(-4) : [1, 1, 1, 1];
  const maskAt = (b: number, h: number, i: number, j: number): number => {
    if (!mask) return 0;
    const [mb, mh, mi, mj] = maskShape as [number, number, number, number];
    if (j >= mj) return -Infinity; // the padding of a shorter last axis (a last axis of 1 included)
    const index = ((((mb === 1 ? 0 : b) * mh + (mh === 1 ? 0 : h)) * mi + (mi === 1 ? 0 : i)) * mj) + j;
    const value = maskValues![index]!;
    return mask.dtype === 'bool' ? (value ? 0 : -Infinity) : value;
  };
  const lengths = nonpad ? valuesOf(nonpad) : null;
  const offsetOf = (b: number) => (pastKey ? past : lengths ? lengths[b]! - seqLenQ : 0);
  const biasAt = (b: number, h: number, i: number, j: number): number => {
    let bias = maskAt(b, h, i, j);
    if (attrs.is_causal && j > i + offsetOf(b)) bias += -Infinity;
    if (lengths && j >= lengths[b]!) bias += -Infinity;
    return bias;
  };

  const scale = attrs.scale ?? 1 / Math.sqrt(headDim);
  const softcap = attrs.softcap ?? 0;
  const mode = attrs.qk_matmul_output_mode ?? 0;
  const y4 = new Float64Array(batch * qHeads * seqLenQ * valueDim);
  const qk = new Float64Array(batch * qHeads * seqLenQ * total);
  const row = { logit: new Float64Array(total), capped: new Float64Array(total), biased: new Float64Array(total), p: new Float64Array(total) };
  for (let b = 0; b < batch; b++)
    for (let h = 0; h < qHeads; h++) {
      const kvHead = Math.floor(h / (qHeads / kvHeads));
      for (let i = 0; i < seqLenQ; i++) {
        let max = -Infinity;
        for (let j = 0; j < total; j++) {
          let dot = 0;
          for (let d = 0; d < headDim; d++) dot += q[((b * qHeads + h) * seqLenQ + i) * headDim + d]! * k[((b * kvHeads + kvHead) * total + j) * headDim + d]!;
          row.logit[j] = scale * dot;
          row.capped[j] = softcap > 0 ? softcap * Math.tanh(row.logit[j]! / softcap) : row.logit[j]!;
          const bias = biasAt(b, h, i, j);
          row.biased[j] = bias === -Infinity ? -Infinity : row.capped[j]! + bias;
          max = Math.max(max, row.biased[j]!);
        }
        let sum = 0;
        for (let j = 0; j < total; j++) sum += row.p[j] = max === -Infinity ? 0 : Math.exp(row.biased[j]! - max);
        for (let j = 0; j < total; j++) {
          if (sum > 0) row.p[j] = row.p[j]! / sum;
          if (row.p[j] === 0) continue; // masked (selected away: NaN in V cannot leak)
          const yRow = ((b * qHeads + h) * seqLenQ + i) * valueDim;
          const vRow = ((b * kvHeads + kvHead) * total + j) * valueDim;
          for (let d = 0; d < valueDim; d++) y4[yRow + d] = y4[yRow + d]! + row.p[j]! * v[vRow + d]!;
        }
        qk.set([row.logit, row.capped, row.biased, row.p][mode]!, ((b * qHeads + h) * seqLenQ + i) * total);
      }
    }
  const y = packed ? new Float64Array(y4.length) : y4;
  if (packed) {
    for (let b = 0; b < batch; b++)
      for (let h = 0; h < qHeads; h++)
        for (let i = 0; i < seqLenQ; i++)
          for (let d = 0; d < valueDim; d++) y[((b * seqLenQ + i) * qHeads + h) * valueDim + d] = y4[((b * qHeads + h) * seqLenQ + i) * valueDim + d]!;
  }
  return {
    y,
    yShape: packed ? [batch, seqLenQ, qHeads * valueDim] : [batch, qHeads, seqLenQ, valueDim],
    qk,
    qkShape: [batch, qHeads, seqLenQ, total],
    presentKey: k,
    presentValue: v,
  };
}

// ---------------------------------------------------------------------------------------
// Helpers of the edge tests
// ---------------------------------------------------------------------------------------

/** Tighter than the vectors' tolerance: these are float64-exact expectations. */
const EDGE_TOLERANCE: Readonly<Record<'float32' | 'float16', Tolerance>> = {
  float32: { rtol: 1e-4, atol: 1e-5 },
  float16: { rtol: 1e-2, atol: 1e-3 },
};

function expectClose(got: OnnxTensor | null, want: Float64Array, shape: number[], what: string): void {
  expect(got, `${what}: missing`).not.toBeNull();
  const dtype = got!.dtype === 'float16' ? 'float16' : 'float32';
  const gotF32: OnnxTensor = { data: dtype === 'float16' ? halfArrayToFloat32(got!.data as Uint16Array) : (got!.data as Float32Array), shape: got!.shape, dtype: 'float32' };
  const comparison = compareTensors(gotF32, { data: Float32Array.from(want), shape, dtype: 'float32' }, EDGE_TOLERANCE[dtype]);
  expect(comparison.ok, `${what}: ${comparison.message}`).toBe(true);
}

let seed = 1;
function randomTensor(shape: number[], dtype: 'float32' | 'float16' = 'float32', range = 1): OnnxTensor {
  const values = randomFloat32(shape.reduce((a, b) => a * b, 1), mulberry32(seed++), range);
  return dtype === 'float16' ? { data: float32ArrayToHalf(values), shape, dtype } : { data: values, shape, dtype };
}

function boolTensor(shape: number[], pattern: (n: number) => boolean): OnnxTensor {
  return { data: Uint8Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, n) => (pattern(n) ? 1 : 0)), shape, dtype: 'bool' };
}

function int64Tensor(values: number[]): OnnxTensor {
  return { data: BigInt64Array.from(values, (value) => BigInt(value)), shape: [values.length], dtype: 'int64' };
}

/** Runs a case and checks every output it produces against the oracle. */
function checkAgainstOracle(runner: NamedRunner, inputs: (OnnxTensor | null)[], attrs: OnnxAttributes): OnnxOutputs {
  const outputs = runner.run(inputs, attrs);
  const want = onnxOracle(inputs, attrs);
  expect(outputs[0].shape).toEqual(want.yShape);
  expect(outputs[0].dtype).toBe(inputs[0]!.dtype);
  expectClose(outputs[0], want.y, want.yShape, 'Y');
  if (attrs.qk_matmul_output_mode !== undefined) {
    expect(outputs[3]!.shape).toEqual(want.qkShape);
    expectClose(outputs[3], want.qk, want.qkShape, `qk_matmul_output (mode ${attrs.qk_matmul_output_mode})`);
  } else {
    expect(outputs[3]).toBeNull();
  }
  if (inputs[4]) {
    // The cache is a copy: it must match bit for bit, in the dtypes of K and V.
    expect(outputs[1]!.dtype).toBe(inputs[1]!.dtype);
    expect(outputs[2]!.dtype).toBe(inputs[2]!.dtype);
    expect(Array.from(valuesOf(outputs[1]!))).toEqual(Array.from(want.presentKey));
    expect(Array.from(valuesOf(outputs[2]!))).toEqual(Array.from(want.presentValue));
  } else {
    expect(outputs[1]).toBeNull();
    expect(outputs[2]).toBeNull();
  }
  return outputs;
}

describe('the float64 ONNX oracle', () => {
  // The oracle checks the edge cases below, so it must itself reproduce every vector.
  for (const vector of vectors) {
    it(`reproduces ${vector.name}`, () => {
      const attrs = { ...vector.attrs, qk_matmul_output_mode: vector.attrs.qk_matmul_output_mode ?? 0 };
      const want = onnxOracle(vector.inputs, attrs);
      const produced = [want.y, want.presentKey, want.presentValue, want.qk];
      vector.outputs.forEach((expected, index) => {
        if (!expected) return;
        const got = { data: Float32Array.from(produced[index]!), shape: expected.shape, dtype: 'float32' as const };
        const wanted = expected.dtype === 'float16' ? { ...expected, data: halfArrayToFloat32(expected.data as Uint16Array), dtype: 'float32' as const } : expected;
        const comparison = compareTensors(got, wanted, EDGE_TOLERANCE[expected.dtype === 'float16' ? 'float16' : 'float32']);
        expect(comparison.ok, `output ${index}: ${comparison.message}`).toBe(true);
      });
    });
  }
});

// ---------------------------------------------------------------------------------------
// 2. Edge semantics not covered by the vectors, on every backend
// ---------------------------------------------------------------------------------------

for (const runner of runners) {
  describe(`ONNX edge semantics [${runner.name}]`, () => {
    it('mask_shorter_than_total: float mask padded with -inf, with a past cache', () => {
      const inputs = [
        randomTensor([2, 4, 3, 8]),
        randomTensor([2, 2, 5, 8]),
        randomTensor([2, 2, 5, 8]),
        randomTensor([2, 1, 3, 6], 'float32', 2), // total = 4 past + 5 = 9 keys: 3 padded
        randomTensor([2, 2, 4, 8]),
        randomTensor([2, 2, 4, 8]),
      ];
      checkAgainstOracle(runner, inputs, { qk_matmul_output_mode: 2 });
    });

    it('mask_last_axis_eq_1_is_padded_not_broadcast', () => {
      // [Lq, 1] bool mask, 5 keys: row i may see key 0 only if mask[i] is true, else no key.
      const mask = boolTensor([3, 1], (n) => n !== 1);
      const inputs = [randomTensor([1, 2, 3, 4]), randomTensor([1, 2, 5, 4]), randomTensor([1, 2, 5, 4]), mask];
      const [y, , , probs] = checkAgainstOracle(runner, inputs, { qk_matmul_output_mode: 3 });
      const p = probs!.data as Float32Array;
      expect(Array.from(p.subarray(0, 5))).toEqual([1, 0, 0, 0, 0]);
      expect(Array.from(p.subarray(5, 10))).toEqual([0, 0, 0, 0, 0]); // fully masked row
      expect(Array.from((y.data as Float32Array).subarray(4, 8))).toEqual([0, 0, 0, 0]);
    });

    it('negative_causal_offset: nonpad_kv_seqlen < q_len leaves rows without keys (zeros)', () => {
      const inputs = [randomTensor([2, 2, 4, 8]), randomTensor([2, 2, 6, 8]), randomTensor([2, 2, 6, 8]), null, null, null, int64Tensor([1, 3])];
      const [y, , , probs] = checkAgainstOracle(runner, inputs, { is_causal: 1, qk_matmul_output_mode: 3 });
      // Batch 0: offset 1 − 4 = −3, rows 0..2 see no key; row 3 sees key 0 only.
      const p = probs!.data as Float32Array;
      expect(Array.from(p.subarray(0, 18)).every((value) => value === 0)).toBe(true);
      expect(p[18]).toBe(1);
      expect(Array.from((y.data as Float32Array).subarray(0, 24)).every((value) => value === 0)).toBe(true);
    });

    it('nonpad_with_past: causal offset is the past length, keys >= nonpad are masked', () => {
      const inputs = [
        randomTensor([2, 2, 3, 8]),
        randomTensor([2, 2, 3, 8]),
        randomTensor([2, 2, 3, 8]),
        null,
        randomTensor([2, 2, 4, 8]),
        randomTensor([2, 2, 4, 8]),
        int64Tensor([5, 7]),
      ];
      checkAgainstOracle(runner, inputs, { is_causal: 1, qk_matmul_output_mode: 2 });
    });

    it('gqa_3d_with_past: packed Q/K/V, v_head_size != head_size, causal, mask', () => {
      const inputs = [
        randomTensor([2, 3, 6 * 8]),
        randomTensor([2, 3, 2 * 8]),
        randomTensor([2, 3, 2 * 5]),
        boolTensor([2, 1, 3, 7], (n) => n % 5 !== 2),
        randomTensor([2, 2, 4, 8]),
        randomTensor([2, 2, 4, 5]),
      ];
      checkAgainstOracle(runner, inputs, { q_num_heads: 6, kv_num_heads: 2, is_causal: 1, qk_matmul_output_mode: 1 });
    });

    it('float16 Q/K with float32 V (T1 ≠ T2), with past', () => {
      const inputs = [
        randomTensor([1, 4, 3, 8], 'float16'),
        randomTensor([1, 2, 3, 8], 'float16'),
        randomTensor([1, 2, 3, 6], 'float32'),
        randomTensor([3, 5], 'float16'),
        randomTensor([1, 2, 2, 8], 'float16'),
        randomTensor([1, 2, 2, 6], 'float32'),
      ];
      const [y, , , qk] = checkAgainstOracle(runner, inputs, { softcap: 2, qk_matmul_output_mode: 0 });
      expect(y.data).toBeInstanceOf(Uint16Array);
      expect(qk!.dtype).toBe('float16');
    });

    for (const mode of [0, 1, 2, 3] as const) {
      it(`qk_matmul_output_mode_${mode}_with_softcap`, () => {
        const mask = randomTensor([4, 6], 'float32', 1);
        (mask.data as Float32Array)[3] = -Infinity;
        (mask.data as Float32Array)[8] = -Infinity;
        const inputs = [randomTensor([1, 2, 4, 8], 'float32', 3), randomTensor([1, 2, 6, 8], 'float32', 3), randomTensor([1, 2, 6, 8]), mask];
        checkAgainstOracle(runner, inputs, { softcap: 1.5, scale: 0.5, is_causal: 1, qk_matmul_output_mode: mode });
      });
    }

    it('mode 0 is the scaled QKᵀ before softcap (spec text and function body), unlike mode 1', () => {
      const inputs = [randomTensor([1, 1, 2, 4], 'float32', 4), randomTensor([1, 1, 3, 4], 'float32', 4), randomTensor([1, 1, 3, 4])];
      const raw = runner.run(inputs, { softcap: 1, qk_matmul_output_mode: 0 })[3]!.data as Float32Array;
      const capped = runner.run(inputs, { softcap: 1, qk_matmul_output_mode: 1 })[3]!.data as Float32Array;
      const plain = runner.run(inputs, { qk_matmul_output_mode: 0 })[3]!.data as Float32Array;
      expect(Array.from(raw)).toEqual(Array.from(plain));
      expect(Math.max(...Array.from(raw, Math.abs))).toBeGreaterThan(1); // large enough to be capped
      raw.forEach((logit, n) => expect(capped[n]).toBeCloseTo(Math.tanh(logit), 5));
    });

    it('kv_len_eq_0 without past: every row is empty, Y = 0', () => {
      const inputs = [randomTensor([1, 2, 3, 4]), randomTensor([1, 2, 0, 4]), randomTensor([1, 2, 0, 4])];
      const [y, , , qk] = runner.run(inputs, { qk_matmul_output_mode: 3 });
      expect(Array.from(y.data as Float32Array)).toEqual(new Array(24).fill(0));
      expect(qk!.shape).toEqual([1, 2, 3, 0]);
    });

    it('past_len_eq_0: an empty past cache is a plain prefill whose present is K, V', () => {
      const inputs = [randomTensor([1, 2, 3, 4]), randomTensor([1, 2, 3, 4]), randomTensor([1, 2, 3, 4]), null, randomTensor([1, 2, 0, 4]), randomTensor([1, 2, 0, 4])];
      const outputs = checkAgainstOracle(runner, inputs, { is_causal: 1 });
      expect(outputs[1]!.data).toEqual(inputs[1]!.data);
    });
  });
}

describe('runOnnxAttention outputs', () => {
  const inputs = [randomTensor([1, 2, 3, 4]), randomTensor([1, 2, 3, 4]), randomTensor([1, 2, 3, 4]), null, randomTensor([1, 2, 2, 4]), randomTensor([1, 2, 2, 4])];
  it('qk_matmul_output is null unless requested', () => {
    const outputs = runOnnxAttention(float64Backend, inputs);
    expect(outputs[3]).toBeNull();
    expect(outputs[1]!.shape).toEqual([1, 2, 5, 4]);
  });
  it('{ outputs: 4 } requests qk_matmul_output (mode 0) without the attribute', () => {
    const outputs = runOnnxAttention(float64Backend, inputs, {}, { outputs: 4 });
    expectClose(outputs[3], onnxOracle(inputs, { qk_matmul_output_mode: 0 }).qk, [1, 2, 3, 5], 'qk_matmul_output');
  });
  it('{ outputs: 1 } returns Y only, even with a mode set and a past cache', () => {
    const outputs = runOnnxAttention(float64Backend, inputs, { qk_matmul_output_mode: 3 }, { outputs: 1 });
    expect(outputs.slice(1)).toEqual([null, null, null]);
  });
  it('no present outputs without a past cache', () => {
    const outputs = runOnnxAttention(float64Backend, inputs.slice(0, 3));
    expect(outputs.slice(1)).toEqual([null, null, null]);
  });
});

// ---------------------------------------------------------------------------------------
// 3. Boundary validation: error class, and the input's name in the message
// ---------------------------------------------------------------------------------------

describe('runOnnxAttention rejects bad inputs', () => {
  const q = randomTensor([1, 2, 3, 4]);
  const k = randomTensor([1, 2, 5, 4]);
  const v = randomTensor([1, 2, 5, 4]);
  const past = randomTensor([1, 2, 2, 4]);
  type Case = [name: string, inputs: unknown, attrs: unknown, error: typeof TypeError | typeof RangeError, message: RegExp, options?: unknown];
  const cases: Case[] = [
    ['inputs not an array', 'Q', undefined, TypeError, /^inputs: /],
    ['too many inputs', [q, k, v, null, null, null, null, null], {}, RangeError, /^inputs\.length: /],
    ['missing Q', [null, k, v], {}, TypeError, /^Q: expected a tensor/],
    ['Q of Float64Array', [{ data: new Float64Array(24), shape: [1, 2, 3, 4] }, k, v], {}, TypeError, /^Q\.data: /],
    ['Q dtype disagrees with its data', [{ ...q, dtype: 'float16' }, k, v], {}, TypeError, /^Q\.data: .*dtype 'float16'/],
    ['Q of an unknown dtype', [{ ...q, dtype: 'bfloat16' }, k, v], {}, TypeError, /^Q\.dtype: /],
    ['Q of bool', [boolTensor([1, 2, 3, 4], () => true), k, v], {}, TypeError, /^Q\.dtype: /],
    ['K float16 with Q float32', [q, randomTensor([1, 2, 5, 4], 'float16'), v], {}, TypeError, /^K\.dtype: expected 'float32' \(the dtype of Q\)/],
    ['V data length', [q, k, { data: new Float32Array(39), shape: [1, 2, 5, 4] }], {}, RangeError, /^V\.data: expected length 40/],
    ['Q of rank 2', [randomTensor([3, 4]), k, v], {}, RangeError, /^Q\.shape: expected rank 3 or 4/],
    ['K of rank 3 with 4-D Q', [q, randomTensor([1, 5, 8]), v], {}, RangeError, /^K\.shape: expected rank 4/],
    ['K batch', [q, randomTensor([2, 2, 5, 4]), randomTensor([2, 2, 5, 4])], {}, RangeError, /^K\.shape\[0\]: /],
    ['K head size', [q, randomTensor([1, 2, 5, 3]), v], {}, RangeError, /^K\.shape\[3\]: /],
    ['V sequence', [q, k, randomTensor([1, 2, 4, 4])], {}, RangeError, /^V\.shape\[2\]: /],
    ['GQA heads not divisible', [randomTensor([1, 3, 3, 4]), k, v], {}, RangeError, /kv_num_heads: expected a divisor of q_num_heads = 3/],
    ['4-D with a contradicting q_num_heads', [q, k, v], { q_num_heads: 4 }, RangeError, /^attrs\.q_num_heads: /],
    ['3-D without q_num_heads', [randomTensor([1, 3, 8]), randomTensor([1, 5, 8]), randomTensor([1, 5, 8])], { kv_num_heads: 2 }, TypeError, /^attrs\.q_num_heads: /],
    ['3-D hidden not divisible', [randomTensor([1, 3, 9]), randomTensor([1, 5, 8]), randomTensor([1, 5, 8])], { q_num_heads: 2, kv_num_heads: 2 }, RangeError, /^Q\.shape\[2\]: /],
    ['3-D K hidden', [randomTensor([1, 3, 8]), randomTensor([1, 5, 6]), randomTensor([1, 5, 8])], { q_num_heads: 2, kv_num_heads: 2 }, RangeError, /^K\.shape\[2\]: expected 8/],
    ['attn_mask not broadcastable', [q, k, v, randomTensor([2, 5])], {}, RangeError, /^attn_mask\.shape: /],
    ['attn_mask longer than the total sequence', [q, k, v, randomTensor([3, 6])], {}, RangeError, /^attn_mask\.shape\[1\]: expected at most total_sequence_length = 5/],
    ['attn_mask of rank 5', [q, k, v, randomTensor([1, 1, 1, 3, 5])], {}, RangeError, /^attn_mask\.shape: /],
    ['attn_mask of int32', [q, k, v, { data: new Int32Array(15), shape: [3, 5] }], {}, TypeError, /^attn_mask\.dtype: /],
    ['attn_mask float16 with float32 Q', [q, k, v, randomTensor([3, 5], 'float16')], {}, TypeError, /^attn_mask\.dtype: expected 'bool' .* or 'float32'/],
    ['past_key without past_value', [q, k, v, null, past], {}, TypeError, /^past_value: /],
    ['past_value without past_key', [q, k, v, null, null, past], {}, TypeError, /^past_key: /],
    ['past_key head size', [q, k, v, null, randomTensor([1, 2, 2, 3]), past], {}, RangeError, /^past_key\.shape\[3\]: /],
    ['past_value sequence', [q, k, v, null, past, randomTensor([1, 2, 3, 4])], {}, RangeError, /^past_value\.shape\[2\]: /],
    ['past_key of float16', [q, k, v, null, randomTensor([1, 2, 2, 4], 'float16'), past], {}, TypeError, /^past_key\.dtype: /],
    ['nonpad_kv_seqlen length', [q, k, v, null, null, null, int64Tensor([5, 5])], {}, RangeError, /^nonpad_kv_seqlen\.shape\[0\]: /],
    ['nonpad_kv_seqlen above the total', [q, k, v, null, null, null, int64Tensor([6])], {}, RangeError, /^nonpad_kv_seqlen\[0\]: expected an integer in \[0, 5\]/],
    ['nonpad_kv_seqlen negative', [q, k, v, null, null, null, int64Tensor([-1])], {}, RangeError, /^nonpad_kv_seqlen\[0\]: /],
    ['nonpad_kv_seqlen of float32', [q, k, v, null, null, null, randomTensor([1])], {}, TypeError, /^nonpad_kv_seqlen\.dtype: /],
    ['unknown attribute', [q, k, v], { is_casual: 1 }, TypeError, /^attrs\.is_casual: /],
    ['is_causal 2', [q, k, v], { is_causal: 2 }, RangeError, /^attrs\.is_causal: /],
    ['is_causal string', [q, k, v], { is_causal: 'yes' }, TypeError, /^attrs\.is_causal: /],
    ['scale 0', [q, k, v], { scale: 0 }, RangeError, /^attrs\.scale: /],
    ['scale NaN', [q, k, v], { scale: NaN }, RangeError, /^attrs\.scale: /],
    ['scale string', [q, k, v], { scale: '0.5' }, TypeError, /^attrs\.scale: /],
    ['softcap negative', [q, k, v], { softcap: -1 }, RangeError, /^attrs\.softcap: /],
    ['qk_matmul_output_mode 4', [q, k, v], { qk_matmul_output_mode: 4 }, RangeError, /^attrs\.qk_matmul_output_mode: /],
    ['softmax_precision 7 (INT16)', [q, k, v], { softmax_precision: 7 }, RangeError, /^attrs\.softmax_precision: /],
    ['attrs not an object', [q, k, v], 3, TypeError, /^attrs: /],
    ['options.outputs 5', [q, k, v], {}, RangeError, /^options\.outputs: /, { outputs: 5 }],
  ];
  for (const [name, inputs, attrs, error, message, options] of cases) {
    it(name, () => {
      const call = () => runOnnxAttention(float64Backend, inputs as OnnxTensor[], attrs as OnnxAttributes, options as undefined);
      expect(call).toThrow(error);
      expect(call).toThrow(message);
    });
  }

  it('accepts softmax_precision 1, 10, 11, 16 and Int32Array nonpad_kv_seqlen', () => {
    for (const precision of [1, 10, 11, 16]) expect(() => runOnnxAttention(float64Backend, [q, k, v], { softmax_precision: precision })).not.toThrow();
    const lengths: OnnxTensor = { data: Int32Array.of(4), shape: [1] };
    expect(runOnnxAttention(float64Backend, [q, k, v, null, null, null, lengths])[0].shape).toEqual([1, 2, 3, 4]);
  });

  for (const runner of runners) {
    it(`[${runner.name}] the instance validates too, and works after an error`, () => {
      expect(() => runner.run([q, k, randomTensor([3, 4])])).toThrow(RangeError);
      expect(runner.run([q, k, v])[0].shape).toEqual([1, 2, 3, 4]);
    });
  }
});

// ---------------------------------------------------------------------------------------
// 4. Long sequence: 2048 tokens, generated on the fly (correctness only, no timing)
// ---------------------------------------------------------------------------------------

describe('long sequence', () => {
  // Small heads keep the float64 oracle (≈ 2·2048²·16 multiply-adds) quick on every backend.
  const inputs = [
    randomTensor([1, 2, 2048, 16]),
    randomTensor([1, 1, 2048, 16]),
    randomTensor([1, 1, 2048, 16]),
    boolTensor([2048], (n) => n % 7 !== 3), // 1-D mask: broadcast over batch, heads and queries
    null,
    null,
    int64Tensor([2000]),
  ];
  const attrs: OnnxAttributes = { is_causal: 1, softcap: 5 };
  const want = onnxOracle(inputs, attrs);
  for (const runner of runners.filter((r) => r.name !== 'float64-reference')) {
    it(`[${runner.name}] B1 Hq2 Hkv1 L2048 D16, causal + nonpad + mask + softcap`, () => {
      const [y] = runner.run(inputs, attrs);
      expectClose(y, want.y, want.yShape, 'Y');
    });
  }
});

// ---------------------------------------------------------------------------------------
// 5. ONNX RotaryEmbedding vectors (op "RotaryEmbedding"), through the runner's dispatch
// ---------------------------------------------------------------------------------------

describe('ONNX RotaryEmbedding conformance vectors', () => {
  const dir = process.env.ROTARY_CONFORMANCE_DIR ?? join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'conformance', 'onnx-rotary-embedding');
  const rotaryVectors = readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => parseVector(JSON.parse(readFileSync(join(dir, file), 'utf8')), file));
  it('finds the vectors', () => {
    expect(rotaryVectors.map((v) => v.op)).toEqual(['RotaryEmbedding', 'RotaryEmbedding', 'RotaryEmbedding', 'RotaryEmbedding']);
  });
  for (const vector of rotaryVectors) {
    it(vector.name, () => {
      const result = runVector(vector, (inputs, attrs) => onnxRotaryEmbedding(inputs, attrs as OnnxRotaryAttributes));
      expect(result.ok, formatResult(result, 'onnxRotaryEmbedding')).toBe(true);
      expect(result.outputs.map((o) => o.name)).toEqual(['Y']);
    });
  }
});

// ---------------------------------------------------------------------------------------
// 6. Gradient vectors (`op: "attention_grad"`, issue #13): the backward on every backend
// ---------------------------------------------------------------------------------------

const GRAD_DIR = process.env.CONFORMANCE_GRAD_DIR ?? join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'conformance', 'attention-grad');

describe('attention_grad vectors', async () => {
  const { parseGradVector, runGradVector } = await import('../src/conformance/index.js');
  const { withBackward } = await import('../src/backward/index.js');
  const files = existsSync(GRAD_DIR) ? readdirSync(GRAD_DIR).filter((file) => file.endsWith('.json')).sort() : [];
  const vectors = files
    .map((file) => [file, JSON.parse(readFileSync(join(GRAD_DIR, file), 'utf8')) as { op?: string }] as const)
    .filter(([, json]) => json.op === 'attention_grad')
    .map(([file, json]) => parseGradVector(json, file));
  it('finds the vectors', () => expect(vectors.length).toBeGreaterThanOrEqual(12));
  const instances = await Promise.all(BACKEND_NAMES.filter(isBackendAvailable).map(async (name) => withBackward(await createAttention({ backend: name }))));
  const cases = vectors.flatMap((vector) => instances.map((instance) => [vector.name, instance.backend, vector, instance] as const));
  it.each(cases)('%s [%s]', (_, backend, vector, instance) => {
    const result = runGradVector(vector, instance);
    expect(result.ok, formatResult(result, backend)).toBe(true);
  });
});
