/**
 * The correctness gate run before any timing: an implementation's output is compared
 * with attention computed here in float64, straight from the definition, on every query
 * row of small shapes and on a sample of rows of large ones. The oracle is independent
 * of the library (the JS backend is itself one of the measured implementations).
 */
import type { Inputs, Shape } from './shapes.js';

/** Rows checked on shapes with more rows than this. */
const SAMPLED_ROWS = 24;
/**
 * |got − expected| <= ATOL + RTOL·|expected|: the float32 tolerances of the library's
 * conformance runner (src/conformance/compare.ts; rtol is the ONNX backend tests').
 */
const RTOL = 1e-3;
const ATOL = 1e-5;

/** (batch·heads index, query row) pairs to check: all of them, or first/last/spread rows of a few heads. */
function rowsToCheck(s: Shape): [number, number][] {
  const heads = s.batch * s.heads;
  const all = heads * s.seqLenQ;
  if (all <= 4096) return Array.from({ length: all }, (_, r) => [Math.floor(r / s.seqLenQ), r % s.seqLenQ]);
  const rows: [number, number][] = [];
  for (let n = 0; n < SAMPLED_ROWS; n++) {
    const head = Math.round((n * (heads - 1)) / (SAMPLED_ROWS - 1));
    // 0, the last row, and rows spread in between (a prime stride avoids tile-aligned rows only).
    const row = n === 0 ? 0 : n === 1 ? s.seqLenQ - 1 : (n * 7919) % s.seqLenQ;
    rows.push([head, row]);
  }
  return rows;
}

/** softmax(q·kᵀ·scale + causal)·v for one query row, in float64. Causal is bottom-right aligned. */
function referenceRow(s: Shape, inputs: Inputs, head: number, row: number): Float64Array {
  const { q, k, v, scale } = inputs;
  const D = s.headDim;
  const q0 = (head * s.seqLenQ + row) * D;
  const kv0 = head * s.seqLenK * D;
  const keyEnd = s.causal ? Math.min(s.seqLenK, row + (s.seqLenK - s.seqLenQ) + 1) : s.seqLenK;
  const logits = new Float64Array(keyEnd);
  let max = -Infinity;
  for (let j = 0; j < keyEnd; j++) {
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[q0 + d]! * k[kv0 + j * D + d]!;
    logits[j] = dot * scale;
    max = Math.max(max, logits[j]!);
  }
  const out = new Float64Array(D);
  let sum = 0;
  for (let j = 0; j < keyEnd; j++) {
    const p = Math.exp(logits[j]! - max);
    sum += p;
    for (let d = 0; d < D; d++) out[d] = out[d]! + p * v[kv0 + j * D + d]!;
  }
  for (let d = 0; d < D; d++) out[d] = out[d]! / sum;
  return out;
}

export interface CheckResult {
  readonly rowsChecked: number;
  readonly maxAbsError: number;
}

/**
 * Compares `output` (`[batch, heads, seqLenQ, headDim]`) with the float64 reference.
 * @throws Error naming the first row, column, expected and got value out of tolerance.
 */
export function checkOutput(name: string, s: Shape, inputs: Inputs, output: Float32Array): CheckResult {
  const expectedLength = s.batch * s.heads * s.seqLenQ * s.headDim;
  if (output.length !== expectedLength) {
    throw new Error(`${name}: expected an output of ${expectedLength} elements, got ${output.length}`);
  }
  const rows = rowsToCheck(s);
  let maxAbsError = 0;
  for (const [head, row] of rows) {
    const expected = referenceRow(s, inputs, head, row);
    const o0 = (head * s.seqLenQ + row) * s.headDim;
    for (let d = 0; d < s.headDim; d++) {
      const got = output[o0 + d]!;
      const error = Math.abs(got - expected[d]!);
      const tolerance = ATOL + RTOL * Math.abs(expected[d]!);
      if (!(error <= tolerance)) {
        throw new Error(
          `${name}: ${s.heads}×${s.seqLenQ}×${s.headDim} output [head ${head}, row ${row}, col ${d}] expected ${expected[d]}, got ${got} (|error| ${error.toExponential(2)} > tolerance ${tolerance.toExponential(2)})`,
        );
      }
      maxAbsError = Math.max(maxAbsError, error);
    }
  }
  return { rowsChecked: rows.length, maxAbsError };
}
