/**
 * `verify: restore`: the chain ending at one backup restored into a scratch data dir and server on
 * a free port, validated against the manifest, then torn down (also when it fails). A log archive
 * is verified by restoring the chain under it and replaying the archived binlogs to its end.
 */
import { ApplicationFailure } from '@temporalio/common';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupActivityInput } from '../../backups/manifest';
import { restoreWorkRootOf, type MysqlComponent } from '../../plan/kinds/mysql';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { prepareChain } from './prepare';
import { replayBinlogs } from './replay';
import { planRestore } from './restore-plan';
import { copyBackAndStart } from './restored-server';
import { runDirOf, stopMysqlServer } from './server';
import { validateRestore } from './validate';

export async function verifyMysqlRestore(
  binaries: DataServerBinaries,
  { component: c, backupId }: Pick<BackupActivityInput<MysqlComponent>, 'component' | 'backupId'>,
) {
  const started = Date.now();
  const manifest = await new LocalBackupStore(c.backupDir).read(backupId);
  if (!manifest)
    throw ApplicationFailure.nonRetryable(
      `${c.id}: backup ${backupId} has no manifest in ${c.backupDir}: it never completed`,
      'BackupMissing',
    );
  const plan = await planRestore(c, { endingAt: manifest }, manifest.recoveryPoint);
  // Scratch: a retried verify starts over.
  const workDir = join(restoreWorkRootOf(c), `verify-${backupId}`);
  const dataDir = join(workDir, 'datadir');
  await stopMysqlServer(dataDir);
  await rm(workDir, { recursive: true, force: true });
  try {
    const prepared = await prepareChain(binaries, workDir, plan.links);
    const server = await copyBackAndStart(binaries, {
      marker: { component: c.id, mode: 'verify', plannedAt: plan.plannedAt, chain: prepared.chain, binlog: false },
      preparedDir: prepared.preparedDir,
      dataDir,
      port: 0,
    });
    const replay = await replayBinlogs(binaries, c, plan, server.socket);
    const validation = await validateRestore(binaries, c, plan, server.socket, replay.files.length > 0);
    return {
      backupId,
      chain: prepared.chain,
      logs: plan.logs,
      binlogsReplayed: replay.files,
      restoredTo: plan.reaches,
      tables: validation.tables,
      rows: validation.rows,
      checksumsEqualBackup: validation.changed === 0,
      strict: validation.strict,
      changedSinceBackup: validation.changed,
      durationMs: Date.now() - started,
    };
  } finally {
    await stopMysqlServer(dataDir);
    await rm(runDirOf(dataDir), { recursive: true, force: true });
    await rm(workDir, { recursive: true, force: true });
  }
}
