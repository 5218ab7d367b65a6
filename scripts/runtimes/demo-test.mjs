// The demo page in headless Chromium (line `demo` of the runtime matrix): it loads without
// console errors, the heatmaps of the default sentence render (non-blank, one per head,
// with a working hover tooltip) and change when a sliding window (cells hatched) or ALiBi is
// switched on, the Positions view draws its plot and heatmaps with a RoPE score curve that
// falls with distance, is the same from two starting positions and follows the base, the
// Train tab trains the shared model (examples/reverse-model.ts) in the page: its loss falls
// below the stated threshold within the step budget and every head's map changes between two
// snapshots (test/artifacts/demo-train.png), the quick benchmark completes and shows numbers,
// and a screenshot is written to test/artifacts/demo.png (ignored by git). The built folder is then served once more
// without COOP/COEP, as a plain static host would, and must still work.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildDemo } from '../../demo/build.mjs';
import { ensureChromium, launchChromium } from './chromium.mjs';
import { root } from './runtimes.mjs';
import { serveStatic } from './serve.mjs';

export const SCREENSHOT = join(root, 'test', 'artifacts', 'demo.png');
export const TRAIN_SCREENSHOT = join(root, 'test', 'artifacts', 'demo-train.png');

/** Pixels of a canvas that are drawn, and how many distinct colours they have. */
function canvasInk(canvas) {
  const { width, height } = canvas;
  const data = canvas.getContext('2d').getImageData(0, 0, width, height).data;
  const colours = new Set();
  let drawn = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] === 0) continue;
    drawn++;
    colours.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
  }
  return { width, height, drawn, colours: colours.size };
}

/** A digest of a canvas's pixels, and how many are the hatch grey of masked cells (#e4e4e7). */
function canvasDigest(canvas) {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let hash = 2166136261;
  let hatched = 0;
  for (let i = 0; i < data.length; i += 4) {
    hash = Math.imul(hash ^ ((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]), 16777619);
    if (data[i] === 0xe4 && data[i + 1] === 0xe4 && data[i + 2] === 0xe7) hatched++;
  }
  return { hash: hash >>> 0, hatched };
}

/**
 * The explorer's reactions: a sliding window hatches cells and changes the weights; ALiBi
 * changes them again and puts its slopes in the captions.
 * @returns a summary
 */
async function checkExplorerOptions(page, problems) {
  const first = () => page.$eval('#heads-grid canvas', canvasDigest);
  const plain = await first();
  await page.check('#window-on'); // shows the bounds (default [2, 2])
  await page.fill('#window-left', '1');
  await page.fill('#window-right', '0');
  const windowed = await first();
  if (windowed.hash === plain.hash) problems.push('explorer: the first heatmap did not change when the sliding window was switched on');
  if (!(windowed.hatched > plain.hatched)) problems.push(`explorer: window [1, 0] hatched no more cells (${plain.hatched} → ${windowed.hatched} grey pixels)`);
  await page.uncheck('#window-on');
  await page.check('#alibi');
  const biased = await first();
  const caption = await page.textContent('#heads-grid figcaption');
  if (biased.hash === plain.hash) problems.push('explorer: the first heatmap did not change with ALiBi');
  if (!/ALiBi slope 0\.250/.test(caption ?? '')) problems.push(`explorer: with ALiBi over 4 heads the first caption should give slope 0.250, got '${caption}'`);
  await page.uncheck('#alibi');
  return `window and ALiBi change the heatmap (${windowed.hatched} hatched pixels with window [1, 0])`;
}

/**
 * The Positions view: canvases drawn; the last query of the RoPE attention heatmap (24
 * identical tokens) weighs its own position most, and unevenly; the RoPE curve (score of identical vectors against
 * distance, 1 at distance 0) is not constant, equal from key positions 0 and 100 within
 * 1e-3 (f32 rotations of |x| ≈ 8, rounded to 4 decimals by the page), and moves with the base.
 * @returns a summary
 */
