/**
 * The source of a pool worker, as plain JavaScript text. A string and not a module file so
 * that it works unchanged in every runtime and bundle: Node and Deno run it with
 * `new Worker(source, { eval: true })` (worker_threads), browsers and Bun from a `blob:`
 * URL, and no bundler has to find, copy or rewrite a second entry point.
 *
 * A worker instantiates the pool's threads build (the forward's, or the backward's:
 * src/backward/threads.ts, which sends CMD.BACKWARD, CMD.LSE and, for the layer, CMD.GEMM) on the pool's shared memory, then parks in
 * `Atomics.wait` on its control slot (control.ts) and runs one pointer-only kernel call per
 * job. It allocates nothing, keeps no JS view of linear memory (so the host's
 * `memory.grow` cannot leave it a stale one) and never grows memory.
 *
 * AssemblyScript and instantiation, each instance of the module on the shared memory
 * re-runs the module's active data segment (the constant table at 1024 of
 * assembly/inline/consts.ts), and would have its own copy of any global: the build
 * uses the stub runtime and no globals, so there is no allocator state to disagree on, and
 * the host starts a worker only while no call is running (a rewrite of the same bytes
 * under a running kernel would be a data race, however benign).
 */
import { CMD, CTL, SLOT_WORDS, STATUS_TRAPPED } from './control.js';

/**
 * How long an idle worker polls its control slot before parking in Atomics.wait, in ms:
 * back-to-back calls (a decode loop, a model's layers) then never wait for a wake-up; an
 * idle pool stops using CPU after this long.
 */
export const SPIN_MS = 1;

export const WORKER_SOURCE = `'use strict';
const SLOT_WORDS = ${SLOT_WORDS};
const SEQ = ${CTL.SEQ}, CMD = ${CTL.CMD}, PARAMS = ${CTL.PARAMS}, FIRST = ${CTL.FIRST}, STRIDE = ${CTL.STRIDE};
const ARG = ${CTL.ARG}, DONE = ${CTL.DONE}, STATUS = ${CTL.STATUS}, POST_DONE = ${CTL.POST_DONE};
const CMD_ATTENTION = ${CMD.ATTENTION}, CMD_DECODE = ${CMD.DECODE}, CMD_EXIT = ${CMD.EXIT};
const CMD_BACKWARD = ${CMD.BACKWARD}, CMD_LSE = ${CMD.LSE}, CMD_GEMM = ${CMD.GEMM};
const STATUS_TRAPPED = ${STATUS_TRAPPED};
const SPIN_MS = ${SPIN_MS};
// Node's worker_threads has no 'self'; browsers and Bun (web Workers) and Deno (whose
// worker_threads are web Workers inside) do.
const web = typeof self === 'object' && self !== null && typeof self.postMessage === 'function';
const port = web ? self : require('node:worker_threads').parentPort;
const post = (message) => port.postMessage(message);
// A web Worker that closes itself sends no event: a non-zero code (a crash, as tests
// simulate it) is thrown instead, which the host sees as the Worker's 'error' event.
const exit = (code) => {
  if (!web) process.exit(code);
  if (code !== 0) throw new Error('exited with code ' + code);
  self.close();
};

function serve(init) {
  let kernel;
  try {
    kernel = new WebAssembly.Instance(init.module, { env: { memory: init.memory } }).exports;
  } catch (error) {
    post({ type: 'error', message: String(error && error.message || error) });
    return;
  }
  const ctl = new Int32Array(init.control);
  const base = init.slot * SLOT_WORDS;
  let seen = Atomics.load(ctl, base + SEQ);
  post({ type: 'ready' });
  for (;;) {
    // Spin before parking: a parked worker woken by Atomics.notify is often placed by the
    // OS on the waking (host) thread's core, preempting it until the worker's share is done,
    // so the two shares run one after the other (measured: notify returned after 136 µs, the
    // worker's whole share of an H8 L64 call). A worker still spinning on its own core
    // picks the job up at once. Native pools do the same (pthreadpool, OpenMP spin-wait).
    const spinEnd = performance.now() + SPIN_MS;
    while (Atomics.load(ctl, base + SEQ) === seen && performance.now() < spinEnd);
    Atomics.wait(ctl, base + SEQ, seen);
    const seq = Atomics.load(ctl, base + SEQ);
    if (seq === seen) continue;
    seen = seq;
    const cmd = ctl[base + CMD];
    if (cmd === CMD_EXIT) return exit(ctl[base + ARG]);
    let status;
    try {
      const params = ctl[base + PARAMS], first = ctl[base + FIRST], stride = ctl[base + STRIDE];
      status = cmd === CMD_ATTENTION ? kernel.attentionRange(params, first, stride)
        : cmd === CMD_DECODE ? kernel.decodeRange(params, ctl[base + ARG], first, stride)
        : cmd === CMD_BACKWARD ? kernel.backwardRange(params, first, stride)
        : cmd === CMD_LSE ? kernel.lseRange(params, first, stride)
        : cmd === CMD_GEMM ? kernel.gemmRange(params, first, stride)
        : STATUS_TRAPPED;
    } catch (error) {
      status = STATUS_TRAPPED;
    }
    ctl[base + STATUS] = status;
    Atomics.store(ctl, base + DONE, seq);
    Atomics.notify(ctl, base + DONE);
    if (ctl[base + POST_DONE] === 1) post({ type: 'done', seq });
  }
}

const onMessage = (data) => {
  if (data && data.type === 'init') serve(data);
};
if (web) self.onmessage = (event) => onMessage(event.data);
else port.on('message', onMessage);
`;
