import { z } from 'zod';
import type { DeleteDrillTableInput, RestoreTableToPointInTimeInput } from '../../activities/dynamodb-pitr';
import { resource } from '../drill-guard';
import { automate, dataComponentSchema, region, sh, type KindDefinition } from './define';

export const schema = dataComponentSchema('dynamodb-table', {
  tableName: z.string().regex(/^[a-zA-Z0-9_.-]{3,255}$/, 'expected a DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -)'),
  region,
  restoreFrom: z
    .enum(['pitr', 'backup'])
    .default('pitr')
    .describe('pitr: point-in-time recovery to the target time; backup: an on-demand backup (backupArn)'),
  backupArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:dynamodb:/, 'expected a DynamoDB backup ARN')
    .optional(),
  targetTableName: z.string().optional().describe('Table to restore into; default <tableName>-restored'),
  cutover: z
    .enum(['manual', 'none'])
    .default('manual')
    .describe('manual: a person points the applications at the restored table; none: nothing to switch'),
});

export type DynamoDbTableComponent = z.infer<typeof schema>;

/** A DynamoDB table, restored from point-in-time recovery or a backup into a new table. */
export const dynamoDbTableKind: KindDefinition<DynamoDbTableComponent> = {
  kind: 'dynamodb-table',
  title: 'Amazon DynamoDB table',
  stateful: true,
  tier: 'data',
  defaultEstimate: '1h',
  schema,
  permissions: [
    'dynamodb:DescribeBackup',
    'dynamodb:RestoreTableFromBackup',
    'dynamodb:RestoreTableToPointInTime',
    'dynamodb:DescribeTable',
    'dynamodb:Scan',
    // AWS requires these on the target table of any restore.
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:GetItem',
    'dynamodb:Query',
    'dynamodb:BatchWriteItem',
    'dynamodb:DeleteTable',
  ],
  productionResources(c) {
    return [
      resource.aws('dynamodb', c.region, c.tableName),
      resource.aws('dynamodb', c.region, c.targetTableName ?? `${c.tableName}-restored`),
    ];
  },
  teardown(c, { drillSuffix }) {
    const drill = `${c.tableName}${drillSuffix}`;
    const aws = `aws dynamodb --region ${c.region}`;
    return [
      {
        id: 'delete-drill-table',
        title: `Delete the drill table ${drill} in ${c.region}`,
        does: `Deletes ${drill} and waits until it is gone; a table still being restored (CREATING) is waited for first, as DynamoDB cannot delete it before. Nothing to do when it does not exist.`,
        command: `${aws} wait table-exists --table-name ${sh(drill)}\n${aws} delete-table --table-name ${sh(drill)}\n${aws} wait table-not-exists --table-name ${sh(drill)}`,
        validate: `${aws} describe-table --table-name ${sh(drill)}   # ResourceNotFoundException`,
        automation: automate(
          'deleteDynamoDbDrillTable',
          {
            tableName: drill,
            region: c.region,
            sourceTableName: c.tableName,
            ...(c.restoreFrom === 'backup' && c.backupArn ? { backupArn: c.backupArn } : {}),
          } satisfies DeleteDrillTableInput,
          'long',
          [resource.aws('dynamodb', c.region, drill)],
        ),
      },
    ];
  },
  steps(c, { mode, targetTime, drillSuffix }) {
    const target = mode === 'drill' ? `${c.tableName}${drillSuffix}` : (c.targetTableName ?? `${c.tableName}-restored`);
    const writes = [resource.aws('dynamodb', c.region, target)];
    const aws = `aws dynamodb --region ${c.region}`;
    const restore =
      c.restoreFrom === 'backup'
        ? `${aws} restore-table-from-backup --target-table-name ${sh(target)} --backup-arn ${sh(c.backupArn ?? '<BACKUP_ARN>')}`
        : `${aws} restore-table-to-point-in-time --source-table-name ${sh(c.tableName)} --target-table-name ${sh(target)} ${targetTime === 'latest' ? '--use-latest-restorable-time' : `--restore-date-time ${sh(targetTime)}`}`;
    return [
      {
        id: 'restore',
        title:
          c.restoreFrom === 'backup' ? 'Restore the backup into a new table' : 'Restore the table to the target time',
        does: `Creates table ${target}; DynamoDB never restores over an existing table.`,
        command: restore,
        rollback: `${aws} delete-table --table-name ${sh(target)}`,
        ...(c.restoreFrom === 'backup' && c.backupArn
          ? {
              automation: automate(
                'restoreDynamoDbTableFromBackup',
                { backupArn: c.backupArn, targetTableName: target, region: c.region },
                'long',
                writes,
              ),
            }
          : c.restoreFrom === 'pitr'
            ? {
                automation: {
                  activity: 'restoreDynamoDbTableToPointInTime' as const,
                  input: {
                    sourceTableName: c.tableName,
                    targetTableName: target,
                    region: c.region,
                    targetTime,
                  } satisfies RestoreTableToPointInTimeInput,
                  profile: 'long' as const,
                  writes,
                },
              }
            : {}),
      },
      {
        id: 'wait-active',
        title: 'Wait until the restored table is ACTIVE',
        does: 'Large tables take from minutes to hours.',
        command: `${aws} wait table-exists --table-name ${sh(target)}`,
        automation: { coveredBy: 'restore' }, // both restore activities wait for ACTIVE and count the items
        validate: `${aws} describe-table --table-name ${sh(target)} --query 'Table.[TableStatus,ItemCount,RestoreSummary]'`,
      },
      {
        id: 'validate',
        title: 'Count the items and sample a few',
        does: 'The count is compared with the source (or the backup) and sampled items are read.',
        command: `${aws} scan --table-name ${sh(target)} --select COUNT`,
        automation: { coveredBy: 'restore' }, // both restore activities wait for ACTIVE and count the items
        validate: `${aws} describe-table --table-name ${sh(c.tableName)} --query Table.ItemCount   # about the same count (ItemCount is refreshed every ~6 hours)`,
      },
      ...(mode === 'recover' && c.cutover === 'manual'
        ? [
            {
              id: 'cut-over',
              title: 'Point the applications at the restored table',
              does: `DynamoDB cannot rename tables: switch the applications' table name setting from ${c.tableName} to ${target} (the ecs-service steps redeploy them).`,
              command: `# set the table name your services read (parameter, environment) to ${target}`,
              rollback: `# set it back to ${c.tableName}`,
            },
          ]
        : []),
    ];
  },
};