async function checkPositions(page, problems) {
  for (const id of ['pos-plot', 'pos-attention', 'pos-table']) {
    const ink = await page.$eval(`#${id}`, canvasInk);
    if (ink.colours < 5) problems.push(`positions: #${id} looks blank (${ink.colours} colours)`);
  }
  const lastRow = await page.$eval('#pos-attention', (c) => JSON.parse(c.dataset.lastRow));
  const peak = lastRow.indexOf(Math.max(...lastRow));
  if (peak !== lastRow.length - 1 || Math.max(...lastRow) - Math.min(...lastRow) < 0.01) {
    problems.push(`positions: RoPE attention of identical tokens should peak at distance 0 and vary, last row ${JSON.stringify(lastRow)}`);
  }
  const curves = () => page.$eval('#pos-curves', (f) => ({ rope: JSON.parse(f.dataset.rope), shifted: JSON.parse(f.dataset.ropeShifted), sinusoidal: JSON.parse(f.dataset.sinusoidal) }));
  const before = await curves();
  const spread = (ys) => Math.max(...ys) - Math.min(...ys);
  if (Math.abs(before.rope[0] - 1) > 1e-3 || spread(before.rope) < 0.2) problems.push(`positions: the RoPE curve should start at 1 and vary, got ${before.rope.slice(0, 6)}… (spread ${spread(before.rope)})`);
  if (Math.abs(before.sinusoidal[0] - 1) > 1e-3 || spread(before.sinusoidal) < 0.2) problems.push(`positions: the sinusoidal curve should start at 1 and vary, got ${before.sinusoidal.slice(0, 6)}…`);
  const gap = Math.max(...before.rope.map((y, n) => Math.abs(y - before.shifted[n])));
  if (!(gap <= 1e-3)) problems.push(`positions: RoPE scores from key positions 0 and 100 differ by up to ${gap} (want ≤ 1e-3)`);
  await page.selectOption('#pos-base', '100');
  const after = await curves();
  const moved = Math.max(...after.rope.map((y, n) => Math.abs(y - before.rope[n])));
  if (!(moved > 0.05)) problems.push(`positions: the RoPE curve did not follow the base (largest change ${moved})`);
  await page.selectOption('#pos-base', '10000');
  return `positions: RoPE curve spread ${spread(before.rope).toFixed(2)}, shift-invariant within ${gap.toExponential(1)}`;
}

/** Digests of every head's map in the Train tab, in (layer, head) order. */
function trainDigests(page) {
  return page.$$eval('#train-heads canvas', (canvases) =>
    canvases.map((canvas) => {
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      let hash = 2166136261;
      for (let i = 0; i < data.length; i += 4) hash = Math.imul(hash ^ ((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]), 16777619);
      return hash >>> 0;
    }),
  );
}

/**
 * The Train tab on the page's default backend: snapshot A after a few steps (paused), snapshot
 * B once the step budget is spent (resumed at full speed). The loss must start above 2 nats (chance is
 * ln 8 ≈ 2.08), fall below the threshold within the budget (examples/reverse-model.ts's
 * LOSS_THRESHOLD and STEP_BUDGET, as test/examples.test.ts states them for Node), and every
 * head's map must differ between A and B. Training runs in animation frames, so the page
 * runs other tasks between its steps.
 * @returns a summary
 */
