import { expVec, exp2NonPositive } from './inline/exp';

/**
 * Test hook: applies the kernels' vectorized exp (inline/exp.ts) in place.
 * @param ptr byte address of `count` f32 (16-byte alignment recommended, not required)
 * @param count number of elements
 */
export function vexp(ptr: usize, count: i32): void {
  const end = ptr + (<usize>max(count, 0) << 2);
  let p = ptr;
  for (; p + 16 <= end; p += 16) {
    v128.store(p, expVec(v128.load(p)));
  }
  // leftovers: one element in lane 0
  for (; p < end; p += 4) {
    store<f32>(p, f32x4.extract_lane(expVec(f32x4.splat(load<f32>(p))), 0));
  }
}

/**
 * Test hook: applies the fused softmax's 2^x (inline/exp.ts exp2NonPositive, for x <= 0)
 * in place; like `vexp`, with `count` rounded up to whole vectors of 4 (pad the buffer).
 */
export function vexp2(ptr: usize, count: i32): void {
  const end = ptr + (<usize>max(count, 0) << 2);
  for (let p = ptr; p < end; p += 16) v128.store(p, exp2NonPositive(v128.load(p)));
}
