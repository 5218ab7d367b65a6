/**
 * What the published package carries besides the code (issue #11): the MIT licence text
 * that `license` names, the changelog, and the metadata registries show. The file list is
 * npm's own (`npm pack --dry-run`, scripts skipped so that nothing is built: dist/ is
 * checked by the runtime matrix's pack line).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const pkg = JSON.parse(readFileSync('package.json', 'utf8'));
const REPOSITORY = 'https://github.com/wasm-attention/wasm-attention';

describe('package metadata', () => {
  it('license_file_is_mit_and_in_the_tarball', () => {
    expect(pkg.license).toBe('MIT');
    const license = readFileSync('LICENSE', 'utf8');
    expect(license).toMatch(/^MIT License\n\nCopyright \(c\) 2026 the wasm-attention authors\n/);
    expect(license).toContain('THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND');

    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    const pack = spawnSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { encoding: 'utf8' });
    expect(pack.status, pack.stderr).toBe(0);
    const files = (JSON.parse(pack.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
    for (const name of ['LICENSE', 'README.md', 'CHANGELOG.md', 'package.json']) expect(files, `npm pack files`).toContain(name);
  });

  it('repository_homepage_bugs_keywords', () => {
    expect(pkg.repository).toEqual({ type: 'git', url: `git+${REPOSITORY}.git` });
    expect(pkg.homepage).toBe(`${REPOSITORY}#readme`);
    expect(pkg.bugs).toEqual({ url: `${REPOSITORY}/issues` });
    expect(pkg.keywords).toEqual(expect.arrayContaining(['attention', 'webassembly', 'simd']));
  });

  it('changelog_starts_at_0_1_0_and_has_unreleased', () => {
    const changelog = readFileSync('CHANGELOG.md', 'utf8');
    const versions = [...changelog.matchAll(/^## \[([^\]]+)\]/gm)].map((m) => m[1]);
    expect(versions[0]).toBe('Unreleased');
    expect(versions.at(-1)).toBe('0.1.0');
    expect(versions).toContain(pkg.version);
  });
});
