// scripts/node-flags.mjs, the one place that says which flags a Node version needs: the
// relaxed-SIMD flag on Node 20 only (Node 22+ has relaxed SIMD on and rejects the flag as a
// "bad option"). The runtime matrix runs the same checks on the pinned Node 22/24/26 lines
// (lines node22, node24, node26: auto must pick wasm-relaxed-simd with these flags).
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { nodeFlags, RELAXED_SIMD_FLAG } from '../scripts/node-flags.mjs';

// (module (func (param v128 v128 v128) (result v128)
//   local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd))   ; opcode 0xfd 0x105
const RELAXED_MODULE_HEX = '0061736d01000000' + '01080160037b7b7b017b' + '03020100' + '0a0d010b00200020012002fd85020b';
const PROBE = `process.stdout.write(String(WebAssembly.validate(Buffer.from('${RELAXED_MODULE_HEX}', 'hex'))))`;

/** Starts this Node with `flags` and asks it whether relaxed SIMD validates. */
function relaxedValidates(flags: string[]): { status: number | null; stdout: string; stderr: string } {
  const child = spawnSync(process.execPath, [...flags, '-e', PROBE], { encoding: 'utf8', timeout: 30_000 });
  return { status: child.status, stdout: child.stdout, stderr: child.stderr };
}

describe('nodeFlags', () => {
  it.each([
    ['20.0.0', [RELAXED_SIMD_FLAG]],
    ['v20.20.2', [RELAXED_SIMD_FLAG]],
    ['22.23.5', []],
    ['v24.22.3', []],
    ['26.12.1', []],
  ])('node_%s', (version, expected) => {
    expect(nodeFlags(version)).toEqual(expected);
  });

  it('defaults_to_this_process', () => {
    expect(nodeFlags()).toEqual(nodeFlags(process.versions.node));
  });

  it.each(['', 'twenty', 'node20', '.20.1'])('rejects_%j', (version) => {
    expect(() => nodeFlags(version)).toThrow(new TypeError(`nodeFlags: expected a Node version like '22.23.5', got ${JSON.stringify(version)}`));
  });

  it('gives_a_new_array_each_call', () => {
    const first = nodeFlags('20.20.2');
    first.push('--mutated');
    expect(nodeFlags('20.20.2')).toEqual([RELAXED_SIMD_FLAG]);
  });
});

describe(`this Node (${process.versions.node}) with nodeFlags()`, () => {
  it('starts_and_validates_relaxed_simd', () => {
    const outcome = relaxedValidates(nodeFlags());
    expect(outcome, `node ${nodeFlags().join(' ')} -e PROBE`).toEqual({ status: 0, stdout: 'true', stderr: '' });
  });

  it('runs_this_vitest_fork_with_relaxed_simd', () => {
    // vitest.config.ts passes nodeFlags() to its forks: this very process must validate it.
    expect(WebAssembly.validate(Buffer.from(RELAXED_MODULE_HEX, 'hex'))).toBe(true);
  });

  it('needs_them_exactly_when_it_says_so', () => {
    // Without the flags, relaxed SIMD validates only where nodeFlags() is empty: a flag
    // given to a Node that does not need it is rejected, one withheld from Node 20 is missed.
    const bare = relaxedValidates([]);
    expect(bare.status).toBe(0);
    expect(bare.stdout).toBe(nodeFlags().length === 0 ? 'true' : 'false');
  });
});
