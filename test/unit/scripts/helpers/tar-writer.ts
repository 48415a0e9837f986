// Writes tar archives for tests with tar-stream: ustar headers, pax records
// for long names and xattrs (as GNU tar and Docker write them), symlinks and
// directories.
import { buffer } from 'node:stream/consumers';

import { pack } from 'tar-stream';

export interface EntrySpec {
  readonly name: string;
  readonly body?: Buffer | string;
  readonly type?: 'file' | 'directory' | 'symlink';
  readonly linkname?: string;
  /** Values must be UTF-8 (tar-stream writes pax records as text). */
  readonly xattrs?: Record<string, Buffer>;
  readonly mode?: number;
}

export async function tarArchive(entries: readonly EntrySpec[]): Promise<Buffer> {
  const archive = pack();
  const bytes = buffer(archive);
  for (const e of entries) {
    const xattrs = Object.entries(e.xattrs ?? {}).map(([k, v]) => [`SCHILY.xattr.${k}`, v.toString('utf8')] as const);
    const header = {
      name: e.name,
      type: e.type ?? 'file',
      linkname: e.linkname,
      mode: e.mode,
      mtime: new Date(1_700_000_000_000),
      pax: xattrs.length ? Object.fromEntries(xattrs) : undefined,
    };
    if (header.type === 'file') archive.entry(header, Buffer.from(e.body ?? ''));
    else archive.entry(header);
  }
  archive.finalize();
  return bytes;
}
