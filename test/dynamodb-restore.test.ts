/**
 * The first vertical slice, real end to end: a Temporal dev server, the recovery worker and its
 * DynamoDB activity talking to moto through the AWS SDK, exactly as in production but for the endpoint.
 */
import { ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import {
  createDynamoDbRestoreActivities,
  type RestoreTableFromBackupInput,
  type RestoreTableFromBackupResult,
} from '../activities/dynamodb-restore';
import { stageOrdersIncident, type OrdersIncident } from '../demo/orders-incident';
import type { MotoServer } from '../toolchain/moto-server';
import { createRecoveryWorker } from '../workers/recovery-worker';
import { recoveryWorkflow, type RecoveryInput } from '../workflows';
import { bundleWorkflows, startDevServerEnv, startMoto } from './helpers/servers';

describe('DynamoDB restore from backup (dev server + moto)', () => {
  let env: TestWorkflowEnvironment;
  let moto: MotoServer;
  let bundle: WorkflowBundleWithSourceMap;
  let aws: AwsClients;
  let incident: OrdersIncident;

  before(async () => {
    [env, moto, bundle] = await Promise.all([startDevServerEnv(), startMoto(), bundleWorkflows()]);
    aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
  });
  after(async () => {
    await env?.teardown();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    incident = await stageOrdersIncident(aws.dynamodb());
  });

  async function restoredOrders(tableName: string) {
    const { Items = [] } = await aws.dynamodb().send(new ScanCommand({ TableName: tableName }));
    return Items.map((item) => ({ id: item.id!.S!, customer: item.customer!.S!, total: Number(item.total!.N) })).sort(
      (a, b) => a.id.localeCompare(b.id),
    );
  }

  async function tableNames() {
    return (await aws.dynamodb().send(new ListTablesCommand({}))).TableNames ?? [];
  }

  function restoreInput(targetTableName = 'orders-restored'): RecoveryInput {
    return {
      name: 'orders',
      steps: [
        {
          id: 'restore-orders',
          action: 'dynamodb-restore-from-backup',
          backupArn: incident.backupArn,
          targetTableName,
          expectedItemCount: incident.orders.length,
        },
      ],
    };
  }

  async function withWorker<T>(taskQueue: string, body: (worker: Worker) => Promise<T>): Promise<T> {
    const worker = await createRecoveryWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue,
      dependencies: { aws },
      workflowBundle: bundle,
    });
    return worker.runUntil(body(worker));
  }

  it('restores the deleted items into a new table and verifies their count', async () => {
    assert.deepEqual(await restoredOrders('orders'), [], 'the incident emptied the table');

    const report = await withWorker('restore', () =>
      env.client.workflow.execute(recoveryWorkflow, {
        taskQueue: 'restore',
        workflowId: 'restore-orders',
        args: [restoreInput()],
      }),
    );

    assert.deepEqual(await restoredOrders('orders-restored'), incident.orders);
    const step = report.steps[0]!;
    assert.equal(step.outcome, 'succeeded');
    assert.deepEqual(
      { ...(step.result as object), tableArn: undefined, recoveryPoint: undefined },
      {
        tableName: 'orders-restored',
        tableArn: undefined,
        sourceBackupArn: incident.backupArn,
        restoredNow: true,
        itemCount: 25,
        backupItemCount: 25,
        recoveryPoint: undefined,
      },
    );
  });

  it('is idempotent: running the restore twice neither fails nor restores twice', async () => {
    const activities = createDynamoDbRestoreActivities(aws);
    const activityEnv = new MockActivityEnvironment();
    // MockActivityEnvironment gives the activity a real Context (heartbeat, cancellation) outside a worker.
    const restore = (input: RestoreTableFromBackupInput) =>
      activityEnv.run<[], RestoreTableFromBackupResult, () => Promise<RestoreTableFromBackupResult>>(() =>
        activities.restoreDynamoDbTableFromBackup(input),
      );
    const input = { backupArn: incident.backupArn, targetTableName: 'orders-restored' };

    const first = await restore(input);
    const second = await restore(input);

    assert.equal(first.restoredNow, true);
    assert.equal(second.restoredNow, false, 'the second run found the table restored from this backup');
    assert.equal(second.itemCount, incident.orders.length);
    assert.deepEqual((await tableNames()).sort(), ['orders', 'orders-restored']);
  });

  it('never overwrites a table that was not restored from this backup', async () => {
    await assert.rejects(
      withWorker('occupied', () =>
        env.client.workflow.execute(recoveryWorkflow, {
          taskQueue: 'occupied',
          workflowId: 'occupied',
          args: [restoreInput('orders')],
        }),
      ),
      (error: unknown) => {
        assert.ok(error instanceof WorkflowFailedError);
        const failure = error.cause?.cause;
        assert.ok(failure instanceof ApplicationFailure, `got ${String(error.cause)}`);
        assert.equal(failure.type, 'TargetTableExists');
        assert.match(failure.message, /table orders already exists and was not restored from this backup/);
        return true;
      },
    );
    assert.deepEqual(await restoredOrders('orders'), [], 'the existing table was left alone');
  });

  it('fails at once, naming the backup, when the backup does not exist', async () => {
    const missing = `${incident.backupArn.slice(0, -4)}dead`;
    const input = restoreInput();
    input.steps[0] = { ...input.steps[0]!, backupArn: missing } as RecoveryInput['steps'][0];
    await assert.rejects(
      withWorker('missing', () =>
        env.client.workflow.execute(recoveryWorkflow, { taskQueue: 'missing', workflowId: 'missing', args: [input] }),
      ),
      (error: unknown) => {
        const failure = (error as WorkflowFailedError).cause?.cause;
        assert.ok(failure instanceof ApplicationFailure);
        assert.equal(failure.type, 'BackupNotFoundException');
        assert.ok(failure.message.includes(missing), failure.message);
        return true;
      },
    );
    assert.ok(!(await tableNames()).includes('orders-restored'));
  });
});
