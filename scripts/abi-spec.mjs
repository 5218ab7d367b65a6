// The WASM kernel ABI, written once: the parameter block of 32-bit fields that the host
// (src/backends/wasm/params.ts) writes and the kernels (assembly/) read. scripts/gen-abi.mjs
// generates assembly/abi.ts and src/backends/wasm/abi-params.ts from this table (run by
// scripts/build-wasm.mjs); test/abi.test.ts checks that both are current and agree.
// Change a field here, never in the generated files.
//
// Pointers are byte offsets into linear memory; strides and sizes count f32 elements.
// `index` is the field's position in the block (byte offset index·4); `type` is how the
// kernels load it (paramI32 or paramF32 in assembly/abi.ts).

/** @type {ReadonlyArray<{ name: string, index: number, type: 'i32' | 'f32', doc?: string }>} */
export const PARAM_FIELDS = [
  { name: 'BATCH', index: 0, type: 'i32' },
  { name: 'Q_HEADS', index: 1, type: 'i32' },
  { name: 'KV_HEADS', index: 2, type: 'i32' },
  { name: 'SEQ_LEN_Q', index: 3, type: 'i32' },
  { name: 'SEQ_LEN_K', index: 4, type: 'i32' },
  { name: 'HEAD_DIM', index: 5, type: 'i32' },
  { name: 'VALUE_DIM', index: 6, type: 'i32' },
  { name: 'Q_PTR', index: 7, type: 'i32' },
  { name: 'Q_BATCH_STRIDE', index: 8, type: 'i32' },
  { name: 'Q_HEAD_STRIDE', index: 9, type: 'i32' },
  { name: 'Q_SEQ_STRIDE', index: 10, type: 'i32' },
  { name: 'K_PTR', index: 11, type: 'i32' },
  { name: 'K_BATCH_STRIDE', index: 12, type: 'i32' },
  { name: 'K_HEAD_STRIDE', index: 13, type: 'i32' },
  { name: 'K_SEQ_STRIDE', index: 14, type: 'i32' },
  { name: 'V_PTR', index: 15, type: 'i32' },
  { name: 'V_BATCH_STRIDE', index: 16, type: 'i32' },
  { name: 'V_HEAD_STRIDE', index: 17, type: 'i32' },
  { name: 'V_SEQ_STRIDE', index: 18, type: 'i32' },
  { name: 'OUT_PTR', index: 19, type: 'i32' },
  { name: 'OUT_BATCH_STRIDE', index: 20, type: 'i32' },
  { name: 'OUT_HEAD_STRIDE', index: 21, type: 'i32' },
  { name: 'OUT_SEQ_STRIDE', index: 22, type: 'i32' },
  { name: 'SCALE', index: 23, type: 'f32', doc: 'f32' },
  { name: 'SOFTCAP', index: 24, type: 'f32', doc: 'f32; 0 = off' },
  {
    name: 'WINDOW_RIGHT',
    index: 25,
    type: 'i32',
    doc: 'keys up to `right` positions after the query (src/key-range.ts); -1 = unbounded; causal is folded in as min(right, 0)',
  },
  {
    name: 'POSITION_OFFSETS_PTR',
    index: 26,
    type: 'i32',
    doc: 'i32[batch]: query i of item b sits at key position i + offsets[b]; always written by the host',
  },
  { name: 'KEY_LENGTHS_PTR', index: 27, type: 'i32', doc: 'i32[batch], or 0 for none' },
  { name: 'BIAS_PTR', index: 28, type: 'i32', doc: 'f32 additive bias, or 0 for none; rows contiguous over keys' },
  { name: 'BIAS_BATCH_STRIDE', index: 29, type: 'i32' },
  { name: 'BIAS_HEAD_STRIDE', index: 30, type: 'i32' },
  { name: 'BIAS_QUERY_STRIDE', index: 31, type: 'i32' },
  { name: 'WEIGHTS_PTR', index: 32, type: 'i32', doc: 'f32[batch·qHeads·seqLenQ·seqLenK] contiguous, or 0 for none' },
  { name: 'WEIGHTS_STAGE', index: 33, type: 'i32', doc: 'WEIGHTS_STAGE_CODE in src/plan.ts: 0 logits, 1 capped, 2 biased, 3 probs' },
  { name: 'SCRATCH_PTR', index: 34, type: 'i32', doc: 'scratch region for the kernel, at least `scratchBytes(params)` bytes, 16-byte aligned' },
  { name: 'SCRATCH_BYTES', index: 35, type: 'i32' },
  {
    name: 'KEY_SPLITS',
    index: 36,
    type: 'i32',
    doc: 'Decode kernel only (`decodeRange`, merged by the host): key ranges each row block is split into (flash-decoding, src/threads/README.md); 0 or 1 = no split, as `decode` always. 0 in every other plan.',
  },
  {
    name: 'PARTIALS_PTR',
    index: 37,
    type: 'i32',
    doc: "Decode kernel with KEY_SPLITS > 1: the ranges' partial softmax states (assembly/decode/partials.ts), `decodePartialsBytes(params)` bytes, 16-byte aligned",
  },
  { name: 'WINDOW_LEFT', index: 38, type: 'i32', doc: 'keys down to `left` positions before the query (src/key-range.ts); -1 = unbounded' },
  { name: 'ALIBI_SLOPES_PTR', index: 39, type: 'i32', doc: 'f32[qHeads] ALiBi slopes (|slope| <= 2^64, src/alibi.ts), or 0 for none' },
  {
    name: 'LSE_PTR',
    index: 40,
    type: 'i32',
    doc: 'f32[batch·qHeads·seqLenQ·2] contiguous, or 0 for none: per row its softmax max m (natural units) and sum l; the host takes lse = m + ln(l)',
  },
];

