/**
 * Starting a worker in each runtime, behind one small interface: `worker_threads` in Node
 * and Deno, the web `Worker` (a module worker from a `blob:` URL) in browsers and Bun.
 *
 * `node:worker_threads` is imported dynamically through a function parameter, so that
 * bundlers for the browser neither resolve nor inline it; Node runs it only when the pool starts.
 */

/** Imports a Node built-in; the specifier is a parameter so that bundlers leave it alone. */
export function importBuiltin<T>(specifier: string): Promise<T> {
  return import(/* @vite-ignore */ specifier) as Promise<T>;
}

/** What the pool hears from a worker. */
export interface WorkerEvents {
  message(data: unknown): void;
  /** The worker is gone (exited, crashed, or failed to load); called at most once. */
  exit(reason: string): void;
}

/** A started worker. */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  /** Ends the worker now (idempotent). */
  terminate(): void;
  /** Node and Bun: whether a live worker keeps the process alive (no-op elsewhere). */
  ref(): void;
  unref(): void;
}

/** The "Error: ..." line of an error event's message (Bun prefixes it with a source excerpt). */
function errorLine(message: string | undefined): string {
  const lines = String(message || 'an error').split('\n').map((line) => line.trim()).filter(Boolean);
  return lines.find((line) => /^(uncaught )?\w*error\b/i.test(line)) ?? lines[0] ?? 'an error';
}

export type SpawnWorker = (events: WorkerEvents) => WorkerHandle;

/** Which worker implementation a runtime uses. */
export type WorkerKind = 'node' | 'web';

interface NodeProcessLike {
  versions?: { node?: string; bun?: string };
}

/**
 * `node` in Node and Deno (worker_threads); `web` in browsers and Bun; null without workers.
 * Deno takes worker_threads too (its Node compatibility layer): unlike its web Worker
 * (measured, Deno 2.9: no `unref`), that Worker can be unref'ed, so an idle pool does not
 * keep a Deno process alive either. Bun's web Worker has `unref`.
 */
export function workerKind(): WorkerKind | null {
  const g = globalThis as { process?: NodeProcessLike; Worker?: unknown };
  const versions = g.process?.versions;
  if (versions?.node && !versions.bun) return 'node';
  return typeof g.Worker === 'function' ? 'web' : null;
}

interface NodeWorker {
  on(event: 'message', listener: (data: unknown) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  on(event: 'exit', listener: (code: number) => void): void;
  postMessage(message: unknown): void;
  terminate(): Promise<number>;
  ref(): void;
  unref(): void;
}

/**
 * A function that starts one worker running `source` (worker-source.ts).
 * @throws Error when the runtime cannot start workers
 */
export async function workerSpawner(source: string): Promise<{ spawn: SpawnWorker; release(): void }> {
  const kind = workerKind();
  if (kind === 'node') {
    // Through a parameter, so that no bundler resolves it for a browser build (see index.ts).
    const { Worker } = await importBuiltin<{ Worker: new (code: string, options: object) => NodeWorker }>('node:worker_threads');
    const spawn: SpawnWorker = (events) => {
      const worker = new Worker(source, { eval: true, name: 'wasm-attention' });
      let gone = false;
      const exit = (reason: string) => {
        if (!gone) events.exit(reason);
        gone = true;
      };
      worker.on('message', (data) => events.message(data));
      worker.on('error', (error) => exit(`threw ${String(error)}`));
      worker.on('exit', (code) => exit(`exited with code ${code}`));
      return {
        postMessage: (message) => worker.postMessage(message),
        terminate: () => void worker.terminate(),
        ref: () => worker.ref(),
        unref: () => worker.unref(),
      };
    };
    return { spawn, release: () => {} };
  }
  if (kind === 'web') {
    const url = URL.createObjectURL(new Blob([source], { type: 'text/javascript' }));
    const spawn: SpawnWorker = (events) => {
      const worker = new Worker(url, { type: 'module', name: 'wasm-attention' }) as Worker & { ref?(): void; unref?(): void };
      let gone = false;
      const exit = (reason: string) => {
        if (!gone) events.exit(reason);
        gone = true;
      };
      worker.onmessage = (event) => events.message(event.data);
      // A web Worker has no exit event: an uncaught error (or a failure to load) is the only
      // sign of death the host gets; the worker script itself catches kernel traps.
      worker.onerror = (event) => {
        event.preventDefault();
        exit(`threw ${errorLine(event.message)}`);
      };
      worker.onmessageerror = () => exit('sent a message that could not be deserialized');
      return {
        postMessage: (message) => worker.postMessage(message),
        terminate: () => {
          worker.terminate();
          exit('was terminated');
        },
        ref: () => worker.ref?.(),
        unref: () => worker.unref?.(),
      };
    };
    return { spawn, release: () => URL.revokeObjectURL(url) };
  }
  throw new Error('threads: expected a runtime with workers (worker_threads or Worker), got none');
}
