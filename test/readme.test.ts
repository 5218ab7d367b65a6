/**
 * The README's examples run as written (issue #11). Every fenced block of README.md is
 * either run or explicitly marked:
 * - ```ts / ```js blocks run, verbatim: each is bundled with esbuild as an application
 *   would bundle it (`wasm-attention` resolved to src/index.ts, src/threads/ built as
 *   threads/index.js next to it, as in dist/), then run by `node` in a process of its own;
 *   it must exit 0 and print nothing to stderr (a warning, e.g. threads falling back to
 *   one thread, fails it);
 * - ```ts no-run REASON (or js) blocks are not run; the reason is required;
 * - ```sh blocks are shell commands, not run;
 * - any other fence (no language, another one) fails, so no block goes unnoticed.
 *
 * ```ts blocks are also type-checked (strict, against src/index.ts), as a TypeScript user
 * would compile them. A block's file holds blank lines before its code, so its line
 * numbers are README.md's: a type error, or (with source maps) a throw, names its README line.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build, type Plugin } from 'esbuild';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface Block {
  /** README line of the opening fence. */
  readonly line: number;
  readonly lang: string;
  /** Text after the language in the fence (`no-run <reason>`). */
  readonly info: string;
  readonly code: string;
}

const README = resolve('README.md');
const RUN_LANGS = new Set(['ts', 'js']);
const SHELL_LANGS = new Set(['sh']);

function fencedBlocks(text: string): Block[] {
  const lines = text.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*(.*)$/.exec(lines[i]!);
    if (!open) continue;
    const start = i;
    while (++i < lines.length && !/^```\s*$/.test(lines[i]!));
    if (i === lines.length) throw new Error(`README.md:${start + 1}: unclosed code fence`);
    blocks.push({ line: start + 1, lang: open[1]!, info: open[2]!.trim(), code: lines.slice(start + 1, i).join('\n') });
  }
  return blocks;
}

const blocks = fencedBlocks(readFileSync(README, 'utf8'));
const runnable = blocks.filter((b) => RUN_LANGS.has(b.lang) && !b.info.startsWith('no-run'));

/** The block's source file: blank lines, then its code from README line `line + 1` on. */
const fileOf = (block: Block) => `README.md-L${block.line}.ts`;

/** `wasm-attention` (and its subpaths) resolved to the sources, as the package maps them. */
const packageFromSource: Plugin = {
  name: 'wasm-attention-from-source',
  setup(b) {
    b.onResolve({ filter: /^wasm-attention$/ }, () => ({ path: resolve('src/index.ts') }));
    b.onResolve({ filter: /^wasm-attention\/threads$/ }, () => ({ path: resolve('src/threads/index.ts') }));
    b.onResolve({ filter: /^wasm-attention\/backward$/ }, () => ({ path: resolve('src/backward/index.ts') }));
    b.onResolve({ filter: /^wasm-attention\/positions$/ }, () => ({ path: resolve('src/positions/index.ts') }));
    b.onResolve({ filter: /^wasm-attention\/merge$/ }, () => ({ path: resolve('src/merge.ts') }));
    b.onResolve({ filter: /^wasm-attention\/int8$/ }, () => ({ path: resolve('src/int8/index.ts') }));
    // The kernel files the package exports: esbuild's `binary` loader gives their bytes.
    b.onResolve({ filter: /^wasm-attention\/attention-(simd|relaxed)\.wasm$/ }, (args) => ({ path: resolve('build', args.path.slice('wasm-attention/'.length)) }));
  },
};

let dir = '';
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'readme-blocks-'));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }');
  for (const block of runnable) writeFileSync(join(dir, fileOf(block)), '\n'.repeat(block.line) + block.code + '\n');
  await build({
    entryPoints: [
      ...runnable.map((block) => ({ in: join(dir, fileOf(block)), out: `L${block.line}/main` })),
      // Each entry's own threads/index.js, where instance.ts looks for it (as in dist/).
      ...runnable.map((block) => ({ in: resolve('src/threads/index.ts'), out: `L${block.line}/threads/index` })),
    ],
    outdir: dir, bundle: true, platform: 'node', format: 'esm', target: 'es2022',
    sourcemap: 'inline', loader: { '.wasm': 'binary' }, plugins: [packageFromSource], logLevel: 'silent',
  });
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('README.md code blocks', () => {
  it('every_fence_is_run_or_marked', () => {
    for (const block of blocks) {
      const where = `README.md:${block.line}: \`\`\`${block.lang} ${block.info}`;
      if (SHELL_LANGS.has(block.lang)) continue;
      expect(RUN_LANGS.has(block.lang), `${where}: expected a ts/js block to run, a \`no-run REASON\` one, or sh`).toBe(true);
      if (block.info.startsWith('no-run')) expect(block.info.slice('no-run'.length).trim(), `${where}: no-run needs a reason`).not.toBe('');
      else expect(block.info, `${where}: unknown info string`).toBe('');
    }
    expect(runnable.length).toBeGreaterThan(0);
  });

  it('ts_blocks_typecheck', () => {
    const files = runnable.filter((block) => block.lang === 'ts').map((block) => join(dir, fileOf(block)));
    const program = ts.createProgram([...files, resolve('src/entries/wasm-modules.d.ts')], {
      strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler, lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'], types: [],
      paths: { 'wasm-attention': [resolve('src/index.ts')], 'wasm-attention/threads': [resolve('src/threads/index.ts')], 'wasm-attention/backward': [resolve('src/backward/index.ts')], 'wasm-attention/positions': [resolve('src/positions/index.ts')], 'wasm-attention/merge': [resolve('src/merge.ts')], 'wasm-attention/int8': [resolve('src/int8/index.ts')] },
    });
    const errors = ts.getPreEmitDiagnostics(program).map((d) => {
      const file = d.file?.fileName ?? '';
      const where = d.file && files.includes(file) ? `README.md:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line + 1}` : file;
      return `${where}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(errors).toEqual([]);
  }, 120_000);

  for (const block of runnable) {
    it(`runs_block_at_line_${block.line}`, () => {
      const child = spawnSync(process.execPath, ['--enable-source-maps', join(dir, `L${block.line}`, 'main.js')], { timeout: 50_000, encoding: 'utf8' });
      const thrownAt = new RegExp(`${fileOf(block).replace(/\./g, '\\.')}:(\\d+)`).exec(child.stderr ?? '')?.[1];
      const where = `README.md:${block.line}: the \`\`\`${block.lang} block${thrownAt ? ` (failing at README.md:${thrownAt})` : ''}`;
      expect(child.error, `${where}: did not exit within 50 s`).toBeUndefined();
      expect(child.status, `${where}: exit status\n${child.stderr}`).toBe(0);
      expect(child.stderr, `${where}: wrote to stderr`).toBe('');
    });
  }
});
