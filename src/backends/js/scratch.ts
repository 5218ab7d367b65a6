/**
 * Working memory of the JS backend, allocated once per backend and reused across calls.
 * Buffers only grow (to the largest plan seen), so steady-state calls allocate nothing.
 */

/** Query rows processed together: each K and V row loaded is reused for this many rows. */
export const ROW_BLOCK = 4;

export class Scratch {
  /** `[ROW_BLOCK, seqLenK]` scores of one row block: logits, then capped/biased, then exp(x − max). */
  scores = new Float64Array(0);
  /** `[seqLenK]`: bit r set iff row r of the current block may attend key j. */
  allowedRows = new Uint8Array(0);
  /** `[ROW_BLOCK, valueDim]` unnormalised output accumulators, Σ_j exp(x_j − max)·v_j. */
  accumulators = new Float64Array(0);
  /** `[ROW_BLOCK]`: 1 / Σ_j exp(x_j − max), or 0 for a row with no allowed key. */
  inverseSums = new Float64Array(ROW_BLOCK);

  /** Grows the buffers to fit a plan with these sizes; never shrinks them. */
  reserve(seqLenK: number, valueDim: number): void {
    if (this.scores.length < ROW_BLOCK * seqLenK) {
      this.scores = new Float64Array(ROW_BLOCK * seqLenK);
      this.allowedRows = new Uint8Array(seqLenK);
    }
    if (this.accumulators.length < ROW_BLOCK * valueDim) {
      this.accumulators = new Float64Array(ROW_BLOCK * valueDim);
    }
  }
}
