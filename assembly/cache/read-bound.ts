// The benchmark's lower bound for decode: the time this machine takes to read `bytes` of
// linear memory once, with the same kind of vector loads as the decode kernel (4
// independent f32x4 accumulators, 64 bytes per step, so the adds never limit the loop).

/**
 * Sums `bytes` of memory at `ptr` as f32 (the value only keeps the loads alive).
 * @param ptr byte address, 16-byte aligned
 * @param bytes a multiple of 64
 * @returns the sum of every f32 read
 */
export function readSum(ptr: usize, bytes: usize): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  const end = ptr + (bytes & ~<usize>63);
  for (let p = ptr; p < end; p += 64) {
    a0 = f32x4.add(a0, v128.load(p));
    a1 = f32x4.add(a1, v128.load(p, 16));
    a2 = f32x4.add(a2, v128.load(p, 32));
    a3 = f32x4.add(a3, v128.load(p, 48));
  }
  const a = f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3));
  return f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1) + f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3);
}
