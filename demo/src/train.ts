/**
 * The Train tab (issue #14): the reverse-the-digits model of examples/reverse-model.ts, the
 * very module the Node example and test/examples.test.ts run, trained here in the page. One
 * `requestAnimationFrame` callback takes a few steps (at the chosen rate, or as many as fit
 * in FRAME_BUDGET_MS), then redraws the loss curve and every head's attention map on a fixed
 * probe sequence, so the page stays responsive while it learns.
 *
 * For the Chromium test (scripts/runtimes/demo-test.mjs) the section carries its state:
 * `data-state` (idle, running, paused, done), `data-step`, the model's stated target
 * (`data-threshold`, `data-budget`), and the loss curve rounded on the plot's figure
 * (`data-losses`).
 */
import type { AttentionInstance } from '../../src/index.js';
import { createReverseModel, LOSS_THRESHOLD, STEP_BUDGET, type ReverseModel } from '../../examples/reverse-model.js';
import { drawMatrix, viridis } from './heatmap.js';
import { drawLinePlot } from './plot.js';

/** Training stops here (the model is at ~1e-5 nats long before). */
export const MAX_STEPS = 300;

/** At most this much of a frame goes to training at the "fast" rate: 16.7 ms frames keep ~4 ms to draw. */
const FRAME_BUDGET_MS = 12;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

interface Run {
  model: ReverseModel;
  losses: number[];
  accuracy: number;
  /** Milliseconds spent in `step()`, for the status line. */
  trainingMs: number;
  /** Fractional steps owed at a fixed rate. */
  owed: number;
  lastFrame: number;
  frame: number;
}

/**
 * Wires the Train section: its controls, the model on the chosen backend, the drawing.
 * @param instances the page's attention instances by key ('auto' first)
 * @param tooltip the page's hover tooltip
 */
export function setupTrain(instances: ReadonlyMap<string, AttentionInstance>, tooltip: HTMLElement): void {
  const section = $('train');
  const button = $<HTMLButtonElement>('train-run');
  const backendSelect = $<HTMLSelectElement>('train-backend');
  for (const key of instances.keys()) backendSelect.add(new Option(key === 'auto' ? `auto (${instances.get('auto')!.backend})` : key, key));
  $('train-target').textContent = `below ${LOSS_THRESHOLD} nats within ${STEP_BUDGET} steps`;
  section.dataset.threshold = String(LOSS_THRESHOLD);
  section.dataset.budget = String(STEP_BUDGET);
  let run: Run | null = null;

  const setState = (state: 'idle' | 'running' | 'paused' | 'done') => {
    section.dataset.state = state;
    button.textContent = state === 'running' ? 'Pause' : state === 'paused' ? 'Resume' : 'Train';
  };

  const reset = () => {
    if (run) {
      cancelAnimationFrame(run.frame);
      run.model.dispose();
    }
    const instance = instances.get(backendSelect.value) ?? instances.get('auto')!;
    const positions = $<HTMLSelectElement>('train-positions').value === 'learned' ? 'learned' : 'rotary';
    const model = createReverseModel(instance, { seed: 1, layers: Number($<HTMLSelectElement>('train-layers').value), positions });
    run = { model, losses: [], accuracy: 0, trainingMs: 0, owed: 0, lastFrame: 0, frame: 0 };
    setState('idle');
    draw(run, instance.backend);
  };

  const draw = (r: Run, backend: string) => {
    section.dataset.step = String(r.model.steps);
    const loss = r.losses.at(-1);
    $('train-status').textContent =
      r.model.steps === 0
        ? `${backend} · seed 1 · ${r.model.options.positions === 'rotary' ? 'RoPE + learned positions' : 'learned positions'} · untrained`
        : `${backend} · step ${r.model.steps} · loss ${loss!.toFixed(4)} nats · batch accuracy ${(r.accuracy * 100).toFixed(1)}% · ${(r.trainingMs / r.model.steps).toFixed(1)} ms per step`;
    drawLoss(r.losses, tooltip);
    drawMaps(r.model, tooltip);
  };

  const tick = (now: number) => {
    const r = run!;
    const rate = $<HTMLSelectElement>('train-speed').value;
    const started = performance.now();
    // Steps this frame: at a fixed rate, those owed since the last frame (at most 4, so a
    // background tab does not come back to a burst); "fast": as many as fit in the budget.
    r.owed = rate === 'fast' ? Infinity : Math.min(4, r.owed + ((now - (r.lastFrame || now)) / 1000) * Number(rate) + (r.lastFrame ? 0 : 1));
    r.lastFrame = now;
    while (r.owed >= 1 && r.model.steps < MAX_STEPS && performance.now() - started < FRAME_BUDGET_MS) {
      const result = r.model.step();
      r.losses.push(result.loss);
      r.accuracy = result.accuracy;
      r.owed--;
    }
    r.trainingMs += performance.now() - started;
    if (rate === 'fast') r.owed = 0;
    draw(r, instances.get(backendSelect.value)?.backend ?? '');
    if (r.model.steps >= MAX_STEPS) setState('done');
    else r.frame = requestAnimationFrame(tick);
  };

  button.addEventListener('click', () => {
    if (!run || section.dataset.state === 'done') reset();
    if (section.dataset.state === 'running') {
      cancelAnimationFrame(run!.frame);
      setState('paused');
      return;
    }
    run!.lastFrame = 0;
    setState('running');
    run!.frame = requestAnimationFrame(tick);
  });
  $('train-reset').addEventListener('click', reset);
  backendSelect.addEventListener('change', reset);
  $('train-layers').addEventListener('change', reset);
  $('train-positions').addEventListener('change', reset);
  $('train-controls').addEventListener('submit', (event) => event.preventDefault());
  reset();
}

