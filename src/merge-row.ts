/**
 * The log-sum-exp merge of partial softmax states over disjoint key ranges, one row at a
 * time: the one function behind `mergeAttention` (src/merge.ts, `wasm-attention/merge`) and
 * the key-split decode of the thread pool (flash-decoding, src/threads/decode.ts: the ranges'
 * partial states left by the kernel, assembly/decode/partials.ts).
 */

/**
 * Merges one row's partial softmax states over disjoint key ranges, parts c in [0, n):
 * log-scale m[c] (a softmax max, or a range's lse), norm l[c] (its sum, or 1 for an lse) and
 * values acc[c·dim + d] (Σ_j e^(s_j − m_c)·v_j, or a normalised output when l[c] = 1):
 *   M = max_c m_c,  w_c = e^(m_c − M),  L = Σ_c w_c·l_c,  out[d] = Σ_c w_c·acc_c[d] / L
 * which is the one pass over all keys with its sums reordered (Dao et al., flash-decoding).
 * A row whose every part is empty (M = −∞) subtracts 0 instead, so w_c = 0, L = 0: its
 * output is 0, never NaN. Float64 throughout, rounded once when stored.
 * @param out receives the row at out[outAt + d]
 * @returns the merged row's log-sum-exp, M + ln L (−Infinity for an empty row)
 */
export function mergeRow(n: number, dim: number, m: ArrayLike<number>, l: ArrayLike<number>, acc: ArrayLike<number>, out: Float32Array, outAt: number): number {
  if (scales.length < n) scales = new Float64Array(n);
  let mMax = -Infinity;
  for (let c = 0; c < n; c++) mMax = Math.max(mMax, m[c]!);
  const u = mMax === -Infinity ? 0 : mMax;
  let sum = 0;
  for (let c = 0; c < n; c++) sum += (scales[c] = Math.exp(m[c]! - u)) * l[c]!;
  const inverse = sum === 0 ? 0 : 1 / sum;
  for (let d = 0; d < dim; d++) {
    let x = 0;
    for (let c = 0; c < n; c++) x += scales[c]! * acc[c * dim + d]!;
    out[outAt + d] = x * inverse;
  }
  return mMax + Math.log(sum);
}

/** The parts' scales e^(m_c − M) of the current row (grown, never shrunk). */
let scales = new Float64Array(4);
