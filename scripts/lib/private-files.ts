/**
 * Files only the operator may read (a host identity's key beside its
 * certificates): a directory of theirs that nobody else can enter, and files
 * created new in it, never through a symbolic link and never over a file that
 * is already there. A file that exists is refused, not replaced: whoever put
 * it there (or a link in its place) may still hold it open.
 */
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { UserError } from './ui.js';

const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

const lstatOrNone = (file: string): Promise<Stats | undefined> =>
  lstat(file).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');

/**
 * Makes `dir` (mode 0700, parents as needed) or accepts it as it is when it is
 * a directory, not a symbolic link, owned by this user, with no access for
 * group or others. A directory that others can enter or write is refused,
 * not tightened: what they may have put in it or opened stays theirs after a
 * chmod, and changing the mode of a directory the user named (`--out .`) is
 * not this command's business.
 */
export async function ensurePrivateDir(dir: string): Promise<void> {
  let info = await lstatOrNone(dir);
  if (!info) {
    await mkdir(path.dirname(dir), { recursive: true });
    // Not recursive: a directory that appeared meanwhile is checked below, not taken.
    await mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    info = await lstat(dir);
  }
  if (info.isSymbolicLink()) throw new UserError(`${dir} is a symbolic link: private files are written only into a real directory; choose another directory`);
  if (!info.isDirectory()) throw new UserError(`${dir} exists and is not a directory; choose another directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) throw new UserError(`${dir} belongs to uid ${info.uid}, not to you (uid ${uid}); choose a directory of your own`);
  if ((info.mode & 0o077) !== 0) {
    throw new UserError(`${dir} is open to group or others (mode ${octal(info.mode)}); private files need a directory only you can enter: chmod 700 it, or choose another directory`);
  }
}

/** Refuses any of `files` that exists (a symbolic link, even a dangling one, included). */
export async function assertAbsent(files: readonly string[]): Promise<void> {
  for (const file of files) {
    if (await lstatOrNone(file)) throw alreadyThere(file);
  }
}

const alreadyThere = (file: string) => new UserError(`${file} already exists: refusing to overwrite it or write through it; remove it, or choose another directory`);

/**
 * Creates `file` with `mode` from the start (O_CREAT|O_EXCL|O_NOFOLLOW) and
 * writes `content`: it never follows a link and never truncates a file that
 * someone else created first.
 */
export async function writeNewFile(file: string, content: string, mode: number): Promise<void> {
  const handle = await open(file, CREATE_NEW, mode).catch((error: NodeJS.ErrnoException) => {
    throw error.code === 'EEXIST' || error.code === 'ELOOP' ? alreadyThere(file) : error;
  });
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
}
