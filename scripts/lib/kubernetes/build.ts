/**
 * Builds the local cluster's binaries from the Go module proxy into the
 * toolchain cache, once per version. Kubernetes is built through a wrapper
 * module written into the cache (never into the checkout): its go.mod
 * requires k8s.io/kubernetes and replaces each staging module that
 * Kubernetes' own go.mod points at ./staging/src/… with the published module
 * of the same release, so `go build` resolves everything from the proxy.
 */
import path from 'node:path';

import { $, fs } from 'zx';

import { KUBERNETES_LOCAL, PROJECT } from '../../../stack/versions.js';
import { UserError } from '../cli/ui.js';
import type { CachePaths } from '../toolchain/cache.js';
import { aptInstall } from '../toolchain/docker-engine.js';
import { goEnv, goModDownload } from '../toolchain/go-build.js';
import type { ClusterLayout } from './layout.js';

const k = KUBERNETES_LOCAL;

export const KUBERNETES_COMMANDS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy', 'kubectl'] as const;

/** Package → binary name; etcd's main package is called `server`, renamed after the build. */
export const NODE_PACKAGES = {
  [k.etcd.goModule]: 'etcd',
  [`${k.containerd.goModule}/cmd/containerd`]: 'containerd',
  [`${k.containerd.goModule}/cmd/containerd-shim-runc-v2`]: 'containerd-shim-runc-v2',
  [`${k.containerd.goModule}/cmd/ctr`]: 'ctr',
  [`${k.cniPlugins.goModule}/plugins/main/bridge`]: 'bridge',
  [`${k.cniPlugins.goModule}/plugins/main/loopback`]: 'loopback',
  [`${k.cniPlugins.goModule}/plugins/ipam/host-local`]: 'host-local',
  [`${k.cniPlugins.goModule}/plugins/meta/portmap`]: 'portmap',
} as const;

/** The staging modules Kubernetes' go.mod replaces with ./staging/src directories. */
export function stagingModules(kubernetesGoMod: string): string[] {
  const found = [...kubernetesGoMod.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s+=>\s+\.\/staging\/src\/\1\s*$/gm)].map((m) => m[1]!);
  return [...new Set(found)].sort();
}

/** A wrapper go.mod: the required modules, and each staging module replaced by its published twin. */
export function wrapperGoMod(name: string, requires: Readonly<Record<string, string>>, replaces: readonly string[] = [], replaceVersion = ''): string {
  const req = Object.entries(requires).map(([m, v]) => `\t${m} ${v}`);
  const rep = replaces.map((m) => `\t${m} => ${m} ${replaceVersion}`);
  return [`module ${name}`, '', 'go 1.25', '', 'require (', ...req, ')', ...(rep.length ? ['', 'replace (', ...rep, ')'] : []), ''].join('\n');
}

/** A tools.go that imports the main packages, so `go mod tidy` keeps their dependencies. */
export function toolsGo(packages: readonly string[]): string {
  return ['//go:build tools', '', 'package tools', '', 'import (', ...packages.map((p) => `\t_ "${p}"`), ')', ''].join('\n');
}

/** The linker flags that make the binaries report their release instead of v0.0.0-master. */
export function versionLdflags(version: string): string {
  const [major, minor] = version.replace(/^v/, '').split('.');
  const pkg = 'k8s.io/component-base/version';
  return [`-X ${pkg}.gitVersion=${version}`, `-X ${pkg}.gitMajor=${major}`, `-X ${pkg}.gitMinor=${minor}`, `-X ${pkg}.gitTreeState=clean`].join(' ');
}

export interface BuildResult {
  readonly dir: string;
  readonly cached: boolean;
  readonly seconds: number;
}

async function allPresent(dir: string, names: readonly string[]): Promise<boolean> {
  const found = await Promise.all(names.map((n) => fs.pathExists(path.join(dir, n))));
  return found.every(Boolean);
}

/**
 * Writes the wrapper module, tidies it (the proxy resolves every dependency)
 * and builds `packages` into a fresh directory that replaces `binDir` only
 * when every binary was built: a cached directory is always complete.
 */
