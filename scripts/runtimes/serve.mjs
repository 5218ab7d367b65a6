// A static file server on 127.0.0.1 for the Chromium tests and `npm run demo`. By default
// every response is cross-origin isolated (COOP same-origin + COEP require-corp), so pages get
// `crossOriginIsolated` and SharedArrayBuffer, as a deployment that wants WebAssembly
// threads would serve them. Per-path extra headers (a Content-Security-Policy, say) come
// from `headersFor(pathname)`.
import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/**
 * Serves `dir` on 127.0.0.1.
 * @param {string} dir folder to serve (`/` is `index.html`)
 * @param {{ port?: number, isolated?: boolean, headersFor?: (pathname: string) => Record<string, string> }} [options]
 *   port 0 (default) picks a free one; isolated false leaves out COOP/COEP, as a plain static host would
 * @returns {Promise<{ url: string, close: () => Promise<void> }>} the base URL, ending in `/`
 */
export async function serveStatic(dir, { port = 0, isolated = true, headersFor = () => ({}) } = {}) {
  const root = normalize(dir + sep);
  const server = createServer(async (request, response) => {
    const { pathname } = new URL(request.url ?? '/', 'http://127.0.0.1');
    const file = normalize(join(root, decodeURIComponent(pathname).replace(/\/$/, '/index.html')));
    const headers = { ...(isolated ? ISOLATION_HEADERS : {}), 'Cache-Control': 'no-store', ...headersFor(pathname) };
    if (!file.startsWith(root)) {
      response.writeHead(403, headers).end('forbidden');
      return;
    }
    try {
      if (!(await stat(file)).isFile()) throw new Error('not a file');
      const body = await readFile(file);
      response.writeHead(200, { ...headers, 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(body);
    } catch {
      response.writeHead(404, { ...headers, 'Content-Type': 'text/plain' }).end('not found');
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  const { port: actual } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${actual}/`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
