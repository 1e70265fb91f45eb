/** Text tables for the terminal and markdown tables for files, plus number formatting. */

export type Align = 'left' | 'right';

/** A fixed-width table: columns padded to their widest cell, numbers right-aligned. */
export function textTable(headers: string[], rows: string[][], align?: Align[]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const pad = (cell: string, c: number) =>
    (align?.[c] ?? (c === 0 ? 'left' : 'right')) === 'left'
      ? cell.padEnd(widths[c])
      : cell.padStart(widths[c]);
  const line = (cells: string[]) => cells.map(pad).join('  ').replace(/\s+$/, '');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** A GitHub-flavoured markdown table. */
export function markdownTable(headers: string[], rows: string[][], align?: Align[]): string {
  const sep = headers.map((_, c) =>
    (align?.[c] ?? (c === 0 ? 'left' : 'right')) === 'left' ? '---' : '---:',
  );
  const line = (cells: string[]) => `| ${cells.map((s) => s.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(headers), line(sep), ...rows.map(line)].join('\n');
}

/** Significant-digit formatting that stays readable for 0, infinities and tiny or huge values. */
export function sig(value: number, digits = 4): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return 'inf';
  if (value === Number.NEGATIVE_INFINITY) return '-inf';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e-3 && abs < 1e6) {
    const text = value.toPrecision(digits);
    return text.includes('e') ? value.toExponential(digits - 1) : text;
  }
  return value.toExponential(digits - 1);
}

/** Fixed decimals. */
export function fixed(value: number, decimals: number): string {
  return Number.isFinite(value) ? value.toFixed(decimals) : sig(value);
}

/** Seconds with a sensible number of digits. */
export function seconds(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
