// f32-rope-f64x2: rotary position embeddings (RoPE) of f32 head rows, in place, with the
// arithmetic in f64x2 lanes. The host gathers cos/sin of every row's position as f64
// ([rows, dim/2], src/positions/angles.ts) and the rotation is
//   (x1, x2) -> (x1·cos − x2·sin, x1·sin + x2·cos), each product and sum in f64, then
// rounded once to f32: the same operations, in the same order, as the JS backend's
// rotateRow (src/positions/rotate.ts), so every backend holds bit-identical rotated q and k.
// (f32 lanes would round three times: results within 1.5 ulp of each other but not equal.)
// One pass of O(rows·dim) over a call's q or k copy, before the attention kernel: for
// H8 N1024 D64 (524k elements) this is ~0.1–0.2 ms against ~1 ms for the JS loop.
// Pairs: rotate-half (x_i, x_{i+dim/2}) (GPT-NeoX, Llama) or interleaved (x_2i, x_2i+1) (GPT-J).
// Contract: dim is even, dim <= headDim; strides in elements; dims past dim are untouched.

/** Rotates pairs (x_i, x_{i+half}) for i in [0, half) of the row at `row`. */
// @ts-ignore: decorator
@inline function rotateHalf(row: usize, half: usize, cos: usize, sin: usize): void {
  const gap = half << 2;
  let i: usize = 0;
  for (; i + 2 <= half; i += 2) {
    const at = row + (i << 2);
    const x1 = f64x2.promote_low_f32x4(v128.load64_zero(at));
    const x2 = f64x2.promote_low_f32x4(v128.load64_zero(at + gap));
    const c = v128.load(cos + (i << 3));
    const s = v128.load(sin + (i << 3));
    v128.store64_lane(at, f32x4.demote_f64x2_zero(f64x2.sub(f64x2.mul(x1, c), f64x2.mul(x2, s))), 0);
    v128.store64_lane(at + gap, f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(x1, s), f64x2.mul(x2, c))), 0);
  }
  // leftovers: an odd half
  for (; i < half; i++) {
    const at = row + (i << 2);
    const x1 = <f64>load<f32>(at);
    const x2 = <f64>load<f32>(at + gap);
    const c = load<f64>(cos + (i << 3));
    const s = load<f64>(sin + (i << 3));
    store<f32>(at, <f32>(x1 * c - x2 * s));
    store<f32>(at + gap, <f32>(x1 * s + x2 * c));
  }
}

/** Rotates pairs (x_2i, x_2i+1) for i in [0, half) of the row at `row`. */
// @ts-ignore: decorator
@inline function rotateInterleaved(row: usize, half: usize, cos: usize, sin: usize): void {
  for (let i: usize = 0; i < half; i++) {
    const at = row + (i << 3);
    const x = f64x2.promote_low_f32x4(v128.load64_zero(at)); // [x1, x2]
    const swapped = i64x2.shuffle(x, x, 1, 0); // [x2, x1]
    const c = v128.load64_splat(cos + (i << 3));
    const s = load<f64>(sin + (i << 3));
    // [x1·c − x2·s, x2·c + x1·s]: x1·c − x2·s as x1·c + x2·(−s) (exact negation, same result).
    const sign = f64x2.replace_lane(f64x2.splat(s), 0, -s);
    v128.store64_lane(at, f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(x, c), f64x2.mul(swapped, sign))), 0);
  }
}

/**
 * Rotates every row of a `[batch, heads, seqLen, headDim]` f32 view at `x` (element
 * strides; dim stride 1) in place; row (b, ·, s) uses cos/sin row b·seqLen + s of the f64
 * tables at `cos`/`sin` (`[batch·seqLen, dim/2]`), shared by the heads.
 */
export function rotary(
  x: usize, batch: i32, heads: i32, seqLen: i32, strideBatch: i32, strideHead: i32, strideSeq: i32,
  dim: i32, interleaved: i32, cos: usize, sin: usize,
): void {
  const half = <usize>(dim >> 1);
  for (let b = 0; b < batch; b++) {
    for (let s = 0; s < seqLen; s++) {
      const angles = (<usize>(b * seqLen + s) * half) << 3;
      for (let h = 0; h < heads; h++) {
        const row = x + ((<usize>b * strideBatch + <usize>h * strideHead + <usize>s * strideSeq) << 2);
        if (interleaved) rotateInterleaved(row, half, cos + angles, sin + angles);
        else rotateHalf(row, half, cos + angles, sin + angles);
      }
    }
  }
}
