/**
 * Line plots on a canvas: a few series over a shared x axis, with axes, a zero line, a
 * legend and a hover tooltip that reads every series at the nearest x.
 */

export interface Series {
  readonly label: string;
  /** CSS colour of the line. */
  readonly color: string;
  /** y for each x of {@link LinePlot.xs}. */
  readonly ys: readonly number[];
  /** Dashed line (e.g. a second series drawn over the first to show that they coincide). */
  readonly dashed?: boolean;
}

export interface LinePlot {
  readonly xs: readonly number[];
  readonly series: readonly Series[];
  readonly xLabel: string;
  readonly yLabel: string;
  readonly width?: number;
  readonly height?: number;
}

const FONT = '11px system-ui, sans-serif';
const MARGIN = { left: 46, right: 12, top: 26, bottom: 34 };

/** A round step for about `count` ticks over `span`. */
function tickStep(span: number, count: number): number {
  const raw = span / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 5, 10].find((m) => m * power >= raw) ?? 10) * power;
}

/** Draws `plot` into `canvas` (sharp on high-DPI screens) and wires the tooltip. */
export function drawLinePlot(canvas: HTMLCanvasElement, tooltip: HTMLElement, plot: LinePlot): void {
  const width = plot.width ?? 520;
  const height = plot.height ?? 260;
  const scale = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const context = canvas.getContext('2d')!;
  context.setTransform(scale, 0, 0, scale, 0, 0);
  context.clearRect(0, 0, width, height);
  context.fillStyle = '#fff';
  context.fillRect(0, 0, width, height);
  context.font = FONT;
  const ink = getComputedStyle(canvas).color || '#222';

  const { xs } = plot;
  const all = plot.series.flatMap((s) => s.ys);
  const yMin = Math.min(0, ...all);
  const yMax = Math.max(0, ...all);
  const ySpan = yMax - yMin || 1;
  const xMin = xs[0] ?? 0;
  const xSpan = (xs[xs.length - 1] ?? 1) - xMin || 1;
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const px = (x: number) => MARGIN.left + ((x - xMin) / xSpan) * plotW;
  const py = (y: number) => MARGIN.top + (1 - (y - yMin) / ySpan) * plotH;

  // Axes, ticks and the zero line.
  context.strokeStyle = '#d1d9e0';
  context.fillStyle = ink;
  context.lineWidth = 1;
  context.textAlign = 'right';
  context.textBaseline = 'middle';
  const yStep = tickStep(ySpan, 5);
  for (let y = Math.ceil(yMin / yStep) * yStep; y <= yMax + 1e-9; y += yStep) {
    context.beginPath();
    context.moveTo(MARGIN.left, py(y));
    context.lineTo(MARGIN.left + plotW, py(y));
    context.stroke();
    context.fillText(Math.abs(y) < 1e-9 ? '0' : y.toPrecision(2).replace(/\.?0+$/, ''), MARGIN.left - 4, py(y));
  }
  context.textAlign = 'center';
  context.textBaseline = 'top';
  const xStep = tickStep(xSpan, 8);
  for (let x = Math.ceil(xMin / xStep) * xStep; x <= xMin + xSpan + 1e-9; x += xStep) {
    context.fillText(String(x), px(x), MARGIN.top + plotH + 4);
  }
  context.strokeStyle = '#8c959f';
  context.beginPath();
  context.moveTo(MARGIN.left, py(0));
  context.lineTo(MARGIN.left + plotW, py(0));
  context.stroke();
  context.fillText(plot.xLabel, MARGIN.left + plotW / 2, height - 14);
  context.save();
  context.translate(10, MARGIN.top + plotH / 2);
  context.rotate(-Math.PI / 2);
  context.fillText(plot.yLabel, 0, -4);
  context.restore();

  // The series, then the legend along the top.
  context.lineWidth = 1.6;
  for (const s of plot.series) {
    context.strokeStyle = s.color;
    context.setLineDash(s.dashed ? [5, 4] : []);
    context.beginPath();
    s.ys.forEach((y, n) => (n === 0 ? context.moveTo(px(xs[n]!), py(y)) : context.lineTo(px(xs[n]!), py(y))));
    context.stroke();
  }
  context.setLineDash([]);
  context.textAlign = 'left';
  context.textBaseline = 'middle';
  let legendX = MARGIN.left;
  for (const s of plot.series) {
    context.strokeStyle = s.color;
    context.setLineDash(s.dashed ? [5, 4] : []);
    context.beginPath();
    context.moveTo(legendX, 12);
    context.lineTo(legendX + 18, 12);
    context.stroke();
    context.fillStyle = ink;
    context.fillText(s.label, legendX + 22, 12);
    legendX += 30 + context.measureText(s.label).width;
  }
  context.setLineDash([]);

  canvas.onmousemove = (event) => {
    const bounds = canvas.getBoundingClientRect();
    const x = xMin + ((event.clientX - bounds.left - MARGIN.left) / plotW) * xSpan;
    let n = 0;
    for (let m = 1; m < xs.length; m++) if (Math.abs(xs[m]! - x) < Math.abs(xs[n]! - x)) n = m;
    tooltip.textContent = `${plot.xLabel} ${xs[n]}: ${plot.series.map((s) => `${s.label} ${s.ys[n]!.toFixed(3)}`).join(' · ')}`;
    tooltip.hidden = false;
    tooltip.style.left = `${event.pageX + 14}px`;
    tooltip.style.top = `${event.pageY + 14}px`;
  };
  canvas.onmouseleave = () => {
    tooltip.hidden = true;
  };
}
