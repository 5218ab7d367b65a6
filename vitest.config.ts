import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Two cores: run test files in two forks so the suite's wall time stays low.
    pool: 'forks',
  },
});
