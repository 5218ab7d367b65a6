// The WASM kernel ABI: one parameter block of 32-bit fields, written by the host
// (src/backends/wasm/) and read here. Mirror of src/backends/wasm/abi.ts: change both
// together. Pointers are byte offsets; strides and sizes count f32 elements.

export const BATCH: i32 = 0;
export const Q_HEADS: i32 = 1;
export const KV_HEADS: i32 = 2;
export const SEQ_LEN_Q: i32 = 3;
export const SEQ_LEN_K: i32 = 4;
export const HEAD_DIM: i32 = 5;
export const VALUE_DIM: i32 = 6;
export const Q_PTR: i32 = 7;
export const Q_BATCH_STRIDE: i32 = 8;
export const Q_HEAD_STRIDE: i32 = 9;
export const Q_SEQ_STRIDE: i32 = 10;
export const K_PTR: i32 = 11;
export const K_BATCH_STRIDE: i32 = 12;
export const K_HEAD_STRIDE: i32 = 13;
export const K_SEQ_STRIDE: i32 = 14;
export const V_PTR: i32 = 15;
export const V_BATCH_STRIDE: i32 = 16;
export const V_HEAD_STRIDE: i32 = 17;
export const V_SEQ_STRIDE: i32 = 18;
export const OUT_PTR: i32 = 19;
export const OUT_BATCH_STRIDE: i32 = 20;
export const OUT_HEAD_STRIDE: i32 = 21;
export const OUT_SEQ_STRIDE: i32 = 22;
export const SCALE: i32 = 23; // f32
export const SOFTCAP: i32 = 24; // f32, 0 = off
export const CAUSAL: i32 = 25;
export const CAUSAL_OFFSETS_PTR: i32 = 26;
export const KEY_LENGTHS_PTR: i32 = 27;
export const BIAS_PTR: i32 = 28;
export const BIAS_BATCH_STRIDE: i32 = 29;
export const BIAS_HEAD_STRIDE: i32 = 30;
export const BIAS_QUERY_STRIDE: i32 = 31;
export const WEIGHTS_PTR: i32 = 32;
export const WEIGHTS_STAGE: i32 = 33; // 0 logits, 1 capped, 2 biased, 3 probs
export const SCRATCH_PTR: i32 = 34;
export const SCRATCH_BYTES: i32 = 35;
// Key split of the decode kernel (decode/split.ts); 0 in every other plan.
export const KEY_SPLITS: i32 = 36; // key ranges per row block; 0 or 1 = no split
export const PARTIALS_PTR: i32 = 37; // per-range softmax states (decode/partials.ts)
export const PARAM_COUNT: i32 = 38;

// @ts-ignore: decorator
@inline export function paramI32(params: usize, field: i32): i32 {
  return load<i32>(params + (<usize>field << 2));
}

// @ts-ignore: decorator
@inline export function paramF32(params: usize, field: i32): f32 {
  return load<f32>(params + (<usize>field << 2));
}
