/**
 * DynamoDB point-in-time recovery into a new table, idempotent like the restore from a backup
 * (activities/dynamodb-restore.ts): a retry never restores twice, and a table that was not restored
 * from the source is never touched.
 */
import {
  DeleteTableCommand,
  DescribeTableCommand,
  PointInTimeRecoveryUnavailableException,
  InvalidRestoreTimeException,
  ResourceInUseException,
  ResourceNotFoundException,
  RestoreTableToPointInTimeCommand,
  ScanCommand,
  TableAlreadyExistsException,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { heartbeat, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsClients } from './aws-clients';
import { awsCall } from './aws-errors';
import { pollUntil } from './heartbeat';

export interface RestoreTableToPointInTimeInput {
  sourceTableName: string;
  targetTableName: string;
  region?: string;
  /** ISO-8601 time to restore to, or `latest` for the latest restorable time (about 5 minutes ago). */
  targetTime: string;
}

/** A drill table to delete, and what it must have been restored from. */
export interface DeleteDrillTableInput {
  tableName: string;
  region?: string;
  /** The production table restored from (to a point in time, or through one of its backups). */
  sourceTableName: string;
  /** The backup a restore from a backup read. */
  backupArn?: string;
}

export interface RestoreTableToPointInTimeResult {
  tableName: string;
  tableArn: string;
  sourceTableName: string;
  /** False when an earlier attempt had already restored the table: nothing was restored twice. */
  restoredNow: boolean;
  /** Items counted in the restored table (a full scan). */
  itemCount: number;
  /** Items in the source table as DynamoDB last recorded them (refreshed about every 6 hours). */
  sourceItemCount?: number;
  /** The time restored to: the recovery point of this restore. */
  recoveryPoint?: string;
}

// Bound: the static factory uses `this`.
const nonRetryable = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);
/** The name of a table in its ARN (`arn:aws:dynamodb:<region>:<account>:table/<name>`). */
const tableNameOf = (arn: string | undefined) => /:table\/([^/]+)$/.exec(arn ?? '')?.[1];

