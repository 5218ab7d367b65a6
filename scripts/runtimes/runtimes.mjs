// The runtimes of the matrix: how each is found (or installed), how the conformance
// bundle runs in it, and what it must report. Node, Deno and Bun share one bundle,
// `<project>/conformance-cli.mjs`, made once by the first of them. Besides the host's Node,
// the pinned Node lines (node-lines.mjs: 22, 24, 26) run that bundle and the vitest suite;
// every Node is started with the flags its version needs (../node-flags.mjs).
// Each `run` resolves to a Result (the Chromium entry: one per variant, by name):
//   { status: 'pass' | 'fail' | 'skip', backend?: string, runtime?: string, summary: string, details?: string[] }
// A runtime that cannot run here gives `skip` with the reason; scripts/runtimes/matrix.mjs
// turns that into a failure under CI=true.
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { nodeFlags } from '../node-flags.mjs';
import { bundleConformance } from './bundle.mjs';
import { ensureChromium, launchChromium } from './chromium.mjs';
import { ensureNodeLines, NODE_LINES } from './node-lines.mjs';
import { serveStatic } from './serve.mjs';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const RELAXED = 'wasm-relaxed-simd';
const KERNELS = ['attention-simd.wasm', 'attention-relaxed.wasm'];

/** The backend `auto` must pick for the features a runtime reports. */
function bestBackend(features) {
  return features.relaxedSimd ? RELAXED : features.simd ? 'wasm-simd' : 'js';
}

/**
 * Judges a conformance report: every case passed, and `auto` picked the fastest backend
 * the runtime has (or exactly `expect.backend`), plus the runtime-specific `expect.check`.
 */
function judge(report, expect = {}) {
  if (!report || report.error) return { status: 'fail', summary: `did not run: ${report?.error ?? 'no report'}` };
  const problems = [...report.failures];
  const wanted = expect.backend ?? bestBackend(report.features);
  if (report.autoBackend !== wanted) problems.push(`auto picked ${report.autoBackend}, expected ${wanted} (features ${JSON.stringify(report.features)})`);
  if (!report.backends.includes('js')) problems.push('the JS fallback was not tested');
  if (report.features.simd && !report.backends.includes('module:wasm-simd')) problems.push('no instance was created from a precompiled module');
  problems.push(...(expect.check?.(report) ?? []));
  const total = report.passed + report.failed;
  const on = report.backends.join(', ');
  const cases = report.failed === 0 ? `${total}/${total} case runs pass on ${on}` : `${report.failed} of ${total} case runs FAILED on ${on}`;
  return {
    status: problems.length === 0 ? 'pass' : 'fail',
    backend: report.autoBackend,
    runtime: report.runtime,
    summary: cases,
    details: problems,
  };
}

/** Version of an installed package, for the report line. */
function versionOf(name) {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}

/** Runs a command; parses its `REPORT {json}` line. */
async function reportOf(command, args, options) {
  let stdout = '';
  let stderr = '';
  try {
    ({ stdout, stderr } = await promisify(execFile)(command, args, { maxBuffer: 64 << 20, timeout: 120_000, ...options }));
  } catch (error) {
    ({ stdout = '', stderr = '' } = error); // a failing case sets exit code 1; the report still says which
    if (!stdout.includes('REPORT ')) return { error: `${command} exited ${error.code ?? error.signal}: ${(stderr || error.message).trim().slice(-600)}` };
  }
  const line = stdout.split('\n').find((l) => l.startsWith('REPORT '));
  return line ? JSON.parse(line.slice(7)) : { error: `no REPORT line; stderr: ${stderr.trim().slice(-600)}` };
}

/**
 * Finds the binary of an npm-installed runtime (the `bin` its package.json declares) and
 * checks that it answers `--version`. If it does not (its install script did not run:
 * npm --ignore-scripts, or allowScripts denied it; bun's bin is then a placeholder), runs
 * that install script once and tries again.
 * @returns {{ ok: true, path: string, version: string } | { ok: false, reason: string }}
 */
