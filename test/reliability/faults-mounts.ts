/**
 * Disks that fail the way real backup locations do: a small tmpfs that fills up (ENOSPC) and one
 * remounted read-only (EROFS; root ignores permission bits, so chmod would prove nothing). Needs
 * mount(8) and the right to mount (root, or CAP_SYS_ADMIN in a container); `mountProblem` says why
 * not when they are missing, so the tests that need it skip naming the reason.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onCleanup } from '../helpers/cleanup';

const mounted: string[] = [];

/** Unmounts every tmpfs mounted here (call it before removing the folder they are in). */
export function unmountAll(): Promise<void> {
  for (const dir of mounted.splice(0).reverse()) {
    try {
      execFileSync('umount', [dir], { stdio: 'pipe' });
    } catch {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' }); // still in use: detach it now, free it when released
    }
    try {
      rmdirSync(dir);
    } catch (error) {
      console.error(`could not remove the mount point ${dir}: ${String(error)}`);
    }
  }
  return Promise.resolve();
}
onCleanup(unmountAll);
process.on('exit', () => void unmountAll().catch(() => undefined));

/** Why tmpfs mounts cannot be made here; undefined when they can. */
export const mountProblem: string | undefined = (() => {
  const probe = mkdtempSync(join(tmpdir(), 'recovery-mount-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    return `cannot mount a tmpfs here (${stderr || String(error)}): run as root, or in a container with CAP_SYS_ADMIN`;
  } finally {
    rmdirSync(probe);
  }
})();

/** A tmpfs of `size` (e.g. `2m`) at `dir`, created if needed and unmounted when the tests end. */
export function mountTmpfs(dir: string, size: string): string {
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'pipe' });
  mounted.push(dir);
  return dir;
}

/** A tmpfs at `dir` holding what `fill` writes into it, then remounted read-only. */
export function mountReadOnly(dir: string, fill: (dir: string) => void = () => undefined): string {
  mountTmpfs(dir, '8m');
  fill(dir);
  execFileSync('mount', ['-o', 'remount,ro', dir], { stdio: 'pipe' });
  return dir;
}
