// Writes tar archives for tests: ustar headers, pax records for long names
// and xattrs (as GNU tar and Docker write them), symlinks and directories.
const BLOCK = 512;

export interface EntrySpec {
  readonly name: string;
  readonly body?: Buffer | string;
  readonly type?: 'file' | 'directory' | 'symlink';
  readonly linkname?: string;
  readonly xattrs?: Record<string, Buffer>;
  readonly mode?: number;
}

function header(name: string, size: number, typeflag: string, linkname = '', mode = 0o644): Buffer {
  const h = Buffer.alloc(BLOCK);
  const put = (s: string, at: number, len: number) => h.write(s, at, len, 'utf8');
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0';
  put(name.slice(0, 100), 0, 100);
  put(oct(mode, 8), 100, 8);
  put(oct(0, 8), 108, 8);
  put(oct(0, 8), 116, 8);
  put(oct(size, 12), 124, 12);
  put(oct(1_700_000_000, 12), 136, 12);
  put('        ', 148, 8);
  put(typeflag, 156, 1);
  put(linkname, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

const pad = (b: Buffer) => Buffer.concat([b, Buffer.alloc((BLOCK - (b.length % BLOCK)) % BLOCK)]);

function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = rest.length + 1;
  while (String(len).length + rest.length !== len) len = String(len).length + rest.length;
  return Buffer.concat([Buffer.from(String(len)), rest]);
}

export function tarArchive(entries: readonly EntrySpec[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = e.body === undefined ? Buffer.alloc(0) : Buffer.from(e.body);
    const typeflag = e.type === 'directory' ? '5' : e.type === 'symlink' ? '2' : '0';
    const records: Buffer[] = [];
    if (Buffer.byteLength(e.name) > 100) records.push(paxRecord('path', Buffer.from(e.name)));
    for (const [k, v] of Object.entries(e.xattrs ?? {})) records.push(paxRecord(`SCHILY.xattr.${k}`, v));
    if (records.length) {
      const pax = Buffer.concat(records);
      parts.push(header('PaxHeaders/x', pax.length, 'x'), pad(pax));
    }
    const size = typeflag === '0' ? body.length : 0;
    parts.push(header(e.name, size, typeflag, e.linkname ?? '', e.mode), pad(typeflag === '0' ? body : Buffer.alloc(0)));
  }
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}
