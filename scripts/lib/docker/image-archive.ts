/**
 * Reads what `docker save` writes, in both layouts, without `tar` on the
 * host (macOS's lacks --wildcards): the legacy one (`<id>/layer.tar`, Engine
 * < 25) and the OCI one (`blobs/sha256/<hex>`, Engine >= 25, layers possibly
 * gzip- or zstd-compressed). Both name their layers in `manifest.json`; the
 * archive is indexed once, then each layer is streamed from its offset.
 * Tar headers (ustar, pax, GNU long names) are parsed by tar-stream.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';

import { extract, type Header } from 'tar-stream';

/** An entry of a tar archive, its body left where it is. */
export interface TarEntry {
  readonly name: string;
  readonly type: Header['type'];
  readonly size: number;
  readonly linkname: string;
  /** Byte offset of the body in the archive (to read it again later). */
  readonly offset: number;
}

export interface ImageArchive {
  readonly file: string;
  /** `oci` when the archive has an oci-layout file, else `docker` (legacy). */
  readonly layout: 'docker' | 'oci';
  /** Layer paths inside the archive, bottom first, as manifest.json lists them. */
  readonly layers: readonly string[];
  readonly entries: ReadonlyMap<string, TarEntry>;
}

const TAR_HEADER_BYTES = 512;
const XATTR_PREFIX = 'SCHILY.xattr.';

/**
 * Calls `visit` with every entry of a tar stream (pax and GNU long-name
 * records applied) and its header, skipping the bodies. `what` names the
 * stream when it is not a readable tar archive.
 */
