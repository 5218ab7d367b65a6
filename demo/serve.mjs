// `npm run demo [-- --port 8080]`: builds the demo page and serves it on 127.0.0.1 with
// COOP/COEP headers (so the page is cross-origin isolated, as WebAssembly threads need).
import { buildDemo } from './build.mjs';
import { serveStatic } from '../scripts/runtimes/serve.mjs';

const args = process.argv.slice(2);
const port = Number(args.includes('--port') ? args[args.indexOf('--port') + 1] : process.env.PORT ?? 8080);
const outdir = await buildDemo();
const { url } = await serveStatic(outdir, { port });
console.log(`wasm-attention demo: ${url}  (serving ${outdir}; Ctrl-C to stop)`);
