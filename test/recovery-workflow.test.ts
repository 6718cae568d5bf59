/**
 * recoveryWorkflow on the time-skipping test server: hours of workflow time in seconds of wall time.
 * Activities are mocks typed like the real ones; the real restore runs in dynamodb-restore.test.ts.
 */
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RecoveryActivities } from '../activities';
import type { RestoreTableFromBackupInput, RestoreTableFromBackupResult } from '../activities/dynamodb-restore';
import { recoveryWorkflow, type RecoveryInput } from '../workflows';
import { bundleWorkflows, startTimeSkippingEnv } from './helpers/servers';

const HOUR = 3_600_000;
const BACKUP_ARN = 'arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/01700000000000-abcdef12';

describe('recoveryWorkflow (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  const restoreCalls: RestoreTableFromBackupInput[] = [];
  const activities: RecoveryActivities = {
    restoreDynamoDbTableFromBackup(input: RestoreTableFromBackupInput): Promise<RestoreTableFromBackupResult> {
      restoreCalls.push(input);
      return Promise.resolve({
        tableName: input.targetTableName,
        tableArn: `arn:aws:dynamodb:us-east-1:123456789012:table/${input.targetTableName}`,
        sourceBackupArn: input.backupArn,
        restoredNow: true,
        itemCount: 3,
      });
    },
  };

  before(async () => {
    [env, bundle] = await Promise.all([startTimeSkippingEnv(), bundleWorkflows()]);
  });
  after(() => env?.teardown());

  async function runRecovery(input: RecoveryInput, taskQueue: string) {
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: bundle,
      activities,
    });
    return worker.runUntil(
      env.client.workflow.execute(recoveryWorkflow, { taskQueue, workflowId: `test-${taskQueue}`, args: [input] }),
    );
  }

  it('waits hours of workflow time between steps, in seconds of wall time', async () => {
    const wallStart = Date.now();
    const report = await runRecovery(
      {
        name: 'orders',
        steps: [
          { id: 'let-replication-settle', action: 'wait', duration: '3h' },
          {
            id: 'restore-orders',
            action: 'dynamodb-restore-from-backup',
            backupArn: BACKUP_ARN,
            targetTableName: 'orders-restored',
          },
          { id: 'dns-ttl', action: 'wait', duration: '1h30m', reason: 'old DNS answers expire' },
        ],
      },
      'hours',
    );
    const wallMs = Date.now() - wallStart;

    assert.deepEqual(
      report.steps.map((step) => [step.id, step.outcome]),
      [
        ['let-replication-settle', 'succeeded'],
        ['restore-orders', 'succeeded'],
        ['dns-ttl', 'succeeded'],
      ],
    );
    const restoreStarted = Date.parse(report.steps[1]!.startedAt);
    assert.ok(restoreStarted - Date.parse(report.startedAt) >= 3 * HOUR, 'the restore starts after the 3 h wait');
    assert.ok(report.elapsedMs >= 4.5 * HOUR, `workflow time covers both waits, got ${report.elapsedMs} ms`);
    assert.ok(
      wallMs < report.elapsedMs / 100,
      `time was skipped: ${wallMs} ms of wall time for ${report.elapsedMs} ms`,
    );
    assert.deepEqual(restoreCalls, [{ backupArn: BACKUP_ARN, targetTableName: 'orders-restored' }]);
  });

  it('rejects bad input before any step, naming every bad field', async () => {
    restoreCalls.length = 0;
    const bad = {
      name: 'orders',
      steps: [
        { id: 'wait-a-bit', action: 'wait', duration: '4 hours' },
        {
          id: 'restore',
          action: 'dynamodb-restore-from-backup',
          backupArn: 'orders-backup',
          targetTableName: 'orders-restored',
        },
      ],
    } as RecoveryInput;
    await assert.rejects(runRecovery(bad, 'bad-input'), (error: unknown) => {
      assert.ok(error instanceof WorkflowFailedError);
      assert.ok(error.cause instanceof ApplicationFailure);
      assert.equal(error.cause.type, 'InvalidRecoveryInput');
      assert.equal(error.cause.nonRetryable, true);
      assert.match(error.cause.message, /steps\[0\]\.duration: expected a duration such as 90s/);
      assert.match(error.cause.message, /steps\[1\]\.backupArn: expected a DynamoDB backup ARN/);
      return true;
    });
    assert.equal(restoreCalls.length, 0, 'no activity ran');
  });
});
