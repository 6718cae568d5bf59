/**
 * Amazon RDS instance recovery: restore to a point in time into a new instance, wait for it, check
 * it, and optionally swap identifiers. Every activity checks before it acts, so a retry (after a
 * crash, a timeout, an operator's "retry") never restores or renames twice, and nothing that this
 * recovery did not restore is ever modified.
 */
import {
  DBInstanceAlreadyExistsFault,
  DBInstanceAutomatedBackupNotFoundFault,
  DBInstanceNotFoundFault,
  DeleteDBInstanceCommand,
  DescribeDBInstanceAutomatedBackupsCommand,
  DescribeDBInstancesCommand,
  InvalidDBInstanceStateFault,
  InvalidRestoreFault,
  ModifyDBInstanceCommand,
  PointInTimeRestoreNotEnabledFault,
  RestoreDBInstanceToPointInTimeCommand,
  type DBInstance,
  type DBInstanceAutomatedBackup,
  type RestoreDBInstanceToPointInTimeMessage,
} from '@aws-sdk/client-rds';
import { activityInfo, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsClients } from './aws-clients';
import { awsCall } from './aws-errors';
import { pollUntil } from './heartbeat';

/** The instance restored from, as every activity of a component names it. */
export interface RdsSource {
  sourceInstanceId: string;
  /** Region of the instances this component works on (the restored one, and the source unless `sourceRegion`). */
  region: string;
  /** Region of the source when not `region`: its automated backups replicated into `region` are restored. */
  sourceRegion?: string;
}

export interface RdsRestoreInput extends RdsSource {
  targetInstanceId: string;
  /** ISO-8601 time to restore to, or `latest` for the source's latest restorable time. */
  targetTime: string;
  instanceClass?: string;
  subnetGroup?: string;
}

/** What Recovery Engine tags a restored instance with: the evidence that makes every step idempotent. */
export const RDS_TAGS = {
  source: 'recovery-engine:source',
  sourceRegion: 'recovery-engine:source-region',
  recovery: 'recovery-engine:recovery',
  /** The time restored to (for `latest`, the source's LatestRestorableTime read just before). */
  restoreTime: 'recovery-engine:restore-time',
} as const;

/** Statuses an instance does not leave without a person. */
const STUCK = new Set([
  'failed',
  'incompatible-restore',
  'incompatible-parameters',
  'incompatible-network',
  'incompatible-option-group',
  'inaccessible-encryption-credentials',
  'storage-full',
  'deleting',
  'stopped',
  'stopping',
]);
/** Statuses in which the instance accepts connections (a first backup runs right after a restore). */
const USABLE = new Set(['available', 'backing-up', 'storage-optimization', 'configuring-enhanced-monitoring']);

// Bound: the static factory uses `this`.
const nonRetryable = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);
const same = (a: string | undefined, b: string) => a?.toLowerCase() === b.toLowerCase(); // RDS ids ignore case
const sourceRegionOf = (s: RdsSource) => s.sourceRegion ?? s.region;
const describeSource = (s: RdsSource) =>
  sourceRegionOf(s) === s.region ? s.sourceInstanceId : `${s.sourceInstanceId} (${s.sourceRegion})`;
const tagsOf = (instance: DBInstance) => new Map((instance.TagList ?? []).map((t) => [t.Key, t.Value]));

/** RDS tag values allow letters, digits, spaces and `_ . : / = + - @`, up to 256 characters. */
const tagValue = (value: string) => value.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, '_').slice(0, 256);

/**
 * The recovery (and component) this call works for. The engine runs a component as the child
 * workflow `<recovery>/<component>/<run>`: the run number is dropped, so an operator's retry (a new
 * run) is the same recovery, while an instance left over by another recovery is not.
 */
const recoveryTag = () => tagValue((activityInfo().workflowExecution?.workflowId ?? '').replace(/\/\d+$/, ''));

/** Why `instance` is not the one this recovery restored from the source; undefined when it is. */
function notOurs(instance: DBInstance, source: RdsSource): string | undefined {
  const tags = tagsOf(instance);
  if (
    !same(tags.get(RDS_TAGS.source), source.sourceInstanceId) ||
    tags.get(RDS_TAGS.sourceRegion) !== sourceRegionOf(source)
  )
    return `was not restored from ${describeSource(source)} by Recovery Engine`;
  if (tags.get(RDS_TAGS.recovery) !== recoveryTag())
    return `was restored from ${describeSource(source)} by another recovery (${tags.get(RDS_TAGS.recovery)})`;
  return undefined;
}

