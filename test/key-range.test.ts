// The key-range rule (src/key-range.ts) against its definition, key by key: FlashAttention's
// window (query i of item b sees keys j with i + off − left ≤ j ≤ i + off + right), causal
// as right = min(right, 0), and the key length. The float64 reference (test/reference.ts)
// and the JS backend use keyRange; this checks keyRange itself, so the reference is not
// checked against itself.
import { describe, expect, it } from 'vitest';
import { keyRange, planWindow, positionOffsetsFor, type KeyWindow } from '../src/key-range.js';

/** Allowed keys of row (b, i) by the definition, as a contiguous [start, end) (or [x, x) when none). */
function byDefinition(seqLenK: number, keyLength: number, off: number, window: KeyWindow, i: number): { start: number; end: number } {
  const allowed: number[] = [];
  for (let j = 0; j < seqLenK; j++) {
    if (j >= keyLength) continue;
    if (window.left !== Infinity && j < i + off - window.left) continue;
    if (window.right !== Infinity && j > i + off + window.right) continue;
    allowed.push(j);
  }
  return allowed.length === 0 ? { start: -1, end: -1 } : { start: allowed[0]!, end: allowed.at(-1)! + 1 };
}

describe('keyRange: the rule against its definition', () => {
  const bounds = [0, 1, 3, 7, 40, Infinity];
  const offsets = [-30, -5, -1, 0, 2, 9, 30];
  it('every window × causal × offset × key length × row', () => {
    const seqLenK = 17;
    let checked = 0;
    for (const left of bounds) {
      for (const right of bounds) {
        for (const causal of [false, true]) {
          const window = planWindow({ left, right }, causal);
          for (const off of offsets) {
            for (const keyLength of [0, 5, 17]) {
              const plan = { seqLenK, keyLengths: Int32Array.of(keyLength), positionOffsets: Int32Array.of(off), window };
              for (let i = 0; i < 12; i++) {
                const got = keyRange(plan, 0, i);
                const want = byDefinition(seqLenK, keyLength, off, window, i);
                const where = `window [${left}, ${right}] causal=${causal} off=${off} keyLength=${keyLength} i=${i}`;
                expect(got.start, where).toBeGreaterThanOrEqual(0);
                expect(got.start, where).toBeLessThanOrEqual(got.end);
                expect(got.end, where).toBeLessThanOrEqual(keyLength);
                if (want.start < 0) expect(got.end - got.start, `${where}: empty`).toBe(0);
                else expect(got, where).toEqual(want);
                checked++;
              }
            }
          }
        }
      }
    }
    expect(checked).toBe(bounds.length ** 2 * 2 * offsets.length * 3 * 12);
  });

  it('causal_folds_into_right_min_0', () => {
    expect(planWindow(undefined, true)).toEqual({ left: Infinity, right: 0 });
    expect(planWindow({ left: 4, right: 3 }, true)).toEqual({ left: 4, right: 0 });
    expect(planWindow({ left: 4, right: 3 }, false)).toEqual({ left: 4, right: 3 });
    expect(planWindow(undefined, false)).toEqual({ left: Infinity, right: Infinity });
  });

  it('position_offsets_top_left_0_else_bottom_right', () => {
    expect([...positionOffsetsFor(2, 3, 10, null, false)]).toEqual([7, 7]);
    expect([...positionOffsetsFor(2, 3, 10, [4, 0], false)]).toEqual([1, -3]);
    expect([...positionOffsetsFor(2, 3, 10, [4, 0], true)]).toEqual([0, 0]);
  });

  it('bounds_grow_with_the_row', () => {
    // fused/block.ts and the JS backend take a block's keys as [start(first), end(last)).
    const plan = { seqLenK: 50, keyLengths: null, positionOffsets: Int32Array.of(5), window: { left: 6, right: 2 } };
    let previous = keyRange(plan, 0, 0);
    for (let i = 1; i < 60; i++) {
      const next = keyRange(plan, 0, i);
      expect(next.start).toBeGreaterThanOrEqual(previous.start);
      expect(next.end).toBeGreaterThanOrEqual(previous.end);
      previous = next;
    }
  });
});
