/**
 * Output of the benchmark: the text table (stdout), the JSON record and a self-contained
 * SVG bar chart (bench/results/latest.json, latest.svg).
 */
import type { Breakdown } from './worker.js';

export interface Row {
  readonly set: string;
  /** e.g. `H8 N1024 D64 causal` */
  readonly shape: string;
  readonly impl: string;
  /** `reference`: a rate to compare with, not an attention call (plain GEMM, memory read bound). */
  readonly kind: 'ours' | 'peer' | 'reference';
  /** Nominal FLOPs of one call (4·B·H·Lq·Lk·D, also for causal). */
  readonly flops: number;
  /** True for a measurement that has no FLOP rate (the memory read bound): no GFLOP/s, no bar. */
  readonly noRate?: boolean;
  /** Best (lowest) median time per call over the processes, in ms. */
  medianMs?: number;
  /** Spread of the runs in the process that gave the best median: (max − min) / median, %. */
  spreadPct?: number;
  gflops?: number;
  /** Median time of the JS backend on this shape / this median. */
  speedupVsJs?: number;
  /** Median of each fresh process, in the order run. */
  processMediansMs?: number[];
  runsMs?: number[];
  callsPerRun?: number[];
  maxAbsError?: number;
  rowsChecked?: number;
  note?: string;
  details?: string;
  skipped?: string;
  error?: string;
  /** 1-minute load average before and after the best process's measurement (threads rows). */
  loadAverage?: readonly [number, number];
}

export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly platform: string;
  readonly node: string;
  readonly v8: string;
}

export interface Report {
  readonly date: string;
  readonly command: string;
  readonly machine: Machine;
  readonly loadAverage: { before: number[]; after?: number[] };
  readonly method: { runs: number; minMs: number; processes: number; maxCallMs: number; nodeFlags: string[] };
  readonly notes: string[];
  readonly rows: Row[];
  readonly breakdowns: ({ impl: string; shape: string } & Breakdown)[];
  totalSeconds?: number;
}

const fixed = (value: number | undefined, digits: number) => (value === undefined ? '' : value.toFixed(digits));

/** Milliseconds with 3–4 significant digits. */
function ms(value: number | undefined): string {
  if (value === undefined) return '';
  return value >= 100 ? value.toFixed(1) : value >= 10 ? value.toFixed(2) : value.toFixed(3);
}

function padTable(header: string[], lines: string[][], rightAligned: boolean[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...lines.map((line) => line[c]!.length)));
  const format = (cells: string[]) =>
    cells
      .map((cell, c) => (rightAligned[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!)))
      .join('  ')
      .trimEnd();
  return [format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(format)].join('\n');
}

export function formatTable(report: Report): string {
  const { machine, loadAverage } = report;
  const load = (values: number[] | undefined) => (values ? values.map((v) => v.toFixed(2)).join(' ') : '?');
  const lines = report.rows.map((row) => [
    row.set,
    row.shape,
    row.impl,
    ms(row.medianMs),
    row.spreadPct === undefined ? '' : `${row.spreadPct.toFixed(1)}%`,
    fixed(row.gflops, row.gflops !== undefined && row.gflops < 10 ? 2 : 1),
    row.speedupVsJs === undefined ? '' : `${row.speedupVsJs.toFixed(row.speedupVsJs < 10 ? 2 : 1)}×`,
    row.error ? `FAILED: ${row.error}` : row.skipped ? `skipped: ${row.skipped}` : (row.note ?? ''),
  ]);
  const table = padTable(
    ['set', 'shape', 'implementation', 'median ms', 'spread', 'GFLOP/s', 'vs js', 'note'],
    lines,
    [false, false, false, true, true, true, true, false],
  );
  const parts = [
    `wasm-attention benchmark, ${report.date}`,
    `${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node} (V8 ${machine.v8})`,
    `load average (1, 5, 15 min): before ${load(loadAverage.before)}, after ${load(loadAverage.after)}`,
    '',
    table,
  ];
  if (report.breakdowns.length > 0) {
    const breakdownLines = report.breakdowns.map((b) => [
      b.impl,
      b.shape,
      ms(b.callMs),
      ms(b.boundaryMs),
      ms(b.marshalMs),
      ms(b.kernelMs),
      `${((1 - b.kernelMs / b.callMs) * 100).toFixed(1)}%`,
      ms(b.pinnedCallMs),
      `${((1 - b.pinnedKernelMs / b.pinnedCallMs) * 100).toFixed(1)}%`,
    ]);
    parts.push(
      '',
      'Per-call overhead (ms; overhead = (call − kernel) / call; pinned = q, k, v, out as PinnedTensors, no copies):',
      padTable(
        ['backend', 'shape', 'call', 'boundary', 'marshal', 'kernel', 'overhead', 'pinned call', 'pinned overhead'],
        breakdownLines,
        [false, false, true, true, true, true, true, true, true],
      ),
    );
  }
  parts.push('', ...report.notes.map((note) => `* ${note}`));
  if (report.totalSeconds !== undefined) parts.push(`* total time: ${formatDuration(report.totalSeconds)}`);
  return parts.join('\n');
}

