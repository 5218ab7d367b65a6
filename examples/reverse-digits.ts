/**
 * The Node example of issue #14's "a model that learns": trains the reverse-the-digits model
 * of ./reverse-model.ts (embedding, `createMultiHeadAttention` layers, linear read-out,
 * softmax cross-entropy, Adam; the same module the demo page's Train tab runs) and returns
 * its losses. From seed 1 the loss falls below LOSS_THRESHOLD (0.05 nats) within STEP_BUDGET
 * (60) steps: test/examples.test.ts checks it on every backend.
 *
 * Run it: `node scripts/run-ts.mjs examples/reverse-digits.ts` prints the loss curve.
 * In an application, import from 'wasm-attention' and 'wasm-attention/backward' instead.
 */
import { createAttention, type BackendChoice } from '../src/index.js';
import { createReverseModel, LOSS_THRESHOLD, STEP_BUDGET, type ReverseModelOptions, type StepResult } from './reverse-model.js';

export { LOSS_THRESHOLD, STEP_BUDGET };

export interface TrainOptions extends ReverseModelOptions {
  readonly backend?: BackendChoice;
  /** Steps to take. Default 300. */
  readonly steps?: number;
  readonly onStep?: (step: number, loss: number, result: StepResult) => void;
}

/**
 * Trains the model and returns the loss of every step (mean cross-entropy per token, nats).
 * @param options the model's options, the step count and the backend
 * @returns the losses, in step order
 * @example
 * const losses = await trainReverse({ steps: STEP_BUDGET });
 */
export async function trainReverse(options: TrainOptions = {}): Promise<number[]> {
  const { backend = 'auto', steps = 300, onStep, ...modelOptions } = options;
  const model = createReverseModel(await createAttention({ backend }), modelOptions);
  const losses: number[] = [];
  try {
    for (let s = 0; s < steps; s++) {
      const result = model.step();
      losses.push(result.loss);
      onStep?.(s, result.loss, result);
    }
  } finally {
    model.dispose();
  }
  return losses;
}

// Run as the entry (the .ts, or run-ts's bundle of it): print the curve; imported: nothing.
if (typeof process !== 'undefined' && /(^|\/)reverse-digits(\.run\.mjs|\.ts)$/.test(process.argv[1] ?? '')) {
  await trainReverse({
    steps: STEP_BUDGET,
    onStep: (s, loss, { accuracy }) => console.log(`step ${String(s).padStart(3)}  loss ${loss.toFixed(4)}  accuracy ${(accuracy * 100).toFixed(1)}%`),
  });
}