export function createDynamoDbPitrActivities(
  aws: AwsClients,
  { pollIntervalMs = 20_000, maxWaitMs = 6 * 3600_000 } = {},
) {
  async function describeTable(region: string | undefined, tableName: string): Promise<TableDescription | undefined> {
    const { Table } = await awsCall(
      `describe DynamoDB table ${tableName}`,
      'dynamodb:DescribeTable',
      async (abortSignal) => {
        try {
          return await aws.dynamodb(region).send(new DescribeTableCommand({ TableName: tableName }), { abortSignal });
        } catch (error) {
          if (error instanceof ResourceNotFoundException) return { Table: undefined };
          throw error;
        }
      },
    );
    return Table;
  }

  /** Polls until the table is ACTIVE, heartbeating its status; ends on cancellation. */
  const waitActive = (what: string, region: string | undefined, tableName: string): Promise<TableDescription> =>
    pollUntil(
      what,
      async () => {
        const table = await describeTable(region, tableName);
        const status = table?.TableStatus ?? 'not visible yet';
        return table && status === 'ACTIVE' ? { done: table, status } : { status };
      },
      { maxWaitMs, pollIntervalMs },
    );

  /** Counts items with a paginated COUNT scan, heartbeating after each page. */
  async function countItems(region: string | undefined, tableName: string): Promise<number> {
    let count = 0;
    let startKey: Record<string, never> | undefined;
    do {
      const page = await awsCall(`count the items of DynamoDB table ${tableName}`, 'dynamodb:Scan', (abortSignal) =>
        aws
          .dynamodb(region)
          .send(new ScanCommand({ TableName: tableName, Select: 'COUNT', ExclusiveStartKey: startKey }), {
            abortSignal,
          }),
      );
      count += page.Count ?? 0;
      startKey = page.LastEvaluatedKey as typeof startKey;
      heartbeat({ phase: 'counting items', counted: count });
    } while (startKey);
    return count;
  }

  return {
    /**
     * Restores a table to a point in time into a new table, waits until it is ACTIVE and counts its
     * items. When the target already exists and was restored from the source table (an earlier
     * attempt got that far), it is not restored again; any other table is never touched.
     */
    async restoreDynamoDbTableToPointInTime(
      input: RestoreTableToPointInTimeInput,
    ): Promise<RestoreTableToPointInTimeResult> {
      const { sourceTableName: source, targetTableName: target, region } = input;
      const what = `restore DynamoDB table ${target} from ${source} to ${input.targetTime}`;
      const time = input.targetTime === 'latest' ? 'latest' : new Date(input.targetTime);
      if (time !== 'latest' && Number.isNaN(time.getTime()))
        throw nonRetryable(
          `${what}: targetTime "${input.targetTime}" is neither "latest" nor an ISO-8601 time`,
          'InvalidTargetTime',
        );
      if (source === target) throw nonRetryable(`${what}: the target is the source itself`, 'TargetIsSource');

      let restoredNow = false;
      const existing = await describeTable(region, target);
      let sourceTable: TableDescription | undefined;
      if (existing) {
        if (tableNameOf(existing.RestoreSummary?.SourceTableArn) !== source)
          throw nonRetryable(
            `${what}: table ${target} already exists and was not restored from ${source}; ` +
              'choose another targetTableName, or delete that table if it is a leftover',
            'TargetTableExists',
          );
        log.info('Target table already restored from the source by an earlier attempt; not restoring again', {
          target,
        });
      } else {
        sourceTable = await describeTable(region, source);
        if (!sourceTable) throw nonRetryable(`${what}: source table ${source} does not exist`, 'SourceTableNotFound');
        try {
          await awsCall(what, 'dynamodb:RestoreTableToPointInTime', (abortSignal) =>
            aws.dynamodb(region).send(
              new RestoreTableToPointInTimeCommand({
                SourceTableName: source,
                TargetTableName: target,
                ...(time === 'latest' ? { UseLatestRestorableTime: true } : { RestoreDateTime: time }),
              }),
              { abortSignal },
            ),
          );
          restoredNow = true;
          log.info('Restore started', { target, source, targetTime: input.targetTime });
        } catch (error) {
          // A lost response of an earlier attempt: the restore is under way; the check above decides next time.
          if (error instanceof TableAlreadyExistsException)
            throw ApplicationFailure.retryable(
              `${what}: the table appeared while restoring; checking its source on retry`,
              'TableAppeared',
            );
          if (error instanceof PointInTimeRecoveryUnavailableException)
            throw nonRetryable(
              `${what}: point-in-time recovery is not enabled on ${source}: ${error.message}`,
              error.name,
            );
          // AWS says TableNotFoundException (made non-retryable by awsFailure), moto SourceTableNotFoundException.
          if ((error as Error).name === 'SourceTableNotFoundException')
            throw nonRetryable(`${what}: source table ${source} does not exist`, 'SourceTableNotFound');
          if (error instanceof InvalidRestoreTimeException) throw nonRetryable(`${what}: ${error.message}`, error.name);
          throw error;
        }
      }

      const table = await waitActive(what, region, target);
      const itemCount = await countItems(region, target);
      sourceTable ??= await describeTable(region, source);
      return {
        tableName: target,
        tableArn: table.TableArn ?? '',
        sourceTableName: source,
        restoredNow,
        itemCount,
        sourceItemCount: sourceTable?.ItemCount,
        recoveryPoint: (table.RestoreSummary?.RestoreDateTime ?? (time === 'latest' ? undefined : time))?.toISOString(),
      };
    },

    /**
     * Drill teardown: deletes the drill table and waits until it is gone; succeeds when it does not
     * exist. A table still CREATING (a restore under way) or UPDATING cannot be deleted: it is waited
     * for first. Only a table restored from the source (or the backup) is deleted.
     */
    async deleteDynamoDbDrillTable(input: DeleteDrillTableInput) {
      const { tableName, region, sourceTableName: source, backupArn } = input;
      const what = `delete DynamoDB drill table ${tableName} in ${region ?? 'the default region'}`;
      if (tableName === source) throw nonRetryable(`${what}: it is the source table itself`, 'DrillIsProduction');
      let deletedNow = false;
      await pollUntil(
        what,
        async (): Promise<{ done?: true; status: string }> => {
          const table = await describeTable(region, tableName);
          if (!table) return { done: true, status: 'deleted' };
          const status = table.TableStatus ?? 'unknown';
          const restoredFrom = table.RestoreSummary;
          const ours =
            tableNameOf(restoredFrom?.SourceTableArn) === source ||
            (backupArn !== undefined && restoredFrom?.SourceBackupArn === backupArn);
          if (!ours)
            throw nonRetryable(
              `${what}: refusing to delete ${tableName}: it was not restored from ${source}${backupArn ? ` nor from backup ${backupArn}` : ''}`,
              'NotADrillTable',
            );
          if (status !== 'ACTIVE' && status !== 'INACCESSIBLE_ENCRYPTION_CREDENTIALS' && status !== 'ARCHIVED')
            return { status };
          const outcome = await awsCall(what, 'dynamodb:DeleteTable', async (abortSignal) => {
            try {
              await aws.dynamodb(region).send(new DeleteTableCommand({ TableName: tableName }), { abortSignal });
              return 'DELETING';
            } catch (error) {
              // Gone meanwhile; or busy (a backup, an update): look again.
              if (error instanceof ResourceNotFoundException) return 'deleted';
              if (error instanceof ResourceInUseException) return `${status}, in use`;
              throw error;
            }
          });
          if (outcome === 'deleted') return { done: true, status: outcome };
          if (outcome === 'DELETING') {
            deletedNow = true;
            log.info('Drill table deletion started', { tableName, region });
          }
          return { status: outcome };
        },
        { maxWaitMs, pollIntervalMs },
      );
      return { tableName, deletedNow };
    },
  };
}