function ensureNpmBinary(name, installScript) {
  const dir = join(root, 'node_modules', name);
  if (!existsSync(join(dir, 'package.json'))) return { ok: false, reason: `${name} is not installed (npm ci installs it: devDependency '${name}')` };
  const declared = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).bin;
  const path = join(dir, typeof declared === 'string' ? declared : declared[name]);
  const tryVersion = () => {
    try {
      return execFileSync(path, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 }).trim().split('\n')[0];
    } catch {
      return null;
    }
  };
  let version = tryVersion();
  if (!version) {
    try {
      execFileSync(process.execPath, [installScript], { cwd: dir, stdio: 'pipe', timeout: 120_000 });
    } catch (error) {
      return { ok: false, reason: `${path} does not run, and node_modules/${name}/${installScript} failed: ${String(error.stderr ?? error.message).trim().slice(-300)}` };
    }
    version = tryVersion();
  }
  return version ? { ok: true, path, version } : { ok: false, reason: `${path} does not run, even after its install script` };
}

// ---------------------------------------------------------------------------------------

let cliBundle;
/** The bundle Node, Deno and Bun run: made once, in the project so `wasm-attention` resolves there. */
function bundleCli(project) {
  cliBundle ??= bundleConformance('cli', { project, outfile: join(project, 'conformance-cli.mjs') }).then(() => join(project, 'conformance-cli.mjs'));
  return cliBundle;
}

/**
 * The host's Node, on the ESM entry through the `node` condition: `node` as started by
 * default (auto must pick the best backend that Node has: wasm-simd on Node 20), `node
 * relaxed` with the flags of its version (../node-flags.mjs), where auto must pick relaxed SIMD.
 */
function nodeRuntime(name, nodeArgs, expect) {
  return {
    name,
    async run({ project }) {
      return judge(await reportOf(process.execPath, [...nodeArgs, await bundleCli(project)], { cwd: project }), expect);
    },
  };
}

/**
 * A pinned Node line (`node22`, ...): the same bundle, with the flags of that version (none
 * on 22+, where relaxed SIMD is on by default, so auto must pick it with no flag at all).
 */
function pinnedNodeRuntime(name) {
  return {
    name,
    async run({ project, log }) {
      const found = (await ensureNodeLines(log)).get(name);
      if (!found.ok) return { status: 'skip', summary: found.reason };
      const args = [...nodeFlags(found.version), await bundleCli(project)];
      const verdict = judge(await reportOf(found.path, args, { cwd: project }), { backend: RELAXED });
      return { ...verdict, summary: `${verdict.summary}; flags: ${args.length > 1 ? args.slice(0, -1).join(' ') : '(none)'}` };
    },
  };
}

