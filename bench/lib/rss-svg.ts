/**
 * The B7 chart as hand-written SVG (no dependencies): resident memory of each
 * Node process over the soak, the fitted line over the steady window (its
 * slope in the legend), the end of warm-up, and rotation ticks. Legend and
 * caption wrap to the width (svg-layout.ts), so nothing runs off the edge.
 */
import { niceStep, svgDocument, text, textWidth, wrapText } from './svg-layout.js';

export interface RssChart {
  readonly startedAt: number;
  readonly endedAt: number;
  /** Samples before this are warm-up (excluded from the slope). */
  readonly steadyFrom: number;
  readonly processes: ReadonlyArray<{
    readonly name: string;
    /** `afterFullGc`: read right after a forced full GC, drawn as a dot. */
    readonly samples: ReadonlyArray<{ readonly at: number; readonly rssMb: number; readonly afterFullGc?: boolean }>;
    /** Fitted over the steady window (through the post-GC readings when there are any): MB at `at` = intercept + slopePerHour × hours since startedAt. */
    readonly fit: { readonly slopeMbPerHour: number; readonly interceptMb: number };
    readonly rotations: readonly number[];
  }>;
  /** Memory limit of the containers, drawn as a reference line. */
  readonly limitMb: number;
  /** False when the steady window is too short for the slope to be judged. */
  readonly slopeJudged: boolean;
}

const W = 760;
const LEFT = 60;
const RIGHT = 20;
const PLOT_H = 200;
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd'];

