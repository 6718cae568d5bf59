import {
  DescribeBackupCommand,
  DescribeTableCommand,
  ResourceNotFoundException,
  RestoreTableFromBackupCommand,
  ScanCommand,
  TableAlreadyExistsException,
  waitUntilTableExists,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { cancellationSignal, heartbeat, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsClients } from './aws-clients';
import { awsFailure } from './aws-errors';
import { heartbeatWhile } from './heartbeat';

export interface RestoreTableFromBackupInput {
  backupArn: string;
  targetTableName: string;
  region?: string;
  /** When given, the restore fails unless the restored table holds exactly this many items. */
  expectedItemCount?: number;
}

export interface RestoreTableFromBackupResult {
  tableName: string;
  tableArn: string;
  sourceBackupArn: string;
  /** False when an earlier attempt had already restored the table: nothing was restored twice. */
  restoredNow: boolean;
  /** Items counted in the restored table (a full scan). */
  itemCount: number;
  /** Items in the source table when the backup was taken, as AWS recorded it (approximate on AWS). */
  backupItemCount?: number;
  /** When the backup was taken: the recovery point of this restore. */
  recoveryPoint?: string;
}

/** How long to wait for a restored table to become ACTIVE; large tables take hours. */
const MAX_RESTORE_WAIT_SECONDS = 6 * 3600;

export function createDynamoDbRestoreActivities(aws: AwsClients) {
  /** Counts items with a paginated COUNT scan, heartbeating after each page. */
  async function countItems(region: string | undefined, tableName: string): Promise<number> {
    let count = 0;
    let startKey: Record<string, never> | undefined;
    do {
      const page = await aws
        .dynamodb(region)
        .send(new ScanCommand({ TableName: tableName, Select: 'COUNT', ExclusiveStartKey: startKey }), {
          abortSignal: cancellationSignal(),
        });
      count += page.Count ?? 0;
      startKey = page.LastEvaluatedKey as typeof startKey;
      heartbeat({ phase: 'counting items', counted: count });
    } while (startKey);
    return count;
  }

  async function describeTable(region: string | undefined, tableName: string): Promise<TableDescription | undefined> {
    try {
      const { Table } = await aws.dynamodb(region).send(new DescribeTableCommand({ TableName: tableName }));
      return Table;
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }

  return {
    /**
     * Restores a DynamoDB backup into a new table, waits until it is ACTIVE and counts its items.
     * Idempotent: when the target table already exists and was restored from this very backup (an
     * earlier attempt got that far), it is not restored again; a target table restored from anything
     * else is never touched.
     */
    async restoreDynamoDbTableFromBackup(input: RestoreTableFromBackupInput): Promise<RestoreTableFromBackupResult> {
      const { backupArn, targetTableName: tableName, region } = input;
      const what = `restore DynamoDB table ${tableName} from backup ${backupArn}`;
      const client = aws.dynamodb(region);
      try {
        const { BackupDescription: backup } = await client.send(new DescribeBackupCommand({ BackupArn: backupArn }));
        const status = backup?.BackupDetails?.BackupStatus;
        if (status !== 'AVAILABLE') {
          // CREATING becomes AVAILABLE on its own; DELETED never will.
          if (status === 'DELETED')
            throw ApplicationFailure.nonRetryable(`${what}: the backup is DELETED`, 'BackupDeleted');
          throw ApplicationFailure.retryable(
            `${what}: the backup is ${status ?? 'in an unknown state'}, not AVAILABLE yet`,
            'BackupNotAvailable',
          );
        }

        let restoredNow = false;
        const existing = await describeTable(region, tableName);
        if (existing) {
          if (existing.RestoreSummary?.SourceBackupArn !== backupArn) {
            throw ApplicationFailure.nonRetryable(
              `${what}: table ${tableName} already exists and was not restored from this backup; ` +
                'choose another targetTableName, or delete that table if it is a leftover',
              'TargetTableExists',
            );
          }
          log.info('Target table already restored from this backup by an earlier attempt; not restoring again', {
            tableName,
          });
        } else {
          try {
            await client.send(new RestoreTableFromBackupCommand({ BackupArn: backupArn, TargetTableName: tableName }));
            restoredNow = true;
            log.info('Restore started', { tableName, backupArn });
          } catch (error) {
            // A lost response of an earlier attempt: the restore is under way; the check above decides next time.
            if (!(error instanceof TableAlreadyExistsException)) throw error;
            throw ApplicationFailure.retryable(
              `${what}: the table appeared while restoring; checking its source on retry`,
              'TableAppeared',
            );
          }
        }

        await heartbeatWhile(
          waitUntilTableExists(
            { client, maxWaitTime: MAX_RESTORE_WAIT_SECONDS, abortSignal: cancellationSignal() },
            { TableName: tableName },
          ),
          () => ({ phase: 'waiting for ACTIVE', tableName }),
        );
        const table = await describeTable(region, tableName);
        const itemCount = await countItems(region, tableName);
        if (input.expectedItemCount !== undefined && itemCount !== input.expectedItemCount) {
          throw ApplicationFailure.nonRetryable(
            `${what}: the restored table holds ${itemCount} items, expected ${input.expectedItemCount}`,
            'RestoreVerificationFailed',
          );
        }
        return {
          tableName,
          tableArn: table?.TableArn ?? '',
          sourceBackupArn: backupArn,
          restoredNow,
          itemCount,
          backupItemCount: backup?.SourceTableDetails?.ItemCount,
          recoveryPoint: backup?.BackupDetails?.BackupCreationDateTime?.toISOString(),
        };
      } catch (error) {
        if (error instanceof ApplicationFailure) throw error;
        throw awsFailure(error, what);
      }
    },
  };
}