// Last lines of vitest's summary, e.g. ` Test Files  18 passed (18)`, `      Tests  2295 passed | 5 skipped (2300)`.
const ANSI = /\x1b\[[0-9;]*m/g;
const summaryLine = (output, label) => output.split('\n').map((l) => l.trim()).find((l) => l.startsWith(label))?.slice(label.length).trim();

/**
 * The whole vitest suite (`vitest run`, this repository's sources) on a pinned Node line:
 * vitest's forks run on that binary, with the flags vitest.config.ts asks of
 * ../node-flags.mjs for its version. Passes when vitest exits 0.
 */
function vitestRuntime(line) {
  return {
    name: `vitest ${line}`,
    async run({ log }) {
      const found = (await ensureNodeLines(log)).get(line);
      if (!found.ok) return { status: 'skip', summary: found.reason };
      const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
      if (!existsSync(vitest)) return { status: 'skip', summary: `${vitest} is missing (npm ci installs vitest)` };
      let output;
      let failure = null;
      try {
        const { stdout, stderr } = await promisify(execFile)(found.path, [vitest, 'run'], {
          cwd: root,
          env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
          maxBuffer: 256 << 20,
          timeout: 20 * 60_000,
        });
        output = `${stdout}\n${stderr}`;
      } catch (error) {
        output = `${error.stdout ?? ''}\n${error.stderr ?? ''}`;
        failure = `vitest exited ${error.code ?? error.signal}`;
      }
      output = output.replace(ANSI, '');
      const files = summaryLine(output, 'Test Files');
      const tests = summaryLine(output, 'Tests');
      const flags = nodeFlags(found.version).join(' ') || '(none)';
      const runtime = `Node ${found.version}, vitest ${versionOf('vitest')}`;
      if (!failure && files && tests) return { status: 'pass', backend: 'every backend', runtime, summary: `files ${files}; tests ${tests}; flags: ${flags}` };
      const failed = output.split('\n').filter((l) => /^\s*(FAIL|×)\s/.test(l) || /Error:/.test(l)).slice(0, 20);
      return {
        status: 'fail',
        runtime,
        summary: `${failure ?? 'no vitest summary'}; files ${files ?? '?'}; tests ${tests ?? '?'}; flags: ${flags}`,
        details: failed.length > 0 ? failed : [output.trim().slice(-1500)],
      };
    },
  };
}

const deno = {
  name: 'deno',
  async run({ project, scratch }) {
    const found = ensureNpmBinary('deno', 'install.cjs');
    if (!found.ok) return { status: 'skip', summary: found.reason };
    // Deno reads package.json and node_modules/ of the project (the `deno` condition).
    const env = { ...process.env, DENO_DIR: join(scratch, 'deno-dir'), DENO_NO_UPDATE_CHECK: '1', NO_COLOR: '1' };
    const args = ['run', '--quiet', '--no-prompt', '--allow-read', '--allow-env', await bundleCli(project)];
    return judge(await reportOf(found.path, args, { cwd: project, env }), { backend: RELAXED });
  },
};

const bun = {
  name: 'bun',
  async run({ project }) {
    const found = ensureNpmBinary('bun', 'install.js');
    if (!found.ok) return { status: 'skip', summary: found.reason };
    return judge(await reportOf(found.path, ['run', await bundleCli(project)], { cwd: project, env: { ...process.env, NO_COLOR: '1' } }));
  },
};

const noCodegen = (report) => (report.features.compileFromBytes ? ['compiling WebAssembly from bytes was allowed: the test does not prove the module path'] : []);

const workerd = {
  name: 'workerd',
  async run({ project, scratch }) {
    let Miniflare;
    try {
      ({ Miniflare } = await import('miniflare'));
    } catch (error) {
      return { status: 'skip', summary: `miniflare is not installed (devDependency): ${error.message}` };
    }
    const dir = join(scratch, 'workerd');
    mkdirSync(dir, { recursive: true });
    const worker = join(dir, 'worker.js');
    await bundleConformance('workerd', { project, outfile: worker });
    const modules = [{ type: 'ESModule', path: worker, contents: readFileSync(worker, 'utf8') }];
    for (const kernel of KERNELS) {
      // The package's dist/workerd.js imports ./attention-*.wasm: wrangler uploads them as
      // CompiledWasm modules next to the worker; so does this.
      const path = join(dir, kernel);
      copyFileSync(join(project, 'node_modules', 'wasm-attention', 'dist', kernel), path);
      modules.push({ type: 'CompiledWasm', path, contents: readFileSync(path) });
    }
    const mf = new Miniflare({ modules, modulesRoot: dir, compatibilityDate: '2026-04-01' });
    try {
      const response = await mf.dispatchFetch('http://localhost/');
      const verdict = judge(await response.json(), { backend: RELAXED, check: noCodegen });
      return { ...verdict, runtime: `workerd ${versionOf('workerd')} via miniflare ${versionOf('miniflare')}` };
    } finally {
      await mf.dispose();
    }
  },
};

const edgeRuntime = {
  name: 'edge-runtime',
  async run({ project, scratch }) {
    if (!existsSync(join(root, 'node_modules', 'edge-runtime'))) return { status: 'skip', summary: 'edge-runtime is not installed (devDependency)' };
    const bundle = join(scratch, 'edge-conformance.js');
    await bundleConformance('edge', { project, outfile: bundle });
    // The VM shares the host's V8: Node 20 validates relaxed SIMD only behind a flag.
    const args = [...nodeFlags(), join(root, 'scripts', 'runtimes', 'edge-runtime-host.mjs'), bundle];
    args.push(join(project, 'node_modules', 'wasm-attention', 'dist'));
    const verdict = judge(await reportOf(process.execPath, args, { cwd: root }), { backend: RELAXED, check: noCodegen });
    return { ...verdict, runtime: `edge-runtime ${versionOf('edge-runtime')}, code generation off, on Node ${process.versions.node}` };
  },
};

// ---------------------------------------------------------------------------------------
// Chromium: one browser, several pages
// ---------------------------------------------------------------------------------------

const CSP = "default-src 'self'; img-src 'self' data:; script-src 'self' 'wasm-unsafe-eval'";

/** The pages of the Chromium variants, written into `www`. */
function writePages(www) {
  const page = (scripts) => `<!doctype html><html><head><meta charset="utf-8"><title>wasm-attention conformance</title><link rel="icon" href="data:,">\n${scripts}\n</head><body>running…</body></html>\n`;
  writeFileSync(join(www, 'conformance.html'), page('<script type="module" src="conformance.js"></script>'));
  // A classic script runs before any module script: the page then has no WebAssembly at all.
  writeFileSync(join(www, 'no-wasm.js'), 'delete globalThis.WebAssembly;\n');
  writeFileSync(join(www, 'no-wasm.html'), page('<script src="no-wasm.js"></script>\n<script type="module" src="conformance.js"></script>'));
  // Proves the CSP is in force: eval must be refused ('unsafe-eval' is not granted).
  writeFileSync(join(www, 'csp-probe.js'), "try { new Function('return 1')(); window.evalAllowed = true; } catch { window.evalAllowed = false; }\n");
  writeFileSync(join(www, 'csp.html'), page('<script src="csp-probe.js"></script>\n<script type="module" src="conformance.js"></script>'));
}

/** Loads one page, waits for its report, collects console errors. */
async function runPage(browser, url, { allowedConsole = [] } = {}) {
  const page = await browser.newPage();
  const errors = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !allowedConsole.some((re) => re.test(message.text()))) errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  try {
    await page.goto(url);
    await page.waitForFunction(() => window.conformanceReport !== undefined, null, { timeout: 60_000 });
    const report = await page.evaluate(() => window.conformanceReport);
    const evalAllowed = await page.evaluate(() => window.evalAllowed);
    return { report, evalAllowed, errors };
  } finally {
    await page.close();
  }
}

