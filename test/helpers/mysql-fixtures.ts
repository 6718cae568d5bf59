/**
 * The mysql tests' source server (demo/local-mysql.ts) under the test's scratch folder, stopped
 * when the test process ends.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { stopMysqlServer } from '../../activities/mysql/server';
import { mysqlAt, startLocalMysql, type LocalMysql } from '../../demo/local-mysql';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { once, onCleanup } from './cleanup';

export type SourceMysql = LocalMysql;
export { mysqlAt };

/** Initialises and starts the source server; `passwordEnv` is set to root's new password. */
export async function startSourceMysql(
  binaries: DataServerBinaries,
  scratch: string,
  passwordEnv: string,
): Promise<SourceMysql> {
  const password = `Pw-${randomBytes(9).toString('hex')}`;
  const stop = once(async () => void (await stopMysqlServer(join(scratch, 'source', 'data'))));
  onCleanup(stop); // also when the start fails halfway
  const mysql = await startLocalMysql(binaries, scratch, password);
  process.env[passwordEnv] = password;
  return { ...mysql, stop };
}
