/**
 * The B7 chart as hand-written SVG (no dependencies): resident memory of each
 * Node process over the soak, the fitted line over the steady window (its
 * slope in the legend), the end of warm-up, and rotation ticks.
 */
export interface RssChart {
  readonly startedAt: number;
  readonly endedAt: number;
  /** Samples before this are warm-up (excluded from the slope). */
  readonly steadyFrom: number;
  readonly processes: ReadonlyArray<{
    readonly name: string;
    readonly samples: ReadonlyArray<{ readonly at: number; readonly rssMb: number }>;
    /** Fitted over the steady window: MB at `at` = intercept + slopePerHour × hours since startedAt. */
    readonly fit: { readonly slopeMbPerHour: number; readonly interceptMb: number };
    readonly rotations: readonly number[];
  }>;
  /** Memory limit of the containers, drawn as a reference line. */
  readonly limitMb: number;
  /** False when the steady window is too short for the slope to be judged. */
  readonly slopeJudged: boolean;
}

const W = 760;
const H = 320;
const LEFT = 60;
const RIGHT = 20;
const TOP = 42;
const PLOT_H = 200;
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd'];
const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

function niceStep(span: number, ticks: number): number {
  const raw = span / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
}

/** `title` is the heading; `subtitle` (e.g. the run's date) goes under it in small print. */
export function rssSvg(c: RssChart, title: string, subtitle = ''): string {
  const minutes = Math.max(1 / 60, (c.endedAt - c.startedAt) / 60_000);
  const maxMb = Math.max(64, ...c.processes.flatMap((p) => p.samples.map((s) => s.rssMb))) * 1.15;
  const x = (t: number) => LEFT + ((t - c.startedAt) / 60_000 / minutes) * (W - LEFT - RIGHT);
  const y = (mb: number) => TOP + PLOT_H - (Math.min(mb, maxMb) / maxMb) * PLOT_H;
  const parts: string[] = [`<text x="${LEFT}" y="18" font-size="14" font-weight="bold">${esc(title)}</text>`];
  if (subtitle) parts.push(`<text x="${LEFT}" y="32" font-size="10" fill="#555">${esc(subtitle)}</text>`);
  parts.push(`<rect x="${LEFT}" y="${TOP}" width="${W - LEFT - RIGHT}" height="${PLOT_H}" fill="none" stroke="#ccc"/>`);
  const yStep = niceStep(maxMb, 5);
  for (let mb = 0; mb <= maxMb; mb += yStep) {
    parts.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(mb).toFixed(1)}" y2="${y(mb).toFixed(1)}" stroke="#eee"/><text x="${LEFT - 6}" y="${(y(mb) + 4).toFixed(1)}" font-size="11" text-anchor="end">${mb}</text>`);
  }
  parts.push(`<text x="14" y="${TOP + PLOT_H / 2}" font-size="11" transform="rotate(-90 14 ${TOP + PLOT_H / 2})" text-anchor="middle">RSS (MB)</text>`);
  const xStep = niceStep(minutes, 8);
  for (let m = 0; m <= minutes + 1e-9; m += xStep) {
    const px = x(c.startedAt + m * 60_000);
    parts.push(`<text x="${px.toFixed(1)}" y="${TOP + PLOT_H + 16}" font-size="11" text-anchor="middle">${Number(m.toFixed(2))}</text>`);
  }
  parts.push(`<text x="${(LEFT + W - RIGHT) / 2}" y="${TOP + PLOT_H + 32}" font-size="11" text-anchor="middle">minutes since the start of the soak</text>`);
  if (c.limitMb <= maxMb) parts.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(c.limitMb)}" y2="${y(c.limitMb)}" stroke="#d62728" stroke-dasharray="6,3"/>`);
  const sx = x(c.steadyFrom);
  parts.push(`<line x1="${sx.toFixed(1)}" x2="${sx.toFixed(1)}" y1="${TOP}" y2="${TOP + PLOT_H}" stroke="#888" stroke-dasharray="3,3"/><text x="${(sx + 4).toFixed(1)}" y="${TOP + 12}" font-size="10" fill="#555">warm-up ends</text>`);
  c.processes.forEach((p, i) => {
    const color = COLORS[i % COLORS.length]!;
    if (p.samples.length) parts.push(`<polyline points="${p.samples.map((s) => `${x(s.at).toFixed(1)},${y(s.rssMb).toFixed(1)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="1.8"/>`);
    if (Number.isFinite(p.fit.slopeMbPerHour)) {
      const at = (t: number) => p.fit.interceptMb + p.fit.slopeMbPerHour * ((t - c.startedAt) / 3_600_000);
      parts.push(`<line x1="${sx.toFixed(1)}" x2="${x(c.endedAt).toFixed(1)}" y1="${y(at(c.steadyFrom)).toFixed(1)}" y2="${y(at(c.endedAt)).toFixed(1)}" stroke="${color}" stroke-width="1" stroke-dasharray="5,3"/>`);
    }
    for (const t of p.rotations) parts.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${TOP + PLOT_H - 8 - i * 8}" y2="${TOP + PLOT_H - i * 8}" stroke="${color}" stroke-width="1.5"/>`);
    const slope = `${Number.isFinite(p.fit.slopeMbPerHour) ? `${p.fit.slopeMbPerHour >= 0 ? '+' : ''}${p.fit.slopeMbPerHour.toFixed(1)} MB/h` : 'n/a'}${c.slopeJudged ? '' : ' (not judged)'}`;
    const ly = TOP + PLOT_H + 52 + i * 16;
    parts.push(`<line x1="${LEFT}" x2="${LEFT + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/><text x="${LEFT + 30}" y="${ly}" font-size="11">${esc(p.name)}: ${p.samples.at(-1)?.rssMb.toFixed(1) ?? '?'} MB at the end, steady-window slope ${slope}, ${p.rotations.length} rotations</text>`);
  });
  const height = Math.max(H, TOP + PLOT_H + 60 + c.processes.length * 16);
  parts.push(`<text x="${W - RIGHT}" y="${height - 6}" font-size="10" text-anchor="end" fill="#555">ticks: rotations; dashed: least-squares fit${c.slopeJudged ? '' : ' (window too short to judge)'}; red dashed: the ${c.limitMb} MB limit, when in range</text>`);
  const grid = parts.filter((p) => p.includes('stroke="#eee"'));
  const rest = parts.filter((p) => !p.includes('stroke="#eee"'));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${height}" viewBox="0 0 ${W} ${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${[...grid, ...rest].join('\n')}\n</svg>\n`;
}