async function readEntries(source: Readable, what: string, visit: (entry: TarEntry, header: Header) => void): Promise<void> {
  const extractor = extract();
  source.once('error', (error) => extractor.destroy(error));
  source.pipe(extractor);
  try {
    for await (const body of extractor) {
      const { name, type, size, linkname } = body.header;
      visit({ name, type, size, linkname: linkname ?? '', offset: body.offset + TAR_HEADER_BYTES }, body.header);
      body.resume();
    }
  } catch (error) {
    throw new Error(`cannot read ${what} as a tar archive: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    source.destroy();
  }
}

/**
 * Extended attributes (`SCHILY.xattr.*` pax records, e.g. security.capability).
 * tar-stream decodes pax values as UTF-8, so a value whose bytes are not
 * UTF-8 cannot be given back faithfully: that is an error, not a guess.
 */
function xattrsOf(header: Header): Record<string, Buffer> {
  const xattrs: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries((header.pax ?? {}) as Record<string, string>)) {
    if (!key.startsWith(XATTR_PREFIX)) continue;
    if (value.includes('\uFFFD')) throw new Error(`${header.name}: pax record ${key} is not UTF-8 and cannot be read exactly`);
    xattrs[key.slice(XATTR_PREFIX.length)] = Buffer.from(value, 'utf8');
  }
  return xattrs;
}

const clean = (name: string) => path.posix.normalize(name.replace(/^(\.\/|\/)+/, '')).replace(/\/$/, '');

/** Follows symlinks inside the archive (Engine 25 links legacy paths to blobs). */
function resolveEntry(entries: ReadonlyMap<string, TarEntry>, name: string): TarEntry {
  let current = clean(name);
  for (let hops = 0; hops < 8; hops++) {
    const e = entries.get(current);
    if (!e) throw new Error(`image archive has no entry ${current}`);
    if (e.type !== 'symlink') return e;
    current = clean(path.posix.join(path.posix.dirname(current), e.linkname));
  }
  throw new Error(`symlink loop at ${name} in image archive`);
}

async function readWhole(file: string, e: TarEntry): Promise<Buffer> {
  if (e.size > 16 << 20) throw new Error(`${e.name} is ${e.size} bytes; a manifest is small`);
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(e.size);
    await fh.read(buf, 0, e.size, e.offset);
    return buf;
  } finally {
    await fh.close();
  }
}

export async function openImageArchive(file: string): Promise<ImageArchive> {
  const entries = new Map<string, TarEntry>();
  await readEntries(createReadStream(file), file, (e) => void entries.set(clean(e.name), e));
  const manifestEntry = entries.get('manifest.json');
  if (!manifestEntry) throw new Error(`${file} has no manifest.json: not a docker save archive`);
  const manifest = JSON.parse((await readWhole(file, manifestEntry)).toString('utf8')) as Array<{ Layers?: string[] }>;
  if (!Array.isArray(manifest)) throw new Error(`${file}: manifest.json is not a list of images`);
  const layers = [...new Set(manifest.flatMap((m) => m.Layers ?? []).map(clean))];
  for (const layer of layers) resolveEntry(entries, layer);
  return { file, layout: entries.has('oci-layout') ? 'oci' : 'docker', layers, entries };
}

/** The layer's tar stream, decompressed when the blob is gzip or zstd. */
export async function layerStream(archive: ImageArchive, layer: string): Promise<Readable> {
  const e = resolveEntry(archive.entries, layer);
  const raw = () => createReadStream(archive.file, { start: e.offset, end: e.offset + e.size - 1 });
  if (e.size < 4) return raw();
  const magic = Buffer.alloc(4);
  const fh = await open(archive.file, 'r');
  try {
    await fh.read(magic, 0, 4, e.offset);
  } finally {
    await fh.close();
  }
  if (magic[0] === 0x1f && magic[1] === 0x8b) return raw().pipe(zlib.createGunzip());
  if (magic.equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) {
    const zstd = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress;
    if (!zstd) throw new Error(`layer ${layer} is zstd-compressed; reading it needs Node >= 22.15`);
    return raw().pipe(zstd()) as unknown as Readable;
  }
  return raw();
}

/** An entry of a layer, with the layer it came from and its extended attributes. */
export interface LayerEntry extends TarEntry {
  readonly layer: string;
  readonly xattrs: Readonly<Record<string, Buffer>>;
}

/**
 * The file at `target` as the image's final filesystem has it: the last
 * layer that wrote it wins, a whiteout (`.wh.<name>`) or a whiteout of a
 * parent directory removes it. Undefined when the image has no such file.
 */
export async function finalEntry(archive: ImageArchive, target: string): Promise<LayerEntry | undefined> {
  const want = clean(target);
  let found: LayerEntry | undefined;
  for (const layer of archive.layers) {
    await readEntries(await layerStream(archive, layer), `layer ${layer}`, (e, header) => {
      const name = clean(e.name);
      const base = path.posix.basename(name);
      const parent = path.posix.dirname(name);
      if (name === want) {
        found = { ...e, layer, xattrs: xattrsOf(header) };
      } else if (base === '.wh..wh..opq') {
        // An opaque directory hides what lower layers had in it.
        if (found && found.layer !== layer && want.startsWith(`${parent}/`)) found = undefined;
      } else if (base.startsWith('.wh.')) {
        const removed = path.posix.join(parent, base.slice('.wh.'.length));
        if (removed === want || want.startsWith(`${removed}/`)) found = undefined;
      }
    });
  }
  return found;
}

/**
 * Streams every layer (decompressed) past a set of needles and counts the
 * matches of each, never holding more than a chunk and an overlap in memory.
 * Returns the bytes scanned and, per needle, how many layers contain it.
 */
export async function scanLayers(archive: ImageArchive, needles: readonly string[]): Promise<{ bytes: number; layersWithMatch: number[] }> {
  const patterns = needles.map((n) => Buffer.from(n, 'utf8')).filter((p) => p.length > 0);
  const overlap = Math.max(0, ...patterns.map((p) => p.length)) - 1;
  const layersWithMatch = patterns.map(() => 0);
  let bytes = 0;
  for (const layer of archive.layers) {
    const hit = patterns.map(() => false);
    let tail = Buffer.alloc(0);
    for await (const chunk of await layerStream(archive, layer)) {
      const data = Buffer.concat([tail, chunk as Buffer]);
      bytes += (chunk as Buffer).length;
      patterns.forEach((p, i) => {
        if (!hit[i] && data.includes(p)) hit[i] = true;
      });
      tail = overlap > 0 ? Buffer.from(data.subarray(Math.max(0, data.length - overlap))) : Buffer.alloc(0);
    }
    hit.forEach((h, i) => {
      if (h) layersWithMatch[i]! += 1;
    });
  }
  return { bytes, layersWithMatch };
}
