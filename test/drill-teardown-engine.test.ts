/**
 * The engine's side of drills, on the time-skipping server with moto: teardown runs as
 * compensation when the drill is cancelled, and a teardown that fails says exactly what is left,
 * where, and the command that removes it, to the people on call.
 */
import { DescribeTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { createActivities, type RecoveryActivities } from '../activities';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import type { RecoveryNotification } from '../activities/notify';
import type { MotoServer } from '../toolchain/moto-server';
import { recoveryWorkflow } from '../workflows';
import { progressQuery } from '../workflows/messages';
import { createPitrTable } from './helpers/aws-fixtures';
import { recordHistory } from './helpers/histories';
import { command, eventually, progressWhen, testPlan, testWorker, TEST_REPORTS_DIR } from './helpers/engine';
import { bundleWorkflows, startMoto, startTimeSkippingEnv } from './helpers/servers';

describe('drill teardown in the engine (time-skipping server, moto)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  let moto: MotoServer;
  let aws: AwsClients;

  before(async () => {
    [env, bundle, moto] = await Promise.all([startTimeSkippingEnv(), bundleWorkflows(), startMoto()]);
    aws = createAwsClients({ endpoint: moto.endpoint, region: 'eu-west-1' });
  });
  after(async () => {
    await env?.teardown();
    await moto?.stop();
  });

  /** Orders restored from PITR into a drill copy, then an app step that runs until cancelled. */
  const plan = (table: string, app: string) =>
    testPlan(
      [
        { id: 'orders', kind: 'dynamodb-table', tableName: table, region: 'eu-west-1' },
        command('app', app, ['orders']),
      ],
      { scenarios: [{ name: 'rehearsal', mode: 'drill' }] },
    );

  /** Real activities against moto, with a scripted `runCommand` (`hang` runs until cancelled) and notifications kept. */
  function activitiesFor(overrides: Partial<RecoveryActivities> = {}) {
    const notifications: RecoveryNotification[] = [];
    const activities: RecoveryActivities = {
      ...createActivities({ aws, plansDir: 'examples', notifications: {}, reportsDir: TEST_REPORTS_DIR }),
      notify: (n) => {
        notifications.push(n);
        return Promise.resolve({ channels: ['test'] });
      },
      async runCommand({ command: script }) {
        // `hang` heartbeats until cancelled, as a long command would.
        const context = Context.current();
        while (script === 'hang' && !context.cancellationSignal.aborted) {
          context.heartbeat();
          await sleep(50);
        }
        if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason;
        return { exitCode: 0, outputTail: '', durationMs: 1 };
      },
      ...overrides,
    };
    return { activities, notifications };
  }

  const tables = async () => (await aws.dynamodb().send(new ListTablesCommand({}))).TableNames ?? [];

  it('tears the drill down when it is cancelled, and says so', async () => {
    await createPitrTable(aws, 'orders-a', 5);
    const { activities, notifications } = activitiesFor();
    const worker = await testWorker(env, bundle, 'drill-cancel', activities);
    await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(recoveryWorkflow, {
        taskQueue: 'drill-cancel',
        workflowId: 'drill-cancel',
        args: [{ plan: plan('orders-a', 'hang'), scenario: 'rehearsal', requestedBy: 'ana@test' }],
      });
      await progressWhen(handle, (p) => p.components.find((c) => c.id === 'app')?.status === 'running', 60_000);
      assert.ok((await tables()).includes('orders-a-drill'), 'the drill restored a copy');
      await handle.cancel();
      const error = await handle.result().then(
        () => assert.fail('the drill was cancelled'),
        (e: unknown) => e,
      );
      assert.ok(error instanceof WorkflowFailedError && error.cause instanceof CancelledFailure);
      const record = await handle.query(progressQuery);
      assert.equal(record.status, 'cancelled');
      assert.deepEqual(
        record.teardown?.map((t) => [t.component, t.status, t.steps.map((s) => s.status)]),
        [['orders', 'done', ['succeeded']]],
      );
      const cancelled = await eventually('the cancelled notification', () =>
        notifications.find((n) => n.event === 'cancelled'),
      );
      assert.match(cancelled.message, /not done: app/);
    });
    assert.deepEqual(await tables(), ['orders-a'], 'only production is left');
  });

  it('a teardown that fails names what is left, where, and how to remove it by hand', async () => {
    await createPitrTable(aws, 'orders-b', 5);
    const { activities, notifications } = activitiesFor({
      deleteDynamoDbDrillTable: () =>
        Promise.reject(
          ApplicationFailure.nonRetryable('User is not authorized to perform: dynamodb:DeleteTable', 'AccessDenied'),
        ),
    });
    const worker = await testWorker(env, bundle, 'drill-leftovers', activities);
    const report = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(recoveryWorkflow, {
        taskQueue: 'drill-leftovers',
        workflowId: 'drill-leftovers',
        args: [{ plan: plan('orders-b', 'ok'), scenario: 'rehearsal' }],
      });
      const result = await handle.result();
      await recordHistory(handle, 'drill-teardown-failed');
      return result;
    });
    assert.equal(report.status, 'succeeded', 'the drill itself passed');
    assert.equal(report.rtoMet, true);
    const [teardown] = report.teardown ?? [];
    assert.equal(teardown?.status, 'failed');
    assert.match(teardown.steps[0]!.error!, /AccessDenied: User is not authorized/);
    assert.deepEqual(
      teardown.left?.map((l) => l.what),
      ['Delete the drill table orders-b-drill in eu-west-1'],
    );
    assert.match(teardown.left[0]!.command, /aws dynamodb .*delete-table --table-name orders-b-drill/);
    const told = notifications.find((n) => n.event === 'drill-teardown-failed');
    assert.match(
      told?.message ?? '',
      /orders: Delete the drill table orders-b-drill in eu-west-1 — not done; by hand: aws/,
    );
    assert.equal(told?.contacts.length, 3, 'everyone hears about leftovers');
    assert.equal(notifications.find((n) => n.event === 'finished')?.severity, 'critical');
    const left = await aws.dynamodb().send(new DescribeTableCommand({ TableName: 'orders-b-drill' }));
    assert.equal(left.Table?.TableName, 'orders-b-drill', 'and it really is still there');
  });
});
