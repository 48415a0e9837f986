import { $ } from 'zx';

/**
 * Samples the command lines of every `step ca …` process in a container for
 * a bounded window, the way any local user could (/proc/<pid>/cmdline is
 * world-readable). The loop uses only bash builtins, so it sees processes
 * that live for a fraction of a second. Resolves with each distinct command
 * line (arguments joined by spaces).
 */
export async function sampleStepArgv(container: string, seconds: number): Promise<string[]> {
  const script = [
    'declare -A seen; end=$((SECONDS + $1))',
    'while ((SECONDS < end)); do',
    '  for f in /proc/[0-9]*/cmdline; do',
    '    mapfile -d "" -t args <"$f" 2>/dev/null || continue',
    '    [[ ${args[0]:-} == *step && ${args[1]:-} == ca ]] && seen["${args[*]}"]=1',
    '  done',
    'done',
    'printf "%s\\n" "${!seen[@]}"',
  ].join('\n');
  const out = await $({ quiet: true, nothrow: true, timeout: `${seconds + 30}s` })`docker exec ${container} bash -c ${script} sampler ${String(seconds)}`;
  if (out.exitCode !== 0) throw new Error(`argv sampler in ${container} failed: ${out.stderr}`);
  return out.stdout.split('\n').filter(Boolean);
}

/** A JWT-shaped string, as step's one-time tokens are. */
export const TOKEN_SHAPE = /eyJ[\w-]+\.[\w-]+\.[\w-]+/;
