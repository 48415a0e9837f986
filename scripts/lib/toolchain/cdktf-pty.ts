import { createRequire } from 'node:module';
import path from 'node:path';

const PTY_PACKAGE = '@cdktf/node-pty-prebuilt-multiarch';

/**
 * cdktf runs `terraform apply`/`destroy` under a pseudo-terminal (node-pty),
 * so deploy needs its native module. The package ships prebuilt binaries
 * (Linux x64 for Node 16-22, among others) and the project does not run its
 * install script (package.json allowScripts): where no prebuilt binary fits
 * this Node, it has to be built once, on purpose.
 */
export function cdktfPtyStatus(projectDir: string): { ok: true; detail: string } | { ok: false; detail: string } {
  const abi = `Node ${process.version}, ABI ${process.versions.modules}, ${process.platform}-${process.arch}`;
  try {
    // Resolve it the way cdktf does: from cdktf-cli's core package.
    const fromCore = createRequire(createRequire(path.join(projectDir, 'package.json')).resolve('@cdktf/cli-core/package.json'));
    fromCore(PTY_PACKAGE);
    return { ok: true, detail: `${PTY_PACKAGE} loads (${abi})` };
  } catch (err) {
    const why = (err as Error).message.split('\n')[0];
    return {
      ok: false,
      detail:
        `${PTY_PACKAGE} has no native binary for ${abi} (${why}). cdktf needs it to run terraform. ` +
        `Use Node 20 or 22 on Linux x64, or build it once (runs that package's install script only): npm rebuild ${PTY_PACKAGE} --dangerously-allow-all-scripts`,
    };
  }
}
