/**
 * The demo page (demo/index.html): Explore draws the attention weights of every head for a
 * sentence (with causal, padding, sliding-window and ALiBi options); Positions shows how
 * sinusoidal encodings and RoPE make a score depend on distance (demo/src/positions.ts);
 * Train trains a tiny model in the page and shows its loss and heads (demo/src/train.ts);
 * Benchmark measures every backend on the bench's shapes in this browser.
 * Built by demo/build.mjs; `npm run demo` serves it on 127.0.0.1.
 */
import { BACKEND_NAMES, createAttention, isBackendAvailable, type AttentionInstance, type AttentionOptions, type BackendName } from '../../src/index.js';
import { PRESETS, runBenchmark, type Measurement } from './benchmark.js';
import { standardSlopes } from '../../src/alibi.js';
import { headInputs, tokenize, tokenWeight } from './embeddings.js';
import { probeBrowser } from './features.js';
import { diverging, drawMatrix, viridis } from './heatmap.js';
import { setupPositions } from './positions.js';
import { setupTrain } from './train.js';

const MAX_TOKENS = 40;
const PAD = '<pad>';

const EXAMPLES: readonly { label: string; sentence: string; source?: string }[] = [
  { label: 'it was too tired', sentence: "The animal didn't cross the street because it was too tired." },
  { label: 'the cat and the dog', sentence: 'The cat sat on the mat and the dog sat on the rug.' },
  { label: 'to be or not to be', sentence: 'To be, or not to be, that is the question.' },
  { label: 'translation (cross)', sentence: 'the cat sits on the mat', source: 'le chat est assis sur le tapis' },
];

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const tooltip = $('tooltip');

/** One instance per available backend; `auto` is the first. */
const instances = new Map<string, AttentionInstance>();

async function createInstances(): Promise<void> {
  instances.set('auto', await createAttention());
  for (const name of BACKEND_NAMES) if (isBackendAvailable(name)) instances.set(name, await createAttention({ backend: name }));
  const backendSelect = $<HTMLSelectElement>('backend');
  for (const key of instances.keys()) backendSelect.add(new Option(key === 'auto' ? `auto (${instances.get('auto')!.backend})` : key, key));
  $('backend-badge').textContent = `backend here: ${instances.get('auto')!.backend}`;
}

// ---------------------------------------------------------------------------------------
// Explore
// ---------------------------------------------------------------------------------------

interface ExploreState {
  readonly queries: string[];
  readonly keys: string[];
  readonly heads: number;
  readonly headDim: number;
  readonly options: AttentionOptions;
  /** The options that decide which keys each query sees (causal, keyLengths, window): no bias. */
  readonly keyRangeOptions: AttentionOptions;
  /** ALiBi slopes per head, when on (for the captions). */
  readonly slopes: Float32Array | null;
}

function readControls(): ExploreState {
  const value = (id: string) => $<HTMLInputElement | HTMLSelectElement>(id).value;
  const checked = (id: string) => $<HTMLInputElement>(id).checked;
  const cross = value('mode') === 'cross';
  const mask = value('mask');
  const windowOn = checked('window-on');
  document.body.classList.toggle('cross', cross);
  document.body.classList.toggle('padding', mask === 'padding');
  document.body.classList.toggle('window', windowOn);

  const queries = tokenize(value('sentence'), MAX_TOKENS);
  let keys = cross ? tokenize(value('source'), MAX_TOKENS) : queries;
  if (queries.length === 0) queries.push(PAD);
  if (keys.length === 0) keys = [PAD];
  const causal = checked('causal');

  // Self-attention (padded or not) aligns causality top-left: query i sees keys 0…i. Cross-
  // attention keeps the library's default, bottom-right: the last query sees the last key.
  const alignment = cross ? 'bottom-right' : 'top-left';
  const keyRange: { -readonly [K in keyof AttentionOptions]: AttentionOptions[K] } = { causal: causal && alignment };
  const validKeys = keys.length;
  if (mask === 'padding') {
    // A batch padded to a common length: the pad tokens are real rows and columns, and
    // keyLengths removes the pad keys.
    const padTo = Math.max(keys.length, Math.min(48, Number(value('pad-to')) || 0));
    keys = [...keys, ...Array<string>(padTo - keys.length).fill(PAD)];
    if (!cross) queries.splice(0, queries.length, ...keys);
    keyRange.keyLengths = [validKeys];
  }
  // The library's window: query i sees keys i + off − left … i + off + right (none after it when causal).
  const bound = (id: string) => Math.max(0, Math.min(48, Math.floor(Number(value(id)) || 0)));
  if (windowOn) keyRange.window = [bound('window-left'), bound('window-right')];
  const heads = Number(value('heads'));
  const alibi = checked('alibi');
  // ALiBi: −slope_h·|i + off − j| added in the kernel, off from the same key-range rule as the window's.
  const options: AttentionOptions = { ...keyRange, returnWeights: true, alibi };
  return { queries, keys, heads, headDim: Number(value('head-dim')), options, keyRangeOptions: keyRange, slopes: alibi ? standardSlopes(heads) : null };
}

