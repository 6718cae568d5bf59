/**
 * Connecting to a server as the plan's user. The password comes from the worker's environment
 * (`passwordEnv`) or a file (`passwordFile`) and reaches the programs only through a 0600 option
 * file in a private temporary directory, removed afterwards: never a command line, input, result,
 * error or log.
 */
import { ApplicationFailure } from '@temporalio/common';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MysqlComponent } from '../../plan/kinds/mysql';
import { passwordOf } from '../component-input';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { runProcess } from '../process';

/** Where to connect: the plan's host and port, or a local server's socket. */
export type MysqlEndpoint = { host: string; port: number } | { socket: string };

export type Credentials = Pick<MysqlComponent, 'id' | 'user' | 'passwordEnv' | 'passwordFile'>;

export const describeEndpoint = (endpoint: MysqlEndpoint) =>
  'socket' in endpoint ? endpoint.socket : `${endpoint.host}:${endpoint.port}`;

/** An option-file value in double quotes: `#` and spaces stay part of it. */
const quoted = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/** Runs `work` with the path of a private option file holding the `[client]` settings for `endpoint`. */
export async function withClientConfig<T>(
  credentials: Credentials,
  endpoint: MysqlEndpoint,
  work: (optionFile: string) => Promise<T>,
): Promise<T> {
  const password = passwordOf(credentials);
  const dir = await mkdtemp(join(tmpdir(), 'recovery-mysql-')); // 0700
  const file = join(dir, 'client.cnf');
  const lines = [
    '[client]',
    `user=${quoted(credentials.user)}`,
    ...(password !== undefined ? [`password=${quoted(password)}`] : []),
    ...('socket' in endpoint
      ? [`socket=${quoted(endpoint.socket)}`, 'protocol=SOCKET']
      : [`host=${quoted(endpoint.host)}`, `port=${endpoint.port}`, 'protocol=TCP']),
  ];
  try {
    await writeFile(file, `${lines.join('\n')}\n`, { mode: 0o600 });
    return await work(file);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs SQL statements through the `mariadb` client; rows as arrays of strings (NULL as null). */
export type SqlRunner = (statements: string) => Promise<(string | null)[][]>;

/** `\t`, `\n`, `\\` and `\0` as the client's batch mode escapes them; `NULL` as null. */
function unescapeField(field: string): string | null {
  if (field === 'NULL') return null;
  return field.replace(/\\([tn0\\])/g, (_, c: string) => ({ t: '\t', n: '\n', '0': '\0', '\\': '\\' })[c]!);
}

/**
 * A SqlRunner on the option file. Access denied is non-retryable (the plan's user or password is
 * wrong); other failures (a server restarting) are retried.
 */
export function sqlRunner(binaries: DataServerBinaries, optionFile: string, where: string): SqlRunner {
  return async (statements) => {
    const run = await runProcess(
      binaries.mariadb,
      [`--defaults-file=${optionFile}`, '--batch', '--skip-column-names', '-e', statements],
      { stdoutLimit: 64 * 1024 * 1024 },
    );
    if (run.exitCode !== 0) {
      const message = `SQL on ${where} failed: ${run.tail.slice(-1_000)}`;
      if (/ERROR (1045|1044|1698)/.test(run.tail))
        throw ApplicationFailure.nonRetryable(`${message} (check the plan's user and its password)`, 'AccessDenied');
      throw ApplicationFailure.retryable(message, 'SqlFailed');
    }
    return run.stdout
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => line.split('\t').map(unescapeField));
  };
}

/** Runs `work` with a SqlRunner (and its option file, for other client programs) connected to `endpoint`. */
export function withSql<T>(
  binaries: DataServerBinaries,
  credentials: Credentials,
  endpoint: MysqlEndpoint,
  work: (sql: SqlRunner, optionFile: string) => Promise<T>,
): Promise<T> {
  return withClientConfig(credentials, endpoint, (optionFile) =>
    work(sqlRunner(binaries, optionFile, describeEndpoint(endpoint)), optionFile),
  );
}
