/**
 * A redis-server on 127.0.0.1:<port> with its files in one directory (dump, pid file, log), run in
 * the foreground (--daemonize no) in a process group of its own, detached from the process that
 * started it: the server outlives an activity, and a worker restart. A password is given on the
 * server's standard input (its configuration read from `-`), never on its command line.
 */
import { mkdir } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { logTail, stopServer, trustedPid, type ServerIdentity } from '../server-process';
import { connectRedis, ErrorReply } from './connection';

export interface RedisServerOptions {
  /** The redis-server program. */
  redisServer: string;
  dir: string;
  port: number;
  password?: string;
  dbfilename?: string;
  /** `none`: nothing written to disk (scratch servers); `rdb`: Redis's default save points. */
  persistence: 'none' | 'rdb';
  /** Called while the server loads its dataset, which may take minutes (activities heartbeat). */
  onWait?: (status: string) => void;
  /** Ends the wait (an activity's cancellation); the server is left to the caller to stop. */
  signal?: AbortSignal;
  timeoutMs?: number;
}

export const pidFileOf = (dir: string) => join(dir, 'redis.pid');
export const logFileOf = (dir: string) => join(dir, 'redis.log');

/** A configuration string, double-quoted as redis.conf reads it. */
const quoted = (value: string) => `"${value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n')}"`;

/** A redis-server of ours on `dir`: started with `--dir <dir>` and its title left alone (set-proc-title no). */
const identityOf = (dir: string): ServerIdentity => ({ program: 'redis-server', args: ['--dir', dir] });

/** The pid of the server whose pid file is in `dir`, if it still runs (cmdline-checked: a pid may be reused). */
export function runningIn(dir: string): Promise<number | undefined> {
  return Promise.resolve(trustedPid(pidFileOf(dir), identityOf(dir)));
}

/**
 * Waits until the server answers PING (authenticated); LOADING means it still reads its dump.
 * Rejects when `exited()` says the process is gone, or after `timeoutMs`.
 */
export async function waitForPing(
  address: { port: number; password?: string },
  {
    exited,
    onWait,
    signal,
    timeoutMs = 600_000,
    what,
  }: {
    exited: () => boolean;
    onWait?: (status: string) => void;
    signal?: AbortSignal;
    timeoutMs?: number;
    what: string;
  },
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let status = 'not accepting connections yet';
    try {
      const client = await connectRedis({ host: '127.0.0.1', ...address }, 2_000);
      try {
        if ((await client.ping()) === 'PONG') return;
      } finally {
        client.destroy();
      }
    } catch (error) {
      if (error instanceof ErrorReply && /^(WRONGPASS|NOAUTH)/.test(error.message)) throw error;
      status = error instanceof ErrorReply ? error.message : status;
    }
    if (exited()) throw new Error(`${what} exited before it answered PING`);
    if (Date.now() > deadline) throw new Error(`${what} did not answer PING within ${timeoutMs} ms (${status})`);
    onWait?.(status);
    if (signal?.aborted) throw signal.reason;
    await sleep(100);
  }
}

/** Starts the server and resolves once it answers PING, its dataset loaded; returns its pid. */
export async function startRedis(o: RedisServerOptions): Promise<number> {
  await mkdir(o.dir, { recursive: true });
  const args = ['-', '--port', String(o.port), '--bind', '127.0.0.1', '--dir', o.dir];
  args.push('--dbfilename', o.dbfilename ?? 'dump.rdb', '--appendonly', 'no', '--daemonize', 'no');
  args.push('--pidfile', pidFileOf(o.dir), '--logfile', logFileOf(o.dir));
  // The command line stays as given, so that runningIn can tell this server from a process that reused its pid.
  args.push('--set-proc-title', 'no');
  if (o.persistence === 'none') args.push('--save', '');
  const child = spawn(o.redisServer, args, { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
  let exited = false;
  child.once('exit', () => (exited = true));
  child.once('error', () => (exited = true));
  child.stdin.end(o.password !== undefined ? `requirepass ${quoted(o.password)}\n` : '');
  child.unref();
  const what = `redis-server on port ${o.port} (${o.dir})`;
  try {
    await waitForPing(
      { port: o.port, password: o.password },
      { exited: () => exited, onWait: o.onWait, signal: o.signal, timeoutMs: o.timeoutMs, what },
    );
  } catch (error) {
    if (o.signal?.aborted) throw error;
    // A server that did not come up is not left behind for the next attempt to trip over.
    await stopServer(child.pid!, identityOf(o.dir), { graceMs: 0, first: 'SIGKILL' });
    throw new Error(`${(error as Error).message}; its log ends with:\n${await logTail(logFileOf(o.dir))}`, {
      cause: error,
    });
  }
  return child.pid!;
}

/**
 * Stops the server whose files are in `dir` without saving (SHUTDOWN NOSAVE; SIGKILL after
 * `graceMs` if it does not go, or at once when its port is unknown or it refuses), and waits until
 * it is gone. Nothing to do when none of ours runs there.
 */
export async function stopRedis(
  { dir, port, password }: { dir: string; port?: number; password?: string },
  graceMs = 10_000,
): Promise<boolean> {
  const pid = await runningIn(dir);
  if (pid === undefined) return false;
  let asked = false;
  if (port !== undefined)
    try {
      const client = await connectRedis({ host: '127.0.0.1', port, password }, 2_000);
      // The server closes the connection instead of answering; an answer is a refusal (NOAUTH).
      asked = await client.sendCommand(['SHUTDOWN', 'NOSAVE']).then(
        () => false,
        (error: unknown) => !(error instanceof ErrorReply),
      );
      client.destroy();
    } catch {
      // not answering: killed below
    }
  await stopServer(pid, identityOf(dir), { graceMs: asked ? graceMs : 0, first: asked ? 'none' : 'SIGKILL' });
  return true;
}
