/**
 * The postgres kind's restore steps. A recovery restores the component's own data directory, in
 * steps an operator can follow and resume: choose (touches nothing), set aside, restore the base
 * backup and configure the recovery, start and wait for the promotion, validate. Each step reads
 * what the previous one left on disk (`<dataDir>.restore/restore.json`), so a retry or a resume
 * picks up where things stand; the backups restored are those choose-backup verified and kept in
 * its plan.json. A drill restores into a scratch data directory and port and validates it in one
 * activity; the scratch server runs on until the drill's teardown removes it, which the engine runs
 * also when the drill failed midway. The verification of a backup restores, validates and tears
 * its scratch server down in one activity.
 */
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupActivityInput } from '../../backups/manifest';
import { DRILL_SUFFIX } from '../../plan/kinds/define';
import { drillDataDirOf, restorePlanDirOf, type PostgresComponent } from '../../plan/kinds/postgres';
import { freePort, isPortFree } from '../../toolchain/net';
import { runProcess } from '../process';
import { postgresComponent, targetOf } from './component';
import { guarded, serverOf } from './psql';
import { pgCtlServer, recover, scratchHba, scratchSettings, systemdServer, type RestoredServer } from './recovery';
import { loadPlan, planRestore, planRestoreOf, savePlan, type RestoreMode, type RestorePlan } from './restore-plan';
import { extractRestore, readRecord, tearDown, workDirOf, type RestoreRecord, type RestoreSite } from './restore';
import { giveToServerUser, isRunning, postmasterOf, serverDir, stopServer } from './server';
import { outcomeOf, validateRestored, type RestoreOutcome } from './validate';

export interface PostgresRestoreInput {
  component: unknown;
  /** ISO-8601 time, or `latest`. */
  targetTime: string;
}

export interface PostgresDrillInput extends PostgresRestoreInput {
  drillSuffix?: string;
}

export interface PostgresChooseInput extends PostgresRestoreInput {
  /** Whose plan this is: the recovery's (the default) or the drill's; each has its own plan.json. */
  mode?: RestoreMode;
}

/** The drill's scratch data directory; a suffix that would name production's (or a path) is refused. */
function drillDirOf(c: PostgresComponent, drillSuffix = DRILL_SUFFIX): string {
  if (!drillSuffix || drillSuffix.includes('/'))
    throw ApplicationFailure.nonRetryable(
      `${c.id}: drill suffix "${drillSuffix}" would not name a scratch directory beside ${c.dataDir}`,
      'InvalidDrillSuffix',
    );
  return drillDataDirOf(c, drillSuffix);
}

/** Whether a restore record is of `plan`: the same base, logs and target. */
const restores = (record: RestoreRecord, plan: RestorePlan) =>
  record.base === plan.base.id &&
  record.targetTime === plan.targetTime &&
  JSON.stringify(record.logs) === JSON.stringify(plan.logs.map((l) => l.id));

