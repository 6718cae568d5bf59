/**
 * The servers the engine starts itself (scratch and restored mariadbd, redis-server, influxd): which
 * process a pid file names, and stopping it. A pid file outlives its process after a crash or a
 * reboot, and its pid may then belong to anything: a pid is trusted only while
 * /proc/<pid>/cmdline names the expected program and the server's own directory (or port), so a
 * stop never signals a process the engine did not start there.
 */
import { heartbeat } from '@temporalio/activity';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** What the command line of one of our servers holds. */
export interface ServerIdentity {
  /** The program, as the first word of the command line names it: `mariadbd`, `influxd`, `redis-server`. */
  program: string;
  /** Arguments the command line holds, each exactly: `--datadir=/var/lib/mysql-drill`, a config file path. */
  args: string[];
}

/** Whether `pid` is a live process (a zombie is not). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) state …"
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Whether `pid` is a live process whose command line is `identity`'s. */
export function isServer(pid: number, identity: ServerIdentity): boolean {
  if (!Number.isInteger(pid) || pid <= 0 || !isRunning(pid)) return false;
  let args: string[];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return false;
  }
  return (
    basename(args[0]?.split(' ')[0] ?? '') === identity.program && identity.args.every((arg) => args.includes(arg))
  );
}

/** The pid `pidFile` names, when that process is still `identity`'s server; undefined otherwise. */
export function trustedPid(pidFile: string, identity: ServerIdentity): number | undefined {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return undefined;
  }
  return isServer(pid, identity) ? pid : undefined;
}

/** Sends `signal` to `pid`; false when it is gone already. */
function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

/** Heartbeats when called inside an activity; a no-op outside one (tests, the CLI). */
function beat(details: unknown): void {
  try {
    heartbeat(details);
  } catch {
    // not in an activity
  }
}

/**
 * Stops the server `pid` (checked against `identity` before every signal): `SIGTERM` (or `first`,
 * when the caller asked it to stop otherwise already), SIGKILL to its process group after `graceMs`,
 * then waits until it is gone. Heartbeats while it waits.
 */
export async function stopServer(
  pid: number,
  identity: ServerIdentity,
  { graceMs = 30_000, first = 'SIGTERM' }: { graceMs?: number; first?: NodeJS.Signals | 'none' } = {},
): Promise<void> {
  if (!isServer(pid, identity)) return;
  if (first !== 'none') signal(pid, first);
  const deadline = Date.now() + graceMs;
  while (isServer(pid, identity)) {
    if (Date.now() > deadline) killGroup(pid);
    beat({ stopping: `${identity.program} ${pid}` });
    await sleep(50);
  }
}

/**
 * SIGKILL to the process group `pid` leads (our servers are spawned detached: pid = group id),
 * or to `pid` alone when it leads none.
 */
export function killGroup(pid: number): void {
  if (!signal(-pid, 'SIGKILL')) signal(pid, 'SIGKILL');
}

/** The last `chars` characters of a server's log, for error messages; empty when it has none. */
export async function logTail(file: string, chars = 1_500): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim().slice(-chars);
}
