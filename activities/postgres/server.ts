/**
 * A PostgreSQL server on a data directory, run by pg_ctl as the `postgres` system user (PostgreSQL
 * refuses to run as root; a worker running as root goes through runuser). pg_ctl starts the
 * server in a session of its own with its output in a log file, so the server outlives the
 * activity that started it and never holds the activity's pipes open.
 */
import { heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdir, readFile, readlink, realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { sh } from '../../plan/kinds/define';
import { runProcess } from '../process';

/** The system user PostgreSQL's files belong to (the Debian package creates it). */
export const SERVER_USER = 'postgres';

const isRoot = () => process.getuid?.() === 0;

/** `program args` as the server's system user: through runuser when the worker runs as root. */
export function asServerUser(program: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', SERVER_USER, '--', program, ...args]] : [program, args];
}

/** Runs `program` as the server's system user; rejects with its output when it fails. */
async function runAsServerUser(program: string, args: string[], what: string): Promise<string> {
  const [command, argv] = asServerUser(program, args);
  const run = await runProcess(command, argv, { stdoutLimit: 64 * 1024 });
  if (run.exitCode !== 0) throw new Error(`${what} exited with status ${run.exitCode}: ${run.tail}`);
  return run.stdout;
}

/** Gives `paths` (recursively) to the server's system user, when the worker may (root). */
export async function giveToServerUser(...paths: string[]): Promise<void> {
  if (!isRoot()) return;
  const run = await runProcess('chown', ['-R', `${SERVER_USER}:`, ...paths]);
  if (run.exitCode !== 0) throw new Error(`chown ${paths.join(' ')} failed: ${run.tail}`);
}

/** A directory of the server's (data directory, socket directory, WAL copies): 0700, its user's. */
export async function serverDir(path: string): Promise<void> {
  await mkdir(path, { recursive: true });
  await chmod(path, 0o700);
  await giveToServerUser(path);
}

export interface InitOptions {
  /** Directory of initdb, pg_ctl, postgres… (DataServerBinaries.postgresBin). */
  bin: string;
  dataDir: string;
  superuser: string;
  /** File holding the superuser's password: TCP connections then need it (scram-sha-256). */
  passwordFile?: string;
  /** WAL segment size in MB (16 by default): small segments keep tests light. */
  walSegmentMb?: number;
}

/** A new cluster: local socket connections trusted, TCP ones by password when one is given. */
export async function initCluster(o: InitOptions): Promise<void> {
  await serverDir(o.dataDir);
  await runAsServerUser(
    join(o.bin, 'initdb'),
    [
      '-D',
      o.dataDir,
      '-U',
      o.superuser,
      '-E',
      'UTF8',
      '--locale=C',
      '--auth-local=trust',
      `--auth-host=${o.passwordFile ? 'scram-sha-256' : 'trust'}`,
      ...(o.passwordFile ? [`--pwfile=${o.passwordFile}`] : []),
      ...(o.walSegmentMb ? [`--wal-segsize=${o.walSegmentMb}`] : []),
    ],
    `initdb ${o.dataDir}`,
  );
}

/** A PostgreSQL string literal. */
export const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** Appends settings to a configuration file of the data directory (postgresql.conf, postgresql.auto.conf). */
export async function appendSettings(file: string, settings: Record<string, string | number>): Promise<void> {
  const lines = Object.entries(settings).map(([name, value]) => `${name} = ${literal(String(value))}`);
  await appendFile(file, `${lines.join('\n')}\n`);
}

/**
 * The settings of a server that archives its WAL into `walArchiveDir`: a segment is copied once
 * (never over an archived one), and at least every `archiveTimeout` while the server writes.
 */
export function archivingSettings(walArchiveDir: string, archiveTimeout = '60s'): Record<string, string> {
  const target = `${walArchiveDir}/%f`;
  return {
    wal_level: 'replica',
    archive_mode: 'on',
    archive_command: `test ! -f ${sh(target)} && cp %p ${sh(target)}`,
    archive_timeout: archiveTimeout,
  };
}

export interface StartOptions {
  bin: string;
  dataDir: string;
  /** Where the server's output goes; its directory must be writable by the server's user. */
  logFile: string;
  /** Settings given on the server's command line: they override the configuration files. */
  settings?: Record<string, string | number>;
}

/** Whether a server runs on `dataDir` (pg_ctl status: its postmaster.pid names a live process). */
export async function isRunning(bin: string, dataDir: string): Promise<boolean> {
  const [command, args] = asServerUser(join(bin, 'pg_ctl'), ['status', '-D', dataDir]);
  return (await runProcess(command, args)).exitCode === 0;
}

/**
 * Starts a server on `dataDir` unless one runs there, without waiting for it to accept
 * connections: a server replaying WAL may take hours to; callers wait as they need. Resolves once
 * the server runs (its postmaster.pid is there), or once its log says it stopped (10 seconds at
 * most).
 */
export async function startServer(o: StartOptions): Promise<void> {
  if (await isRunning(o.bin, o.dataDir)) return;
  const logged = existsSync(o.logFile) ? (await stat(o.logFile)).size : 0;
  const stopped = async () =>
    existsSync(o.logFile) && /FATAL|PANIC|shut down/.test((await readFile(o.logFile)).subarray(logged).toString());
  // pg_ctl hands -o to a shell: each setting is quoted.
  const options = Object.entries(o.settings ?? {})
    .map(([name, value]) => `-c ${sh(`${name}=${value}`)}`)
    .join(' ');
  await runAsServerUser(
    join(o.bin, 'pg_ctl'),
    ['start', '-W', '-D', o.dataDir, '-l', o.logFile, ...(options ? ['-o', options] : [])],
    `pg_ctl start on ${o.dataDir}`,
  );
  const deadline = Date.now() + 10_000;
  while (!(await isRunning(o.bin, o.dataDir)) && !(await stopped()) && Date.now() < deadline) await sleep(100);
}

/** Stops the server on `dataDir` if one runs: `fast` rolls back sessions and checkpoints, `immediate` does not. */
export async function stopServer(bin: string, dataDir: string, mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
  if (!(await isRunning(bin, dataDir))) return;
  await runAsServerUser(
    join(bin, 'pg_ctl'),
    ['stop', '-D', dataDir, '-m', mode, '-w', '-t', '300'],
    `pg_ctl stop on ${dataDir}`,
  );
}

/**
 * Stops a scratch server at once, whether one runs or not, also in a cancelled activity (the
 * program still runs to its end there; runProcess then rejects, which is ignored).
 */
export async function stopScratchServer(bin: string, dataDir: string): Promise<void> {
  const [command, args] = asServerUser(join(bin, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'immediate', '-w']);
  await runProcess(command, args).catch(() => undefined);
}

/**
 * Resolves once the server on `dataDir` accepts connections on host (or socket directory) and
 * port; rejects when it stops running or after `timeoutMs`.
 */
export async function waitUntilAccepting(
  bin: string,
  dataDir: string,
  { host, port, user, timeoutMs = 60_000 }: { host: string; port: number; user: string; timeoutMs?: number },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const args = ['-q', '-h', host, '-p', String(port), '-U', user, '-d', 'postgres', '-t', '5'];
    const ready = await runProcess(join(bin, 'pg_isready'), args);
    if (ready.exitCode === 0) return;
    if (!(await isRunning(bin, dataDir)))
      throw new Error(`the server on ${dataDir} stopped before it accepted connections`);
    if (Date.now() > deadline)
      throw new Error(`the server on ${dataDir} did not accept connections within ${timeoutMs} ms`);
    await sleep(200);
  }
}

