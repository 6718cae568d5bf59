/**
 * A restored data directory and its server. `restore.json`, beside the server's socket in
 * `<dataDir>.run/`, records what the engine did to the directory (copied back from which chain and
 * plan, replayed, validated, cut over), so every step can tell its own earlier work (reuse it) from
 * a directory it must not touch.
 */
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { runProcess } from '../process';
import type { ReplayResult } from './replay';
import { runDirOf, startMysqlServer, stopMysqlServer, type RunningMysql } from './server';
import type { ValidationResult } from './validate';

export interface RestoreMarker {
  component: string;
  mode: string;
  /** The restore plan (its plannedAt) and chain this directory was copied back from. */
  plannedAt: string;
  chain: string[];
  state: 'copying' | 'copied';
  copiedAt?: string;
  binlog: boolean;
  replay?: { status: 'started'; at: string } | ({ status: 'done'; at: string } & ReplayResult);
  validated?: ValidationResult & { at: string };
  cutOver?: { at: string; command: string; outputTail: string };
}

const markerFileOf = (dataDir: string) => join(runDirOf(dataDir), 'restore.json');
/** The restored backup's own InnoDB settings (page size, data files), the only option file its server reads. */
const defaultsFileOf = (dataDir: string) => join(runDirOf(dataDir), 'backup-my.cnf');

export async function readMarker(dataDir: string): Promise<RestoreMarker | undefined> {
  const file = markerFileOf(dataDir);
  return existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as RestoreMarker) : undefined;
}

export async function writeMarker(dataDir: string, marker: RestoreMarker): Promise<void> {
  const file = markerFileOf(dataDir);
  await mkdir(dirname(file), { recursive: true });
  await writeFile(`${file}.tmp`, `${JSON.stringify(marker, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

/** The server on a restored directory: the running one, or started again (after a reboot, a stop). */
export function serverOn(
  binaries: DataServerBinaries,
  dataDir: string,
  port: number,
  binlog: boolean,
): Promise<RunningMysql & { reused: boolean }> {
  return startMysqlServer(binaries, { dataDir, port, binlog, defaultsFile: defaultsFileOf(dataDir) });
}

/**
 * Replaces `dataDir` with a fresh copy-back of the prepared copy and starts a server on it: stops
 * a server left on it, removes it, copies back, records each stage in the marker.
 */
export async function copyBackAndStart(
  binaries: DataServerBinaries,
  options: {
    marker: Omit<RestoreMarker, 'state' | 'copiedAt'>;
    preparedDir: string;
    dataDir: string;
    port: number;
  },
): Promise<RunningMysql & { reused: boolean }> {
  const { dataDir, preparedDir, marker } = options;
  await stopMysqlServer(dataDir);
  await rm(dataDir, { recursive: true, force: true });
  await mkdir(dirname(dataDir), { recursive: true });
  await writeMarker(dataDir, { ...marker, state: 'copying' });
  const run = await runProcess(
    binaries.mariadbBackup,
    ['--no-defaults', '--copy-back', `--target-dir=${preparedDir}`, `--datadir=${dataDir}`],
    { env: { ...process.env, TZ: 'UTC' } },
  );
  if (run.exitCode !== 0)
    throw ApplicationFailure.retryable(
      `mariadb-backup --copy-back into ${dataDir} failed (exit ${run.exitCode}): ${run.tail.slice(-1_500)}`,
      'CopyBackFailed',
    );
  await copyFile(join(preparedDir, 'backup-my.cnf'), defaultsFileOf(dataDir));
  await writeMarker(dataDir, { ...marker, state: 'copied', copiedAt: new Date().toISOString() });
  return serverOn(binaries, dataDir, options.port, marker.binlog);
}
