/**
 * The attention a programmer writes first: per head, per query row, a dot product with
 * every key, a softmax, a weighted sum of values. Plain loops over Float32Arrays, float64
 * arithmetic (JS numbers), no blocking: the baseline that blocking and SIMD improve on.
 */
import type { Prepared } from '../measure.js';
import type { PeerContext } from './index.js';

export function prepareNaive({ shape, inputs }: PeerContext): Prepared {
  const { batch, heads, seqLenQ, seqLenK, headDim: D, causal } = shape;
  const { q, k, v, scale } = inputs;
  const scores = new Float64Array(seqLenK);
  const offset = seqLenK - seqLenQ; // bottom-right causal alignment
  let out: Float32Array = new Float32Array(0);

  const call = (): void => {
    out = new Float32Array(batch * heads * seqLenQ * D);
    for (let h = 0; h < batch * heads; h++) {
      const kv0 = h * seqLenK * D;
      for (let i = 0; i < seqLenQ; i++) {
        const q0 = (h * seqLenQ + i) * D;
        const keyEnd = causal ? Math.min(seqLenK, i + offset + 1) : seqLenK;
        let max = -Infinity;
        for (let j = 0; j < keyEnd; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[q0 + d]! * k[kv0 + j * D + d]!;
          scores[j] = dot * scale;
          if (scores[j]! > max) max = scores[j]!;
        }
        let sum = 0;
        for (let j = 0; j < keyEnd; j++) {
          scores[j] = Math.exp(scores[j]! - max);
          sum += scores[j]!;
        }
        for (let j = 0; j < keyEnd; j++) {
          const p = scores[j]! / sum;
          for (let d = 0; d < D; d++) out[q0 + d] = out[q0 + d]! + p * v[kv0 + j * D + d]!;
        }
      }
    }
  };
  return {
    call,
    isAsync: false,
    async output() {
      call();
      return out;
    },
    note: 'triple loop, float64 math',
  };
}
