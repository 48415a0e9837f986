/**
 * The B5 chart as hand-written SVG (no dependencies): certificate validity
 * windows per workload, file writes and reloads (rotation instants), and the
 * request rate and failures of the load over the same time axis. Every
 * position is computed from estimated text widths (svg-layout.ts): serial
 * labels are packed into rows where they cannot collide, captions wrap.
 */
import { esc, niceStep, packRows, pickStep, svgDocument, text, textWidth, wrapText } from './svg-layout.js';

export interface RotationChart {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly workloads: ReadonlyArray<{
    readonly name: string;
    readonly certificates: ReadonlyArray<{ readonly serial: string; readonly notBefore: number; readonly notAfter: number }>;
    readonly reloads: readonly number[];
    readonly writes: readonly number[];
  }>;
  readonly traffic: ReadonlyArray<{ readonly at: number; readonly ok: number; readonly failed: number }>;
}

const W = 960;
const RIGHT = 20;
const LANE = 16;
const PANEL_H = 130;
const SERIAL = 9; // font size of the serial labels in the bars
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd'];
const iso = (t: number) => new Date(t).toISOString();
const TIME_STEPS = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1800, 3600];

export function rotationSvg(c: RotationChart, title: string): string {
  const unitLabels = ['requests/s', 'failures/s'];
  const sideLabels = [...c.workloads.map((w) => `${w.name} certs`), ...unitLabels];
  const maxRate = Math.max(1, ...c.traffic.map((b) => b.ok + b.failed));
  const rateStep = niceStep(maxRate, 4);
  const rateTop = Math.ceil(maxRate / rateStep) * rateStep;
  const tickW = textWidth(String(rateTop), 10);
  // The left column holds the lane names and the panel's units, then the rate ticks.
  const LEFT = Math.ceil(8 + Math.max(...sideLabels.map((s) => textWidth(s, 12))) + 8 + tickW + 6);
  const plotW = W - LEFT - RIGHT;

  // The axis spans the observation window; validity bars are clipped to it
  // (their full range is in each bar's tooltip), or rotations every few
  // seconds would vanish next to 2-minute validity windows.
  const pad = Math.max(3000, (c.endedAt - c.startedAt) * 0.08);
  const t0 = c.startedAt - pad;
  const t1 = c.endedAt + pad;
  const clip = (t: number) => Math.min(t1, Math.max(t0, t));
  const x = (t: number) => LEFT + ((clip(t) - t0) / Math.max(1, t1 - t0)) * plotW;
  const parts: string[] = [];

  const titleLines = wrapText(title, 15, W - 16, true);
  titleLines.forEach((line, i) => parts.push(text(8, 22 + i * 19, 15, line, { extra: 'font-weight="bold"' })));
  let y = 22 + (titleLines.length - 1) * 19 + 14;

  // Certificate lanes: each bar with its serial label is packed into the first
  // row where neither bar nor label touches another one.
  const laneTop = y;
  c.workloads.forEach((w, wi) => {
    const color = COLORS[wi % COLORS.length]!;
    const bars = w.certificates.map((cert) => {
      const x0 = x(cert.notBefore);
      const x1 = Math.max(x0 + 1, x(cert.notAfter));
      const label = cert.serial.slice(0, 8);
      // A label is drawn only where it fits inside the plot; the full serial is in the tooltip.
      const shown = x0 + 3 + textWidth(label, SERIAL) <= W - RIGHT ? label : '';
      return { cert, x0, x1, label: shown, end: Math.max(x1, shown ? x0 + 3 + textWidth(shown, SERIAL) : x1) };
    });
    const rows = packRows(bars.map((b) => ({ start: b.x0, end: b.end })));
    const rowCount = Math.max(1, ...rows.map((r) => r + 1));
    parts.push(text(8, y + (rowCount * LANE) / 2 + 4, 12, `${w.name} certs`, { extra: `fill="${color}"` }));
    bars.forEach((b, i) => {
      const ry = y + rows[i]! * LANE;
      parts.push(
        `<rect x="${b.x0.toFixed(1)}" y="${ry + 2}" width="${(b.x1 - b.x0).toFixed(1)}" height="${LANE - 4}" fill="${color}" fill-opacity="0.35" stroke="${color}"><title>${esc(`${w.name} ${b.cert.serial}: ${iso(b.cert.notBefore)} → ${iso(b.cert.notAfter)}`)}</title></rect>`,
      );
      if (b.label) parts.push(text(b.x0 + 3, ry + LANE - 5, SERIAL, b.label));
    });
    for (const t of w.writes)
      parts.push(
        `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${y}" y2="${y + rowCount * LANE}" stroke="${color}" stroke-dasharray="2,2"><title>site.crt written ${iso(t)}</title></line>`,
      );
    y += rowCount * LANE + 12;
  });
  const laneBottom = y;

  // Traffic panel, with the failure count on its own line above it.
  const failures = c.traffic.reduce((s, b) => s + b.failed, 0);
  parts.push(text(W - RIGHT, laneBottom + 8, 11, `failed requests: ${failures}`, { anchor: 'end', extra: `fill="${failures ? '#d62728' : '#2ca02c'}"` }));
  const panelTop = laneBottom + 16;
  const ry = (v: number) => panelTop + PANEL_H - (v / rateTop) * PANEL_H;
  parts.push(`<rect x="${LEFT}" y="${panelTop}" width="${plotW}" height="${PANEL_H}" fill="none" stroke="#ccc"/>`);
  parts.push(text(8, panelTop + 14, 12, unitLabels[0]!), text(8, panelTop + 30, 12, unitLabels[1]!, { extra: 'fill="#d62728"' }));
  for (let v = 0; v <= rateTop; v += rateStep) {
    parts.push(
      `<line x1="${LEFT}" x2="${W - RIGHT}" y1="${ry(v).toFixed(1)}" y2="${ry(v).toFixed(1)}" stroke="#eee"/>`,
      text(LEFT - 6, ry(v) + 3.5, 10, String(v), { anchor: 'end' }),
    );
  }
  if (c.traffic.length) {
    const pts = c.traffic.map((b) => `${x(b.at + 500).toFixed(1)},${ry(b.ok).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="#333" stroke-width="1.5"/>`);
  }
  for (const b of c.traffic.filter((b) => b.failed > 0)) {
    parts.push(
      `<rect x="${x(b.at).toFixed(1)}" y="${ry(b.failed).toFixed(1)}" width="${Math.max(2, x(b.at + 1000) - x(b.at)).toFixed(1)}" height="${(panelTop + PANEL_H - ry(b.failed)).toFixed(1)}" fill="#d62728"/>`,
    );
  }
  // Rotation instants (app reloaded) across lanes and panel.
  c.workloads.forEach((w, wi) => {
    for (const t of w.reloads) {
      parts.push(
        `<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${laneTop}" y2="${panelTop + PANEL_H}" stroke="${COLORS[wi % COLORS.length]}" stroke-width="1.5"><title>${esc(w.name)} reloaded ${iso(t)}</title></line>`,
      );
    }
  });

  // Time axis, seconds relative to the start of the load; the step keeps the labels apart.
  const axisY = panelTop + PANEL_H + 14;
  const span = (t1 - t0) / 1000;
  const step = pickStep(TIME_STEPS, plotW / span, (s) => `${-s}s`, 10, span, 12);
  for (let s = Math.ceil((t0 - c.startedAt) / 1000 / step) * step; c.startedAt + s * 1000 <= t1; s += step) {
    const px = x(c.startedAt + s * 1000);
    parts.push(
      `<line x1="${px.toFixed(1)}" x2="${px.toFixed(1)}" y1="${laneTop}" y2="${panelTop + PANEL_H}" stroke="#eee"/>`,
      text(px, axisY, 10, `${s}s`, { anchor: 'middle' }),
    );
  }
  parts.push(text(LEFT + plotW / 2, axisY + 15, 11, `time since the start of the load, in seconds (0 s = ${iso(c.startedAt)})`, { anchor: 'middle' }));
  const caption =
    'Bars: certificate validity, clipped to the window (full range in the tooltips; step-ca backdates notBefore by 1 min), one row per certificate where they overlap, labelled with the first 8 hex digits of the serial. ' +
    'Dashed lines: site.crt written by the renewer. Solid lines: the app reloaded. Lower panel: requests/s answered during the load (black) and failed (red bars).';
  const captionLines = wrapText(caption, 10, W - 16);
  captionLines.forEach((line, i) => parts.push(text(8, axisY + 34 + i * 13, 10, line, { extra: 'fill="#555"' })));
  return svgDocument(W, axisY + 34 + (captionLines.length - 1) * 13 + 8, parts);
}