async function checkTrain(page, problems) {
  // The page states the model module's own targets on the section (data-threshold, data-budget).
  const { LOSS_THRESHOLD, STEP_BUDGET } = await page.$eval('#train', (s) => ({ LOSS_THRESHOLD: Number(s.dataset.threshold), STEP_BUDGET: Number(s.dataset.budget) }));
  if (!(LOSS_THRESHOLD > 0 && STEP_BUDGET > 0)) problems.push(`train: the section states no target (threshold ${LOSS_THRESHOLD}, budget ${STEP_BUDGET})`);
  await page.locator('#train').scrollIntoViewIfNeeded();
  const heads = await page.$$eval('#train-heads canvas', (canvases) => canvases.length);
  if (heads !== 4) problems.push(`train: expected 4 head maps (1 layer × 4 heads), got ${heads}`);
  const untrained = await trainDigests(page);
  const step = () => page.$eval('#train', (s) => Number(s.dataset.step));
  // Snapshot A: a few steps at 10 steps/s (the page's default), then paused.
  await page.selectOption('#train-speed', '10');
  await page.click('#train-run');
  await page.waitForFunction(() => Number(document.getElementById('train').dataset.step) >= 3, null, { timeout: 60_000 });
  await page.click('#train-run');
  const paused = await page.$eval('#train', (s) => s.dataset.state);
  if (paused !== 'paused') problems.push(`train: the Train button should pause a running model, state '${paused}'`);
  const stepA = await step();
  const early = await trainDigests(page);
  // Resumed at full speed: the page still runs its own tasks between frames, so a
  // setTimeout(0) poll sees the step count climb (a loop that trained to the end in one task
  // would show two values at most).
  await page.selectOption('#train-speed', 'fast');
  await page.click('#train-run');
  const seen = await page.evaluate(
    (budget) =>
      new Promise((resolve) => {
        const values = new Set();
        const deadline = performance.now() + 60_000; // a model that stops early: report what was seen
        const poll = () => {
          const n = Number(document.getElementById('train').dataset.step);
          values.add(n);
          if (n >= budget || performance.now() > deadline) resolve([...values]);
          else setTimeout(poll, 0);
        };
        poll();
      }),
    STEP_BUDGET,
  );
  if (seen.length < 3) problems.push(`train: the page answered only at steps ${seen.join(', ')}: training should yield between frames`);
  await page.click('#train-run'); // pause again
  const late = await trainDigests(page);
  const stepB = await step();
  const losses = await page.$eval('#train-loss-figure', (f) => JSON.parse(f.dataset.losses));
  const inBudget = losses.slice(0, STEP_BUDGET);
  const best = Math.min(...inBudget);
  if (!(losses[0] > 2)) problems.push(`train: the first loss should be above 2 nats (chance ln 8), got ${losses[0]}`);
  if (!(best < LOSS_THRESHOLD)) problems.push(`train: the loss did not fall below ${LOSS_THRESHOLD} within ${STEP_BUDGET} steps (best ${best}, curve ${JSON.stringify(inBudget.filter((_, n) => n % 10 === 0))}…)`);
  const unchanged = late.map((hash, n) => (hash === early[n] ? n + 1 : 0)).filter(Boolean);
  if (unchanged.length > 0) problems.push(`train: the maps of heads ${unchanged.join(', ')} did not change between steps ${stepA} and ${stepB}`);
  if (early.every((hash, n) => hash === untrained[n])) problems.push(`train: no map changed in the first ${stepA} steps`);
  const probe = await page.textContent('#train-probe');
  const [, said, reversed] = /model says ([\d ]+) \(reversed: ([\d ]+)\)/.exec(probe ?? '') ?? [];
  if (!said || said !== reversed) problems.push(`train: after ${stepB} steps the model should reverse the probe: '${probe}'`);
  for (const id of ['train-loss']) {
    const ink = await page.$eval(`#${id}`, canvasInk);
    if (ink.colours < 5) problems.push(`train: #${id} looks blank (${ink.colours} colours)`);
  }
  mkdirSync(join(root, 'test', 'artifacts'), { recursive: true });
  await page.locator('#train').screenshot({ path: TRAIN_SCREENSHOT });
  const first = inBudget.findIndex((y) => y < LOSS_THRESHOLD);
  const perStep = /([\d.]+) ms per step/.exec((await page.textContent('#train-status')) ?? '')?.[1];
  return `train: loss ${losses[0]?.toFixed(3)} → below ${LOSS_THRESHOLD} at step ${first} (budget ${STEP_BUDGET}, ${perStep} ms a step), ${heads} maps all changed between steps ${stepA} and ${stepB}; the page answered at ${seen.length} step counts on the way`;
}

