/**
 * How one measurement is taken (inside a worker process), and how the orchestrator runs
 * worker processes.
 *
 * Method: warm up, then `runs` timed runs; each run repeats the call until at least
 * `minMs` have passed, and its time per call is run time / calls. The result is the
 * median time per call over the runs, with the spread (max − min) / median.
 */
import { spawn } from 'node:child_process';

export interface TimingOptions {
  /** Timed runs (at least 5 for a meaningful median and spread). */
  readonly runs: number;
  /** Minimum duration of one run, and of the warm-up, in ms. */
  readonly minMs: number;
}

export interface Timing {
  /** Median over the runs of the time per call, in ms. */
  readonly medianMs: number;
  /** (slowest run − fastest run) / median, in percent. */
  readonly spreadPct: number;
  /** Time per call of each run, in ms, in the order run. */
  readonly runsMs: number[];
  /** Calls in each run. */
  readonly callsPerRun: number[];
}

/** A call to time: synchronous, or returning a promise that is awaited (onnxruntime-web). */
export type Call = () => void | Promise<void>;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Repeats `call` until `minMs` have passed (at least once); returns [elapsed ms, calls]. */
async function repeatFor(call: Call, isAsync: boolean, minMs: number): Promise<[number, number]> {
  const start = performance.now();
  let calls = 0;
  let elapsed = 0;
  // Two loops so that a synchronous call is not wrapped in a promise per iteration.
  if (isAsync) {
    do {
      await call();
      calls++;
      elapsed = performance.now() - start;
    } while (elapsed < minMs);
  } else {
    do {
      call();
      calls++;
      elapsed = performance.now() - start;
    } while (elapsed < minMs);
  }
  return [elapsed, calls];
}

/**
 * Warm-up (calls for at least `minMs`, so the JIT and V8's wasm tier-up see hot code),
 * then the timed runs.
 */
export async function timeCalls(call: Call, isAsync: boolean, options: TimingOptions): Promise<Timing> {
  await repeatFor(call, isAsync, options.minMs);
  const runsMs: number[] = [];
  const callsPerRun: number[] = [];
  for (let run = 0; run < options.runs; run++) {
    const [elapsed, calls] = await repeatFor(call, isAsync, options.minMs);
    runsMs.push(elapsed / calls);
    callsPerRun.push(calls);
  }
  const medianMs = median(runsMs);
  const spreadPct = ((Math.max(...runsMs) - Math.min(...runsMs)) / medianMs) * 100;
  return { medianMs, spreadPct, runsMs, callsPerRun };
}

export interface ChildOutcome<T> {
  readonly result?: T;
  /** Set when the process failed: the exit status and the last line of its stderr. */
  readonly error?: string;
}

/**
 * Runs `node [nodeFlags] script args` and parses the last line of its stdout as JSON.
 * Its stderr is collected, not shown; its last line explains a failure.
 */
export function runChild<T>(nodeFlags: readonly string[], script: string, args: readonly string[], timeoutMs: number): Promise<ChildOutcome<T>> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...nodeFlags, script, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lastLine = stdout.trim().split('\n').pop() ?? '';
      if (code === 0 && lastLine.startsWith('{')) {
        resolve({ result: JSON.parse(lastLine) as T });
        return;
      }
      const why = signal === 'SIGKILL' ? `killed after ${timeoutMs / 1000} s` : `exit ${code ?? signal}`;
      const tail = stderr.trim().split('\n').pop() ?? '';
      resolve({ error: `${why}${tail ? `: ${tail}` : ''}` });
    });
  });
}

/** One implementation, ready to run one shape on its inputs. */
export interface Prepared {
  /** One attention call, as a user of the implementation makes it (input wrapping and copies included). */
  readonly call: Call;
  readonly isAsync: boolean;
  /** Makes one call and returns its output as `[batch, heads, seqLenQ, headDim]`. */
  output(): Promise<Float32Array>;
  /** How the implementation was run (graph, threads), shown in the table. */
  readonly note?: string;
  /** More of the same (variants tried and their pilot times), kept in the JSON only. */
  readonly details?: string;
}
