/**
 * A MariaDB server on a data directory of its own: initialise the directory, start a server on
 * 127.0.0.1:<port>, stop it. Restores start their scratch and restored servers with it; tests start
 * their source server with it. Socket, pid file, error log and `server.json` live in the data
 * directory's sibling `<dataDir>.run/`, never in /run or /var/log, and no system option file is read.
 */
import { heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { freePort, waitForPort } from '../../toolchain/net';
import { runProcess } from '../process';
import { isServer, stopServer, trustedPid, type ServerIdentity } from '../server-process';

export interface MysqlServerOptions {
  dataDir: string;
  /** 0: any free port (scratch servers). */
  port: number;
  /** Binary log on (log-bin, server-id, ROW), for a server whose binlogs are archived. */
  binlog?: boolean;
  serverId?: number;
  /** The only option file read (a restored backup's backup-my.cnf); none when absent. */
  defaultsFile?: string;
  /** How long a start may take: crash recovery of a big restored data dir takes minutes. */
  timeoutMs?: number;
}

/** What `server.json` records about a started server, for the steps that come after. */
export interface RunningMysql {
  dataDir: string;
  runDir: string;
  port: number;
  socket: string;
  pid: number;
  errorLog: string;
  binlog: boolean;
  startedAt: string;
  /** It said it was ready for connections; false while it starts, and for a start that never finished. */
  ready: boolean;
}

/** `<dataDir>.run`: the server's socket, pid file, error log and state, beside the data dir. */
export const runDirOf = (dataDir: string) => `${dataDir.replace(/\/+$/, '')}.run`;

const pidFileOf = (dataDir: string) => join(runDirOf(dataDir), 'mysqld.pid');

/** Unix socket paths hold at most 107 bytes: a deep run dir gets its socket in the temp dir, named after it. */
function socketPathOf(runDir: string): string {
  const socket = join(runDir, 'mysqld.sock');
  if (Buffer.byteLength(socket) <= 100) return socket;
  return join(tmpdir(), `mysqld-${createHash('sha256').update(runDir).digest('hex').slice(0, 16)}.sock`);
}
const infoFileOf = (dataDir: string) => join(runDirOf(dataDir), 'server.json');

/** A mariadbd of ours on `dataDir` (a pid file can outlive its process and its pid be reused). */
const identityOf = (dataDir: string): ServerIdentity => ({ program: 'mariadbd', args: [`--datadir=${dataDir}`] });

/**
 * The pid of the server on `dataDir`: its pid file's, or, before mariadbd wrote one, the pid
 * `server.json` recorded at spawn; either only while it is that server.
 */
function pidOf(dataDir: string): number | undefined {
  const fromFile = trustedPid(pidFileOf(dataDir), identityOf(dataDir));
  if (fromFile !== undefined) return fromFile;
  try {
    const { pid } = JSON.parse(readFileSync(infoFileOf(dataDir), 'utf8')) as RunningMysql;
    return isServer(pid, identityOf(dataDir)) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The server running on `dataDir`, if one is (`ready` false: it never said it was ready for connections). */
export async function runningMysql(dataDir: string): Promise<RunningMysql | undefined> {
  const pid = pidOf(dataDir);
  if (pid === undefined || !existsSync(infoFileOf(dataDir))) return undefined;
  const info = JSON.parse(await readFile(infoFileOf(dataDir), 'utf8')) as RunningMysql;
  return { ...info, pid };
}

/**
 * Creates the system tables in an empty `dataDir` (root may log in with a password, not only over
 * the socket). A directory that already holds them is left alone.
 */
export async function initMysqlDataDir(binaries: DataServerBinaries, dataDir: string): Promise<{ created: boolean }> {
  if (existsSync(join(dataDir, 'mysql'))) return { created: false };
  if (existsSync(dataDir) && (await readdir(dataDir)).length > 0)
    throw ApplicationFailure.nonRetryable(
      `${dataDir} is not empty and holds no MariaDB system tables: it will not be initialised over`,
      'DataDirNotEmpty',
    );
  await mkdir(dataDir, { recursive: true });
  const run = await runProcess(binaries.mariadbInstallDb, [
    '--no-defaults',
    '--auth-root-authentication-method=normal',
    `--datadir=${dataDir}`,
    '--skip-test-db',
    ...(process.getuid?.() === 0 ? ['--user=root'] : []),
  ]);
  if (run.exitCode !== 0) {
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed for ${dataDir} (exit ${run.exitCode}):\n${run.tail.slice(-1_500)}`);
  }
  return { created: true };
}

/** The error log written since `offset`: where a start says it is ready, or why it is not. */
async function logSince(errorLog: string, offset: number): Promise<string> {
  try {
    return (await readFile(errorLog)).subarray(offset).toString();
  } catch {
    return '';
  }
}

/**
 * Starts mariadbd on `dataDir`, or finds the one already serving it (the pid file names a live
 * server: a retried step reuses it). Resolves once it says it is ready for connections. The server
 * is detached: it outlives the activity that started it, until stopMysqlServer.
 */
export async function startMysqlServer(
  binaries: DataServerBinaries,
  options: MysqlServerOptions,
): Promise<RunningMysql & { reused: boolean }> {
  const { dataDir } = options;
  const running = await runningMysql(dataDir);
  // (A server.json without `ready` was written by an engine that recorded servers once ready only.)
  if (running && running.ready !== false) return { ...running, reused: true };
  // A start an earlier attempt left unfinished (the worker died while it waited) begins again.
  if (running) await stopMysqlServer(dataDir, { timeoutMs: 0 });
  const runDir = runDirOf(dataDir);
  await mkdir(runDir, { recursive: true });
  const port = options.port || (await freePort());
  const socket = socketPathOf(runDir);
  const errorLog = join(runDir, 'error.log');
  const binlog = options.binlog ?? false;
  const args = [
    options.defaultsFile ? `--defaults-file=${options.defaultsFile}` : '--no-defaults',
    `--datadir=${dataDir}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    `--socket=${socket}`,
    `--pid-file=${pidFileOf(dataDir)}`,
    `--log-error=${errorLog}`,
    // Binlog times and --stop-datetime are read in UTC on both sides.
    '--default-time-zone=+00:00',
    // Binlog replay sends a large transaction as one statement; the default 16 MiB refuses it.
    '--max-allowed-packet=1G',
    ...(process.getuid?.() === 0 ? ['--user=root'] : []),
    ...(binlog
      ? [`--log-bin=${join(dataDir, 'mysql-bin')}`, `--server-id=${options.serverId ?? 1}`, '--binlog-format=ROW']
      : []),
  ];
  const offset = existsSync(errorLog) ? (await stat(errorLog)).size : 0;
  const child = spawn(binaries.mariadbd, args, {
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, TZ: 'UTC' },
  });
  child.unref();
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  let exitCode: number | undefined;
  void exited.then((code) => (exitCode = code));
  // Recorded before the wait: a start that fails, times out or outlives its worker is found and stopped.
  const info: RunningMysql = {
    dataDir,
    runDir,
    port,
    socket,
    pid: child.pid!,
    errorLog,
    binlog,
    startedAt: new Date().toISOString(),
    ready: false,
  };
  await writeFile(infoFileOf(dataDir), `${JSON.stringify(info, null, 2)}\n`);
  const timeoutMs = options.timeoutMs ?? 5 * 60_000;
  const failed = async (why: string) => {
    await stopServer(child.pid!, identityOf(dataDir), { graceMs: 0, first: 'SIGKILL' });
    return new Error(
      `mariadbd on ${dataDir} (port ${port}) ${why}; its log (${errorLog}) ends:\n${(await logSince(errorLog, offset)).trim().slice(-1_500)}`,
    );
  };
  try {
    await waitForPort(port, { timeoutMs, isAlive: () => exitCode === undefined });
  } catch {
    throw await failed(exitCode === undefined ? `did not listen within ${timeoutMs / 1000} s` : `exited (${exitCode})`);
  }
  // The port is bound before the server accepts queries: wait for it to say so.
  const deadline = Date.now() + timeoutMs;
  while (!(await logSince(errorLog, offset)).includes('ready for connections')) {
    if (exitCode !== undefined) throw await failed(`exited (${exitCode})`);
    if (Date.now() > deadline) throw await failed(`was not ready within ${timeoutMs / 1000} s`);
    heartbeat({ starting: dataDir });
    await sleep(50);
  }
  const ready = { ...info, ready: true };
  await writeFile(infoFileOf(dataDir), `${JSON.stringify(ready, null, 2)}\n`);
  return { ...ready, reused: false };
}

/**
 * Stops the server on `dataDir` (SIGTERM: a clean shutdown), waiting until it has exited; SIGKILL
 * to its process group after `timeoutMs`. False when none of ours was running. Needs no credentials.
 */
export async function stopMysqlServer(dataDir: string, { timeoutMs = 120_000 } = {}): Promise<boolean> {
  const pid = pidOf(dataDir);
  if (pid === undefined) return false;
  await stopServer(pid, identityOf(dataDir), { graceMs: timeoutMs, first: timeoutMs > 0 ? 'SIGTERM' : 'SIGKILL' });
  return true;
}