/**
 * @param {{ scratch: string }} options scratch: a folder for the built page
 * @returns {Promise<{ status: string, backend?: string, summary: string, details?: string[] }>}
 */
export async function runDemoTest({ scratch }) {
  const found = ensureChromium();
  if (!found.ok) return { status: 'skip', summary: found.reason };
  const site = await buildDemo(join(scratch, 'demo-site'));
  const server = await serveStatic(site);
  const browser = await launchChromium();
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (message) => message.type() === 'error' && problems.push(`console: ${message.text()}`));
    page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
    await page.goto(`${server.url}?bench=quick`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });

    // Explore: the default sentence, 4 heads.
    const heads = await page.$$eval('#heads-grid canvas', (canvases) => canvases.length);
    if (heads !== 4) problems.push(`expected 4 head heatmaps for the default settings, got ${heads}`);
    const ink = await page.$eval('#heads-grid canvas', canvasInk);
    if (ink.drawn < 0.5 * ink.width * ink.height || ink.colours < 20) {
      problems.push(`the first heatmap looks blank: ${ink.drawn} of ${ink.width}×${ink.height} pixels drawn, ${ink.colours} colours`);
    }
    const status = await page.textContent('#explore-status');
    const backend = status.split(' ')[0];
    const box = await page.locator('#heads-grid canvas').first().boundingBox();
    await page.mouse.move(box.x + box.width / 2, box.y + box.height - 6); // a cell of the last row
    const tip = await page.textContent('#tooltip');
    if (!/head 1: .* = \d\.\d{4}/.test(tip ?? '')) problems.push(`hovering a cell shows no value: '${tip}'`);
    await page.mouse.move(0, 0);
    const explorer = await checkExplorerOptions(page, problems);
    const positions = await checkPositions(page, problems);
    const train = await checkTrain(page, problems);

    // Benchmark: the quick preset, every backend.
    await page.click('#run');
    await page.waitForSelector('#benchmark[data-state="done"], #benchmark[data-state="error"]', { timeout: 180_000 });
    const rows = await page.$$eval('#results tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
    const rates = rows.map((cells) => Number(cells[5]));
    if (rows.length === 0 || !rates.every((r) => Number.isFinite(r) && r > 0)) problems.push(`the benchmark shows no numbers: ${JSON.stringify(rows)}`);
    const backends = [...new Set(rows.map((cells) => cells[1]))];

    mkdirSync(join(root, 'test', 'artifacts'), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // The same files from a plain static host (no COOP/COEP): the page still works.
    const plain = await serveStatic(site, { isolated: false });
    try {
      const again = await browser.newPage();
      again.on('pageerror', (error) => problems.push(`plain host: page error: ${error.message}`));
      await again.goto(plain.url);
      await again.waitForSelector('body[data-ready="true"]', { timeout: 30_000 });
      const isolated = await again.evaluate(() => globalThis.crossOriginIsolated);
      const drawn = await again.$eval('#heads-grid canvas', canvasInk);
      if (isolated || drawn.colours < 20) problems.push(`plain host: isolated=${isolated}, first heatmap ${drawn.colours} colours`);
    } finally {
      await plain.close();
    }
    const best = rows.reduce((a, b) => (Number(b[5]) > Number(a?.[5] ?? 0) ? b : a), null);
    return {
      status: problems.length === 0 ? 'pass' : 'fail',
      backend,
      summary:
        `page loads clean (also from a host without COOP/COEP); ${heads} heatmaps (${ink.colours} colours); ${explorer}; ${positions}; ${train}; benchmark: ${rows.length} measurements on ${backends.join(', ')}` +
        (best ? `, best ${best[5]} GFLOP/s (${best[1]}, ${best[0]})` : '') +
        `; screenshot ${SCREENSHOT.slice(root.length + 1)}`,
      details: problems,
    };
  } finally {
    await browser.close();
    await server.close();
  }
}
