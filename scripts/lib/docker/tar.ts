/**
 * A small streaming reader for tar archives (ustar, POSIX pax and GNU long
 * names), enough for `docker save` archives and image layers: entry names,
 * types, sizes, link targets, pax xattrs (SCHILY.xattr.*), and each entry's
 * body handed over in chunks, never buffered whole. Headers are checksummed,
 * so a file that is not a tar is refused instead of misread.
 */
export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntry {
  readonly name: string;
  readonly type: TarEntryType;
  readonly size: number;
  readonly mode: number;
  readonly linkname: string;
  /** Extended attributes from pax records, e.g. security.capability. */
  readonly xattrs: Readonly<Record<string, Buffer>>;
  /** Byte offset of the body in the archive (to read it again later). */
  readonly offset: number;
}

/** What a visitor wants of an entry's body; return nothing to skip it. */
export interface BodySink {
  data?(chunk: Buffer): void;
  end?(): void;
}

export type TarVisitor = (entry: TarEntry) => BodySink | void;

const BLOCK = 512;
/** Bound on pax / GNU long-name bodies: they hold names and attributes, not data. */
const MAX_META = 1 << 20;

export class TarFormatError extends Error {}

function str(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const nul = field.indexOf(0);
  return field.subarray(0, nul === -1 ? field.length : nul).toString('utf8');
}

/** Octal, or GNU base-256 for values that do not fit (high bit set). */
function num(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if ((field[0]! & 0x80) !== 0) {
    let v = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) v = v * 256 + field[i]!;
    return v;
  }
  const text = str(block, start, length).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`bad numeric field "${text}"`);
  return Number.parseInt(text, 8);
}

function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i]!;
  const field = str(block, 148, 8).trim();
  return /^[0-7]+$/.test(field) && sum === Number.parseInt(field, 8);
}

/** `<len> <key>=<value>\n` records; values may hold any bytes. */
export function parsePax(body: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let pos = 0;
  while (pos < body.length) {
    const space = body.indexOf(0x20, pos);
    const len = Number.parseInt(body.subarray(pos, space).toString('ascii'), 10);
    if (space === -1 || !Number.isInteger(len) || len <= 0 || pos + len > body.length) throw new TarFormatError('malformed pax record');
    const record = body.subarray(space + 1, pos + len - 1); // without the trailing newline
    const eq = record.indexOf(0x3d);
    if (eq === -1) throw new TarFormatError('pax record without "="');
    records.set(record.subarray(0, eq).toString('utf8'), Buffer.from(record.subarray(eq + 1)));
    pos += len;
  }
  return records;
}

const TYPES: Record<string, TarEntryType> = { '0': 'file', '\0': 'file', '7': 'file', '5': 'directory', '2': 'symlink', '1': 'hardlink' };

/**
 * Reads a tar stream to its end marker, calling `visit` for every entry
 * (pax and GNU meta entries are applied, not reported).
 */
export async function readTar(source: AsyncIterable<Buffer | Uint8Array>, visit: TarVisitor): Promise<void> {
  let carry = Buffer.alloc(0);
  let position = 0; // archive offset of chunk[0]
  let body: { remaining: number; pad: number; sink?: BodySink; meta?: Buffer[]; metaType?: string } | undefined;
  let skip = 0;
  let pax = new Map<string, Buffer>();
  let longName: string | undefined;
  let longLink: string | undefined;

  const finishMeta = (type: string, data: Buffer) => {
    if (type === 'x') pax = new Map([...pax, ...parsePax(data)]);
    else if (type === 'L') longName = str(data, 0, data.length);
    else if (type === 'K') longLink = str(data, 0, data.length);
    // 'g' (global pax headers) carry nothing an image layer needs.
  };

  for await (const raw of source) {
    const chunk = carry.length ? Buffer.concat([carry, raw]) : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
    const base = position - carry.length;
    carry = Buffer.alloc(0);
    let off = 0;
    while (off < chunk.length) {
      if (body) {
        const n = Math.min(body.remaining, chunk.length - off);
        const part = chunk.subarray(off, off + n);
        if (body.meta) body.meta.push(Buffer.from(part));
        else body.sink?.data?.(part);
        off += n;
        body.remaining -= n;
        if (body.remaining === 0) {
          if (body.meta) finishMeta(body.metaType!, Buffer.concat(body.meta));
          else body.sink?.end?.();
          skip = body.pad;
          body = undefined;
        }
        continue;
      }
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - off);
        off += n;
        skip -= n;
        continue;
      }
      if (chunk.length - off < BLOCK) {
        carry = Buffer.from(chunk.subarray(off));
        break;
      }
      const block = chunk.subarray(off, off + BLOCK);
      const headerAt = base + off;
      off += BLOCK;
      if (block.every((b) => b === 0)) return; // end-of-archive marker
      if (!checksumOk(block)) throw new TarFormatError(`not a tar archive: bad header checksum at byte ${headerAt}`);
      const typeflag = String.fromCharCode(block[156]!);
      const size = num(block, 124, 12);
      const pad = (BLOCK - (size % BLOCK)) % BLOCK;
      if ('xgLK'.includes(typeflag)) {
        if (size > MAX_META) throw new TarFormatError(`meta entry of ${size} bytes at byte ${headerAt}`);
        body = { remaining: size, pad, meta: [], metaType: typeflag };
        if (size === 0) { finishMeta(typeflag, Buffer.alloc(0)); body = undefined; }
        continue;
      }
      const prefix = block.subarray(257, 262).toString('latin1') === 'ustar' ? str(block, 345, 155) : '';
      const ustarName = prefix ? `${prefix}/${str(block, 0, 100)}` : str(block, 0, 100);
      const xattrs: Record<string, Buffer> = {};
      for (const [k, v] of pax) if (k.startsWith('SCHILY.xattr.')) xattrs[k.slice('SCHILY.xattr.'.length)] = v;
      const entry: TarEntry = {
        name: pax.get('path')?.toString('utf8') ?? longName ?? ustarName,
        linkname: pax.get('linkpath')?.toString('utf8') ?? longLink ?? str(block, 157, 100),
        type: TYPES[typeflag] ?? 'other',
        size: pax.has('size') ? Number(pax.get('size')!.toString('ascii')) : size,
        mode: num(block, 100, 8),
        xattrs,
        offset: base + off,
      };
      pax = new Map();
      longName = longLink = undefined;
      const sink = visit(entry) ?? undefined;
      const bodySize = entry.type === 'file' || entry.type === 'other' ? entry.size : 0;
      if (bodySize > 0) body = { remaining: bodySize, pad: (BLOCK - (bodySize % BLOCK)) % BLOCK, sink };
      else sink?.end?.();
    }
    position += raw.byteLength;
  }
  if (body || skip > 0 || carry.length) throw new TarFormatError('truncated tar archive');
}
