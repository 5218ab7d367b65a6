// The demo page in headless Chromium (line `demo` of the runtime matrix): it loads without
// console errors, the heatmaps of the default sentence render (non-blank, one per head,
// with a working hover tooltip), the quick benchmark completes and shows numbers, and a
// screenshot is written to test/artifacts/demo.png (ignored by git). The built folder is
// then served once more without COOP/COEP, as a plain static host would, and must still work.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { buildDemo } from '../../demo/build.mjs';
import { ensureChromium, launchChromium } from './chromium.mjs';
import { root } from './runtimes.mjs';
import { serveStatic } from './serve.mjs';

export const SCREENSHOT = join(root, 'test', 'artifacts', 'demo.png');

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
        `page loads clean (also from a host without COOP/COEP); ${heads} heatmaps (${ink.colours} colours); benchmark: ${rows.length} measurements on ${backends.join(', ')}` +
        (best ? `, best ${best[5]} GFLOP/s (${best[1]}, ${best[0]})` : '') +
        `; screenshot ${SCREENSHOT.slice(root.length + 1)}`,
      details: problems,
    };
  } finally {
    await browser.close();
    await server.close();
  }
}
