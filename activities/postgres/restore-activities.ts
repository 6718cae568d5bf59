/**
 * The postgres kind's restore steps. A recovery restores the component's own data directory, in
 * steps an operator can follow and resume: choose (touches nothing), set aside, restore the base
 * backup and configure the recovery, start and wait for the promotion, validate. Each step reads
 * what the previous one left on disk (`<dataDir>.restore/restore.json`), so a retry or a resume
 * picks up where things stand. A drill, and the verification of a backup, restore into a scratch
 * data directory and port, validate, and tear the scratch server down, in one activity.
 */
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupActivityInput } from '../../backups/manifest';
import { DRILL_SUFFIX } from '../../plan/kinds/define';
import type { PostgresComponent } from '../../plan/kinds/postgres';
import { freePort, isPortFree } from '../../toolchain/net';
import { runProcess } from '../process';
import { postgresComponent, targetOf } from './component';
import { guarded, serverOf } from './psql';
import { pgCtlServer, recover, scratchHba, scratchSettings, systemdServer, type RestoredServer } from './recovery';
import { planRestore, planRestoreOf, type RestorePlan } from './restore-plan';
import { extractRestore, readRecord, tearDown, workDirOf, type RestoreSite } from './restore';
import { giveToServerUser, isRunning, serverDir, stopServer } from './server';
import { outcomeOf, validateRestored, type RestoreOutcome } from './validate';

export interface PostgresRestoreInput {
  component: unknown;
  /** ISO-8601 time, or `latest`. */
  targetTime: string;
}

export interface PostgresDrillInput extends PostgresRestoreInput {
  drillSuffix?: string;
}

/** Unix socket paths are limited to 107 bytes. */
const MAX_SOCKET_DIR = 90;

const asideOf = (c: PostgresComponent) => `${c.dataDir}.before-restore`;