/**
 * Which cells the call's key range removes, as the library itself decides: the same call
 * over zero inputs of head size 1 (every score equal, no bias) gives each allowed key a
 * positive weight and each removed one exactly 0. The page thus never re-implements the
 * key-range rule to hatch the cells.
 */
function allowedCells(instance: AttentionInstance, state: ExploreState): (i: number, j: number) => boolean {
  const zeros = (length: number) => ({ data: new Float32Array(length), shape: [1, 1, length, 1] });
  const { weights } = instance.attention(zeros(state.queries.length), zeros(state.keys.length), zeros(state.keys.length), { ...state.keyRangeOptions, returnWeights: true });
  const w = weights!.data as Float32Array;
  return (i, j) => w[i * state.keys.length + j]! > 0;
}

function renderExplore(): void {
  const instance = instances.get($<HTMLSelectElement>('backend').value) ?? instances.get('auto')!;
  const state = readControls();
  const allowed = allowedCells(instance, state);
  const { queries, keys, heads, headDim } = state;
  const q = headInputs(queries, heads, headDim);
  const kv = queries === keys ? q : headInputs(keys, heads, headDim);
  const shapeQ = [1, heads, queries.length, headDim];
  const shapeK = [1, heads, keys.length, headDim];

  const started = performance.now();
  const { output, weights } = instance.attention({ data: q, shape: shapeQ }, { data: kv, shape: shapeK }, { data: kv, shape: shapeK }, state.options);
  const elapsed = performance.now() - started;
  $('explore-status').textContent =
    `${instance.backend} · q [${shapeQ.join(', ')}] · k, v [${shapeK.join(', ')}] · ` +
    `${elapsed < 1 ? `${(elapsed * 1000).toFixed(0)} µs` : `${elapsed.toFixed(2)} ms`} for all heads`;

  const grid = $('heads-grid');
  grid.replaceChildren();
  const w = weights!.data as Float32Array;
  const maxWidth = Math.max(260, Math.min(560, (grid.clientWidth || 1100) / Math.min(heads, 2) - 20));
  for (let h = 0; h < heads; h++) {
    const figure = document.createElement('figure');
    const caption = document.createElement('figcaption');
    const tw = tokenWeight(h, heads);
    const at = (i: number, j: number) => w[(h * queries.length + i) * keys.length + j]!;
    // Colours span 0 … this head's largest weight, so flat heads still show their structure.
    let headMax = 0;
    for (let n = h * queries.length * keys.length; n < (h + 1) * queries.length * keys.length; n++) headMax = Math.max(headMax, w[n]!);
    const slope = state.slopes ? ` · ALiBi slope ${state.slopes[h]!.toPrecision(3)}` : '';
    caption.textContent = `head ${h + 1} · token ${tw.toFixed(2)} / position ${(1 - tw).toFixed(2)}${slope} · brightest = ${headMax.toFixed(2)}`;
    const canvas = document.createElement('canvas');
    canvas.className = 'heatmap';
    canvas.dataset.head = String(h);
    figure.append(caption, canvas);
    grid.append(figure);
    drawMatrix(canvas, tooltip, {
      rows: queries.length,
      cols: keys.length,
      value: at,
      rowLabels: queries,
      colLabels: keys,
      color: (x) => viridis(x / (headMax || 1)),
      masked: (i, j) => !allowed(i, j),
      describe: (i, j) => `head ${h + 1}: “${queries[i]}” (${i}) → “${keys[j]}” (${j}) = ${at(i, j).toFixed(4)}`,
      maxWidth,
    });
  }

  const out = output.data as Float32Array;
  const cols = heads * headDim;
  let limit = 0;
  for (const x of out) limit = Math.max(limit, Math.abs(x));
  // bhsd output [1, H, Lq, D] shown as tokens × (head, dim).
  const outAt = (i: number, c: number) => out[(Math.floor(c / headDim) * queries.length + i) * headDim + (c % headDim)]!;
  drawMatrix($<HTMLCanvasElement>('output'), tooltip, {
    rows: queries.length,
    cols,
    value: outAt,
    rowLabels: queries,
    color: (x) => diverging(x, limit),
    describe: (i, c) => `“${queries[i]}” (${i}) · head ${Math.floor(c / headDim) + 1} · dim ${c % headDim} = ${outAt(i, c).toFixed(4)}`,
    maxCell: 14,
    maxWidth: Math.min(1100, grid.clientWidth || 1100),
  });
}

function setupExplore(): void {
  const example = $<HTMLSelectElement>('example');
  EXAMPLES.forEach((e, n) => example.add(new Option(e.label, String(n))));
  const apply = () => {
    const e = EXAMPLES[Number(example.value)]!;
    $<HTMLInputElement>('sentence').value = e.sentence;
    if (e.source) $<HTMLInputElement>('source').value = e.source;
    $<HTMLSelectElement>('mode').value = e.source ? 'cross' : 'self';
  };
  example.addEventListener('change', () => {
    apply();
    renderExplore();
  });
  apply();
  $<HTMLInputElement>('source').value ||= EXAMPLES[3]!.source!;
  $('controls').addEventListener('input', (event) => {
    if ((event.target as HTMLElement).id !== 'example') renderExplore();
  });
  $('controls').addEventListener('submit', (event) => event.preventDefault());
  renderExplore();
}

