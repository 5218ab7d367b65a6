/**
 * The internal KV cache update of ONNX `Attention`: present = Concat(past, incoming) along
 * the sequence axis, always in the 4-D `[batch, kv_num_heads, total_seq, dim]` layout
 * (3-D incoming K/V are unpacked on the way). Elements are copied in their own dtype, so a
 * float16 cache round-trips bit for bit.
 */
import type { HeadStrides } from '../plan.js';

type Elements = Float32Array | Uint16Array;

/**
 * Builds `[batch, heads, pastSeqLen + seqLen, dim]` from a contiguous `past`
 * (`[batch, heads, pastSeqLen, dim]`) and a strided `incoming` view.
 *
 * @param past - contiguous past cache, same typed-array kind as `incoming`
 * @param incoming - the new rows, viewed through `strides` (dim stride 1)
 * @param batch - batch size
 * @param heads - kv_num_heads
 * @param pastSeqLen - rows per head in `past` (may be 0)
 * @param seqLen - rows per head in `incoming` (may be 0)
 * @param dim - head size (head_size for keys, v_head_size for values)
 * @returns a new contiguous array of the same kind
 * @throws nothing: the caller has checked every size (RangeError from `TypedArray.set` otherwise)
 * @example
 * // 3-D incoming keys [B, L, Hkv·D] appended to a [B, Hkv, P, D] cache:
 * concatKv(pastKey, k, stridesFor('packed', kvHeads, seqLen, headDim), batch, kvHeads, pastSeqLen, seqLen, headDim);
 */
export function concatKv<T extends Elements>(
  past: T,
  incoming: T,
  strides: HeadStrides,
  batch: number,
  heads: number,
  pastSeqLen: number,
  seqLen: number,
  dim: number,
): T {
  const totalSeqLen = pastSeqLen + seqLen;
  const present = new (incoming.constructor as new (length: number) => T)(batch * heads * totalSeqLen * dim);
  const pastBlock = pastSeqLen * dim;
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const head = (b * heads + h) * totalSeqLen * dim;
      present.set(past.subarray(((b * heads + h) * pastSeqLen) * dim, ((b * heads + h) * pastSeqLen) * dim + pastBlock), head);
      const source = b * strides.batch + h * strides.head;
      if (strides.seq === dim) {
        // Rows of this head are contiguous (bhsd): one copy.
        present.set(incoming.subarray(source, source + seqLen * dim), head + pastBlock);
        continue;
      }
      for (let s = 0; s < seqLen; s++) {
        const row = source + s * strides.seq;
        present.set(incoming.subarray(row, row + dim), head + pastBlock + s * dim);
      }
    }
  }
  return present;
}
