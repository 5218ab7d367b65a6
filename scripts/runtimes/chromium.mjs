// Headless Chromium for the runtime matrix and the demo test: Debian's `chromium` package
// (Playwright cannot download its own browser here), driven by playwright-core.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

export const CHROMIUM = '/usr/bin/chromium';

/**
 * Without the background-networking flags Chromium keeps opening connections that this
 * machine's closed network refuses; --no-sandbox because CI runs as root.
 */
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Makes sure /usr/bin/chromium exists: as root, installs Debian's `chromium` (and a font)
 * with apt-get (`apt-get update` first); otherwise says what to run.
 * @returns {{ ok: true, version: string, installed: boolean } | { ok: false, reason: string }}
 */
export function ensureChromium(log = console.log) {
  let installed = false;
  if (!existsSync(CHROMIUM)) {
    if (process.getuid?.() !== 0) {
      return { ok: false, reason: `${CHROMIUM} is missing; install it with: sudo apt-get update && sudo apt-get install -y chromium` };
    }
    log('chromium: installing Debian chromium with apt-get (once per machine)...');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const update = spawnSync('apt-get', ['update', '-q'], { env, encoding: 'utf8' });
    if (update.status !== 0) return { ok: false, reason: `apt-get update failed: ${(update.stderr || update.stdout).trim().slice(-400)}` };
    const install = spawnSync('apt-get', ['install', '-y', '-q', 'chromium', 'fonts-dejavu-core'], { env, encoding: 'utf8' });
    if (install.status !== 0) return { ok: false, reason: `apt-get install chromium failed: ${(install.stderr || install.stdout).trim().slice(-400)}` };
    installed = true;
  }
  try {
    const version = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return { ok: true, version, installed };
  } catch (error) {
    return { ok: false, reason: `${CHROMIUM} --version failed: ${error.message}` };
  }
}

/**
 * Launches headless Chromium (Playwright gives it a new, empty profile).
 * @returns {Promise<import('playwright-core').Browser>}
 */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}
