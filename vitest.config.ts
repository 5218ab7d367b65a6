import { defineConfig } from 'vitest/config';
import { nodeFlags } from './scripts/node-flags.mjs';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Test files run in forked processes, vitest's default count of them (cores − 1: one at a
    // time on this project's 2-core machines, where the runtime matrix runs two Node lines'
    // suites side by side).
    pool: 'forks',
    // The flags of the Node running vitest (its forks run on the same binary): Node 20 runs
    // relaxed SIMD only behind a flag that Node 22+ rejects (scripts/node-flags.mjs). With
    // them, the 'wasm-relaxed-simd' backend is tested like every other one on every line.
    execArgv: nodeFlags(process.versions.node),
  },
});