/** The command line of process `pid`, or undefined when it is gone (a zombie has none either). */
async function commandLineOf(pid: number): Promise<string[] | undefined> {
  const argv = await readFile(`/proc/${pid}/cmdline`, 'utf8').then(
    (text) => text.split('\0').filter(Boolean),
    () => [],
  );
  return argv.length > 0 ? argv : undefined;
}

/**
 * The pid of the server running on `dataDir`: the one its postmaster.pid names, if that process
 * is alive and is a postmaster of this very directory (its `-D` argument, or its working directory,
 * which the postmaster changes to). A stale postmaster.pid whose pid now belongs to another
 * process gives undefined, so that process is never signalled.
 */
export async function postmasterOf(dataDir: string): Promise<number | undefined> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const argv = await commandLineOf(pid);
  if (!argv) return undefined;
  const dir = await realpath(dataDir).catch(() => resolve(dataDir));
  const flag = argv.indexOf('-D');
  if (flag >= 0 && argv[flag + 1] !== undefined && resolve(argv[flag + 1]!) === resolve(dataDir)) return pid;
  const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => undefined);
  return cwd === dir && /postgres|postmaster/.test(argv[0] ?? '') ? pid : undefined;
}

/**
 * Stops the server running on `dataDir` at once (immediate shutdown: SIGQUIT to the postmaster
 * postmasterOf vouches for) and waits, heartbeating, until it is gone, also in a cancelled
 * activity. Whether one ran.
 */
export async function stopPostmasterOf(dataDir: string, timeoutMs = 60_000): Promise<boolean> {
  const pid = await postmasterOf(dataDir);
  if (pid === undefined) return false;
  try {
    process.kill(pid, 'SIGQUIT');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
  const deadline = Date.now() + timeoutMs;
  while ((await commandLineOf(pid)) !== undefined) {
    if (Date.now() > deadline)
      throw ApplicationFailure.retryable(
        `the server on ${dataDir} (pid ${pid}) is still running ${timeoutMs / 1000} s after an immediate shutdown`,
        'StopFailed',
      );
    heartbeat({ stopping: dataDir, pid });
    // Not the activity's sleep: teardown in a cancelled activity still waits for the stop.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}
