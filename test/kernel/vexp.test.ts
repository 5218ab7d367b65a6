// The kernels' vectorized exp (assembly/inline/exp.ts) against float64 Math.exp.
import { describe, expect, it } from 'vitest';
import { BUILDS, loadKernel } from './kernel-util';

describe.each(BUILDS)('vexp (%s)', (build) => {
  const kernel = loadKernel(build);
  const apply = (xs: Float32Array): Float32Array => {
    const ptr = kernel.heapBase();
    const need = ptr + xs.byteLength - kernel.memory.buffer.byteLength;
    if (need > 0) kernel.memory.grow(Math.ceil(need / 65536));
    new Float32Array(kernel.memory.buffer, ptr, xs.length).set(xs);
    kernel.vexp(ptr, xs.length);
    return new Float32Array(kernel.memory.buffer, ptr, xs.length).slice();
  };

  it('max relative error over a dense sweep of [-87, 88] is below 3e-7', () => {
    const count = 4_000_003; // odd: exercises the leftover lane
    const xs = new Float32Array(count);
    for (let i = 0; i < count; i++) xs[i] = -87 + (175 * i) / (count - 1);
    const ys = apply(xs);
    let worst = 0, at = 0;
    for (let i = 0; i < count; i++) {
      const want = Math.exp(xs[i]!);
      const rel = Math.abs(ys[i]! - want) / want;
      if (!(rel <= worst)) { worst = rel; at = xs[i]!; }
    }
    console.log(`vexp ${build}: max relative error ${worst.toExponential(3)} at x = ${at} (${(worst / 2 ** -23).toFixed(2)} × 2^-23)`);
    expect(worst).toBeLessThan(3e-7);
  });

  it('special values', () => {
    const xs = Float32Array.from([-Infinity, -1000, -87.4, -88, 0, -0, NaN, Infinity, 1000, 88.5, 1]);
    const ys = apply(xs);
    expect(Array.from(ys.slice(0, 4))).toEqual([0, 0, 0, 0]);
    expect(ys[4]).toBe(1);
    expect(ys[5]).toBe(1);
    expect(ys[6]).toBeNaN();
    expect(ys[7]).toBe(Infinity);
    expect(ys[8]).toBe(Infinity);
    expect(ys[9]).toBe(Infinity); // documented early overflow on (88.37, 88.72]
    expect(Math.abs(ys[10]! - Math.E) / Math.E).toBeLessThan(3e-7);
  });
});

describe.each(BUILDS)('softcap tanh (%s)', (build) => {
  it('max relative error of cap·tanh(x/cap) over [-20, 20] is below 8 ulp', async () => {
    // Through the weights path, stage 'capped': headDim 1, q = 1, scale 1, cap 1, so
    // capped[j] = tanh(k[j]).
    const { loadKernel: load, makeCase, runKernel } = await import('./kernel-util');
    const kernel = load(build);
    const n = 20001;
    const c = makeCase({ headDim: 1, seqLenQ: 1, seqLenK: n, scale: 1, softcap: 1, weights: true, weightsStage: 1 });
    c.q[0] = 1;
    for (let j = 0; j < n; j++) c.k[j] = j === n - 1 ? 1e-30 : -20 + (40 * j) / (n - 2);
    const got = runKernel(kernel, c).weights!;
    let worst = 0, at = 0;
    for (let j = 0; j < n; j++) {
      const want = Math.tanh(c.k[j]!);
      const rel = Math.abs(got[j]! - want) / Math.abs(want);
      if (rel > worst) { worst = rel; at = c.k[j]!; }
    }
    console.log(`softcap ${build}: max relative error ${worst.toExponential(3)} at x = ${at} (${(worst / 2 ** -23).toFixed(2)} × 2^-23)`);
    expect(worst).toBeLessThan(8 * 2 ** -23);
  });
});

// The fused softmax's 2^x (assembly/inline/exp.ts exp2NonPositive; the scores are kept in
// log2 units) against float64 2 ** x. Its comment states 1.90e-7 (mul+add) and 1.69e-7
// (FMA) from an f32 emulation; the bound here is the one vexp meets, 3e-7 (2.5 ulp).
describe.each(BUILDS)('vexp2 (%s)', (build) => {
  const kernel = loadKernel(build);
  const apply = (xs: Float32Array): Float32Array => {
    const padded = Math.ceil(xs.length / 4) * 4; // vexp2 works in whole vectors
    const ptr = kernel.heapBase();
    const need = ptr + padded * 4 - kernel.memory.buffer.byteLength;
    if (need > 0) kernel.memory.grow(Math.ceil(need / 65536));
    const view = new Float32Array(kernel.memory.buffer, ptr, padded);
    view.fill(0);
    view.set(xs);
    kernel.vexp2(ptr, xs.length);
    return new Float32Array(kernel.memory.buffer, ptr, xs.length).slice();
  };

  it('max relative error over a dense sweep of [-126, 0] is below 3e-7', () => {
    const count = 4_000_000;
    const xs = new Float32Array(count);
    for (let i = 0; i < count; i++) xs[i] = -126 + (126 * i) / (count - 1);
    const ys = apply(xs);
    let worst = 0, at = 0;
    for (let i = 0; i < count; i++) {
      const want = 2 ** xs[i]!;
      const rel = Math.abs(ys[i]! - want) / want;
      if (!(rel <= worst)) { worst = rel; at = xs[i]!; }
    }
    console.log(`vexp2 ${build}: max relative error ${worst.toExponential(3)} at x = ${at} (${(worst / 2 ** -23).toFixed(2)} × 2^-23)`);
    expect(worst).toBeLessThan(3e-7);
  });

  it('special values: a masked score gives exactly +0, 0 gives 1, NaN stays NaN', () => {
    const ys = apply(Float32Array.from([-Infinity, -1000, -126.5, -127, 0, -0, NaN, -1]));
    expect(Array.from(ys.slice(0, 4))).toEqual([0, 0, 0, 0]);
    expect(Object.is(ys[0], 0)).toBe(true);
    expect(ys[4]).toBe(1);
    expect(ys[5]).toBe(1);
    expect(ys[6]).toBeNaN();
    expect(ys[7]).toBe(0.5);
  });
});
