// A user the engine refuses must be told so, not that no engine exists; each
// failure gets the fix for its platform.
import { describe, expect, it } from 'vitest';

import { classifyEngineError, engineAdvice } from '../../../../scripts/lib/toolchain/docker-engine.js';

const PERMISSION =
  'permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock: Get "http://%2Fvar%2Frun%2Fdocker.sock/v1.24/version": dial unix /var/run/docker.sock: connect: permission denied';
const NOT_RUNNING = 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?';

describe('classifyEngineError', () => {
  it.each([
    [1, PERMISSION, 'permission'],
    [1, NOT_RUNNING, 'not-running'],
    [
      1,
      'error during connect: Get "http://%2F%2F.%2Fpipe%2FdockerDesktopLinuxEngine/v1.47/version": open //./pipe/dockerDesktopLinuxEngine: The system cannot find the file specified.',
      'not-running',
    ],
    [127, '/bin/bash: line 1: docker: command not found', 'no-cli'],
    [1, 'Error response from daemon: client version 1.52 is too new. Maximum supported API version is 1.41', 'other'],
  ] as const)('exit %i: %s -> %s', (code, stderr, problem) => {
    expect(classifyEngineError(code, stderr)).toBe(problem);
  });
});

describe('engineAdvice', () => {
  it('permission on Linux: the docker group or rootless Docker, with the CLI error', () => {
    const text = engineAdvice({ running: false, problem: 'permission', error: PERMISSION }, 'linux');
    expect(text).toMatch(/^a Docker engine is there but refuses this user \(permission denied on its socket\)\./);
    expect(text).toContain('sudo usermod -aG docker $USER');
    expect(text).toContain('docker context use rootless');
    expect(text).toContain(`The docker CLI said: ${PERMISSION}`);
    expect(text).not.toContain('no Docker engine');
  });

  it('permission on macOS: Docker Desktop and its context', () => {
    const text = engineAdvice({ running: false, problem: 'permission', error: PERMISSION }, 'darwin');
    expect(text).toContain('Restart Docker Desktop');
    expect(text).toContain('desktop-linux');
    expect(text).not.toContain('usermod');
  });

  it('not running: how to start it on each platform', () => {
    expect(engineAdvice({ running: false, problem: 'not-running', error: NOT_RUNNING }, 'linux')).toContain('sudo systemctl start docker');
    expect(engineAdvice({ running: false, problem: 'not-running', error: NOT_RUNNING }, 'darwin')).toContain('open -a Docker');
  });
});