/** `title` is the heading; `subtitle` (e.g. the run's date) goes under it in small print. */
export function rssSvg(c: RssChart, title: string, subtitle = ''): string {
  const minutes = Math.max(1 / 60, (c.endedAt - c.startedAt) / 60_000);
  const maxMb = Math.max(64, ...c.processes.flatMap((p) => p.samples.map((s) => s.rssMb))) * 1.15;
  const parts: string[] = [];
  const titleLines = wrapText(title, 14, W - LEFT - RIGHT, true);
  titleLines.forEach((line, i) => parts.push(text(LEFT, 18 + i * 18, 14, line, { extra: 'font-weight="bold"' })));
  let top = 18 + (titleLines.length - 1) * 18;
  const subLines = subtitle ? wrapText(subtitle, 10, W - LEFT - RIGHT) : [];
  subLines.forEach((line, i) => parts.push(text(LEFT, top + 14 + i * 12, 10, line, { extra: 'fill="#555"' })));
  top += subLines.length * 12 + 12;
  const TOP = top + 8;
  const x = (t: number) => LEFT + ((t - c.startedAt) / 60_000 / minutes) * (W - LEFT - RIGHT);
  const y = (mb: number) => TOP + PLOT_H - (Math.min(mb, maxMb) / maxMb) * PLOT_H;
  parts.push(`<rect x="${LEFT}" y="${TOP}" width="${W - LEFT - RIGHT}" height="${PLOT_H}" fill="none" stroke="#ccc"/>`);
  const yStep = niceStep(maxMb, 5);
  for (let mb = 0; mb <= maxMb; mb += yStep) {
    parts.push(
      `<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(mb).toFixed(1)}" y2="${y(mb).toFixed(1)}" stroke="#eee"/>`,
      text(LEFT - 6, y(mb) + 4, 11, String(mb), { anchor: 'end' }),
    );
  }
  parts.push(`<text x="14" y="${TOP + PLOT_H / 2}" font-size="11" transform="rotate(-90 14 ${TOP + PLOT_H / 2})" text-anchor="middle">RSS (MB)</text>`);
  // Enough minutes per tick that the labels keep apart.
  const label = (m: number) => String(Number(m.toFixed(2)));
  let xStep = niceStep(minutes, 8);
  while ((xStep / minutes) * (W - LEFT - RIGHT) < textWidth(label(Math.floor(minutes / xStep) * xStep), 11) + 10)
    xStep = niceStep(minutes, Math.max(1, Math.floor(minutes / xStep / 2)));
  for (let m = 0; m <= minutes + 1e-9; m += xStep) parts.push(text(x(c.startedAt + m * 60_000), TOP + PLOT_H + 16, 11, label(m), { anchor: 'middle' }));
  parts.push(text((LEFT + W - RIGHT) / 2, TOP + PLOT_H + 32, 11, 'minutes since the start of the soak', { anchor: 'middle' }));
  if (c.limitMb <= maxMb)
    parts.push(`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(c.limitMb)}" y2="${y(c.limitMb)}" stroke="#d62728" stroke-dasharray="6,3"/>`);
  const sx = x(c.steadyFrom);
  const warm = 'warm-up ends';
  // The marker's label goes left of the line when it would run off the right edge.
  const warmRight = sx + 4 + textWidth(warm, 10) <= W - RIGHT;
  parts.push(
    `<line x1="${sx.toFixed(1)}" x2="${sx.toFixed(1)}" y1="${TOP}" y2="${TOP + PLOT_H}" stroke="#888" stroke-dasharray="3,3"/>`,
    text(warmRight ? sx + 4 : sx - 4, TOP + 12, 10, warm, { anchor: warmRight ? 'start' : 'end', extra: 'fill="#555"' }),
  );
  let ly = TOP + PLOT_H + 52;
  c.processes.forEach((p, i) => {
    const color = COLORS[i % COLORS.length]!;
    if (p.samples.length)
      parts.push(
        `<polyline points="${p.samples.map((s) => `${x(s.at).toFixed(1)},${y(s.rssMb).toFixed(1)}`).join(' ')}" fill="none" stroke="${color}" stroke-width="1.8"/>`,
      );
    for (const s of p.samples.filter((s) => s.afterFullGc))
      parts.push(`<circle cx="${x(s.at).toFixed(1)}" cy="${y(s.rssMb).toFixed(1)}" r="3" fill="${color}" stroke="#fff" stroke-width="0.8"/>`);
    if (Number.isFinite(p.fit.slopeMbPerHour)) {
      const at = (t: number) => p.fit.interceptMb + p.fit.slopeMbPerHour * ((t - c.startedAt) / 3_600_000);
      parts.push(
        `<line x1="${sx.toFixed(1)}" x2="${x(c.endedAt).toFixed(1)}" y1="${y(at(c.steadyFrom)).toFixed(1)}" y2="${y(at(c.endedAt)).toFixed(1)}" stroke="${color}" stroke-width="1" stroke-dasharray="5,3"/>`,
      );
    }
    for (const t of p.rotations)
      parts.push(
        `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${TOP + PLOT_H - 8 - i * 8}" y2="${TOP + PLOT_H - i * 8}" stroke="${color}" stroke-width="1.5"/>`,
      );
    const slope = `${Number.isFinite(p.fit.slopeMbPerHour) ? `${p.fit.slopeMbPerHour >= 0 ? '+' : ''}${p.fit.slopeMbPerHour.toFixed(1)} MB/h` : 'n/a'}${c.slopeJudged ? '' : ' (not judged)'}`;
    const lines = wrapText(
      `${p.name}: ${p.samples.at(-1)?.rssMb.toFixed(1) ?? '?'} MB at the end, ${p.samples.some((s) => s.afterFullGc) ? 'slope after full GC' : 'steady-window slope'} ${slope}, ${p.rotations.length} rotations`,
      11,
      W - RIGHT - LEFT - 30,
    );
    parts.push(`<line x1="${LEFT}" x2="${LEFT + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"/>`);
    lines.forEach((line, j) => parts.push(text(LEFT + 30, ly + j * 14, 11, line)));
    ly += lines.length * 14 + 2;
  });
  const withGc = c.processes.some((p) => p.samples.some((s) => s.afterFullGc));
  const fitText = withGc
    ? 'Dots: RSS right after a forced full GC; dashed: least-squares fit through the dots'
    : 'Dashed: least-squares fit over the steady window';
  const caption = wrapText(
    `Ticks at the bottom of the plot: rotations. ${fitText}${c.slopeJudged ? '' : ' (too short to judge)'}. Red dashed: the ${c.limitMb} MB memory limit, when in range.`,
    10,
    W - 16,
  );
  caption.forEach((line, j) => parts.push(text(8, ly + 8 + j * 13, 10, line, { extra: 'fill="#555"' })));
  return svgDocument(W, ly + 8 + (caption.length - 1) * 13 + 8, parts);
}
