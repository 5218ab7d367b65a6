/**
 * Matrix heatmaps on a canvas, with row and column labels and a hover tooltip.
 */

export interface MatrixView {
  readonly rows: number;
  readonly cols: number;
  value(row: number, col: number): number;
  readonly rowLabels: readonly string[];
  /** Column labels; omitted (e.g. output dimensions) when there are too many to read. */
  readonly colLabels?: readonly string[];
  /** Colour of a value, as [r, g, b] in 0–255. */
  color(value: number): readonly [number, number, number];
  /** Cells the mask removed: drawn hatched instead of coloured. */
  masked?(row: number, col: number): boolean;
  /** Tooltip text of a cell. */
  describe(row: number, col: number): string;
  /** Largest cell edge in CSS pixels. */
  readonly maxCell?: number;
  /** Width available in CSS pixels. */
  readonly maxWidth?: number;
}

const FONT = '11px system-ui, sans-serif';

/** Viridis (matplotlib's default colormap), as 9 stops interpolated linearly; t in [0, 1]. */
const VIRIDIS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

export function viridis(t: number): readonly [number, number, number] {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  const [a, b] = [VIRIDIS[i]!, VIRIDIS[i + 1]!];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

const BLUE = [33, 102, 172] as const;
const RED = [178, 24, 43] as const;

/** Blue – white – red (ColorBrewer RdBu's ends) for signed values; ±`limit` is full colour. */
export function diverging(value: number, limit: number): readonly [number, number, number] {
  const t = Math.max(-1, Math.min(1, value / (limit || 1)));
  const end = t < 0 ? BLUE : RED;
  const a = Math.abs(t);
  return [255 + (end[0] - 255) * a, 255 + (end[1] - 255) * a, 255 + (end[2] - 255) * a];
}

/**
 * Draws `view` into `canvas` (sized to fit, sharp on high-DPI screens) and wires the
 * tooltip. Returns the cell edge used, in CSS pixels.
 */
export function drawMatrix(canvas: HTMLCanvasElement, tooltip: HTMLElement, view: MatrixView): number {
  const context = canvas.getContext('2d')!;
  context.font = FONT;
  const labelWidth = Math.ceil(Math.max(0, ...view.rowLabels.map((l) => context.measureText(l).width))) + 8;
  // Column labels are slanted at 45°: they rise and reach right by ≈0.71 of their length.
  const colLabelReach = view.colLabels ? Math.ceil(Math.max(0, ...view.colLabels.map((l) => context.measureText(l).width)) * 0.75) : 0;
  const colLabelHeight = view.colLabels ? colLabelReach + 14 : 6;
  const maxWidth = view.maxWidth ?? 640;
  const cell = Math.max(3, Math.min(view.maxCell ?? 26, Math.floor((maxWidth - labelWidth - colLabelReach) / view.cols)));
  const width = labelWidth + cell * view.cols + colLabelReach + 2;
  const height = colLabelHeight + cell * view.rows + 2;
  const scale = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * scale);
  canvas.height = Math.round(height * scale);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  context.setTransform(scale, 0, 0, scale, 0, 0);
  context.clearRect(0, 0, width, height);
  context.font = FONT;
  context.fillStyle = getComputedStyle(canvas).color || '#222';

  // Row labels, right-aligned against the grid; column labels slanted above it.
  context.textBaseline = 'middle';
  context.textAlign = 'right';
  view.rowLabels.forEach((label, row) => context.fillText(label, labelWidth - 5, colLabelHeight + row * cell + cell / 2));
  if (view.colLabels) {
    context.textAlign = 'left';
    view.colLabels.forEach((label, col) => {
      context.save();
      context.translate(labelWidth + col * cell + cell / 2, colLabelHeight - 4);
      context.rotate(-Math.PI / 4);
      context.fillText(label, 0, 0);
      context.restore();
    });
  }

  for (let row = 0; row < view.rows; row++) {
    for (let col = 0; col < view.cols; col++) {
      const x = labelWidth + col * cell;
      const y = colLabelHeight + row * cell;
      if (view.masked?.(row, col)) {
        context.fillStyle = '#e4e4e7';
        context.fillRect(x, y, cell, cell);
        context.strokeStyle = '#b4b4bb';
        context.beginPath();
        context.moveTo(x, y + cell);
        context.lineTo(x + cell, y);
        context.stroke();
      } else {
        const [r, g, b] = view.color(view.value(row, col));
        context.fillStyle = `rgb(${r | 0}, ${g | 0}, ${b | 0})`;
        context.fillRect(x, y, cell, cell);
      }
    }
  }

  canvas.onmousemove = (event) => {
    const bounds = canvas.getBoundingClientRect();
    const col = Math.floor((event.clientX - bounds.left - labelWidth) / cell);
    const row = Math.floor((event.clientY - bounds.top - colLabelHeight) / cell);
    if (row < 0 || col < 0 || row >= view.rows || col >= view.cols) {
      tooltip.hidden = true;
      return;
    }
    tooltip.textContent = view.describe(row, col);
    tooltip.hidden = false;
    tooltip.style.left = `${event.pageX + 14}px`;
    tooltip.style.top = `${event.pageY + 14}px`;
  };
  canvas.onmouseleave = () => {
    tooltip.hidden = true;
  };
  return cell;
}