export function formatDuration(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes} min ${Math.round(seconds % 60)} s` : `${seconds.toFixed(1)} s`;
}

// ---- SVG ---------------------------------------------------------------------------------

const PALETTE: Readonly<Record<string, string>> = {
  'wasm-relaxed-simd': '#1b5e20',
  'wasm-simd': '#43a047',
  js: '#a5d6a7',
  'onnxruntime-web 1T': '#1565c0',
  'onnxruntime-web 2T': '#64b5f6',
  'tfjs-wasm': '#ef6c00',
  'tfjs-cpu': '#ffb74d',
  'naive-js': '#9e9e9e',
  'wasm-relaxed-simd kv-cache': '#004d40',
  'wasm-simd kv-cache': '#4db6ac',
  'wasm-relaxed-simd gemm': '#4a148c',
  'wasm-simd gemm': '#b39ddb',
};
const EXTRA_COLORS = ['#6a1b9a', '#c62828', '#00838f', '#5d4037'];

const escapeXml = (text: string) => text.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);

/** A round step for about five grid lines up to `max`. */
function gridStep(max: number): number {
  const rough = max / 5;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  return [1, 2, 5, 10].map((m) => m * magnitude).find((step) => step >= rough)!;
}

/** A grouped bar chart of GFLOP/s: one group per shape, one bar per implementation. */
export function renderSvg(report: Report): string {
  const rows = report.rows.filter((row) => !row.noRate);
  const measured = rows.filter((row) => row.gflops !== undefined);
  const impls = [...new Set(rows.map((row) => row.impl))];
  const colorOf = new Map(impls.map((impl, i) => [impl, PALETTE[impl] ?? EXTRA_COLORS[i % EXTRA_COLORS.length]!]));
  const color = (impl: string) => colorOf.get(impl)!;
  // One group per shape, holding only the implementations that ran on it.
  const groups = [...new Set(rows.map((row) => `${row.set}\n${row.shape}`))].map((key) => {
    const [set, shape] = key.split('\n') as [string, string];
    return { set, shape, rows: impls.flatMap((impl) => rows.filter((r) => r.set === set && r.shape === shape && r.impl === impl)) };
  });

  const barWidth = 16;
  const groupGap = 28;
  const left = 64;
  const groupWidth = (bars: number) => Math.max(110, bars * barWidth + groupGap);
  const width = Math.max(900, left + groups.reduce((sum, g) => sum + groupWidth(g.rows.length), 0) + 24);
  // Legend entries, wrapped to the width (≈6.5 px per character at 11 px).
  const legend: { impl: string; x: number; y: number }[] = [];
  let legendX = left;
  let legendY = 72;
  for (const impl of impls) {
    const entryWidth = 24 + impl.length * 6.5;
    if (legendX + entryWidth > width - 16 && legendX > left) {
      legendX = left;
      legendY += 18;
    }
    legend.push({ impl, x: legendX, y: legendY });
    legendX += entryWidth;
  }
  const top = legendY + 40;
  const plotHeight = 320;
  const height = top + plotHeight + 50;
  const maxValue = Math.max(1, ...measured.map((row) => row.gflops!));
  const step = gridStep(maxValue);
  const yMax = Math.ceil(maxValue / step) * step;
  const y = (value: number) => top + plotHeight - (value / yMax) * plotHeight;

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="${left}" y="22" font-size="15" font-weight="bold">wasm-attention: attention throughput, GFLOP/s (higher is better)</text>`,
    `<text x="${left}" y="40" fill="#555">${escapeXml(`${report.machine.cpu}, ${report.machine.cores} cores, Node ${report.machine.node}, ${report.date}; 1-min load average ${report.loadAverage.before[0]?.toFixed(2)} before, ${report.loadAverage.after?.[0]?.toFixed(2) ?? '?'} after`)}</text>`,
    `<text x="${left}" y="55" fill="#555">${escapeXml('Nominal FLOPs 4·B·H·Lq·Lk·D per call (causal counted as dense) / median time; best median of fresh processes; "–" = skipped or failed.')}</text>`,
  ];
  legend.forEach(({ impl, x, y: legendTop }) => {
    out.push(`<rect x="${x}" y="${legendTop - 10}" width="12" height="12" fill="${color(impl)}"/>`);
    out.push(`<text x="${x + 16}" y="${legendTop}">${escapeXml(impl)}</text>`);
  });
  // Grid and axis
  for (let value = 0; value <= yMax + 1e-9; value += step) {
    out.push(`<line x1="${left}" x2="${width - 16}" y1="${y(value)}" y2="${y(value)}" stroke="${value === 0 ? '#333' : '#ddd'}"/>`);
    out.push(`<text x="${left - 6}" y="${y(value) + 4}" text-anchor="end">${Number(value.toPrecision(6))}</text>`);
  }
  out.push(`<text transform="translate(16 ${top + plotHeight / 2}) rotate(-90)" text-anchor="middle">GFLOP/s</text>`);
  // Bars
  let groupLeft = left;
  for (const { set, shape, rows: groupRows } of groups) {
    const span = groupWidth(groupRows.length);
    const x0 = groupLeft + (span - groupRows.length * barWidth) / 2;
    groupRows.forEach((row, i) => {
      const x = x0 + i * barWidth;
      if (row.gflops === undefined) {
        out.push(`<text x="${x + barWidth / 2}" y="${y(0) - 4}" text-anchor="middle" fill="#999">–</text>`);
        return;
      }
      const barTop = y(row.gflops);
      out.push(
        `<rect x="${x + 1}" y="${barTop}" width="${barWidth - 2}" height="${y(0) - barTop}" fill="${color(row.impl)}"><title>${escapeXml(`${row.impl}, ${set} ${shape}: ${row.gflops.toFixed(2)} GFLOP/s, ${ms(row.medianMs)} ms`)}</title></rect>`,
      );
      out.push(`<text transform="translate(${x + barWidth / 2 + 3} ${barTop - 3}) rotate(-90)" font-size="9">${row.gflops < 10 ? row.gflops.toFixed(1) : row.gflops.toFixed(0)}</text>`);
    });
    const centre = groupLeft + span / 2;
    out.push(`<text x="${centre}" y="${top + plotHeight + 16}" text-anchor="middle" font-weight="bold">${escapeXml(set)}</text>`);
    out.push(`<text x="${centre}" y="${top + plotHeight + 30}" text-anchor="middle">${escapeXml(shape)}</text>`);
    groupLeft += span;
  }
  out.push('</svg>');
  return out.join('\n');
}
