/**
 * P·V for one block of query rows: accumulators[r, :] += Σ_j terms[r, j] · v[j, :], read
 * straight from the plan's strided V, in float64 (see scores.ts for why double).
 *
 * Only allowed keys are read (src/plan.ts selects masked positions away, so a NaN or
 * Infinity in V at a masked key must not leak through 0·v). `allowedRows[j]` says which
 * rows of the block attend key j: runs of keys attended by all four rows (the common
 * case: every key below the causal / keyLengths limit when there is no −Infinity bias)
 * take the register-tiled path, any other key the per-row path. Keys outside the block's
 * key range (src/key-range.ts) are never read.
 */

/** Where one block's softmax terms and one kv head's value rows are. */
export interface ValueOperands {
  /** `[row, key]` with row stride `seqLenK`: exp(biased − max), 0 where masked. */
  terms: Float64Array;
  seqLenK: number;
  v: Float32Array;
  /** Element offset of value row 0 of the kv head. */
  vRow0: number;
  vSeqStride: number;
  valueDim: number;
  /** `[row, valueDim]` accumulators, zeroed by the caller. */
  accumulators: Float64Array;
  allowedRows: Uint8Array;
}

/** Accumulates the allowed keys in [keyStart, keyEnd) for the block's first `rows` query rows (1..4). */
export function accumulateValues(op: ValueOperands, rows: number, keyStart: number, keyEnd: number): void {
  const { allowedRows } = op;
  const allRows = (1 << rows) - 1;
  let j = keyStart;
  while (j < keyEnd) {
    if (allowedRows[j]! === allRows) {
      let runEnd = j + 1;
      while (runEnd < keyEnd && allowedRows[runEnd]! === allRows) runEnd++;
      if (rows === 4) accumulateFourRows(op, j, runEnd);
      else for (let r = 0; r < rows; r++) accumulateOneRow(op, r, j, runEnd);
      j = runEnd;
    } else {
      const bits = allowedRows[j]!;
      for (let r = 0; r < rows; r++) if (bits & (1 << r)) accumulateOneRow(op, r, j, j + 1);
      j++;
    }
  }
}

/**
 * f64-pv-4x2: four rows × two value columns held in 8 register accumulators over the
 * whole key run; per key, 4 terms + 2 v loads feed 8 multiply-adds. Accumulating into
 * memory instead costs a load and a store per multiply-add.
 */
function accumulateFourRows(op: ValueOperands, keyStart: number, keyEnd: number): void {
  const { terms, seqLenK, v, vSeqStride, valueDim, accumulators: acc } = op;
  const t1 = seqLenK;
  const t2 = 2 * seqLenK;
  const t3 = 3 * seqLenK;
  const vStart = op.vRow0 + keyStart * vSeqStride;
  let d = 0;
  for (; d + 1 < valueDim; d += 2) {
    let a00 = acc[d]!, a01 = acc[d + 1]!;
    let a10 = acc[valueDim + d]!, a11 = acc[valueDim + d + 1]!;
    let a20 = acc[2 * valueDim + d]!, a21 = acc[2 * valueDim + d + 1]!;
    let a30 = acc[3 * valueDim + d]!, a31 = acc[3 * valueDim + d + 1]!;
    let vj = vStart + d;
    for (let j = keyStart; j < keyEnd; j++, vj += vSeqStride) {
      const va = v[vj]!;
      const vb = v[vj + 1]!;
      const p0 = terms[j]!;
      const p1 = terms[t1 + j]!;
      const p2 = terms[t2 + j]!;
      const p3 = terms[t3 + j]!;
      a00 += p0 * va; a01 += p0 * vb;
      a10 += p1 * va; a11 += p1 * vb;
      a20 += p2 * va; a21 += p2 * vb;
      a30 += p3 * va; a31 += p3 * vb;
    }
    acc[d] = a00; acc[d + 1] = a01;
    acc[valueDim + d] = a10; acc[valueDim + d + 1] = a11;
    acc[2 * valueDim + d] = a20; acc[2 * valueDim + d + 1] = a21;
    acc[3 * valueDim + d] = a30; acc[3 * valueDim + d + 1] = a31;
  }
  // leftovers: an odd last value column
  if (d < valueDim) {
    let a0 = acc[d]!, a1 = acc[valueDim + d]!, a2 = acc[2 * valueDim + d]!, a3 = acc[3 * valueDim + d]!;
    let vj = vStart + d;
    for (let j = keyStart; j < keyEnd; j++, vj += vSeqStride) {
      const va = v[vj]!;
      a0 += terms[j]! * va;
      a1 += terms[t1 + j]! * va;
      a2 += terms[t2 + j]! * va;
      a3 += terms[t3 + j]! * va;
    }
    acc[d] = a0; acc[valueDim + d] = a1; acc[2 * valueDim + d] = a2; acc[3 * valueDim + d] = a3;
  }
}

/** f64-pv-1x1: one row, keys [keyStart, keyEnd), accumulating in memory. */
function accumulateOneRow(op: ValueOperands, row: number, keyStart: number, keyEnd: number): void {
  const { terms, seqLenK, v, vSeqStride, valueDim, accumulators: acc } = op;
  const accRow = row * valueDim;
  for (let j = keyStart; j < keyEnd; j++) {
    const p = terms[row * seqLenK + j]!;
    const vj = op.vRow0 + j * vSeqStride;
    for (let d = 0; d < valueDim; d++) acc[accRow + d] = acc[accRow + d]! + p * v[vj + d]!;
  }
}
