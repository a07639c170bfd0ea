// Line charts as standalone SVG for the Markdown reports: no library, no browser, readable in any
// viewer and in a diff. Pure.

export interface Series {
  name: string;
  points: Array<{ x: number; y: number }>;
}

export interface ChartOptions {
  title: string;
  /** Formats an x value for the axis (e.g. a day). */
  xLabel?: (x: number) => string;
  yUnit?: string;
  /** Horizontal lines: thresholds. */
  lines?: Array<{ y: number; label: string }>;
  width?: number;
  height?: number;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function round(v: number): string {
  const a = Math.abs(v);
  return a >= 100 ? String(Math.round(v)) : a >= 1 ? v.toFixed(1) : v.toFixed(3);
}

export function lineChart(series: Series[], o: ChartOptions): string {
  const w = o.width ?? 640;
  const h = o.height ?? 260;
  const m = { l: 60, r: 20, t: 30, b: 40 };
  const all = series.flatMap((s) => s.points);
  const ys = [...all.map((p) => p.y), ...(o.lines ?? []).map((l) => l.y)];
  const xs = all.map((p) => p.x);
  const x0 = xs.length ? Math.min(...xs) : 0;
  const x1 = xs.length ? Math.max(...xs) : 1;
  const y0 = Math.min(0, ...ys);
  const y1 = ys.length ? Math.max(...ys) * 1.1 || 1 : 1;
  const sx = (x: number): number => m.l + ((x - x0) / (x1 - x0 || 1)) * (w - m.l - m.r);
  const sy = (y: number): number => h - m.b - ((y - y0) / (y1 - y0 || 1)) * (h - m.t - m.b);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif" font-size="11">`);
  parts.push(`<title>${esc(o.title)}</title>`);
  parts.push(`<rect width="${w}" height="${h}" fill="white"/>`);
  parts.push(`<text x="${w / 2}" y="18" text-anchor="middle" font-size="13">${esc(o.title)}</text>`);
  parts.push(`<line x1="${m.l}" y1="${h - m.b}" x2="${w - m.r}" y2="${h - m.b}" stroke="#333"/>`);
  parts.push(`<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${h - m.b}" stroke="#333"/>`);
  for (let i = 0; i <= 4; i++) {
    const y = y0 + ((y1 - y0) * i) / 4;
    parts.push(`<text x="${m.l - 6}" y="${sy(y) + 4}" text-anchor="end">${round(y)}${o.yUnit && i === 4 ? ` ${esc(o.yUnit)}` : ''}</text>`);
    parts.push(`<line x1="${m.l}" y1="${sy(y)}" x2="${w - m.r}" y2="${sy(y)}" stroke="#eee"/>`);
  }
  const ticks = [...new Set(xs)].sort((a, b) => a - b);
  const every = Math.max(1, Math.ceil(ticks.length / 8));
  ticks.forEach((x, i) => {
    if (i % every === 0) parts.push(`<text x="${sx(x)}" y="${h - m.b + 16}" text-anchor="middle">${esc(o.xLabel ? o.xLabel(x) : round(x))}</text>`);
  });
  for (const l of o.lines ?? []) {
    parts.push(`<line x1="${m.l}" y1="${sy(l.y)}" x2="${w - m.r}" y2="${sy(l.y)}" stroke="#d62728" stroke-dasharray="4 3"/>`);
    parts.push(`<text x="${w - m.r}" y="${sy(l.y) - 3}" text-anchor="end" fill="#d62728">${esc(l.label)}</text>`);
  }
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    const pts = [...s.points].sort((a, b) => a.x - b.x);
    if (pts.length) parts.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) parts.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="2.5" fill="${c}"/>`);
    parts.push(`<text x="${m.l + 8 + i * 150}" y="${h - 6}" fill="${c}">■ ${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

/** Least-squares line through the points: slope per x unit and intercept. */
export function linearFit(points: Array<{ x: number; y: number }>): { slope: number; intercept: number } | undefined {
  if (points.length < 2) return undefined;
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const sxx = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  if (sxx === 0) return undefined;
  const slope = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0) / sxx;
  return { slope, intercept: my - slope * mx };
}

/** When (x) a growing series crosses `threshold`, by its linear trend; undefined if it never will. */
export function crossing(points: Array<{ x: number; y: number }>, threshold: number): number | undefined {
  const fit = linearFit(points);
  if (!fit || fit.slope <= 0) return undefined;
  return (threshold - fit.intercept) / fit.slope;
}