async function buildWrapper(
  paths: CachePaths,
  opts: { moduleDir: string; binDir: string; goMod: string; packages: readonly string[]; ldflags?: string; logName: string },
): Promise<void> {
  await fs.mkdirp(opts.moduleDir);
  await fs.mkdirp(paths.logs);
  await fs.writeFile(path.join(opts.moduleDir, 'go.mod'), opts.goMod);
  await fs.writeFile(path.join(opts.moduleDir, 'tools.go'), toolsGo(opts.packages));
  const log = path.join(paths.logs, `${opts.logName}.log`);
  const go = $({ quiet: true, nothrow: true, cwd: opts.moduleDir, env: goEnv(paths), timeout: '60m' });
  const tidy = await go`go mod tidy`;
  await fs.writeFile(log, tidy.stdout + tidy.stderr);
  if (tidy.exitCode !== 0) {
    throw new UserError(`go mod tidy failed for ${opts.logName} (see ${log}): check that the Go module proxy is reachable (go env GOPROXY).`);
  }
  const partial = `${opts.binDir}.partial-${process.pid}`;
  await fs.remove(partial);
  await fs.mkdirp(partial);
  const ldflags = opts.ldflags ? ['-ldflags', opts.ldflags] : [];
  const build = await go`go build ${ldflags} -o ${partial}/ ${opts.packages}`;
  await fs.appendFile(log, build.stdout + build.stderr);
  if (build.exitCode !== 0) {
    await fs.remove(partial);
    throw new UserError(`building ${opts.logName} failed (see ${log}). Delete ${paths.goBuildCache} if the build cache is corrupt and run this again.`);
  }
  if (await fs.pathExists(path.join(partial, 'server'))) await fs.move(path.join(partial, 'server'), path.join(partial, 'etcd'));
  await fs.remove(opts.binDir);
  await fs.move(partial, opts.binDir);
}

async function timed(dir: string, names: readonly string[], work: () => Promise<void>): Promise<BuildResult> {
  const started = Date.now();
  if (await allPresent(dir, names)) return { dir, cached: true, seconds: 0 };
  await work();
  return { dir, cached: false, seconds: Math.round((Date.now() - started) / 1000) };
}

/** kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kubectl at KUBERNETES_LOCAL's version. */
export async function ensureKubernetesBinaries(paths: CachePaths, layout: ClusterLayout): Promise<BuildResult> {
  return timed(layout.kubernetesBin, KUBERNETES_COMMANDS, async () => {
    const source = await goModDownload(paths, k.kubernetes.goModule, k.kubernetes.version);
    const staging = stagingModules(await fs.readFile(path.join(source, 'go.mod'), 'utf8'));
    if (staging.length === 0) throw new UserError(`${k.kubernetes.goModule}@${k.kubernetes.version}: its go.mod names no staging module to replace`);
    await buildWrapper(paths, {
      moduleDir: layout.kubernetesModule,
      binDir: layout.kubernetesBin,
      goMod: wrapperGoMod(`${PROJECT}/kubernetes-build`, { [k.kubernetes.goModule]: k.kubernetes.version }, staging, k.kubernetes.stagingVersion),
      packages: KUBERNETES_COMMANDS.map((c) => `${k.kubernetes.goModule}/cmd/${c}`),
      ldflags: versionLdflags(k.kubernetes.version),
      logName: `kubernetes-${k.kubernetes.version}`,
    });
  });
}

/** etcd, containerd (+ shim, ctr) and the CNI plugins the node runs; runc from Debian. */
export async function ensureNodeBinaries(paths: CachePaths, layout: ClusterLayout): Promise<BuildResult> {
  await aptInstall([k.runcDebianPackage], paths);
  return timed(layout.nodeBin, Object.values(NODE_PACKAGES), () =>
    buildWrapper(paths, {
      moduleDir: layout.nodeModule,
      binDir: layout.nodeBin,
      goMod: wrapperGoMod(`${PROJECT}/kubernetes-node-build`, {
        [k.etcd.goModule]: k.etcd.version,
        [k.containerd.goModule]: k.containerd.version,
        [k.cniPlugins.goModule]: k.cniPlugins.version,
      }),
      packages: Object.keys(NODE_PACKAGES),
      logName: `kubernetes-node-${k.containerd.version}`,
    }),
  );
}
