import { build } from 'esbuild';
import { gzipSync } from 'node:zlib';
import { ENTRIES, entryBuildOptions } from './scripts/build-dist.mjs';
const entry = ENTRIES.find((e) => e.outfile === 'index.js');
const r = await build({ ...entryBuildOptions(entry), write: false, outfile: '/virtual/index.js' });
console.log('index gz', gzipSync(r.outputFiles[0].text, { level: 9 }).length);
