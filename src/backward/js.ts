/**
 * The backward pass in plain JavaScript, written for clarity (the semantics of ./plan.ts,
 * one row at a time, float64 arithmetic on float32 data): the fallback backend and the
 * readable statement the WASM kernels (assembly/backward/) are tested against.
 */
import { keyRange, type KeyRange } from '../key-range.js';
import { SCORE_LIMIT } from '../plan.js';
import type { BackwardBackend, BackwardPlan } from './plan.js';

const clamp = (x: number) => (x > SCORE_LIMIT ? SCORE_LIMIT : x < -SCORE_LIMIT ? -SCORE_LIMIT : x);

/** Keys [start, end) that row i of batch item b may see before the mask (src/key-range.ts). */
const range: KeyRange = { start: 0, end: 0 };

/**
 * The scores of row (b, h, i) over keys [start, end): `biased` (-Infinity where the mask
 * removes the key; ALiBi added like a bias) and `capped` (for the softcap derivative).
 */
function rowScores(plan: BackwardPlan, b: number, h: number, i: number, start: number, end: number, biased: Float64Array, capped: Float64Array): void {
  const { q, k, qStrides: qs, kStrides: ks, headDim, scale, softcap, bias, biasStrides: bs } = plan;
  const kvHead = Math.floor(h / (plan.qHeads / plan.kvHeads));
  const qRow = b * qs.batch + h * qs.head + i * qs.seq;
  const slope = plan.alibiSlopes ? plan.alibiSlopes[h]! : 0;
  const position = i + plan.positionOffsets[b]!;
  for (let j = start; j < end; j++) {
    const kRow = b * ks.batch + kvHead * ks.head + j * ks.seq;
    let dot = 0;
    for (let d = 0; d < headDim; d++) dot += q[qRow + d]! * k[kRow + d]!;
    const logit = Math.fround(dot) * scale;
    capped[j] = softcap > 0 ? softcap * Math.tanh(logit / softcap) : logit;
    const add = bias ? bias[b * bs.batch + h * bs.head + i * bs.query + j]! : 0;
    biased[j] = add === -Infinity ? -Infinity : clamp(clamp(capped[j]!) - slope * Math.abs(position - j) + add);
  }
}

function lse(plan: BackwardPlan): void {
  const biased = new Float64Array(plan.seqLenK);
  const capped = new Float64Array(plan.seqLenK);
  for (let b = 0; b < plan.batch; b++) {
    for (let h = 0; h < plan.qHeads; h++) {
      for (let i = 0; i < plan.seqLenQ; i++) {
        const { start, end } = keyRange(plan, b, i, range);
        rowScores(plan, b, h, i, start, end, biased, capped);
        let max = -Infinity;
        for (let j = start; j < end; j++) max = Math.max(max, biased[j]!);
        let sum = 0;
        if (max !== -Infinity) for (let j = start; j < end; j++) sum += Math.exp(biased[j]! - max);
        plan.lse[(b * plan.qHeads + h) * plan.seqLenQ + i] = max === -Infinity ? -Infinity : max + Math.log(sum);
      }
    }
  }
}

function run(plan: BackwardPlan): void {
  const { q, k, v, out, dout, dq, dk, dv, dbias, qStrides: qs, kStrides: ks, vStrides: vs, outStrides: os } = plan;
  const { headDim, valueDim, seqLenK, softcap, scale } = plan;
  const biased = new Float64Array(seqLenK);
  const capped = new Float64Array(seqLenK);
  for (let b = 0; b < plan.batch; b++) {
    for (let h = 0; h < plan.qHeads; h++) {
      const kvHead = Math.floor(h / (plan.qHeads / plan.kvHeads));
      const kHead = b * ks.batch + kvHead * ks.head;
      const vHead = b * vs.batch + kvHead * vs.head;
      for (let i = 0; i < plan.seqLenQ; i++) {
        const row = (b * plan.qHeads + h) * plan.seqLenQ + i;
        const rowLse = plan.lse[row]!;
        if (rowLse === -Infinity) continue; // no allowed key: no gradient
        const { start, end } = keyRange(plan, b, i, range);
        rowScores(plan, b, h, i, start, end, biased, capped);
        const qRow = b * qs.batch + h * qs.head + i * qs.seq;
        const oRow = b * os.batch + h * os.head + i * os.seq;
        let delta = 0;
        for (let d = 0; d < valueDim; d++) delta += dout[oRow + d]! * out[oRow + d]!;
        for (let j = start; j < end; j++) {
          if (biased[j] === -Infinity) continue; // masked: selected away
          const kRow = kHead + j * ks.seq;
          const vRow = vHead + j * vs.seq;
          const p = Math.exp(biased[j]! - rowLse);
          // dP = dO·v_j, then dV_j += p·dO in the same pass over the value row.
          let dp = 0;
          for (let d = 0; d < valueDim; d++) {
            const g = dout[oRow + d]!;
            dp += g * v[vRow + d]!;
            dv[vRow + d]! += p * g;
          }
          const ds = p * (dp - delta);
          if (dbias) dbias[row * seqLenK + j] = ds;
          const dl = softcap > 0 ? ds * scale * (1 - (capped[j]! / softcap) ** 2) : ds * scale; // the softcap derivative: 1 − tanh²
          for (let d = 0; d < headDim; d++) {
            dq[qRow + d]! += dl * k[kRow + d]!;
            dk[kRow + d]! += dl * q[qRow + d]!;
          }
        }
      }
    }
  }
}

/** The JavaScript backward backend. */
export const jsBackward: BackwardBackend = { name: 'js', lse, run };
