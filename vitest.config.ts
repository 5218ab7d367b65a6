import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Two cores: run test files in two forks so the suite's wall time stays low.
    pool: 'forks',
    // Node 20 runs relaxed SIMD only behind this flag (Deno, Bun and Chromium run it by
    // default): with it, the 'wasm-relaxed-simd' backend is tested like every other one.
    execArgv: ['--experimental-wasm-relaxed-simd'],
  },
});