const isNonEmptyDir = async (dir: string) => existsSync(dir) && (await readdir(dir)).length > 0;

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

  /** The scratch server of a site: its superuser over the socket in the work directory. */
  const scratchTarget = (c: PostgresComponent, site: RestoreSite) => ({
    host: workDirOf(site.dataDir),
    port: site.port,
    user: c.user,
  });

  /**
   * Restores `plan` into a scratch site, starts it and validates it. The scratch server is left
   * running: the caller tears it down (a verification at once, a drill in its teardown).
   */
  async function scratchRestore(c: PostgresComponent, plan: RestorePlan, site: RestoreSite): Promise<RestoreOutcome> {
    const work = workDirOf(site.dataDir);
    if (work.length > MAX_SOCKET_DIR)
      throw ApplicationFailure.nonRetryable(
        `${c.id}: ${work} is too long a path for the scratch server's socket (at most ${MAX_SOCKET_DIR} characters)`,
        'ScratchPathTooLong',
      );
    const record = await extractRestore(c, bin(), plan, site);
    await writeFile(join(work, 'pg_hba.conf'), scratchHba(c.user));
    await writeFile(join(work, 'pg_ident.conf'), '');
    await giveToServerUser(work);
    const target = scratchTarget(c, site);
    const server = pgCtlServer(bin(), site.dataDir, target, scratchSettings(site.dataDir, site.port));
    const promoted = await recover(c, bin(), record, server, { resetSettings: false });
    return outcomeOf(promoted, await validateRestored(c, bin(), target, plan.base));
  }

  return {
    /**
     * Picks the base backup and log backups that restore the target time and checks every file
     * against its manifest; writes only the mode's plan.json, which the next steps restore. A
     * broken chain or a corrupt file fails here, before anything is touched.
     */
    choosePostgresBackup: guarded('choosePostgresBackup', async (input: PostgresChooseInput) => {
      const c = postgresComponent(input.component);
      if (input.mode !== undefined && input.mode !== 'recover' && input.mode !== 'drill')
        throw ApplicationFailure.nonRetryable(
          `${c.id}: mode must be recover or drill, not ${String(input.mode)}`,
          'InvalidRestoreInput',
        );
      const plan = await planRestore(c, targetOf(c, input.targetTime));
      await savePlan(c, input.mode ?? 'recover', plan);
      return {
        base: plan.base.id,
        baseRecoveryPoint: plan.base.recoveryPoint,
        logs: plan.logs.map((l) => l.id),
        targetTime: plan.targetTime,
        reaches: plan.reaches,
        short: plan.short,
        filesVerified: plan.filesVerified,
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
     * Extracts the base backup choose-backup chose into the (empty) data directory, the WAL of its
     * log backups beside it, WAL segments never archived from the set-aside directory, and writes
     * the recovery settings (restore_command, recovery_target_time, promote) and recovery.signal.
     * The files were checked by choose-backup; gzip and PostgreSQL's WAL checksums catch damage since.
     */
    restorePostgresBase: guarded('restorePostgresBase', async (input: PostgresRestoreInput) => {
      const c = postgresComponent(input.component);
      const plan = await loadPlan(c, 'recover', input.targetTime);
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
     * A drill: restores the backups choose-backup picked into `<dataDir><drillSuffix>` beside
     * production, on port + 1 (or a free port when that one is taken), and validates it. The
     * scratch server runs on until tearDownPostgresDrill; a retry finds it running and validates again.
     */
    drillPostgresRestore: guarded(
      'drillPostgresRestore',
      async (input: PostgresDrillInput): Promise<RestoreOutcome & { dataDir: string; port: number }> => {
        const c = postgresComponent(input.component);
        const dataDir = drillDirOf(c, input.drillSuffix);
        const plan = await loadPlan(c, 'drill', input.targetTime);
        const earlier = await readRecord(dataDir);
        if (
          earlier?.mode === 'drill' &&
          earlier.state === 'promoted' &&
          restores(earlier, plan) &&
          (await postmasterOf(dataDir)) !== undefined
        ) {
          const site: RestoreSite = { mode: 'drill', dataDir, port: earlier.port };
          const validation = await validateRestored(c, bin(), scratchTarget(c, site), plan.base);
          return { ...outcomeOf(earlier, validation), dataDir, port: earlier.port };
        }
        await tearDown(dataDir); // what an earlier attempt, or an earlier drill, left
        const port = (await isPortFree(c.port + 1)) ? c.port + 1 : await freePort();
        return { ...(await scratchRestore(c, plan, { mode: 'drill', dataDir, port })), dataDir, port };
      },
    ),

    /**
     * The drill's teardown: stops the scratch server on the drill's data directory (only a server
     * of that directory, never production's) and removes the directory, its work directory and the
     * drill's plan. Succeeds when nothing is there; refuses a directory the engine did not restore.
     */
    tearDownPostgresDrill: guarded(
      'tearDownPostgresDrill',
      async (input: { component: unknown; drillSuffix?: string }) => {
        const c = postgresComponent(input.component);
        const dataDir = drillDirOf(c, input.drillSuffix);
        const record = await readRecord(dataDir);
        if (record?.mode === 'recover' || (!record && (await isNonEmptyDir(dataDir))))
          throw ApplicationFailure.nonRetryable(
            `${c.id}: ${dataDir} is not a drill restore of Recovery Engine's (${workDirOf(dataDir)}/restore.json ${record ? 'is a recovery' : 'is missing'}): it is left alone; remove it by hand if it is a leftover`,
            'NotADrillRestore',
          );
        const done = record ? await tearDown(dataDir) : { stopped: false, removed: [] as string[] };
        // What a drill stopped before its record was written, and the drill's plan.
        for (const dir of [dataDir, workDirOf(dataDir), restorePlanDirOf(c, 'drill')])
          if (existsSync(dir)) {
            await rm(dir, { recursive: true, force: true });
            done.removed.push(dir);
          }
        return { dataDir, ...done };
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
          await tearDown(join(scratch, 'data'));
          await rm(scratch, { recursive: true, force: true });
        }
      },
    ),
  };
}
