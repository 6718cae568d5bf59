/**
 * A real MariaDB server on loopback for the demo and the tests: a fresh data dir, binlog on, root
 * with a password only the environment holds. The engine's own server helpers start it; they
 * heartbeat, so they run here in an activity context of their own.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initMysqlDataDir, startMysqlServer, stopMysqlServer } from '../activities/mysql/server';
import type { DataServerBinaries } from '../toolchain/data-servers';

export interface LocalMysql {
  dataDir: string;
  port: number;
  socket: string;
  /** A server option file, saved with each backup as the component's configFiles. */
  configFile: string;
  password: string;
  /** Rows of a statement, tab-separated fields, as root (the password through MYSQL_PWD). */
  sql(statement: string): string[][];
  stop(): Promise<void>;
}

/** Runs `statement` with the mariadb client against a server's socket as root. */
export function mysqlAt(binaries: DataServerBinaries, socket: string, password: string | undefined, statement: string) {
  const out = execFileSync(
    binaries.mariadb,
    ['--no-defaults', `--socket=${socket}`, '--user=root', '--batch', '--skip-column-names', '-e', statement],
    { env: { ...process.env, ...(password !== undefined ? { MYSQL_PWD: password } : {}) }, encoding: 'utf8' },
  );
  return out
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => line.split('\t'));
}

/** Runs one of the engine's (heartbeating) server helpers outside a worker. */
const inActivity = <R>(fn: () => Promise<R>): Promise<R> =>
  new MockActivityEnvironment().run<[], R, () => Promise<R>>(fn);

/** Initialises `<root>/source/data` and starts mariadbd on it, root's password set to `password`. */
export async function startLocalMysql(
  binaries: DataServerBinaries,
  root: string,
  password: string,
): Promise<LocalMysql> {
  const dataDir = join(root, 'source', 'data');
  mkdirSync(join(root, 'source'), { recursive: true });
  const configFile = join(root, 'source', 'my.cnf');
  writeFileSync(configFile, '[mysqld]\nlog-bin=mysql-bin\nbinlog_format=ROW\nserver-id=1\n');
  await inActivity(() => initMysqlDataDir(binaries, dataDir));
  const server = await inActivity(() => startMysqlServer(binaries, { dataDir, port: 0, binlog: true }));
  const roots = mysqlAt(binaries, server.socket, undefined, "SELECT host FROM mysql.user WHERE user = 'root'");
  mysqlAt(
    binaries,
    server.socket,
    undefined,
    roots.map(([host]) => `ALTER USER 'root'@'${host}' IDENTIFIED BY '${password}';`).join(' '),
  );
  return {
    dataDir,
    port: server.port,
    socket: server.socket,
    configFile,
    password,
    sql: (statement) => mysqlAt(binaries, server.socket, password, statement),
    stop: async () => void (await stopMysqlServer(dataDir)),
  };
}