/** `latest`, or the parsed ISO time; anything else is a configuration error. */
function parseTargetTime(targetTime: string, what: string): 'latest' | Date {
  if (targetTime === 'latest') return 'latest';
  const time = new Date(targetTime);
  if (Number.isNaN(time.getTime()))
    throw nonRetryable(
      `${what}: targetTime "${targetTime}" is neither "latest" nor an ISO-8601 time`,
      'InvalidTargetTime',
    );
  return time;
}

export function createRdsActivities(aws: AwsClients, { pollIntervalMs = 30_000, maxWaitMs = 6 * 3600_000 } = {}) {
  async function describe(region: string, instanceId: string): Promise<DBInstance | undefined> {
    const { DBInstances } = await awsCall(
      `describe RDS instance ${instanceId} in ${region}`,
      'rds:DescribeDBInstances',
      async (abortSignal) => {
        try {
          return await aws
            .rds(region)
            .send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: instanceId }), { abortSignal });
        } catch (error) {
          if (error instanceof DBInstanceNotFoundFault) return { DBInstances: [] };
          throw error;
        }
      },
    );
    return DBInstances?.[0];
  }

  /** Polls `check` until it gives a value, heartbeating the last status; ends on cancellation. */
  const waitFor = <T>(what: string, check: () => Promise<{ done?: T; status: string }>): Promise<T> =>
    pollUntil(what, check, { maxWaitMs, pollIntervalMs });

  /** Waits until `instanceId` exists and is available; unknown for a while is normal right after a rename. */
  const waitAvailable = (what: string, region: string, instanceId: string, allowMissing: boolean) =>
    waitFor(what, async () => {
      const instance = await describe(region, instanceId);
      if (!instance && !allowMissing)
        throw nonRetryable(`${what}: instance ${instanceId} does not exist in ${region}`, 'DBInstanceNotFound');
      const status = instance?.DBInstanceStatus ?? 'not visible yet';
      if (status === 'available') return { done: instance, status };
      if (STUCK.has(status))
        throw nonRetryable(
          `${what}: instance ${instanceId} is ${status} and will not become available by itself`,
          'DBInstanceStuck',
        );
      return { status };
    });

  /**
   * The source's automated backups replicated into `region` (cross-region restores), the most
   * recent when several carry the identifier, as the kind's manual command looks them up.
   */
  async function replicatedBackup(source: RdsSource, what: string): Promise<DBInstanceAutomatedBackup> {
    const found: DBInstanceAutomatedBackup[] = [];
    let marker: string | undefined;
    do {
      const page = await awsCall(what, 'rds:DescribeDBInstanceAutomatedBackups', (abortSignal) =>
        aws.rds(source.region).send(new DescribeDBInstanceAutomatedBackupsCommand({ Marker: marker }), { abortSignal }),
      );
      found.push(
        ...(page.DBInstanceAutomatedBackups ?? []).filter((b) => same(b.DBInstanceIdentifier, source.sourceInstanceId)),
      );
      marker = page.Marker;
    } while (marker);
    const latest = (b: DBInstanceAutomatedBackup) => b.RestoreWindow?.LatestTime?.getTime() ?? 0;
    const backup = found.sort((a, b) => latest(b) - latest(a))[0];
    if (!backup?.DBInstanceAutomatedBackupsArn)
      throw nonRetryable(
        `${what}: no automated backups of ${source.sourceInstanceId} are replicated into ${source.region}; check the backup replication of ${source.sourceRegion}`,
        'ReplicatedBackupNotFound',
      );
    return backup;
  }

  /**
   * What a restore starts from: the source instance (its subnet group, security groups and
   * parameter group are passed on, as the manual command does), or its replicated backups.
   */
  async function restoreSource(input: RdsRestoreInput | (RdsSource & { targetTime: string }), what: string) {
    if (sourceRegionOf(input) !== input.region) {
      const backup = await replicatedBackup(input, what);
      return {
        params: {
          SourceDBInstanceAutomatedBackupsArn: backup.DBInstanceAutomatedBackupsArn,
          DBSubnetGroupName: 'subnetGroup' in input ? input.subnetGroup : undefined,
        },
        earliest: backup.RestoreWindow?.EarliestTime,
        latest: backup.RestoreWindow?.LatestTime,
        status: backup.Status,
        backupRetentionPeriod: backup.BackupRetentionPeriod,
      };
    }
    const source = await describe(input.region, input.sourceInstanceId);
    if (!source)
      throw nonRetryable(
        `${what}: source instance ${input.sourceInstanceId} does not exist in ${input.region}`,
        'SourceInstanceNotFound',
      );
    return {
      params: {
        SourceDBInstanceIdentifier: input.sourceInstanceId,
        DBSubnetGroupName:
          ('subnetGroup' in input ? input.subnetGroup : undefined) ?? source.DBSubnetGroup?.DBSubnetGroupName,
        VpcSecurityGroupIds: source.VpcSecurityGroups?.flatMap((g) => g.VpcSecurityGroupId ?? []),
        DBParameterGroupName: source.DBParameterGroups?.[0]?.DBParameterGroupName,
      },
      earliest: undefined as Date | undefined,
      latest: source.LatestRestorableTime,
      status: source.DBInstanceStatus,
      backupRetentionPeriod: source.BackupRetentionPeriod,
    };
  }

  return {
    /**
     * Checks that the source can be restored to the target time: it exists, keeps automated
     * backups, and the time lies in its restorable window. Reads only.
     */
    async checkRdsRestoreSource(input: RdsSource & { targetTime: string }) {
      const what = `check RDS source ${describeSource(input)} for a restore to ${input.targetTime}`;
      const time = parseTargetTime(input.targetTime, what);
      const source = await restoreSource(input, what);
      if (source.backupRetentionPeriod === 0)
        throw nonRetryable(
          `${what}: automated backups are off (retention 0 days): no point-in-time restore is possible`,
          'NoAutomatedBackups',
        );
      let earliest = source.earliest;
      if (sourceRegionOf(input) === input.region) {
        try {
          const { DBInstanceAutomatedBackups: backups = [] } = await awsCall(
            what,
            'rds:DescribeDBInstanceAutomatedBackups',
            (abortSignal) =>
              aws
                .rds(input.region)
                .send(new DescribeDBInstanceAutomatedBackupsCommand({ DBInstanceIdentifier: input.sourceInstanceId }), {
                  abortSignal,
                }),
          );
          earliest = backups[0]?.RestoreWindow?.EarliestTime;
        } catch (error) {
          // No backup yet (a new instance): the restore itself says whether the time can be restored.
          if (!(error instanceof DBInstanceAutomatedBackupNotFoundFault)) throw error;
        }
      }
      if (time !== 'latest' && earliest && time < earliest)
        throw nonRetryable(`${what}: the earliest restorable time is ${earliest.toISOString()}`, 'TargetTimeTooEarly');
      // The window's end moves forward every few minutes: a time just past it becomes restorable.
      if (time !== 'latest' && source.latest && time > source.latest)
        throw ApplicationFailure.retryable(
          `${what}: not restorable yet, the latest restorable time is ${source.latest.toISOString()}`,
          'TargetTimeTooLate',
        );
      return {
        sourceInstanceId: input.sourceInstanceId,
        status: source.status,
        earliestRestorableTime: earliest?.toISOString(),
        latestRestorableTime: source.latest?.toISOString(),
        ...('SourceDBInstanceAutomatedBackupsArn' in source.params
          ? { automatedBackupsArn: source.params.SourceDBInstanceAutomatedBackupsArn }
          : {}),
      };
    },

    /**
     * Starts a point-in-time restore into a new instance, tagged with its source and this recovery.
     * Idempotent: an instance already restored from this source by this recovery is left as it is;
     * any other instance with the target's identifier is never touched.
     */
    async restoreRdsInstanceToPointInTime(input: RdsRestoreInput) {
      const { targetInstanceId: targetId, region } = input;
      const what = `restore RDS instance ${targetId} from ${describeSource(input)} to ${input.targetTime}`;
      const time = parseTargetTime(input.targetTime, what);
      if (same(targetId, input.sourceInstanceId) && sourceRegionOf(input) === region)
        throw nonRetryable(`${what}: the target is the source itself`, 'TargetIsSource');
      const result = (instance: DBInstance | undefined, restoredNow: boolean) => ({
        instanceId: targetId,
        instanceArn: instance?.DBInstanceArn,
        status: instance?.DBInstanceStatus,
        restoredNow,
        restoreTime: tagsOf(instance ?? {}).get(RDS_TAGS.restoreTime),
      });

      const existing = await describe(region, targetId);
      if (existing) {
        const why = notOurs(existing, input);
        if (why)
          throw nonRetryable(
            `${what}: instance ${targetId} already exists and ${why}; choose another targetInstanceId, or delete it if it is a leftover`,
            'TargetInstanceExists',
          );
        log.info('Target instance already restored by an earlier attempt; not restoring again', { targetId });
        return result(existing, false);
      }

      const source = await restoreSource(input, what);
      const restoreTime = time === 'latest' ? source.latest : time;
      const request: RestoreDBInstanceToPointInTimeMessage = {
        ...source.params,
        TargetDBInstanceIdentifier: targetId,
        DBInstanceClass: input.instanceClass,
        ...(time === 'latest' ? { UseLatestRestorableTime: true } : { RestoreTime: time }),
        Tags: [
          { Key: RDS_TAGS.source, Value: input.sourceInstanceId },
          { Key: RDS_TAGS.sourceRegion, Value: sourceRegionOf(input) },
          { Key: RDS_TAGS.recovery, Value: recoveryTag() },
          ...(restoreTime ? [{ Key: RDS_TAGS.restoreTime, Value: restoreTime.toISOString() }] : []),
        ],
      };
      try {
        const { DBInstance: instance } = await awsCall(
          what,
          'rds:RestoreDBInstanceToPointInTime (and rds:AddTagsToResource for its tags)',
          (abortSignal) => aws.rds(region).send(new RestoreDBInstanceToPointInTimeCommand(request), { abortSignal }),
        );
        log.info('Restore started', { targetId, source: describeSource(input), targetTime: input.targetTime });
        return result(instance, true);
      } catch (error) {
        // A lost response of an earlier attempt: the tags decide on the next attempt.
        if (error instanceof DBInstanceAlreadyExistsFault)
          throw ApplicationFailure.retryable(
            `${what}: the instance appeared while restoring; checking it on retry`,
            'InstanceAppeared',
          );
        if (error instanceof DBInstanceNotFoundFault)
          throw nonRetryable(
            `${what}: source instance ${input.sourceInstanceId} does not exist in ${region}`,
            'SourceInstanceNotFound',
          );
        if (
          error instanceof PointInTimeRestoreNotEnabledFault ||
          error instanceof InvalidRestoreFault ||
          error instanceof DBInstanceAutomatedBackupNotFoundFault
        )
          throw nonRetryable(`${what}: ${error.name}: ${error.message}`, error.name);
        throw error;
      }
    },

    /** Waits until the instance is available: a restore takes from minutes to hours. */
    async waitForRdsInstanceAvailable(input: { instanceId: string; region: string }) {
      const what = `wait for RDS instance ${input.instanceId} to be available`;
      const instance = await waitAvailable(what, input.region, input.instanceId, false);
      return { instanceId: input.instanceId, status: instance.DBInstanceStatus, endpoint: instance.Endpoint?.Address };
    },

    /**
     * Checks the restored instance takes connections and reports what it is. `recoveryPoint` is the
     * time restored to, from the instance's tag: for `latest`, the source's LatestRestorableTime read
     * before the restore, never later than the real point, so the achieved RPO is never flattered.
     */
    async validateRdsInstance(input: RdsSource & { instanceId: string }) {
      const what = `validate RDS instance ${input.instanceId}`;
      const instance = await describe(input.region, input.instanceId);
      if (!instance) throw nonRetryable(`${what}: it does not exist in ${input.region}`, 'DBInstanceNotFound');
      const status = instance.DBInstanceStatus ?? 'unknown';
      if (!USABLE.has(status))
        throw ApplicationFailure.retryable(`${what}: it is ${status}, not available`, 'NotAvailable');
      if (!instance.Endpoint?.Address)
        throw ApplicationFailure.retryable(`${what}: it has no endpoint yet`, 'NoEndpoint');
      const restoreTime = tagsOf(instance).get(RDS_TAGS.restoreTime);
      const recoveryPoint =
        restoreTime && !Number.isNaN(Date.parse(restoreTime)) ? new Date(restoreTime).toISOString() : undefined;
      return {
        instanceId: input.instanceId,
        status,
        endpoint: `${instance.Endpoint.Address}:${instance.Endpoint.Port}`,
        engine: instance.Engine,
        engineVersion: instance.EngineVersion,
        instanceClass: instance.DBInstanceClass,
        multiAZ: instance.MultiAZ,
        restoredByThisRecovery: notOurs(instance, input) === undefined,
        recoveryPoint,
      };
    },

    /**
     * Cut-over, first half: renames the source aside, freeing its identifier (and endpoint name) for
     * the restored instance. Refuses unless the restored instance is ready to take its place.
     */
    async renameRdsInstanceAside(input: RdsSource & { asideInstanceId: string; restoredInstanceId: string }) {
      const { region, sourceInstanceId: sourceId, asideInstanceId: asideId } = input;
      const what = `rename RDS instance ${sourceId} to ${asideId}`;
      const [current, aside] = await Promise.all([describe(region, sourceId), describe(region, asideId)]);
      if (current && !notOurs(current, input))
        return { renamedNow: false, state: `the restored instance already is ${sourceId}` };
      if (!current) {
        // Renamed by an earlier attempt (or gone in the incident): nothing holds the identifier any more.
        if (aside) await waitAvailable(what, region, asideId, true);
        return { renamedNow: false, state: aside ? `already renamed to ${asideId}` : `no instance is ${sourceId}` };
      }
      if (aside)
        throw nonRetryable(
          `${what}: ${asideId} already exists (a leftover of an earlier recovery?): rename or delete it first`,
          'AsideInstanceExists',
        );
      const restored = await describe(region, input.restoredInstanceId);
      const why = restored ? notOurs(restored, input) : 'does not exist';
      if (why || restored?.DBInstanceStatus !== 'available')
        throw nonRetryable(
          `${what}: refusing to take ${sourceId} out of service: restored instance ${input.restoredInstanceId} ${why ?? `is ${restored?.DBInstanceStatus}`}`,
          'RestoredInstanceNotReady',
        );
      await awsCall(what, 'rds:ModifyDBInstance', (abortSignal) =>
        aws.rds(region).send(
          new ModifyDBInstanceCommand({
            DBInstanceIdentifier: sourceId,
            NewDBInstanceIdentifier: asideId,
            ApplyImmediately: true,
          }),
          { abortSignal },
        ),
      );
      await waitAvailable(what, region, asideId, true);
      return { renamedNow: true, state: `renamed to ${asideId}` };
    },

    /** Cut-over, second half: gives the restored instance the source's identifier, hence its endpoint. */
    async renameRestoredRdsInstance(input: RdsSource & { restoredInstanceId: string }) {
      const { region, sourceInstanceId: sourceId, restoredInstanceId: restoredId } = input;
      const what = `rename RDS instance ${restoredId} to ${sourceId}`;
      const current = await describe(region, sourceId);
      if (current && notOurs(current, input))
        throw nonRetryable(
          `${what}: ${sourceId} is still another instance: rename it aside first (step rename-old)`,
          'IdentifierTaken',
        );
      if (!current) {
        const restored = await describe(region, restoredId);
        // Neither identifier is visible for a moment while a rename completes: look again on retry.
        if (!restored)
          throw ApplicationFailure.retryable(
            `${what}: neither ${restoredId} nor ${sourceId} is visible`,
            'RenameInProgress',
          );
        const why = notOurs(restored, input);
        if (why) throw nonRetryable(`${what}: ${restoredId} ${why}`, 'NotRestoredByThisRecovery');
        await awsCall(what, 'rds:ModifyDBInstance', (abortSignal) =>
          aws.rds(region).send(
            new ModifyDBInstanceCommand({
              DBInstanceIdentifier: restoredId,
              NewDBInstanceIdentifier: sourceId,
              ApplyImmediately: true,
            }),
            { abortSignal },
          ),
        );
      }
      const instance = await waitAvailable(what, region, sourceId, true);
      return { renamedNow: !current, instanceId: sourceId, endpoint: instance.Endpoint?.Address };
    },

    /**
     * Makes the restored instance Multi-AZ when the reference (the source, or the old instance after
     * a rename) is: restores are single-AZ. Only an instance this recovery restored is modified.
     */
    async matchRdsMultiAz(input: RdsSource & { instanceId: string; referenceInstanceId: string }) {
      const what = `make RDS instance ${input.instanceId} Multi-AZ like ${input.referenceInstanceId}`;
      const [instance, reference] = await Promise.all([
        describe(input.region, input.instanceId),
        describe(input.region, input.referenceInstanceId),
      ]);
      if (!reference)
        throw nonRetryable(
          `${what}: ${input.referenceInstanceId} does not exist in ${input.region}`,
          'DBInstanceNotFound',
        );
      const why = instance ? notOurs(instance, input) : 'does not exist';
      if (why)
        throw nonRetryable(`${what}: refusing to modify ${input.instanceId}: it ${why}`, 'NotRestoredByThisRecovery');
      const already = instance!.MultiAZ === true || instance!.PendingModifiedValues?.MultiAZ === true;
      if (!reference.MultiAZ || already)
        return { instanceId: input.instanceId, multiAZ: Boolean(reference.MultiAZ), changedNow: false };
      await awsCall(what, 'rds:ModifyDBInstance', (abortSignal) =>
        aws.rds(input.region).send(
          new ModifyDBInstanceCommand({
            DBInstanceIdentifier: input.instanceId,
            MultiAZ: true,
            ApplyImmediately: true,
          }),
          { abortSignal },
        ),
      );
      return { instanceId: input.instanceId, multiAZ: true, changedNow: true };
    },

    /**
     * Drill teardown: deletes the drill instance (no final snapshot, no retained automated backups)
     * and waits until it is gone. Succeeds when it does not exist; an instance still being restored
     * (or modified, backed up…) is waited for until RDS accepts the delete. Only an instance restored
     * from the source by Recovery Engine is deleted: anything else of that name is refused.
     */
    async deleteRdsDrillInstance(input: RdsSource & { instanceId: string }) {
      const { region, instanceId } = input;
      const what = `delete RDS drill instance ${instanceId} in ${region}`;
      if (same(instanceId, input.sourceInstanceId) && sourceRegionOf(input) === region)
        throw nonRetryable(`${what}: it is the source instance itself`, 'DrillIsProduction');
      let deletedNow = false;
      await waitFor(what, async () => {
        const instance = await describe(region, instanceId);
        if (!instance) return { done: true, status: 'deleted' };
        const status = instance.DBInstanceStatus ?? 'unknown';
        // Tagged at the restore, so an instance still creating carries them too.
        if (!same(tagsOf(instance).get(RDS_TAGS.source), input.sourceInstanceId))
          throw nonRetryable(
            `${what}: refusing to delete ${instanceId}: it ${notOurs(instance, input) ?? 'is not a drill copy'}`,
            'NotADrillInstance',
          );
        if (status === 'deleting') return { status };
        // Gone meanwhile, or in a state RDS does not delete from (creating, modifying…): look again.
        const outcome = await awsCall(what, 'rds:DeleteDBInstance', async (abortSignal) => {
          try {
            await aws.rds(region).send(
              new DeleteDBInstanceCommand({
                DBInstanceIdentifier: instanceId,
                SkipFinalSnapshot: true,
                DeleteAutomatedBackups: true,
              }),
              { abortSignal },
            );
            return 'deleting';
          } catch (error) {
            if (error instanceof DBInstanceNotFoundFault) return 'deleted';
            if (error instanceof InvalidDBInstanceStateFault) return 'not deletable yet';
            throw error;
          }
        });
        if (outcome === 'deleted') return { done: true, status: outcome };
        if (outcome === 'deleting') {
          deletedNow = true;
          log.info('Drill instance deletion started', { instanceId, region, status });
        }
        return { status: outcome === 'deleting' ? outcome : `${status}, ${outcome}` };
      });
      return { instanceId, region, deletedNow };
    },
  };
}
