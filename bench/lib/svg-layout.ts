/**
 * Layout arithmetic shared by the hand-written SVG charts: how wide a string
 * renders, wrapping captions to a width, packing labelled bars into rows so
 * that no two collide, and choosing axis steps whose labels fit. Widths are
 * estimates from per-character advances of DejaVu Sans (what rsvg-convert and
 * most Linux browsers fall back to for `sans-serif`), rounded up, so a layout
 * computed with them leaves room rather than overlaps.
 */

/** Advance of one character in em, by class (DejaVu Sans, rounded up). */
function advance(ch: string): number {
  if (ch === ' ') return 0.33;
  if (/[ilj.,:;'|!]/.test(ch)) return 0.34;
  if (/[mwMW]/.test(ch)) return 1.0;
  if (/[A-Z]/.test(ch)) return 0.78;
  if (/[0-9]/.test(ch)) return 0.64;
  if (/[a-z]/.test(ch)) return 0.62;
  if (/[()[\]{}\-/]/.test(ch)) return 0.42;
  return 0.84; // symbols, arrows, anything else: generous
}

/** Estimated rendered width in px of `text` at `fontSize` px (bold ~8% wider). */
export function textWidth(text: string, fontSize: number, bold = false): number {
  let em = 0;
  for (const ch of text) em += advance(ch);
  return em * fontSize * (bold ? 1.08 : 1);
}

/** Greedy word wrap so that no line is estimated wider than `maxWidth` (a single overlong word is cut). */
export function wrapText(text: string, fontSize: number, maxWidth: number, bold = false): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const candidate = line ? `${line} ${word}` : word;
    if (textWidth(candidate, fontSize, bold) <= maxWidth) {
      line = candidate;
      continue;
    }
    if (line) lines.push(line);
    line = word;
    while (textWidth(line, fontSize, bold) > maxWidth && line.length > 1) {
      let cut = line.length - 1;
      while (cut > 1 && textWidth(line.slice(0, cut), fontSize, bold) > maxWidth) cut--;
      lines.push(line.slice(0, cut));
      line = line.slice(cut);
    }
  }
  if (line) lines.push(line);
  return lines;
}

/**
 * Assigns each horizontal extent [start, end) (px) to the first row where it
 * keeps `gap` px from everything already there; returns the row of each item,
 * in input order. Items sharing a row never overlap, whatever the input.
 */
export function packRows(extents: ReadonlyArray<{ readonly start: number; readonly end: number }>, gap = 4): number[] {
  const order = extents.map((e, i) => ({ ...e, i })).sort((a, b) => a.start - b.start || a.i - b.i);
  const rowEnds: number[] = [];
  const rows = new Array<number>(extents.length).fill(0);
  for (const e of order) {
    let row = rowEnds.findIndex((end) => end + gap <= e.start);
    if (row < 0) row = rowEnds.push(-Infinity) - 1;
    rowEnds[row] = Math.max(e.end, e.start);
    rows[e.i] = row;
  }
  return rows;
}

/**
 * The smallest of `candidates` (ascending, in data units) whose tick labels,
 * `pxPerUnit` apart per unit, leave `gap` px between neighbours; the largest
 * candidate when none does.
 */
export function pickStep(
  candidates: readonly number[],
  pxPerUnit: number,
  labelFor: (value: number) => string,
  fontSize: number,
  maxValue: number,
  gap = 8,
): number {
  for (const step of candidates) {
    const widest = Math.max(
      textWidth(labelFor(0), fontSize),
      textWidth(labelFor(Math.floor(maxValue / step) * step), fontSize),
      textWidth(labelFor(step), fontSize),
    );
    if (step * pxPerUnit >= widest + gap) return step;
  }
  return candidates[candidates.length - 1]!;
}

/** 1, 2, 5 × 10^k: the smallest such step giving at most `ticks` intervals over `span`. */
export function niceStep(span: number, ticks: number): number {
  const raw = Math.max(span, Number.MIN_VALUE) / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
}

export const esc = (s: string) => s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);

/** One `<text>` element; `extra` is raw attributes (fill, font-weight, …). */
export function text(x: number, y: number, size: number, content: string, opts: { anchor?: 'start' | 'middle' | 'end'; extra?: string } = {}): string {
  const anchor = opts.anchor && opts.anchor !== 'start' ? ` text-anchor="${opts.anchor}"` : '';
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${size}"${anchor}${opts.extra ? ` ${opts.extra}` : ''}>${esc(content)}</text>`;
}

/** The document: gridlines (stroke #eee) first so everything else draws over them. */
export function svgDocument(width: number, height: number, parts: readonly string[]): string {
  const grid = parts.filter((p) => p.includes('stroke="#eee"'));
  const rest = parts.filter((p) => !p.includes('stroke="#eee"'));
  const w = Math.ceil(width);
  const h = Math.ceil(height);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${[...grid, ...rest].join('\n')}\n</svg>\n`;
}
