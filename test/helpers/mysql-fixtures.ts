/**
 * A real MariaDB source server for the mysql tests: a fresh data dir under the test's scratch
 * folder, binlog on, on a free loopback port, root with a password that only the environment holds.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initMysqlDataDir, startMysqlServer, stopMysqlServer } from '../../activities/mysql/server';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { runActivity } from './activity';
import { once, onCleanup } from './cleanup';

export interface SourceMysql {
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

/** Initialises and starts the source server; `passwordEnv` is set to root's new password. */
export async function startSourceMysql(
  binaries: DataServerBinaries,
  scratch: string,
  passwordEnv: string,
): Promise<SourceMysql> {
  const dataDir = join(scratch, 'source', 'data');
  mkdirSync(join(scratch, 'source'), { recursive: true });
  const configFile = join(scratch, 'source', 'my.cnf');
  writeFileSync(configFile, '[mysqld]\nlog-bin=mysql-bin\nbinlog_format=ROW\nserver-id=1\n');
  const stop = once(async () => void (await stopMysqlServer(dataDir)));
  onCleanup(stop);
  await runActivity(() => initMysqlDataDir(binaries, dataDir), undefined);
  const server = await runActivity(() => startMysqlServer(binaries, { dataDir, port: 0, binlog: true }), undefined);
  const password = `Pw-${randomBytes(9).toString('hex')}`;
  const roots = mysqlAt(binaries, server.socket, undefined, "SELECT host FROM mysql.user WHERE user = 'root'");
  mysqlAt(
    binaries,
    server.socket,
    undefined,
    roots.map(([host]) => `ALTER USER 'root'@'${host}' IDENTIFIED BY '${password}';`).join(' '),
  );
  process.env[passwordEnv] = password;
  return {
    dataDir,
    port: server.port,
    socket: server.socket,
    configFile,
    password,
    sql: (statement) => mysqlAt(binaries, server.socket, password, statement),
    stop,
  };
}
