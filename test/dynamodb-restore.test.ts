/**
 * The first vertical slice, real end to end: a Temporal dev server, the recovery worker and its
 * DynamoDB activity talking to moto through the AWS SDK, exactly as in production but for the endpoint.
 */
import { ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { createDynamoDbRestoreActivities, type RestoreTableFromBackupInput } from '../activities/dynamodb-restore';
import { stageOrdersIncident, type OrdersIncident } from '../demo/orders-incident';
import type { MotoServer } from '../toolchain/moto-server';
import { recoveryWorkflow } from '../workflows';
import { resolveUpdate } from '../workflows/messages';
import type { RecoveryRequest } from '../workflows/request';
import { runActivity } from './helpers/activity';
import { progressWhen, engineWorker } from './helpers/engine';
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

  function restoreRequest(targetTableName = 'orders-restored', backupArn = incident.backupArn): RecoveryRequest {
    return {
      plan: {
        name: 'orders',
        components: [
          {
            id: 'orders-table',
            kind: 'dynamodb-table',
            tableName: 'orders',
            region: 'us-east-1',
            restoreFrom: 'backup',
            backupArn,
            targetTableName,
            cutover: 'none',
            backup: { schedules: [{ type: 'snapshot', cron: '0 3 * * *' }] },
          },
        ],
      },
      scenario: 'full-restore',
    };
  }

  async function withWorker<T>(taskQueue: string, body: (worker: Worker) => Promise<T>): Promise<T> {
    const worker = await engineWorker(env, bundle, taskQueue, aws);
    return worker.runUntil(body(worker));
  }

  it('restores the deleted items into a new table and verifies their count', async () => {
    assert.deepEqual(await restoredOrders('orders'), [], 'the incident emptied the table');

    const report = await withWorker('restore', () =>
      env.client.workflow.execute(recoveryWorkflow, {
        taskQueue: 'restore',
        workflowId: 'restore-orders',
        args: [restoreRequest()],
      }),
    );

    assert.deepEqual(await restoredOrders('orders-restored'), incident.orders);
    assert.equal(report.status, 'succeeded');
    const table = report.components[0]!;
    assert.deepEqual(
      table.steps.map((s) => [s.id, s.status]),
      [
        ['restore', 'succeeded'],
        ['wait-active', 'succeeded'],
        ['validate', 'succeeded'],
      ],
    );
    assert.ok(table.recoveryPoint, 'the time of the backup is the recovery point');
    assert.equal(typeof table.rpo?.achievedMinutes, 'number');
    assert.deepEqual(
      { ...(table.steps[0]!.result as object), tableArn: undefined, recoveryPoint: undefined },
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
    const restore = (input: RestoreTableFromBackupInput) =>
      runActivity((i) => activities.restoreDynamoDbTableFromBackup(i), input);
    const input = { backupArn: incident.backupArn, targetTableName: 'orders-restored' };

    const first = await restore(input);
    const second = await restore(input);

    assert.equal(first.restoredNow, true);
    assert.equal(second.restoredNow, false, 'the second run found the table restored from this backup');
    assert.equal(second.itemCount, incident.orders.length);
    assert.deepEqual((await tableNames()).sort(), ['orders', 'orders-restored']);
  });

  /** Starts a recovery that will stop for an operator, returns what the operator sees, then aborts it. */
  async function operatorSees(taskQueue: string, request: RecoveryRequest) {
    return withWorker(taskQueue, async () => {
      const handle = await env.client.workflow.start(recoveryWorkflow, {
        taskQueue,
        workflowId: taskQueue,
        args: [request],
      });
      const stuck = await progressWhen(handle, (p) => p.pendingDecisions.length > 0);
      await handle.executeUpdate(resolveUpdate, { args: [{ component: 'orders-table', action: 'abort', by: 'test' }] });
      const report = await handle.result();
      assert.equal(report.status, 'aborted');
      return stuck.pendingDecisions[0]!;
    });
  }

  it('never overwrites a table that was not restored from this backup: the operator is told why', async () => {
    const decision = await operatorSees('occupied', restoreRequest('orders'));
    assert.equal(decision.step, 'restore');
    assert.match(
      decision.error,
      /^TargetTableExists: restore DynamoDB table orders from backup .*: table orders already exists and was not restored from this backup/,
    );
    assert.deepEqual(await restoredOrders('orders'), [], 'the existing table was left alone');
  });

  it('stops at once, naming the backup, when the backup does not exist', async () => {
    const missing = `${incident.backupArn.slice(0, -4)}dead`;
    const decision = await operatorSees('missing', restoreRequest('orders-restored', missing));
    assert.match(decision.error, /^restore DynamoDB table orders-restored from backup \S+: BackupNotFoundException: /);
    assert.equal(decision.error.split('BackupNotFoundException').length, 2, 'the error type is said once');
    assert.ok(decision.error.includes(missing), decision.error);
    assert.ok(!(await tableNames()).includes('orders-restored'));
  });
});
