/**
 * Files only the operator may read (a host identity's key beside its
 * certificates): a directory of theirs that nobody else can enter, and files
 * created new in it with their mode from the start, never through a symbolic
 * link. Writing a file again (a renewed identity) creates a new file and
 * renames it over the old one: whoever holds the old file open keeps reading
 * the old content, never the new key.
 */
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

import { UserError } from '../cli/ui.js';

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
    throw new UserError(
      `${dir} is open to group or others (mode ${octal(info.mode)}); private files need a directory only you can enter: chmod 700 it, or choose another directory`,
    );
  }
}

/** Refuses any of `files` that exists and is not a regular file (a symbolic link, even a dangling one, a directory, …). */
export async function assertReplaceable(files: readonly string[]): Promise<void> {
  for (const file of files) {
    const info = await lstatOrNone(file);
    if (info && !info.isFile()) throw notAFile(file);
  }
}

const notAFile = (file: string) =>
  new UserError(
    `${file} exists and is not a regular file (a symbolic link?): refusing to write through it or replace it; remove it, or choose another directory`,
  );

/**
 * Writes `file` as a new file: a temporary name in the same directory,
 * created with `mode` from the start (O_CREAT|O_EXCL|O_NOFOLLOW), then renamed
 * over `file`. It never follows a link, never truncates a file someone holds
 * open, and refuses a `file` that is not a regular file.
 */
export async function writePrivateFile(file: string, content: string, mode: number): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}`);
  const handle = await open(temp, CREATE_NEW, mode);
  try {
    await handle.writeFile(content);
  } finally {
    await handle.close();
  }
  try {
    await assertReplaceable([file]);
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