// ---------------------------------------------------------------------------------------
// Benchmark
// ---------------------------------------------------------------------------------------

function setupFeatures(): void {
  const f = probeBrowser();
  const items: [string, boolean, string?][] = [
    ['WebAssembly', f.webAssembly],
    ['SIMD', f.simd],
    ['relaxed SIMD', f.relaxedSimd],
    ['threads', f.threads, 'shared memory and atomics (needs cross-origin isolation)'],
    ['cross-origin isolated', f.crossOriginIsolated, 'served with COOP/COEP headers'],
  ];
  const list = $('features');
  for (const [name, yes, title] of items) {
    const li = document.createElement('li');
    li.className = yes ? 'yes' : 'no';
    li.textContent = name;
    if (title) li.title = title;
    list.append(li);
  }
  const cores = document.createElement('li');
  cores.textContent = `${f.cores} logical cores`;
  list.append(cores);
}

function renderResults(results: readonly Measurement[]): void {
  const chart = $('chart');
  chart.replaceChildren();
  const max = Math.max(...results.map((r) => r.gflops));
  const legend = document.createElement('div');
  legend.className = 'legend';
  for (const backend of new Set(results.map((r) => r.backend))) {
    const item = document.createElement('span');
    item.innerHTML = `<i class="${backend}"></i>${backend}`;
    legend.append(item);
  }
  chart.append(legend);
  for (const shape of new Set(results.map((r) => r.shape))) {
    const label = document.createElement('div');
    label.className = 'shape';
    label.textContent = shape;
    const bars = document.createElement('div');
    bars.className = 'bars';
    for (const r of results.filter((x) => x.shape === shape)) {
      const row = document.createElement('div');
      row.className = 'bar-row';
      row.title = `${r.backend}: ${r.medianMs.toFixed(2)} ms median`;
      const bar = document.createElement('div');
      bar.className = `bar ${r.backend}`;
      bar.style.width = `${Math.max(0.3, (85 * r.gflops) / max)}%`;
      const value = document.createElement('span');
      value.textContent = `${r.gflops.toFixed(2)} GFLOP/s`;
      row.append(bar, value);
      bars.append(row);
    }
    chart.append(label, bars);
  }

  const table = $<HTMLTableElement>('results');
  const body = table.tBodies[0]!;
  body.replaceChildren();
  for (const r of results) {
    const js = results.find((x) => x.shape === r.shape && x.backend === 'js');
    const row = body.insertRow();
    const ms = (x: number) => (x < 1 ? `${(x * 1000).toFixed(0)} µs` : `${x.toFixed(2)} ms`);
    for (const text of [r.shape, r.backend, ms(r.medianMs), `${ms(r.minMs)}–${ms(r.maxMs)}`, String(r.runs), r.gflops.toFixed(2), js ? `${(js.medianMs / r.medianMs).toFixed(1)}×` : '']) {
      row.insertCell().textContent = text;
    }
  }
  table.hidden = results.length === 0;
}

function setupBenchmark(): void {
  setupFeatures();
  const preset = $<HTMLSelectElement>('preset');
  for (const [key, p] of Object.entries(PRESETS)) preset.add(new Option(p.label, key));
  const requested = new URLSearchParams(location.search).get('bench');
  if (requested && requested in PRESETS) preset.value = requested;

  const section = $('benchmark');
  const button = $<HTMLButtonElement>('run');
  const progress = $<HTMLProgressElement>('progress');
  const label = $('progress-label');
  let controller: AbortController | null = null;

  button.addEventListener('click', async () => {
    if (controller) {
      controller.abort();
      return;
    }
    controller = new AbortController();
    button.textContent = 'Stop';
    section.dataset.state = 'running';
    const measured: BackendName[] = [...instances.keys()].filter((k) => k !== 'auto') as BackendName[];
    const results: Measurement[] = [];
    progress.value = 0;
    label.textContent = 'warming up…';
    try {
      await runBenchmark(
        measured.map((name) => instances.get(name)!),
        PRESETS[preset.value]!,
        (done, total, latest) => {
          results.push(latest);
          progress.value = done / total;
          label.textContent = `${done} / ${total}: ${latest.shape} on ${latest.backend}, ${latest.gflops.toFixed(2)} GFLOP/s`;
          renderResults(results);
        },
        controller.signal,
      );
      section.dataset.state = controller.signal.aborted ? 'stopped' : 'done';
      label.textContent = controller.signal.aborted ? 'stopped' : `done: ${results.length} measurements`;
    } catch (error) {
      section.dataset.state = 'error';
      label.textContent = `error: ${(error as Error).message}`;
      throw error;
    } finally {
      controller = null;
      button.textContent = 'Run benchmark';
    }
  });
}

async function main(): Promise<void> {
  await createInstances();
  setupExplore();
  setupPositions(instances.get('auto')!, tooltip);
  setupTrain(instances, tooltip);
  setupBenchmark();
  document.body.dataset.ready = 'true';
}

void main();
