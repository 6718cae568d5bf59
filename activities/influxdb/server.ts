/**
 * An influxd of the engine's own on a directory: its configuration, meta/data/wal, pid file and log
 * all live inside `dir`, and it listens on 127.0.0.1 only. Restores build and check fresh instances
 * with it; tests run their "production" server with it. Never the system's service or paths.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isPortFree } from '../../toolchain/net';
import { logTail as serverLogTail, stopServer, trustedPid, type ServerIdentity } from '../server-process';

export interface InfluxdOptions {
  /** The influxd program. */
  influxd: string;
  dir: string;
  /** HTTP API port on 127.0.0.1. */
  httpPort: number;
  /** RPC port (`bind-address`) that `influxd backup` and `influxd restore` talk to. */
  rpcPort: number;
  /** `[http] auth-enabled`: restored instances leave it off (they hold no users); tests turn it on. */
  authEnabled?: boolean;
  /** How long to wait for /ping to answer 204. */
  startTimeoutMs?: number;
}

export interface InfluxdInstance {
  dir: string;
  configFile: string;
  httpPort: number;
  rpcPort: number;
  /** `http://127.0.0.1:<httpPort>` */
  url: string;
  /** `127.0.0.1:<rpcPort>`, for `influxd backup|restore -host`. */
  rpcAddress: string;
  pid: number;
  stop(): Promise<void>;
}

export const CONFIG_NAME = 'influxdb.conf';
const PID_NAME = 'influxd.pid';
const LOG_NAME = 'influxd.log';

/**
 * The configuration of an instance on `dir`. Retention enforcement and continuous queries are off
 * (a restored copy must hold what the backup held, not what time would have left of it), series and
 * tag limits are lifted (restored data passed production's limits already), nothing is reported.
 */
export function influxdConfig(dir: string, httpPort: number, rpcPort: number, authEnabled = false): string {
  const q = (path: string) => JSON.stringify(path);
  return [
    'reporting-disabled = true',
    `bind-address = ${q(`127.0.0.1:${rpcPort}`)}`,
    '',
    '[meta]',
    `  dir = ${q(join(dir, 'meta'))}`,
    '',
    '[data]',
    `  dir = ${q(join(dir, 'data'))}`,
    `  wal-dir = ${q(join(dir, 'wal'))}`,
    '  query-log-enabled = false',
    '  max-series-per-database = 0',
    '  max-values-per-tag = 0',
    '',
    '[http]',
    `  bind-address = ${q(`127.0.0.1:${httpPort}`)}`,
    '  log-enabled = false',
    `  auth-enabled = ${authEnabled}`,
    '',
    '[retention]',
    '  enabled = false',
    '',
    '[monitor]',
    '  store-enabled = false',
    '',
    '[continuous_queries]',
    '  enabled = false',
    '',
  ].join('\n');
}

/** An influxd of ours on `dir`: its command line names the configuration file in `dir`. */
const identityOf = (dir: string): ServerIdentity => ({ program: 'influxd', args: [join(dir, CONFIG_NAME)] });

/** The pid of an influxd still running on `dir` (from its pid file, cmdline-checked), if any. */
export const runningPid = (dir: string): number | undefined => trustedPid(join(dir, PID_NAME), identityOf(dir));

/** influxd closes its shards on SIGTERM; a wedged one is killed rather than left behind. */
async function stopPid(dir: string, pid: number): Promise<void> {
  await stopServer(pid, identityOf(dir), { graceMs: 30_000 });
  await rm(join(dir, PID_NAME), { force: true });
}

/** Stops the influxd running on `dir`, if one is (a crashed attempt's leftover, a finished restore). */
export async function stopInfluxdIn(dir: string): Promise<boolean> {
  const pid = runningPid(dir);
  if (pid === undefined) return false;
  await stopPid(dir, pid);
  return true;
}

/** Whether the HTTP API on `port` answers /ping with 204. */
async function pings(port: number): Promise<boolean> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/ping`, { signal: AbortSignal.timeout(2_000) });
    return response.status === 204;
  } catch {
    return false;
  }
}

/** The last lines of the instance's log, for error messages. */
export async function logTail(dir: string, lines = 15): Promise<string> {
  return (await serverLogTail(join(dir, LOG_NAME), 64_000)).split('\n').slice(-lines).join('\n');
}

/**
 * Starts influxd on `dir` (created with meta/, data/, wal/ when new) with a configuration written
 * for the given ports, and waits until /ping answers. An influxd left running on the same directory
 * by an earlier attempt is stopped first, so a retried activity never finds two.
 */
export async function startInfluxd(options: InfluxdOptions): Promise<InfluxdInstance> {
  const { influxd, dir, httpPort, rpcPort } = options;
  await stopInfluxdIn(dir);
  for (const sub of ['meta', 'data', 'wal']) await mkdir(join(dir, sub), { recursive: true });
  for (const port of [httpPort, rpcPort])
    if (!(await isPortFree(port)))
      throw new Error(
        `port ${port} on 127.0.0.1 is in use: another server holds it, so influxd on ${dir} cannot start`,
      );
  const configFile = join(dir, CONFIG_NAME);
  await writeFile(configFile, influxdConfig(dir, httpPort, rpcPort, options.authEnabled));

  const log = openSync(join(dir, LOG_NAME), 'a');
  let child: ChildProcess;
  try {
    // Detached: its own process group, and it outlives this call until stop() (or stopInfluxdIn).
    child = spawn(influxd, ['-config', configFile], { detached: true, stdio: ['ignore', log, log] });
  } finally {
    closeSync(log);
  }
  const spawned = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', reject);
  });
  child.unref();
  await writeFile(join(dir, PID_NAME), `${spawned}\n`);

  const instance: InfluxdInstance = {
    dir,
    configFile,
    httpPort,
    rpcPort,
    url: `http://127.0.0.1:${httpPort}`,
    rpcAddress: `127.0.0.1:${rpcPort}`,
    pid: spawned,
    stop: () => stopPid(dir, spawned),
  };
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  while (!(await pings(httpPort))) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`influxd on ${dir} exited while starting:\n${await logTail(dir)}`);
    if (Date.now() > deadline) {
      await instance.stop();
      throw new Error(`influxd on ${dir} did not answer /ping on port ${httpPort} in time:\n${await logTail(dir)}`);
    }
    await sleep(100);
  }
  return instance;
}
