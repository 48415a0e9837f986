/**
 * The node's network fence and its removal. Pods live on one CNI bridge;
 * our filter chains, jumped to first from FORWARD and INPUT, let pods reach
 * each other (directly or through a Service's DNAT) and nothing else: not the
 * host, not Docker's networks, not any address outside this machine. `down`
 * removes the chains, kube-proxy's rules (`kube-proxy --cleanup`), the
 * bridge and the node's own interface, the pods' network namespaces and the CNI plugins' records.
 */
import path from 'node:path';

import { $, fs } from 'zx';

import { UserError } from '../cli/ui.js';
import type { ClusterLayout } from './layout.js';
import { NETWORK } from './layout.js';

const sh = $({ quiet: true, nothrow: true, timeout: '60s' });

export const INPUT_CHAIN = 'MTLS-K8S-INPUT';

/** Our chains and their rules, in iptables-restore's words (pure, for the unit test). */
export function fenceRules(): { chain: string; parent: string; rules: string[][] }[] {
  const br = NETWORK.bridge;
  return [
    {
      chain: NETWORK.forwardChain,
      parent: 'FORWARD',
      rules: [
        ['-i', br, '-o', br, '-j', 'ACCEPT'],
        ['-i', br, '-j', 'REJECT'],
        ['-o', br, '-j', 'REJECT'],
      ],
    },
    // Replies to the host's own connections (kubelet probes, kubectl port-forward) stay allowed.
    {
      chain: INPUT_CHAIN,
      parent: 'INPUT',
      rules: [
        ['-i', br, '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
        ['-i', br, '-j', 'REJECT'],
        ['-d', `${NETWORK.nodeIp}/32`, '!', '-i', 'lo', '-j', 'REJECT'],
      ],
    },
  ];
}

/**
 * What the bridge needs from the host: bridged frames through iptables (so a
 * Service's DNAT is undone on the reply between two pods of one bridge) and
 * IPv4 forwarding. Both are what Docker sets too.
 */
const SYSCTLS = { 'net/bridge/bridge-nf-call-iptables': '1', 'net/ipv4/ip_forward': '1' } as const;

export async function prepareHost(): Promise<void> {
  if (!(await fs.pathExists('/proc/sys/net/bridge'))) {
    const probe = await sh`modprobe br_netfilter`;
    if (probe.exitCode !== 0) throw new UserError(`the br_netfilter kernel module is needed (modprobe br_netfilter failed: ${probe.stderr.trim()})`);
  }
  for (const [key, value] of Object.entries(SYSCTLS)) {
    const file = path.join('/proc/sys', key);
    if ((await fs.readFile(file, 'utf8')).trim() !== value) await fs.writeFile(file, value);
  }
  if (!(await linkExists(NETWORK.nodeInterface))) {
    const add =
      await sh`ip link add ${NETWORK.nodeInterface} type bridge && ip addr add ${`${NETWORK.nodeIp}/32`} dev ${NETWORK.nodeInterface} && ip link set ${NETWORK.nodeInterface} up`;
    if (add.exitCode !== 0) throw new UserError(`could not create the node's interface ${NETWORK.nodeInterface}: ${add.stderr.trim()}`);
  }
}

async function chainExists(chain: string): Promise<boolean> {
  return (await sh`iptables -w -S ${chain}`).exitCode === 0;
}

export async function installFence(): Promise<void> {
  for (const { chain, parent, rules } of fenceRules()) {
    if (await chainExists(chain)) await removeChain(chain, parent);
    const create = await sh`iptables -w -N ${chain}`;
    if (create.exitCode !== 0) throw new UserError(`iptables could not create ${chain}: ${create.stderr.trim()}`);
    for (const rule of rules) {
      const add = await sh`iptables -w -A ${chain} ${rule}`;
      if (add.exitCode !== 0) throw new UserError(`iptables could not add "${rule.join(' ')}" to ${chain}: ${add.stderr.trim()}`);
    }
    const jump = await sh`iptables -w -I ${parent} 1 -j ${chain}`;
    if (jump.exitCode !== 0) throw new UserError(`iptables could not jump from ${parent} to ${chain}: ${jump.stderr.trim()}`);
  }
}

async function removeChain(chain: string, parent: string): Promise<void> {
  while ((await sh`iptables -w -D ${parent} -j ${chain}`).exitCode === 0);
  await sh`iptables -w -F ${chain}`;
  await sh`iptables -w -X ${chain}`;
}

const FAMILIES = ['iptables', 'ip6tables'] as const;
const TABLES = ['filter', 'nat', 'mangle'] as const;
const CLUSTER_CHAIN = /^(?:KUBE-|MTLS-K8S-)/;

/** Chains of the cluster still in the host's iptables (ours, the kubelet's and kube-proxy's), as `family/table/chain`. */
export async function leftoverChains(): Promise<string[]> {
  const found: string[] = [];
  for (const family of FAMILIES) {
    for (const table of TABLES) {
      const out = await sh`${family} -w -t ${table} -S`;
      for (const m of out.stdout.matchAll(/^-N (\S+)$/gm)) if (CLUSTER_CHAIN.test(m[1]!)) found.push(`${family}/${table}/${m[1]}`);
    }
  }
  return found;
}

/**
 * The `-A` rules of built-in chains that jump to a cluster chain, as the
 * arguments that delete them (pure, for the unit test): `iptables -S`
 * prints each rule as the arguments that add it.
 */
export function jumpsToClusterChains(listing: string): string[][] {
  return listing
    .split('\n')
    .map((line) => line.match(/^-A ([A-Z]+) (.*-j (\S+).*)$/))
    .filter((m): m is RegExpMatchArray => m !== null && CLUSTER_CHAIN.test(m[3]!))
    .map((m) => ['-D', m[1]!, ...splitRule(m[2]!)]);
}

/** Splits a rule as iptables -S quotes it (double quotes around comments). */
function splitRule(rule: string): string[] {
  return [...rule.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => (m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : m[2]!));
}

/** What kube-proxy --cleanup leaves: the kubelet's KUBE-FIREWALL, canaries and hint chains, in both families. */
async function removeClusterChains(): Promise<void> {
  for (const family of FAMILIES) {
    for (const table of TABLES) {
      const listing = (await sh`${family} -w -t ${table} -S`).stdout;
      for (const del of jumpsToClusterChains(listing)) await sh`${family} -w -t ${table} ${del}`;
      const chains = [...listing.matchAll(/^-N (\S+)$/gm)].map((m) => m[1]!).filter((c) => CLUSTER_CHAIN.test(c));
      for (const chain of chains) await sh`${family} -w -t ${table} -F ${chain}`;
      for (const chain of chains) await sh`${family} -w -t ${table} -X ${chain}`;
    }
  }
}

async function linkExists(name: string): Promise<boolean> {
  return (await sh`ip link show ${name}`).exitCode === 0;
}

/** The node's interfaces (the pods' bridge, the node's address) still on the host. */
export async function leftoverLinks(): Promise<string[]> {
  const links = [NETWORK.bridge, NETWORK.nodeInterface];
  const present = await Promise.all(links.map(linkExists));
  return links.filter((_, i) => present[i]);
}

/** Network namespaces containerd mounted for pods (under its state dir). */
export async function podNetns(layout: ClusterLayout): Promise<string[]> {
  const out = await sh`find ${layout.containerdState} -path ${'*/netns/*'} -type f`;
  return out.stdout.split('\n').filter(Boolean);
}

/** Removes everything of the node's network; safe to run when nothing is there. */
export async function removeNetwork(layout: ClusterLayout, kubeProxyBinary: string): Promise<void> {
  for (const { chain, parent } of fenceRules()) await removeChain(chain, parent);
  // kube-proxy's own teardown of its KUBE-* chains in every mode it knows.
  if (await fs.pathExists(kubeProxyBinary)) await sh`${kubeProxyBinary} --cleanup`;
  await removeClusterChains();
  for (const ns of await podNetns(layout)) {
    await sh`umount ${ns}`;
    await fs.remove(ns);
  }
  for (const link of await leftoverLinks()) await sh`ip link delete ${link}`;
  await fs.remove(layout.cniIpam);
  // libcni keeps each attachment's result under /var/lib/cni/results, named after the network.
  const results = '/var/lib/cni/results';
  if (await fs.pathExists(results)) {
    for (const f of await fs.readdir(results)) if (f.startsWith(`${NETWORK.cniNetwork}-`)) await fs.remove(path.join(results, f));
  }
}
