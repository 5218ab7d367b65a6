// Threads in Chromium (issue #6): `node test/threads-browser/run.mjs`.
//
// Bundles page.ts (the library from source) and src/threads/ as threads/index.js next to
// it, the way the package ships them; serves the folder twice, cross-origin isolated
// (COOP + COEP) and not; and checks in headless Chromium that
//   - isolated: the instance runs 2 threads, bit-identical to one thread, without warning;
//   - not isolated: it runs 1 thread and warns once, naming the two headers that fix it.
// Uses the runtime matrix's Chromium and static server (scripts/runtimes/). Exits 1 on failure.
import { mkdtempSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { ensureChromium, launchChromium } from '../../scripts/runtimes/chromium.mjs';
import { serveStatic } from '../../scripts/runtimes/serve.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'wasm-attention-threads-browser-'));
await build({
  entryPoints: [{ in: join(here, 'page.ts'), out: 'page' }, { in: join(root, 'src/threads/index.ts'), out: 'threads/index' }],
  outdir: dir, bundle: true, format: 'esm', platform: 'browser', target: 'es2022', logLevel: 'error',
});
copyFileSync(join(here, 'index.html'), join(dir, 'index.html'));

const chromium = ensureChromium();
if (!chromium.ok) {
  console.log(`SKIPPED: ${chromium.reason}`);
  process.exit(process.env.CI ? 1 : 0);
}
const browser = await launchChromium();
let failed = false;
const check = (ok, what) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  failed ||= !ok;
};
try {
  for (const isolated of [true, false]) {
    const server = await serveStatic(dir, { isolated });
    const page = await browser.newPage();
    await page.goto(server.url);
    const result = await page.evaluate(() => globalThis.__result);
    await page.close();
    await server.close();
    console.log(JSON.stringify({ isolated, ...result }));
    if (result.error) {
      check(false, `page threw: ${result.error}`);
      continue;
    }
    check(result.crossOriginIsolated === isolated, `crossOriginIsolated is ${isolated}`);
    check(result.identical, 'threaded output is bit-identical to one thread');
    if (isolated) {
      check(result.threads === 2 && result.threadsAgain === 2, 'isolated page runs 2 threads');
      check(result.warnings.length === 0, 'no warning');
    } else {
      check(result.threads === 1 && result.threadsAgain === 1, 'page without isolation runs 1 thread');
      check(result.warnings.length === 1 && /Cross-Origin-Opener-Policy: same-origin/.test(result.warnings[0]) && /Cross-Origin-Embedder-Policy: require-corp/.test(result.warnings[0]),
        'one warning, naming both headers');
    }
  }
} finally {
  await browser.close();
}
console.log(chromium.version);
process.exit(failed ? 1 : 0);
