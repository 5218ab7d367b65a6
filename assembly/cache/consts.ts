// Vector constants of the float16 conversions, in a 16-byte-aligned data segment: loaded
// once before a loop (a v128.load of a constant address) rather than written as
// v128.const, which V8 (Node 20) re-materialises on every loop iteration (inline/consts.ts).
// Here the difference measured within noise (2.19 vs 2.22 ms per H32 × 2k float16 step:
// the step is bound by floating-point throughput, not by the integer conversion).

/** Byte offsets into {@link F16_CONSTS}; each entry is one i32x4 (16 bytes). */
export const C_SCALED_MASK: usize = 0;

export const F16_CONSTS: usize = memory.data<i32>([
  // C_SCALED_MASK: sign bit and the 15 exponent/mantissa bits 27..13 (cache/f16.ts fast path)
  0x8fffe000, 0x8fffe000, 0x8fffe000, 0x8fffe000,
], 16);

/** Loads the i32x4 constant at byte offset `at` of {@link F16_CONSTS}. */
// @ts-ignore: decorator
@inline export function f16Const(at: usize): v128 {
  return v128.load(F16_CONSTS + at);
}
