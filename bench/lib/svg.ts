/**
 * The B5 chart as hand-written SVG (no dependencies): certificate validity
 * windows per workload, file writes and reloads (rotation instants), and the
 * request rate and failures of the load over the same time axis.
 */
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
const LEFT = 110;
const RIGHT = 20;
const LANE = 16;
const COLORS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#9467bd'];
const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

export function rotationSvg(c: RotationChart, title: string): string {
  // The axis spans the observation window; validity bars are clipped to it
  // (their full range is in each bar's tooltip), or rotations every few
  // seconds would vanish next to 2-minute validity windows.
  const pad = Math.max(3000, (c.endedAt - c.startedAt) * 0.08);
  const t0 = c.startedAt - pad;
  const t1 = c.endedAt + pad;
  const clip = (t: number) => Math.min(t1, Math.max(t0, t));
  const x = (t: number) => LEFT + ((clip(t) - t0) / Math.max(1, t1 - t0)) * (W - LEFT - RIGHT);
  const parts: string[] = [];
  let y = 40;
  parts.push(`<text x="${LEFT}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`);

  // Certificate lanes: one row per certificate, three rows per workload, cycling.
  const laneTop = y;
  c.workloads.forEach((w, wi) => {
    const color = COLORS[wi % COLORS.length]!;
    parts.push(`<text x="8" y="${y + LANE * 1.5 + 4}" font-size="12" fill="${color}">${esc(w.name)} certs</text>`);
    w.certificates.forEach((cert, i) => {
      const ry = y + (i % 3) * LANE;
      const x0 = x(cert.notBefore);
      parts.push(
        `<rect x="${x0.toFixed(1)}" y="${ry + 2}" width="${Math.max(1, x(cert.notAfter) - x0).toFixed(1)}" height="${LANE - 4}" fill="${color}" fill-opacity="0.35" stroke="${color}"><title>${esc(w.name)} ${esc(cert.serial)}: ${new Date(cert.notBefore).toISOString()} → ${new Date(cert.notAfter).toISOString()}</title></rect>`,
        `<text x="${(x0 + 3).toFixed(1)}" y="${ry + LANE - 5}" font-size="9">${esc(cert.serial.slice(0, 8))}</text>`,
      );
    });
    for (const t of w.writes) parts.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${y}" y2="${y + 3 * LANE}" stroke="${color}" stroke-dasharray="2,2"><title>site.crt written ${new Date(t).toISOString()}</title></line>`);
    y += 3 * LANE + 12;
  });
  const laneBottom = y;
  // Rotation instants (app reloaded) across the whole chart.
  c.workloads.forEach((w, wi) => {
    for (const t of w.reloads) {
      parts.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${laneTop}" y2="${laneBottom + 150}" stroke="${COLORS[wi % COLORS.length]}" stroke-width="1.5"><title>${esc(w.name)} reloaded ${new Date(t).toISOString()}</title></line>`);
    }
  });

  // Traffic panel.
  const panelTop = laneBottom + 10;
  const panelH = 130;
  const maxRate = Math.max(1, ...c.traffic.map((b) => b.ok + b.failed));
  const ry = (v: number) => panelTop + panelH - (v / maxRate) * panelH;
  parts.push(`<rect x="${LEFT}" y="${panelTop}" width="${W - LEFT - RIGHT}" height="${panelH}" fill="none" stroke="#ccc"/>`);
  parts.push(`<text x="8" y="${panelTop + 14}" font-size="12">requests/s</text><text x="8" y="${panelTop + 30}" font-size="11" fill="#d62728">failures/s</text>`);
  parts.push(`<text x="${LEFT - 4}" y="${panelTop + 10}" font-size="10" text-anchor="end">${maxRate}</text><text x="${LEFT - 4}" y="${panelTop + panelH}" font-size="10" text-anchor="end">0</text>`);
  if (c.traffic.length) {
    const pts = c.traffic.map((b) => `${x(b.at + 500).toFixed(1)},${ry(b.ok).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${pts}" fill="none" stroke="#333" stroke-width="1.5"/>`);
  }
  for (const b of c.traffic.filter((b) => b.failed > 0)) {
    parts.push(`<rect x="${x(b.at).toFixed(1)}" y="${ry(b.failed).toFixed(1)}" width="${Math.max(2, x(b.at + 1000) - x(b.at)).toFixed(1)}" height="${(panelTop + panelH - ry(b.failed)).toFixed(1)}" fill="#d62728"/>`);
  }
  const failures = c.traffic.reduce((s, b) => s + b.failed, 0);
  parts.push(`<text x="${W - RIGHT}" y="${panelTop - 2}" font-size="11" text-anchor="end" fill="${failures ? '#d62728' : '#2ca02c'}">failed requests: ${failures}</text>`);

  // Time axis, seconds relative to the start of the load.
  const axisY = panelTop + panelH + 16;
  const span = (t1 - t0) / 1000;
  const step = span > 240 ? 60 : span > 90 ? 30 : span > 30 ? 10 : span > 12 ? 5 : 1;
  for (let s = Math.ceil((t0 - c.startedAt) / 1000 / step) * step; c.startedAt + s * 1000 <= t1; s += step) {
    const px = x(c.startedAt + s * 1000);
    parts.push(`<line x1="${px.toFixed(1)}" x2="${px.toFixed(1)}" y1="${laneTop}" y2="${axisY - 10}" stroke="#eee"/><text x="${px.toFixed(1)}" y="${axisY}" font-size="10" text-anchor="middle">${s}s</text>`);
  }
  parts.push(`<text x="${LEFT}" y="${axisY + 16}" font-size="10" fill="#555">time relative to the start of the load (${new Date(c.startedAt).toISOString()}); bars: certificate validity, clipped to the window (full range in tooltips; step-ca backdates notBefore 1 min); dashed: site.crt written; solid: app reloaded</text>`);
  const H = axisY + 26;
  // Gridlines first so everything else draws over them.
  const grid = parts.filter((p) => p.includes('stroke="#eee"'));
  const rest = parts.filter((p) => !p.includes('stroke="#eee"'));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${[...grid, ...rest].join('\n')}\n</svg>\n`;
}
