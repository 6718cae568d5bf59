import { heartbeat, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { mkdir, rm } from 'node:fs/promises';
import { BrokenChainError, chainFor, retentionPlan } from '../backups/chain';
import { LocalBackupStore } from '../backups/local-store';
import { downloadBackup, listOffsite, removeOffsite, uploadBackup, type OffsiteLocation } from '../backups/offsite';
import { parseDuration } from '../plan/duration';
import { isStateful, kindOf, type Component } from '../plan/kinds';
import type { Backup } from '../plan/schema/common';
import { PLAN_DEFAULT_OBJECTIVES, type RecoveryPlan } from '../plan/schema/plan';
import type { AwsClients } from './aws-clients';
import { heartbeatWhile } from './heartbeat';
import { parseTargetTime } from './verified-chain';

/** A component whose backups the engine takes: it has a `backupDir` and its kind a `backups` hook. */
export type BackedUpComponent = Component & { backupDir: string; backup?: Backup };

const storeOf = (c: BackedUpComponent) => new LocalBackupStore(c.backupDir);

function offsiteOf(c: BackedUpComponent): OffsiteLocation | undefined {
  const s3 = c.backup?.offsite?.s3;
  return (
    s3 && {
      bucket: s3.bucket,
      region: s3.region,
      prefix: [s3.prefix.replace(/\/+$/, ''), c.id].filter(Boolean).join('/'),
    }
  );
}

export interface ComponentBackups {
  component: string;
  kind: string;
  rpoMinutes: number;
  newestRecoveryPoint?: string;
  newestBackup?: string;
  /** Minutes between the newest recovery point and now: the data a failure now would lose. */
  ageMinutes?: number;
  /** Whether a restore to now is possible from what is held (full chain, no missing link). */
  restorable: boolean;
  problem?: string;
  backups: number;
}

/** Components of a plan whose backups the engine itself takes. */
export function engineBackedUp(plan: RecoveryPlan): BackedUpComponent[] {
  return plan.components.filter(
    (c): c is BackedUpComponent => isStateful(c) && kindOf(c).backups !== undefined && 'backupDir' in c,
  );
}

export function createBackupActivities(aws: AwsClients) {
  return {
    /** Checks every file of a committed backup against its manifest; a damaged backup fails, naming the files. */
    checkBackupIntegrity: async ({ component, backupId }: { component: BackedUpComponent; backupId: string }) => {
      const store = storeOf(component);
      const manifest = await store.read(backupId);
      if (!manifest)
        throw ApplicationFailure.nonRetryable(
          `${component.id}: backup ${backupId} has no manifest in ${component.backupDir}: it never completed`,
          'BackupMissing',
        );
      const problems = await store.verify(manifest);
      if (problems.length > 0)
        throw ApplicationFailure.nonRetryable(
          `${component.id}: backup ${backupId} in ${component.backupDir} is damaged: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? ` (and ${problems.length - 10} more)` : ''}`,
          'BackupCorrupt',
        );
      // The chain this backup ends must be whole too: a good incremental on a missing base is useless.
      let chain;
      try {
        chain = chainFor(await store.list(), new Date(manifest.recoveryPoint));
      } catch (error) {
        if (!(error instanceof BrokenChainError)) throw error;
        throw ApplicationFailure.nonRetryable(
          `${component.id}: backup ${backupId} cannot be restored: ${error.message}`,
          'BrokenChain',
        );
      }
      return {
        backupId,
        files: manifest.files.length,
        bytes: manifest.files.reduce((sum, f) => sum + f.bytes, 0),
        chain: chain.links.map((l) => l.id),
      };
    },

    /** Copies a committed backup to the component's offsite bucket (idempotent: unchanged files are skipped). */
    copyBackupOffsite: async ({ component, backupId }: { component: BackedUpComponent; backupId: string }) => {
      const location = offsiteOf(component);
      if (!location) return { copied: false };
      const store = storeOf(component);
      const manifest = await store.read(backupId);
      if (!manifest)
        throw ApplicationFailure.nonRetryable(`${component.id}: backup ${backupId} is not in ${component.backupDir}`);
      const result = await heartbeatWhile(
        uploadBackup(aws.s3(location.region), location, store.dirOf(backupId), manifest),
        () => `copying ${backupId} offsite`,
      );
      return { copied: true, location: `s3://${location.bucket}/${location.prefix}/${backupId}`, ...result };
    },

    /**
     * Deletes backups older than the retention, locally and offsite, except the links and logs a
     * restore to any moment inside the retention still needs. Each place is planned from what it
     * holds: a backup kept only offsite (its local copy gone) expires there too, and a chain the
     * offsite copy needs is kept there whatever the local directory holds.
     */
    applyBackupRetention: async ({ component, now }: { component: BackedUpComponent; now: string }) => {
      const retention = component.backup?.retention;
      if (!retention) return { removed: [] as string[], keptExpired: [] as { id: string; why: string }[] };
      const retentionMs = parseDuration(retention)!;
      const store = storeOf(component);
      const plan = retentionPlan(await store.list(), new Date(now), retentionMs);
      const location = offsiteOf(component);
      // Listed before anything is deleted, so both plans are made from what was there.
      const s3 = location && aws.s3(location.region);
      const offsitePlan =
        location && s3 ? retentionPlan(await listOffsite(s3, location), new Date(now), retentionMs) : undefined;
      if (location && s3 && offsitePlan)
        for (const manifest of offsitePlan.remove) {
          heartbeat();
          await removeOffsite(s3, location, manifest);
          log.info('Offsite backup past its retention removed', {
            component: component.id,
            backupId: manifest.id,
            location: `s3://${location.bucket}/${location.prefix}/`,
          });
        }
      for (const manifest of plan.remove) {
        heartbeat();
        await store.remove(manifest.id);
        log.info('Backup past its retention removed', { component: component.id, backupId: manifest.id });
      }
      return {
        removed: plan.remove.map((m) => m.id),
        keptExpired: plan.keptExpired,
        ...(location && offsitePlan
          ? {
              offsite: {
                location: `s3://${location.bucket}/${location.prefix}/`,
                removed: offsitePlan.remove.map((m) => m.id),
                keptExpired: offsitePlan.keptExpired,
              },
            }
          : {}),
      };
    },

    /**
     * Downloads from the offsite copy the backups of the chain for `targetTime` that the local
     * directory lacks (or holds damaged), each checked against its manifest. Idempotent: what is
     * already there and intact is not fetched again.
     */
    fetchOffsiteBackups: async ({ component, targetTime }: { component: BackedUpComponent; targetTime: string }) => {
      const location = offsiteOf(component);
      if (!location) return { fetched: [] as string[], present: [] as string[] };
      const target = parseTargetTime(targetTime, `fetch offsite backups of ${component.id}`);
      const store = storeOf(component);
      const s3 = aws.s3(location.region);
      const offsite = await listOffsite(s3, location);
      let chain;
      try {
        chain = chainFor(offsite, target);
      } catch (error) {
        if (!(error instanceof BrokenChainError)) throw error;
        throw ApplicationFailure.nonRetryable(
          `${component.id}: the offsite copy s3://${location.bucket}/${location.prefix}/ cannot restore ${targetTime} either: ${error.message}`,
          'BrokenChain',
        );
      }
      const fetched: string[] = [];
      const present: string[] = [];
      await mkdir(component.backupDir, { recursive: true });
      for (const manifest of [...chain.links, ...chain.logs]) {
        heartbeat(manifest.id);
        const local = await store.read(manifest.id);
        if (local && (await store.verify(local)).length === 0) {
          present.push(manifest.id);
          continue;
        }
        await rm(store.dirOf(manifest.id), { recursive: true, force: true });
        await rm(`${store.dirOf(manifest.id)}.download`, { recursive: true, force: true });
        await heartbeatWhile(
          downloadBackup(s3, location, manifest, store.dirOf(manifest.id)),
          () => `fetching ${manifest.id}`,
        );
        fetched.push(manifest.id);
        log.info('Backup fetched from the offsite copy', { component: component.id, backupId: manifest.id });
      }
      return { fetched, present, from: `s3://${location.bucket}/${location.prefix}/` };
    },

    /** The newest recovery point of every engine-backed-up component of a plan, against its RPO. */
    recoveryPointsOf: async ({ plan, now }: { plan: RecoveryPlan; now: string }): Promise<ComponentBackups[]> => {
      const results: ComponentBackups[] = [];
      for (const component of engineBackedUp(plan)) {
        const rpo = component.objectives?.rpo ?? plan.objectives?.rpo ?? PLAN_DEFAULT_OBJECTIVES.rpo;
        const base = { component: component.id, kind: component.kind, rpoMinutes: parseDuration(rpo)! / 60_000 };
        let backups = await storeOf(component).list();
        const location = offsiteOf(component);
        if (backups.length === 0 && location) backups = await listOffsite(aws.s3(location.region), location);
        try {
          const chain = chainFor(backups, 'latest');
          const newest = chain.logs.at(-1) ?? chain.links.at(-1)!;
          results.push({
            ...base,
            newestRecoveryPoint: chain.reaches,
            newestBackup: newest.id,
            ageMinutes: Math.floor((Date.parse(now) - Date.parse(chain.reaches)) / 60_000),
            restorable: true,
            backups: backups.length,
          });
        } catch (error) {
          results.push({ ...base, restorable: false, problem: (error as Error).message, backups: backups.length });
        }
      }
      return results;
    },
  };
}
