// One thread's share of a decode plan (src/threads/): the same walk as decode/decode.ts,
// restricted to the work units u with u % stride == first, where unit u is one row block
// (decode/rows.ts: up to ROWS query rows of one KV head) in the order batch × KV head ×
// row block. A unit reads its KV head's cache and writes only its own rows of the output
// (and of the weights), so the split changes no summation order: bit-identical output.
// For decode (Lq = 1) a unit is one KV head of one sequence: Llama-2-7B's 32 heads make 32
// units, enough for the threads of any desktop; the host checks that there are (threadsFor).
// With fewer row blocks than threads (MQA, GQA with few KV heads), the host sets KEY_SPLITS:
// a unit is then a (row block, key range) pair that leaves partial softmax states, merged
// by the host once every thread is done (flash-decoding: decode/partials.ts, src/threads/decode.ts).
// The walk lives in decode/decode.ts (one copy for one thread and for many).
export { decodeRange } from '../decode/decode';