/**
 * The Chromium variants share one browser and one server, so they are one runtime entry
 * that yields several results (`chromium`, `chromium no-wasm`, `chromium csp`).
 */
const chromium = {
  name: 'chromium',
  variants: ['chromium', 'chromium no-wasm', 'chromium csp'],
  async run({ project, scratch, log }) {
    const found = ensureChromium(log);
    if (!found.ok) return Object.fromEntries(this.variants.map((v) => [v, { status: 'skip', summary: found.reason }]));
    const www = join(scratch, 'www');
    mkdirSync(www, { recursive: true });
    await bundleConformance('browser', { project, outfile: join(www, 'conformance.js') });
    copyFileSync(join(project, 'node_modules', 'wasm-attention', 'dist', 'attention-simd.wasm'), join(www, 'attention-simd.wasm'));
    writePages(www);
    const server = await serveStatic(www, { headersFor: (path) => (path === '/csp.html' ? { 'Content-Security-Policy': CSP } : {}) });
    const browser = await launchChromium();
    try {
      const withErrors = (verdict, errors) =>
        errors.length === 0 ? verdict : { ...verdict, status: 'fail', details: [...(verdict.details ?? []), ...errors] };
      const isolated = (report) => (report.features.crossOriginIsolated ? [] : ['the page is not cross-origin isolated (COOP/COEP)']);

      const plain = await runPage(browser, `${server.url}conformance.html`);
      const noWasm = await runPage(browser, `${server.url}no-wasm.html`);
      const csp = await runPage(browser, `${server.url}csp.html`, { allowedConsole: [/unsafe-eval/] });
      return {
        chromium: withErrors(judge(plain.report, { backend: RELAXED, check: isolated }), plain.errors),
        'chromium no-wasm': withErrors(
          judge(noWasm.report, {
            backend: 'js',
            check: (r) => (r.backends.join() === 'js' && !r.features.webAssembly ? [] : [`WebAssembly was still there: backends ${r.backends}`]),
          }),
          noWasm.errors,
        ),
        'chromium csp': withErrors(
          judge(csp.report, { backend: RELAXED, check: () => (csp.evalAllowed === false ? [] : ["eval was allowed: the CSP without 'unsafe-eval' is not in force"]) }),
          csp.errors,
        ),
      };
    } finally {
      await browser.close();
      await server.close();
    }
  },
};

/**
 * Every runtime, in the order the matrix starts them (two at a time): the vitest lines
 * first, as the longest (≈ 1–2 min each), so the short ones fill the other core.
 */
export const RUNTIMES = [
  ...NODE_LINES.map(({ name }) => vitestRuntime(name)),
  nodeRuntime('node', [], {}),
  nodeRuntime('node relaxed', nodeFlags(), { backend: RELAXED }),
  ...NODE_LINES.map(({ name }) => pinnedNodeRuntime(name)),
  chromium,
  deno,
  bun,
  workerd,
  edgeRuntime,
];
