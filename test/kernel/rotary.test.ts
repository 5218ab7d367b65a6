/**
 * The kernels' `rotary` export (assembly/rotary/f32-rope-f64x2.ts) against the JS rotation
 * (src/positions/rotate.ts) that the JS backend and the host use: bit for bit, for
 * rotate-half and interleaved pairs, full and partial dims (odd dim/2: the leftover path),
 * strided layouts, and the dims past `dim` left untouched. Bit-identity is what makes
 * the rotated q and k the same on every backend (the f64 operations are the same, in the
 * same order, rounded once to f32).
 */
import { describe, expect, it } from 'vitest';
import { gatherAngles, inverseFrequencies, rotateHeads, type Rotation } from '../../src/positions/rotate.js';
import { expectSameBits } from '../threads-helpers.js';
import { BUILDS, loadKernel } from './kernel-util.js';

type RotaryKernel = { memory: WebAssembly.Memory; heapBase(): number; rotary(...args: number[]): void };

describe.each(BUILDS)('rotary export [%s]', (build) => {
  const kernel = loadKernel(build) as unknown as RotaryKernel;
  const cases: [string, number, number, boolean, 'bhsd' | 'bshd'][] = [
    ['rotate_half_d64', 64, 64, false, 'bhsd'],
    ['interleaved_d64', 64, 64, true, 'bhsd'],
    ['partial_odd_half_bshd', 20, 10, false, 'bshd'],
    ['interleaved_partial_bshd', 12, 6, true, 'bshd'],
    ['dim_2_of_3', 3, 2, false, 'bhsd'],
  ];
  for (const [name, headDim, dim, interleaved, layout] of cases) {
    it(name, () => {
      const [batch, heads, seqLen] = [2, 3, 7];
      const strides = layout === 'bhsd' ? { batch: heads * seqLen * headDim, head: seqLen * headDim, seq: headDim } : { batch: seqLen * heads * headDim, head: headDim, seq: heads * headDim };
      const length = batch * heads * seqLen * headDim;
      const x = Float32Array.from({ length }, (_, i) => Math.sin(i * 1.7) * 3);
      const rotation: Rotation = { dim, interleaved, cos: null, sin: null, invFreq: inverseFrequencies(10000, dim) };
      const angles = gatherAngles(rotation, Int32Array.from({ length: batch * seqLen }, (_, n) => n * 13 - 20));
      const want = new Float32Array(length);
      rotateHeads(want, x, { batch, heads, seqLen, headDim }, strides, rotation, angles);

      const base = Math.ceil(kernel.heapBase() / 16) * 16;
      const [xAt, cosAt] = [base, base + Math.ceil((length * 4) / 16) * 16];
      const sinAt = cosAt + angles.cos.length * 8;
      const need = sinAt + angles.sin.length * 8;
      if (need > kernel.memory.buffer.byteLength) kernel.memory.grow(Math.ceil((need - kernel.memory.buffer.byteLength) / 65536));
      new Float32Array(kernel.memory.buffer, xAt, length).set(x);
      new Float64Array(kernel.memory.buffer, cosAt, angles.cos.length).set(angles.cos);
      new Float64Array(kernel.memory.buffer, sinAt, angles.sin.length).set(angles.sin);
      kernel.rotary(xAt, batch, heads, seqLen, strides.batch, strides.head, strides.seq, dim, interleaved ? 1 : 0, cosAt, sinAt);
      const got = new Float32Array(kernel.memory.buffer, xAt, length).slice();
      expectSameBits(got, want, `${build} ${name}`, ['wasm', 'js']);
      expect(Array.from(got)).not.toEqual(Array.from(x)); // it did rotate
    });
  }
});
