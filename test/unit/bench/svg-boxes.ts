import { textWidth } from '../../../bench/lib/svg-layout.js';

/** The box a `<text>` element covers, from its attributes and the shared width estimate. */
export interface Box {
  readonly text: string;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

const attr = (attrs: string, name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(attrs)?.[1];
const unescape = (s: string) =>
  s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');

/** Every `<text>` of an SVG document as a box (rotate(-90) handled), and the viewBox. */
export function textBoxes(svg: string): { boxes: Box[]; width: number; height: number } {
  const vb = /viewBox="0 0 ([\d.]+) ([\d.]+)"/.exec(svg);
  if (!vb) throw new Error('no viewBox');
  const boxes = [...svg.matchAll(/<text ([^>]*)>([^<]*)<\/text>/g)].map(([, attrs, raw]) => {
    const content = unescape(raw!);
    const x = Number(attr(attrs!, 'x'));
    const y = Number(attr(attrs!, 'y'));
    const size = Number(attr(attrs!, 'font-size'));
    const w = textWidth(content, size, attr(attrs!, 'font-weight') === 'bold');
    const anchor = attr(attrs!, 'text-anchor') ?? 'start';
    const start = anchor === 'middle' ? -w / 2 : anchor === 'end' ? -w : 0;
    if (/rotate\(-90/.test(attrs!)) return { text: content, left: x - size * 0.8, right: x + size * 0.25, top: y - start - w, bottom: y - start };
    return { text: content, left: x + start, right: x + start + w, top: y - size * 0.8, bottom: y + size * 0.25 };
  });
  return { boxes, width: Number(vb[1]), height: Number(vb[2]) };
}

/** Pairs of text boxes that intersect. */
export function overlaps(boxes: readonly Box[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  boxes.forEach((a, i) => {
    for (const b of boxes.slice(i + 1)) {
      if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom) out.push([a.text, b.text]);
    }
  });
  return out;
}

/** Text boxes that leave the viewBox. */
export function outside(svg: string): string[] {
  const { boxes, width, height } = textBoxes(svg);
  return boxes.filter((b) => b.left < 0 || b.right > width || b.top < 0 || b.bottom > height).map((b) => b.text);
}