/** Field name → index, for the JavaScript that writes a block without the TypeScript sources (bench/). */
export const PARAM = Object.fromEntries(PARAM_FIELDS.map((field) => [field.name, field.index]));
/** Number of 32-bit fields in the parameter block. */
export const PARAM_COUNT = PARAM_FIELDS.length;
/** Size of the parameter block in bytes. */
export const PARAM_BYTES = PARAM_COUNT * 4;

// The backward kernels (assembly/backward/, src/backward/) read the same block followed by
// these fields: one block, so the forward fields (shapes, strides, scale, masks) are written
// by the same writer. OUT_* describes the forward's output O (an input here); dO, dQ, dK and
// dV share the strides of O, Q, K and V (the host allocates them in the call's layout).
// Generated into assembly/backward/abi.ts and src/backward/abi-params.ts, apart from the
// default build's files, so the default entry does not carry them.
/** @type {ReadonlyArray<{ name: string, index: number, type: 'i32' | 'f32', doc?: string }>} */
export const BACKWARD_FIELDS = [
  { name: 'DOUT_PTR', index: PARAM_COUNT, type: 'i32', doc: 'f32 dO, strides OUT_*' },
  { name: 'ROW_LSE_PTR', index: PARAM_COUNT + 1, type: 'i32', doc: 'f32[batch·qHeads·seqLenQ] natural log-sum-exp per row, -Infinity for a row with no allowed key' },
  { name: 'DQ_PTR', index: PARAM_COUNT + 2, type: 'i32', doc: 'f32 dQ, strides Q_*; written (not accumulated into)' },
  { name: 'DK_PTR', index: PARAM_COUNT + 3, type: 'i32', doc: 'f32 dK, strides K_*; written' },
  { name: 'DV_PTR', index: PARAM_COUNT + 4, type: 'i32', doc: 'f32 dV, strides V_*; written' },
  { name: 'DBIAS_PTR', index: PARAM_COUNT + 5, type: 'i32', doc: 'f32[batch·qHeads·seqLenQ·seqLenK] dS per score (the gradient of an additive bias before broadcasting), or 0 for none' },
];
/** Number of 32-bit fields in the backward block (forward fields included). */
export const BACKWARD_PARAM_COUNT = PARAM_COUNT + BACKWARD_FIELDS.length;
