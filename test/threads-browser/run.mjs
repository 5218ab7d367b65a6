// Threads in Chromium (issue #6): lines `chromium threads` and `chromium no-coop` of the
// runtime matrix (scripts/runtimes/matrix.mjs, on the packed package), or alone, on src/
// without packing: `node test/threads-browser/run.mjs` (exits 1 on a failure, or on a skip
// under CI=true).
//
// Bundles page.ts with the library and puts threads/index.js next to it, where the package's
// entry imports it from; serves the folder twice, cross-origin isolated (COOP + COEP) and not,
// and checks in headless Chromium that
//   - isolated (`chromium threads`): both instances run 2 threads; plain, causal and GQA
//     threaded calls are bit-identical to one thread; nothing is warned; the browser runs one
//     worker per instance, none once dispose() returned, and a later call rejects;
//   - not isolated (`chromium no-coop`): both instances run 1 thread, with the same results,
//     no worker, and exactly one console warning for the two, naming both headers.
// Workers are counted by the browser (Playwright's page.workers(), from the DevTools
// protocol), not by the library: a terminate() that did not end a worker would show.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';
import { bundleBrowserPage } from '../../scripts/runtimes/bundle.mjs';
import { ensureChromium, launchChromium } from '../../scripts/runtimes/chromium.mjs';
import { serveStatic } from '../../scripts/runtimes/serve.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

/** The result lines, in order: the page served with COOP/COEP, then without. */
export const VARIANTS = ['chromium threads', 'chromium no-coop'];
const HEADERS = [/Cross-Origin-Opener-Policy: same-origin/, /Cross-Origin-Embedder-Policy: require-corp/];
/** How long dispose() may take to end the workers, as the browser reports it. */
const WORKERS_END_MS = 5_000;

/** Rejects if `promise` has not settled after `ms` (a page that hangs must not hang the matrix). */
function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Polls `count()` until it is 0 or `ms` passed; returns its last value. */
async function countDownToZero(count, ms) {
  const deadline = Date.now() + ms;
  while (count() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return count();
}

/** The page folder: page.js, and threads/index.js (the packed one, or built from src/). */
async function buildSite(dir, project) {
  mkdirSync(join(dir, 'threads'), { recursive: true });
  await bundleBrowserPage(join(here, 'page.ts'), { project, outfile: join(dir, 'page.js') });
  const threads = join(dir, 'threads', 'index.js');
  if (project) copyFileSync(join(project, 'node_modules', 'wasm-attention', 'dist', 'threads', 'index.js'), threads);
  else await build({ entryPoints: [join(root, 'src', 'threads', 'index.ts')], outfile: threads, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'warning' });
  copyFileSync(join(here, 'index.html'), join(dir, 'index.html'));
}

/** Loads the page from `url` and judges it; the result line of one variant. */
async function checkPage(browser, url, isolated) {
  const page = await browser.newPage();
  const warnings = [];
  const problems = [];
  page.on('console', (message) => {
    if (message.type() === 'warning') warnings.push(message.text());
    else if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  const check = (ok, what) => ok || problems.push(what);
  try {
    await page.goto(url);
    await page.waitForFunction(() => globalThis.threadsPage !== undefined, null, { timeout: 30_000 });
    const ran = await within(120_000, 'the threaded calls', page.evaluate(() => globalThis.threadsPage.ran));
    if (ran.error) return { status: 'fail', summary: `the page threw: ${ran.error}`, details: problems };
    const liveWorkers = page.workers().length;
    const disposed = await within(30_000, 'dispose()', page.evaluate(() => globalThis.threadsPage.dispose()));
    if (disposed.error) return { status: 'fail', summary: `dispose() threw: ${disposed.error}`, details: problems };
    const workersLeft = await countDownToZero(() => page.workers().length, WORKERS_END_MS);

    const threads = isolated ? 2 : 1;
    check(ran.crossOriginIsolated === isolated, `expected crossOriginIsolated ${isolated}, got ${ran.crossOriginIsolated}`);
    check(ran.threads.every((t) => t === threads), `expected both instances to run ${threads} threads, got ${ran.threads.join(' and ')}`);
    for (const [name, difference] of Object.entries(ran.differences)) {
      check(difference === null, `${name} call: threaded output differs from one thread at ${difference}`);
    }
    check(liveWorkers === 2 * (threads - 1), `expected ${2 * (threads - 1)} live workers (${threads - 1} per instance), the browser reports ${liveWorkers}`);
    check(workersLeft === 0, `${workersLeft} workers still running ${WORKERS_END_MS / 1000} s after dispose()`);
    if (isolated) {
      check(disposed.afterDispose.startsWith('rejected'), `expected a call after dispose() to reject, it ${disposed.afterDispose}`);
      check(warnings.length === 0, `expected no warning, got ${warnings.length}: ${JSON.stringify(warnings)}`);
    } else {
      const named = warnings.length === 1 && HEADERS.every((header) => header.test(warnings[0]));
      check(named, `expected exactly one warning naming both headers, got ${warnings.length}: ${JSON.stringify(warnings)}`);
    }

    const calls = Object.keys(ran.differences).join(', ');
    const timing = `H8 L512 D64 ${ran.ms1.toFixed(1)} ms on 1 thread, ${ran.ms2.toFixed(1)} ms threaded (not judged)`;
    const summary = isolated
      ? `2 instances × 2 threads; ${calls} bit-identical to 1 thread; ${liveWorkers} workers, ${workersLeft} after dispose(), later call ${disposed.afterDispose.split(':')[0]}; ${timing}`
      : `not isolated: 2 instances × ${ran.threads[0]} thread, ${warnings.length} warning naming both headers; ${calls} identical; ${liveWorkers} workers`;
    return { status: problems.length === 0 ? 'pass' : 'fail', backend: ran.backend, summary, details: problems };
  } finally {
    await page.close();
  }
}

/**
 * Runs the page in headless Chromium, isolated and not.
 * @param {{ scratch: string, project?: string | null }} options scratch: a folder for the
 *   built page; project: where the packed package is installed (null: the library from src/)
 * @returns {Promise<Record<string, { status: string, backend?: string, summary: string, details?: string[] }>>}
 *   one result per name of {@link VARIANTS}
 */
export async function runThreadsBrowserTest({ scratch, project = null }) {
  const found = ensureChromium();
  if (!found.ok) return Object.fromEntries(VARIANTS.map((v) => [v, { status: 'skip', summary: found.reason }]));
  const dir = join(scratch, 'threads-browser');
  await buildSite(dir, project);
  const browser = await launchChromium();
  try {
    const results = {};
    for (const [name, isolated] of [[VARIANTS[0], true], [VARIANTS[1], false]]) {
      const server = await serveStatic(dir, { isolated });
      try {
        results[name] = await checkPage(browser, server.url, isolated);
      } finally {
        await server.close();
      }
    }
    return results;
  } finally {
    await browser.close();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const scratch = mkdtempSync(join(tmpdir(), 'wasm-attention-threads-browser-'));
  let failed = false;
  try {
    const results = await runThreadsBrowserTest({ scratch });
    for (const name of VARIANTS) {
      const { status, backend = '-', summary, details = [] } = results[name];
      console.log(`${status.toUpperCase()}  ${name.padEnd(16)}  ${backend}  ${summary}`);
      for (const detail of details) console.log(`      ${detail}`);
      failed ||= status === 'fail' || (status === 'skip' && ['true', '1'].includes(process.env.CI ?? ''));
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  process.exitCode = failed ? 1 : 0;
}
