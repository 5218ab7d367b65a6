import { defineConfig } from 'vitest/config';
import { nodeFlags } from './scripts/node-flags.mjs';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Two cores: run test files in two forks so the suite's wall time stays low.
    pool: 'forks',
    // The flags of the Node running vitest (its forks run on the same binary): Node 20 runs
    // relaxed SIMD only behind a flag that Node 22+ rejects (scripts/node-flags.mjs). With
    // them, the 'wasm-relaxed-simd' backend is tested like every other one on every line.
    execArgv: nodeFlags(process.versions.node),
  },
});