/** The loss per step, with the stated threshold as a dashed line. */
function drawLoss(losses: readonly number[], tooltip: HTMLElement): void {
  const figure = $('train-loss-figure');
  figure.dataset.losses = JSON.stringify(losses.map((y) => Math.round(y * 1e4) / 1e4));
  const xs = losses.length > 0 ? losses.map((_, n) => n) : [0];
  const ys = losses.length > 0 ? losses : [Math.log(8)];
  drawLinePlot($<HTMLCanvasElement>('train-loss'), tooltip, {
    xs,
    series: [
      { label: 'cross-entropy per token (nats)', color: '#0969da', ys },
      { label: `threshold ${LOSS_THRESHOLD}`, color: '#1a7f37', ys: xs.map(() => LOSS_THRESHOLD), dashed: true },
    ],
    xLabel: 'step',
    yLabel: 'loss (nats)',
    width: 560,
  });
}

/** Every head's map on the probe, one figure per (layer, head); colours 0…1 so change shows. */
function drawMaps(model: ReverseModel, tooltip: HTMLElement): void {
  const { digits, predicted, maps } = model.snapshot();
  const { length: L, numHeads: H } = model.options;
  $('train-probe').textContent = `probe ${digits.join(' ')} → model says ${predicted.join(' ')} (reversed: ${[...digits].reverse().join(' ')})`;
  const grid = $('train-heads');
  if (grid.childElementCount !== maps.length * H) {
    grid.replaceChildren();
    maps.forEach((_, l) => {
      for (let h = 0; h < H; h++) {
        const figure = document.createElement('figure');
        const caption = document.createElement('figcaption');
        caption.textContent = `layer ${l + 1} · head ${h + 1}`;
        const canvas = document.createElement('canvas');
        canvas.className = 'heatmap';
        canvas.dataset.layer = String(l);
        canvas.dataset.head = String(h);
        figure.append(caption, canvas);
        grid.append(figure);
      }
    });
  }
  const labels = Array.from(digits, (d, i) => `${i}: ${d}`);
  const canvases = grid.querySelectorAll('canvas');
  maps.forEach((map, l) => {
    for (let h = 0; h < H; h++) {
      const at = (i: number, j: number) => map[(h * L + i) * L + j]!;
      drawMatrix(canvases[l * H + h]!, tooltip, {
        rows: L,
        cols: L,
        value: at,
        rowLabels: labels,
        colLabels: labels,
        color: viridis,
        describe: (i, j) => `layer ${l + 1} head ${h + 1}: position ${i} → key ${j} (digit ${digits[j]}) = ${at(i, j).toFixed(4)}`,
        maxCell: 26,
        maxWidth: 240,
      });
    }
  });
}
