/**
 * A two-panel SVG chart of noise schedules, written by hand (no dependency): alpha_bar_t and
 * log-SNR_t against t, one line per scheduler, the chosen inference timesteps marked on each line.
 */
import { snr } from 'ddim';

export interface PlotSeries {
  label: string;
  /** alpha_bar_t for t = 0 .. T-1. */
  alphasCumprod: ArrayLike<number>;
  /** The inference timesteps to mark. */
  timesteps: ArrayLike<number>;
}

export interface PlotOptions {
  title?: string;
  width?: number;
  height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A tick label with as many decimals as the tick step needs (0.2 -> "0.4", 200 -> "400"). */
function tickLabel(v: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  return v.toFixed(decimals);
}

/** Round tick positions covering [lo, hi] (about `count` of them, at 1, 2 or 5 times a power of ten). */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  const span = hi - lo;
  if (!(span > 0)) return [lo];
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) {
    out.push(Math.abs(v) < step * 1e-9 ? 0 : Number(v.toPrecision(12)));
  }
  return out;
}

interface Panel {
  x: number;
  y: number;
  w: number;
  h: number;
  yLo: number;
  yHi: number;
  tMax: number;
}

function px(p: Panel, t: number): number {
  return p.x + (t / p.tMax) * p.w;
}

function py(p: Panel, v: number): number {
  const c = Math.min(p.yHi, Math.max(p.yLo, v));
  return p.y + p.h - ((c - p.yLo) / (p.yHi - p.yLo)) * p.h;
}

function axes(p: Panel, yLabel: string, title: string): string[] {
  const out: string[] = [];
  out.push(
    `<text x="${p.x + p.w / 2}" y="${p.y - 10}" text-anchor="middle" font-weight="bold">${esc(title)}</text>`,
  );
  const yTicks = niceTicks(p.yLo, p.yHi, 5);
  const yStep = yTicks.length > 1 ? yTicks[1] - yTicks[0] : 1;
  for (const v of yTicks) {
    const y = py(p, v).toFixed(1);
    out.push(`<line x1="${p.x}" x2="${p.x + p.w}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(
      `<text x="${p.x - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${tickLabel(v, yStep)}</text>`,
    );
  }
  for (const t of niceTicks(0, p.tMax, 5)) {
    const x = px(p, t).toFixed(1);
    out.push(`<line x1="${x}" x2="${x}" y1="${p.y}" y2="${p.y + p.h}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${x}" y="${p.y + p.h + 16}" text-anchor="middle">${tickLabel(t, 1)}</text>`);
  }
  out.push(`<rect x="${p.x}" y="${p.y}" width="${p.w}" height="${p.h}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${p.x + p.w / 2}" y="${p.y + p.h + 34}" text-anchor="middle">timestep t</text>`);
  const cy = p.y + p.h / 2;
  out.push(
    `<text x="${p.x - 42}" y="${cy}" text-anchor="middle" transform="rotate(-90 ${p.x - 42} ${cy})">${esc(yLabel)}</text>`,
  );
  return out;
}

function logSnr(alphaBar: number): number {
  return Math.log(snr(alphaBar));
}

/** Render the chart. */
export function schedulePlotSvg(series: PlotSeries[], options: PlotOptions = {}): string {
  const width = options.width ?? 960;
  const height = options.height ?? 440;
  const legendH = 22 * series.length + 10;
  const top = options.title ? 64 : 40;
  const panelH = height - top - 60 - legendH;
  const panelW = (width - 90 - 90 - 20) / 2;
  const tMax = Math.max(...series.map((s) => s.alphasCumprod.length - 1));
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const s of series) {
    for (let t = 0; t < s.alphasCumprod.length; t++) {
      const v = logSnr(s.alphasCumprod[t]);
      if (Number.isFinite(v)) {
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
  }
  const snrTicks = niceTicks(lo, hi, 6);
  const step = snrTicks.length > 1 ? snrTicks[1] - snrTicks[0] : 1;
  const left: Panel = { x: 80, y: top, w: panelW, h: panelH, yLo: 0, yHi: 1, tMax };
  const right: Panel = {
    x: 80 + panelW + 100,
    y: top,
    w: panelW,
    h: panelH,
    // One tick step of room below the lowest finite value: log-SNR = -inf (zero terminal SNR) is drawn there.
    yLo: Math.floor(lo / step) * step - step,
    yHi: Math.ceil(hi / step) * step,
    tMax,
  };
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
  ];
  if (options.title) {
    out.push(
      `<text x="${width / 2}" y="24" text-anchor="middle" font-size="15">${esc(options.title)}</text>`,
    );
  }
  out.push('<g class="panel" id="alpha-bar">', ...axes(left, 'alpha_bar_t', 'alpha_bar_t against t'));
  const rightPanel = axes(right, 'log SNR_t = ln(alpha_bar / (1 - alpha_bar))', 'log-SNR against t');
  const lines: { panel: Panel; group: string[]; value: (a: number) => number }[] = [
    { panel: left, group: out, value: (a) => a },
    { panel: right, group: rightPanel, value: logSnr },
  ];
  for (const { panel, group, value } of lines) {
    for (const [k, s] of series.entries()) {
      const color = COLORS[k % COLORS.length];
      const pts: string[] = [];
      for (let t = 0; t < s.alphasCumprod.length; t++) {
        pts.push(`${px(panel, t).toFixed(1)},${py(panel, value(s.alphasCumprod[t])).toFixed(1)}`);
      }
      group.push(
        `<polyline class="series" data-label="${esc(s.label)}" fill="none" stroke="${color}" stroke-width="1.8" points="${pts.join(' ')}"/>`,
      );
      for (let i = 0; i < s.timesteps.length; i++) {
        const t = s.timesteps[i];
        const v = value(s.alphasCumprod[t]);
        const x = px(panel, t).toFixed(1);
        const y = py(panel, v).toFixed(1);
        // Hollow markers of growing size, so configs that pick the same timestep stay visible.
        group.push(
          `<circle class="marker" data-t="${t}" cx="${x}" cy="${y}" r="${3.5 + 1.5 * k}" fill="none" stroke="${color}" stroke-width="1.5"/>`,
        );
        if (v === Number.NEGATIVE_INFINITY) {
          group.push(
            `<text x="${x}" y="${(py(panel, v) - 8).toFixed(1)}" text-anchor="end" fill="${color}">-inf (zero SNR) </text>`,
          );
        }
      }
    }
  }
  out.push('</g>', '<g class="panel" id="log-snr">', ...rightPanel, '</g>', '<g class="legend">');
  const legendTop = top + panelH + 52;
  for (const [k, s] of series.entries()) {
    const color = COLORS[k % COLORS.length];
    const y = legendTop + 22 * k;
    out.push(
      `<line x1="80" x2="110" y1="${y}" y2="${y}" stroke="${color}" stroke-width="2"/>`,
      `<circle cx="95" cy="${y}" r="${3.5 + 1.5 * k}" fill="none" stroke="${color}" stroke-width="1.5"/>`,
      `<text x="118" y="${y}" dominant-baseline="middle">${esc(s.label)}</text>`,
    );
  }
  out.push('</g>', '</svg>');
  return `${out.join('\n')}\n`;
}
