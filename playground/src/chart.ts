/**
 * A small hand-drawn SVG chart: lines and point markers on linear axes. No library: the charts
 * are simple, and drawing them ourselves keeps the page offline-safe and its data inspectable.
 * Every series element carries what it draws as data attributes (data-series, data-count, and
 * data-x / data-y on markers), so a test can read the chart from the DOM.
 */

export interface Series {
  name: string;
  kind: 'line' | 'points';
  x: readonly number[];
  y: readonly number[];
  color: string;
}

export interface ChartSpec {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Fixed y range; by default the finite data's range. */
  yRange?: [number, number];
}

const SVG_NS = 'http://www.w3.org/2000/svg';
const MAX_PATH_POINTS = 2000;
const W = 460;
const H = 240;
const M = { left: 56, right: 12, top: 26, bottom: 38 };

function el<K extends keyof SVGElementTagNameMap>(
  name: K,
  attrs: Record<string, string | number>,
  parent?: Element,
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  parent?.appendChild(node);
  return node;
}

function finiteRange(values: Iterable<number>): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo > hi) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  return [lo, hi];
}

/** Round tick positions (1, 2, 5 x 10^k) covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(4)));
}

/** Draw `spec` into `svg` (replacing its content). Non-finite y values are drawn at the chart edge. */
export function drawChart(svg: SVGSVGElement, spec: ChartSpec): void {
  svg.replaceChildren();
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', spec.title);
  svg.dataset.chart = spec.id;
  const xs = finiteRange(spec.series.flatMap((s) => s.x));
  const ys = spec.yRange ?? finiteRange(spec.series.flatMap((s) => s.y));
  const pad = (ys[1] - ys[0]) * 0.04;
  const y0 = ys[0] - (spec.yRange ? 0 : pad);
  const y1 = ys[1] + (spec.yRange ? 0 : pad);
  const px = (x: number) => M.left + ((x - xs[0]) / (xs[1] - xs[0] || 1)) * (W - M.left - M.right);
  const py = (y: number) => {
    const v = Number.isFinite(y) ? y : y > 0 ? y1 : y0;
    const c = Math.min(y1, Math.max(y0, v));
    return H - M.bottom - ((c - y0) / (y1 - y0 || 1)) * (H - M.top - M.bottom);
  };

  el('text', { x: M.left, y: 16, class: 'chart-title' }, svg).textContent = spec.title;
  const axes = el('g', { class: 'axes' }, svg);
  for (const t of ticks(xs[0], xs[1])) {
    el('line', { x1: px(t), x2: px(t), y1: M.top, y2: H - M.bottom, class: 'grid' }, axes);
    el('text', { x: px(t), y: H - M.bottom + 14, class: 'tick', 'text-anchor': 'middle' }, axes).textContent =
      formatTick(t);
  }
  for (const t of ticks(y0, y1, 4)) {
    el('line', { x1: M.left, x2: W - M.right, y1: py(t), y2: py(t), class: 'grid' }, axes);
    el('text', { x: M.left - 5, y: py(t) + 4, class: 'tick', 'text-anchor': 'end' }, axes).textContent =
      formatTick(t);
  }
  el(
    'text',
    { x: (M.left + W - M.right) / 2, y: H - 6, class: 'label', 'text-anchor': 'middle' },
    axes,
  ).textContent = spec.xLabel;
  el(
    'text',
    {
      x: 12,
      y: (M.top + H - M.bottom) / 2,
      class: 'label',
      'text-anchor': 'middle',
      transform: `rotate(-90 12 ${(M.top + H - M.bottom) / 2})`,
    },
    axes,
  ).textContent = spec.yLabel;

  for (const s of spec.series) {
    const g = el('g', { 'data-series': s.name, 'data-count': s.x.length, class: `series ${s.kind}` }, svg);
    if (s.kind === 'line') {
      // A path of at most ~MAX_PATH_POINTS vertices (num_train_timesteps may be up to 10^6): the
      // curves are smooth, and the full data stays on the page's state for anyone reading it.
      const stride = Math.max(1, Math.ceil(s.x.length / MAX_PATH_POINTS));
      const indices: number[] = [];
      for (let i = 0; i < s.x.length; i += stride) indices.push(i);
      if (s.x.length > 0 && indices[indices.length - 1] !== s.x.length - 1) indices.push(s.x.length - 1);
      const d = indices
        .map((i, k) => `${k === 0 ? 'M' : 'L'}${px(s.x[i]).toFixed(2)},${py(s.y[i]).toFixed(2)}`)
        .join('');
      el('path', { d, fill: 'none', stroke: s.color, 'stroke-width': 1.6 }, g);
    } else {
      for (let i = 0; i < s.x.length; i++) {
        const c = el('circle', { cx: px(s.x[i]), cy: py(s.y[i]), r: 3, fill: s.color }, g);
        c.dataset.x = String(s.x[i]);
        c.dataset.y = String(s.y[i]);
        el('title', {}, c).textContent = `${s.name}: x = ${s.x[i]}, y = ${s.y[i]}`;
      }
    }
  }
  const legend = el('g', { class: 'legend' }, svg);
  let lx = W - M.right;
  for (const s of [...spec.series].reverse()) {
    const text = el('text', { x: lx, y: 16, class: 'legend-text', 'text-anchor': 'end' }, legend);
    text.textContent = s.name;
    // Measured when the SVG is laid out; estimated from the font size otherwise.
    const width = text.getComputedTextLength() || s.name.length * 5.8;
    lx -= width + 4;
    el('rect', { x: lx - 9, y: 8, width: 9, height: 9, fill: s.color }, legend);
    lx -= 22;
  }
}
