import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { ToolchainError } from './errors';

/**
 * Installs Debian packages with apt-get when this process may (root on Debian/Ubuntu). Their
 * services are kept from starting meanwhile (a policy-rc.d for the duration): the engine and its
 * tests start their own servers on loopback ports, never the system ones. `apt-get update` runs
 * only when the install fails on stale package lists.
 */
export function aptInstall(packages: string[], what: string, say: (line: string) => void): void {
  const apt = ['/usr/bin/apt-get', '/usr/sbin/apt-get'].find((path) => existsSync(path));
  if (!apt || process.getuid?.() !== 0)
    throw new ToolchainError(
      `${what} missing: ${packages.join(', ')}`,
      `install as root: apt-get install ${packages.join(' ')}`,
    );
  say(`apt-get install ${packages.join(' ')} (their services are not started)`);
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy)
    writeFileSync(policy, '#!/bin/sh\n# recovery-engine bootstrap: do not start services\nexit 101\n', { mode: 0o755 });
  try {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const run = (args: string[]) => spawnSync(apt, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    const install = () => run(['install', '-y', '-qq', '--no-install-recommends', ...packages]);
    let result = install();
    if (result.status !== 0) {
      say('package lists are stale: apt-get update');
      run(['update', '-qq']);
      result = install();
    }
    if (result.status !== 0)
      throw new ToolchainError(
        `apt-get install ${packages.join(' ')} failed:\n${result.stderr.trim().split('\n').slice(-5).join('\n')}`,
        'install the packages by hand, then run npm run bootstrap again',
      );
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
}