export function createPostgresRestores(bin: () => string) {
  /** The component's own server, as a recovery starts it: its systemd unit, or pg_ctl on its port. */
  function ownServer(c: PostgresComponent): RestoredServer {
    return c.managedBy === 'systemd'
      ? systemdServer(c, serverOf(c))
      : pgCtlServer(bin(), c.dataDir, serverOf(c), { port: c.port });
  }

  /** Stops the component's own server; fails when something still runs on its data directory. */
  async function stopOwnServer(c: PostgresComponent): Promise<boolean> {
    if (!existsSync(c.dataDir)) return false;
    const wasRunning = await isRunning(bin(), c.dataDir);
    if (c.managedBy === 'systemd') {
      const run = await runProcess('systemctl', ['stop', c.service]);
      if (run.exitCode !== 0 && wasRunning)
        throw ApplicationFailure.retryable(`${c.id}: systemctl stop ${c.service} failed: ${run.tail}`, 'StopFailed');
    } else await stopServer(bin(), c.dataDir, 'fast');
    if (await isRunning(bin(), c.dataDir))
      throw ApplicationFailure.nonRetryable(
        `${c.id}: a server still runs on ${c.dataDir} after stopping ${c.managedBy === 'systemd' ? `unit ${c.service}` : 'it with pg_ctl'}: ` +
          'check the service name, stop it by hand, then retry',
        'StopFailed',
      );
    return wasRunning;
  }

  /** Restores `plan` into a scratch site, validates it, and always tears the scratch server down. */
  async function scratchRestore(c: PostgresComponent, plan: RestorePlan, site: RestoreSite): Promise<RestoreOutcome> {
    const work = workDirOf(site.dataDir);
    if (work.length > MAX_SOCKET_DIR)
      throw ApplicationFailure.nonRetryable(
        `${c.id}: ${work} is too long a path for the scratch server's socket (at most ${MAX_SOCKET_DIR} characters)`,
        'ScratchPathTooLong',
      );
    try {
      const record = await extractRestore(c, bin(), plan, site);
      await writeFile(join(work, 'pg_hba.conf'), scratchHba(c.user));
      await writeFile(join(work, 'pg_ident.conf'), '');
      await giveToServerUser(work);
      const target = { host: work, port: site.port, user: c.user };
      const server = pgCtlServer(bin(), site.dataDir, target, scratchSettings(site.dataDir, site.port));
      const promoted = await recover(c, bin(), record, server, { resetSettings: false });
      return outcomeOf(promoted, await validateRestored(c, bin(), target, plan.base));
    } finally {
      await tearDown(bin(), site.dataDir);
    }
  }

  return {
    /**
     * Picks the base backup and log backups that restore the target time and checks every file
     * against its manifest. Touches nothing: a broken chain or a corrupt file fails here.
     */
    choosePostgresBackup: guarded('choosePostgresBackup', async (input: PostgresRestoreInput) => {
      const c = postgresComponent(input.component);
      const plan = await planRestore(c, targetOf(c, input.targetTime));
      return {
        base: plan.base.id,
        baseRecoveryPoint: plan.base.recoveryPoint,
        logs: plan.logs.map((l) => l.id),
        targetTime: plan.targetTime,
        reaches: plan.reaches,
        short: plan.short,
        filesVerified: [plan.base, ...plan.logs].reduce((n, b) => n + b.files.length, 0),
      };
    }),

    /**
     * Stops the component's server and renames its data directory to `<dataDir>.before-restore`,
     * leaving an empty data directory. Done already (a retry) when the renamed one exists and the
     * data directory is empty or a restore in progress.
     */
    setAsidePostgresDataDir: guarded('setAsidePostgresDataDir', async (input: { component: unknown }) => {
      const c = postgresComponent(input.component);
      const aside = asideOf(c);
      if (existsSync(aside)) {
        const empty = !existsSync(c.dataDir) || (await readdir(c.dataDir)).length === 0;
        if (!empty && !(await readRecord(c.dataDir)))
          throw ApplicationFailure.nonRetryable(
            `${c.id}: ${aside} exists already (an earlier restore?) and ${c.dataDir} holds a data directory: ` +
              `move ${aside} away, then retry`,
            'SetAsideExists',
          );
        if (!existsSync(c.dataDir)) await serverDir(c.dataDir);
        return { stopped: false, setAside: aside, alreadyDone: true };
      }
      const stopped = await stopOwnServer(c);
      if (existsSync(c.dataDir)) await rename(c.dataDir, aside);
      // What an earlier restore left beside the data directory goes with it.
      if (existsSync(workDirOf(c.dataDir))) await rename(workDirOf(c.dataDir), workDirOf(aside));
      await serverDir(c.dataDir);
      return { stopped, setAside: existsSync(aside) ? aside : null, alreadyDone: false };
    }),

    /**
     * Extracts the chosen base backup into the (empty) data directory, the WAL of the log backups
     * beside it, WAL segments never archived from the set-aside directory, and writes the recovery
     * settings (restore_command, recovery_target_time, promote) and recovery.signal. The files were
     * checked by choose-backup; gzip and PostgreSQL's WAL checksums catch damage since.
     */
    restorePostgresBase: guarded('restorePostgresBase', async (input: PostgresRestoreInput) => {
      const c = postgresComponent(input.component);
      const plan = await planRestore(c, targetOf(c, input.targetTime), { verify: false });
      const aside = asideOf(c);
      const record = await extractRestore(
        c,
        bin(),
        plan,
        { mode: 'recover', dataDir: c.dataDir, port: c.port },
        existsSync(aside) ? { asideDir: aside } : {},
      );
      return {
        base: record.base,
        logs: record.logs,
        dataDir: c.dataDir,
        recoveryTargetTime: record.recoveryTargetTime ?? null,
        short: record.short,
      };
    }),

    /**
     * Starts the restored server and waits until it replayed the WAL to the target and promoted
     * itself, then removes the recovery settings. Heartbeats while the server replays.
     */
    startRestoredPostgres: guarded('startRestoredPostgres', async (input: { component: unknown }) => {
      const c = postgresComponent(input.component);
      let record = await readRecord(c.dataDir);
      if (!record)
        throw ApplicationFailure.nonRetryable(
          `${c.id}: ${c.dataDir} holds no restore of Recovery Engine's: run restore-base first`,
          'NoRestore',
        );
      if (record.state !== 'promoted') record = await recover(c, bin(), record, ownServer(c), { resetSettings: true });
      return { dataDir: c.dataDir, short: record.short, ...record.promoted };
    }),

    /** Checks the recovered server: out of recovery, every table of the base backup there; counts rows. */
    validateRestoredPostgres: guarded(
      'validateRestoredPostgres',
      async (input: { component: unknown }): Promise<RestoreOutcome> => {
        const c = postgresComponent(input.component);
        const record = await readRecord(c.dataDir);
        if (record?.state !== 'promoted')
          throw ApplicationFailure.nonRetryable(
            `${c.id}: the server on ${c.dataDir} was not restored and promoted by Recovery Engine: run start first`,
            'NoRestore',
          );
        const base = await new LocalBackupStore(c.backupDir).read(record.base);
        if (!base)
          throw ApplicationFailure.nonRetryable(`${c.id}: base backup ${record.base} is gone`, 'BackupNotFound');
        return outcomeOf(record, await validateRestored(c, bin(), serverOf(c), base));
      },
    ),

    /**
     * A drill: restores the target time into `<dataDir><drillSuffix>` beside production, on port
     * + 1 (or a free port when that one is taken), validates it, and tears it down.
     */
    drillPostgresRestore: guarded(
      'drillPostgresRestore',
      async (input: PostgresDrillInput): Promise<RestoreOutcome & { dataDir: string; port: number }> => {
        const c = postgresComponent(input.component);
        const plan = await planRestore(c, targetOf(c, input.targetTime));
        const dataDir = `${c.dataDir}${input.drillSuffix ?? DRILL_SUFFIX}`;
        await tearDown(bin(), dataDir); // a drill an earlier attempt left running
        const port = (await isPortFree(c.port + 1)) ? c.port + 1 : await freePort();
        return { ...(await scratchRestore(c, plan, { mode: 'drill', dataDir, port })), dataDir, port };
      },
    ),

    /**
     * `verify: restore`: restores the chain ending at backupId into a scratch data directory
     * beside the component's (`.<id>-verify-*`), on a free port, validates it and removes it.
     */
    verifyPostgresRestore: guarded(
      'verifyPostgresRestore',
      async (input: BackupActivityInput): Promise<RestoreOutcome & { backupId: string }> => {
        const c = postgresComponent(input.component);
        const plan = await planRestoreOf(c, input.backupId);
        // Beside the data directory: its volume has room for a copy of the data, /tmp may not.
        const near = dirname(c.dataDir);
        const scratch = await mkdtemp(join(existsSync(near) ? near : tmpdir(), `.${c.id}-verify-`));
        try {
          await chmod(scratch, 0o755); // the server's user reaches its directories inside
          const port = await freePort();
          const outcome = await scratchRestore(c, plan, { mode: 'verify', dataDir: join(scratch, 'data'), port });
          return { backupId: input.backupId, ...outcome };
        } finally {
          await rm(scratch, { recursive: true, force: true });
        }
      },
    ),
  };
}
