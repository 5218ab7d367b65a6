// examples/reverse-digits.ts learns (issue #14): from seed 1, the mean cross-entropy per
// token falls below 0.05 nats within 60 Adam steps on every backend. Output position i must
// name input token L−1−i, independent of token i, so a model without attention cannot beat
// ln(8) ≈ 2.079 nats: the control run (the same model, no attention layer) stays above 2.
// Measured on this seed: 2.124 at step 0, 0.957 at 15, 0.031 at 25, below 0.001 from 40,
// the same to 3 decimals on the three backends.
import { describe, expect, it } from 'vitest';
import { BACKEND_NAMES, isBackendAvailable } from '../src/index.js';
import { trainReverse } from '../examples/reverse-digits.js';

const STEPS = 60;
const THRESHOLD = 0.05;

describe.each(BACKEND_NAMES.filter(isBackendAvailable))('examples/reverse-digits on %s', (backend) => {
  it(`reaches a loss below ${THRESHOLD} within ${STEPS} steps`, async () => {
    const losses = await trainReverse({ backend, steps: STEPS, seed: 1 });
    expect(losses[0]).toBeGreaterThan(2);
    expect(Math.min(...losses)).toBeLessThan(THRESHOLD);
  }, 600_000);
});

it('the control without attention stays above 2 nats', async () => {
  const losses = await trainReverse({ backend: 'js', steps: STEPS, seed: 1, attention: false });
  expect(Math.min(...losses.slice(-10))).toBeGreaterThan(2);
}, 600_000);
