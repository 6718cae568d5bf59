/**
 * Step reports on the time-skipping server: every step a component workflow runs reaches its
 * recovery once, in runbook order, whatever the step (an activity, a durable timer, covered by
 * another, by hand) and however it ends (done, failed, cancelled, skipped or retried by an
 * operator); and no step waits for a report's round trip before its activity or timer starts.
 * With RECORD_HISTORIES=1 it saves these histories, the recovery's and its component workflows',
 * for the replay test.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { componentSchema, type RunbookStep } from '../plan/kinds';
import { componentRecoveryWorkflow, recoveryWorkflow } from '../workflows';
import type { ComponentRunInput, ComponentRunResult } from '../workflows/component';
import { resolveUpdate } from '../workflows/messages';
import type { StepEvent } from '../workflows/progress';
import { command, eventually, progressWhen, scriptedActivities, testPlan, testWorker, waitFor } from './helpers/engine';
import {
  childWorkflowIds,
  recordHistory,
  recordRecoveryHistories,
  signalsPendingAtClose,
  stepEventsReceived,
  stepEventsSignalled,
  workflowTasksToEachWait,
} from './helpers/histories';
import { bundleWorkflows, startTimeSkippingEnv } from './helpers/servers';

/** What a person reads in the progress view, one event per line. */
const lines = (events: StepEvent[], component?: string) =>
  events
    .filter((e) => component === undefined || e.component === component)
    .map((e) => `${e.step} ${e.status}${e.error ? `: ${e.error}` : ''}`);

/** A runbook step the component workflow runs as the scripted `runCommand`. */
const commandStep = (id: string, script: string): RunbookStep => ({
  id,
  title: `Run ${id}`,
  does: script,
  command: script,
  automation: { activity: 'runCommand', input: { command: script }, profile: 'short', writes: [] },
});
const coveredStep = (id: string, coveredBy: string): RunbookStep => ({
  id,
  title: `Check ${id}`,
  does: `covered by ${coveredBy}`,
  command: 'true',
  automation: { coveredBy },
});

/**
 * What the reports cost a component workflow: each activity or timer is scheduled in the workflow
 * task that let its step begin, not one report's round trip later, and no report is left pending
 * when the workflow closes.
 */
function assertReportsWaitForNothing(history: Parameters<typeof workflowTasksToEachWait>[0], name: string) {
  const tasks = workflowTasksToEachWait(history);
  assert.ok(
    tasks.length > 0 && tasks.every((n) => n === 1),
    `${name}: workflow tasks before each wait: ${tasks.join(', ')}`,
  );
  assert.equal(signalsPendingAtClose(history), 0, `${name}: a report was pending when it closed`);
}

describe('step reports of component workflows (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  let queue = 0;

  before(async () => {
    [env, bundle] = await Promise.all([startTimeSkippingEnv(), bundleWorkflows()]);
  });
  after(() => env?.teardown());

  /** Covered steps and a manual one (orders), a step that fails once (schema), a timer (warm). */
  const plan = testPlan([
    {
      id: 'orders',
      kind: 'dynamodb-table',
      tableName: 'orders',
      region: 'us-east-1',
      restoreFrom: 'backup',
      backupArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/01700000000000-abcdefgh',
      targetTableName: 'orders-restored',
    },
    command('schema', 'fail-once:schema', ['orders'], { validate: 'ok' }),
    waitFor('warm', '10m', ['orders']),
    command('app', 'ok', ['schema', 'warm']),
  ]);

  async function withWorker<T>(
    body: (ctx: { taskQueue: string; calls: ReturnType<typeof scriptedActivities>['calls'] }) => Promise<T>,
  ): Promise<T> {
    const taskQueue = `step-reports-${++queue}`;
    const { activities, calls } = scriptedActivities();
    const worker = await testWorker(env, bundle, taskQueue, activities);
    return worker.runUntil(() => body({ taskQueue, calls }));
  }

  /**
   * Runs a component workflow on its own with a hand-made runbook. Its reports go to a recovery
   * held at its start gate (it ignores steps of components it does not have), whose history is
   * then read.
   */
  async function runComponent(
    taskQueue: string,
    id: string,
    steps: RunbookStep[],
    during?: (handle: WorkflowHandle<typeof componentRecoveryWorkflow>) => Promise<void>,
    more: Partial<ComponentRunInput> = { reportsInResult: true },
  ) {
    const receiver = await env.client.workflow.start(recoveryWorkflow, {
      taskQueue,
      workflowId: `receiver-${taskQueue}`,
      args: [{ plan: testPlan([waitFor('elsewhere', '1m')]), scenario: 'full-restore', hold: true }],
    });
    const handle = await env.client.workflow.start(componentRecoveryWorkflow, {
      taskQueue,
      workflowId: `${receiver.workflowId}/${id}/1`,
      args: [
        {
          recoveryId: receiver.workflowId,
          component: componentSchema.parse({ id, kind: 'command', run: 'true' }),
          context: { mode: 'recover', targetTime: 'latest', drillSuffix: '-drill' },
          steps,
          ...more,
        },
      ],
    });
    await during?.(handle);
    const outcome: { result?: ComponentRunResult; error?: unknown } = await handle.result().then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    );
    const received = stepEventsReceived(await receiver.fetchHistory());
    // Cancelled and awaited rather than terminated: terminated while a notification ran, it left
    // the test server unable to skip time for the next test.
    await receiver.cancel();
    await receiver.result().catch(() => undefined);
    return { handle, received, ...outcome };
  }

  it('reports every kind of step in runbook order, up to the failed step, and nothing after it', async () => {
    await withWorker(async ({ taskQueue, calls }) => {
      const { handle, received, result } = await runComponent(taskQueue, 'chain', [
        coveredStep('announce', 'apply'),
        commandStep('apply', 'ok'),
        coveredStep('check', 'apply'),
        {
          id: 'settle',
          title: 'Let it settle',
          does: 'a durable timer',
          command: 'sleep 300',
          automation: { timer: '5m' },
        },
        commandStep('verify', 'fail'),
        commandStep('never', 'ok'),
      ]);
      await recordHistory(handle, 'component-steps-failed');
      assertReportsWaitForNothing(await handle.fetchHistory(), handle.workflowId);
      assert.deepEqual(result?.failed, { step: 'verify', error: 'CommandFailed: this command always fails' });
      assert.equal(result?.ok, false);
      assert.deepEqual(calls.commands, ['ok', 'fail'], 'the step after the failed one never ran');
      const reported = [...received, ...(result?.events ?? [])];
      assert.deepEqual(lines(reported), [
        'announce running',
        'apply running',
        'apply succeeded',
        'announce succeeded',
        'check succeeded',
        'settle running',
        'settle succeeded',
        'verify running',
        'verify failed: CommandFailed: this command always fails',
      ]);
      assert.deepEqual(
        reported.filter((e) => e.status === 'succeeded' && e.step !== 'settle').map((e) => e.result),
        [{ exitCode: 0, outputTail: '', durationMs: 1 }, { coveredBy: 'apply' }, { coveredBy: 'apply' }],
      );
      const [running, done] = reported.filter((e) => e.step === 'settle').map((e) => Date.parse(e.at));
      assert.ok(
        done! - running! >= 5 * 60_000 && done! - running! < 6 * 60_000,
        `the timer step took ${done! - running!} ms`,
      );
    });
  });

  it('a run of a recovery that does not read reports in results (an older worker) signals every report first', async () => {
    await withWorker(async ({ taskQueue }) => {
      const { handle, received, result } = await runComponent(
        taskQueue,
        'older',
        [commandStep('apply', 'ok'), coveredStep('check', 'apply')],
        undefined,
        {},
      );
      assert.equal(result?.ok, true);
      assert.equal(result?.events, undefined, 'nothing left for the result');
      assert.deepEqual(lines(received), ['apply running', 'apply succeeded', 'check succeeded']);
      assertReportsWaitForNothing(await handle.fetchHistory(), handle.workflowId);
    });
  });

  it('reports a cancelled step, and the steps it covers, before the component workflow ends', async () => {
    await withWorker(async ({ taskQueue, calls }) => {
      const { handle, received, error } = await runComponent(
        taskQueue,
        'copy',
        [coveredStep('announce', 'copy'), commandStep('prepare', 'ok'), commandStep('copy', 'hang')],
        async (child) => {
          await eventually('the copy running', () => (calls.commands.includes('hang') ? true : undefined));
          await child.cancel();
        },
      );
      await recordHistory(handle, 'component-steps-cancelled');
      assertReportsWaitForNothing(await handle.fetchHistory(), handle.workflowId);
      assert.ok(error instanceof WorkflowFailedError && error.cause instanceof CancelledFailure, String(error));
      assert.deepEqual(calls.cancelled, ['hang'], 'the activity stopped');
      assert.deepEqual(lines(received), [
        'announce running',
        'prepare running',
        'prepare succeeded',
        'copy running',
        'copy cancelled',
        'announce cancelled',
      ]);
    });
  });

  it('a recovery applies each component’s reports in order, across runs, skips and retries', async () => {
    await withWorker(async ({ taskQueue, calls }) => {
      const handle = await env.client.workflow.start(recoveryWorkflow, {
        taskQueue,
        workflowId: `recovery-${taskQueue}`,
        args: [{ plan, scenario: 'full-restore' }],
      });
      await progressWhen(handle, (p) => p.pendingDecisions.some((d) => d.component === 'orders'));
      await handle.executeUpdate(resolveUpdate, {
        args: [{ component: 'orders', action: 'skip', by: 'ana', comment: 'services pointed by hand' }],
      });
      await progressWhen(handle, (p) => p.pendingDecisions.some((d) => d.component === 'schema'));
      await handle.executeUpdate(resolveUpdate, { args: [{ component: 'schema', action: 'retry', by: 'ana' }] });
      const report = await handle.result();
      await recordRecoveryHistories(env.client, handle, 'recovery-steps');

      assert.equal(report.status, 'succeeded');
      assert.deepEqual(calls.commands, ['fail-once:schema', 'fail-once:schema', 'ok', 'ok']);
      const history = await handle.fetchHistory();
      assert.deepEqual(childWorkflowIds(history), [
        `${handle.workflowId}/orders/1`,
        `${handle.workflowId}/schema/1`,
        `${handle.workflowId}/warm/1`,
        `${handle.workflowId}/schema/2`,
        `${handle.workflowId}/app/1`,
      ]);
      const received = stepEventsReceived(history);
      assert.deepEqual(lines(received, 'orders'), [
        'restore running',
        'restore succeeded',
        'wait-active succeeded',
        'validate succeeded',
        'cut-over failed: manual step: run the command by hand, then resolve with skip',
      ]);
      assert.deepEqual(lines(received, 'schema'), [
        'run running',
        'run failed: CommandFailed: fail-once:schema failed on purpose',
        'run running',
        'run succeeded',
        'validate running',
        'validate succeeded',
      ]);
      assert.deepEqual(lines(received, 'warm'), ['wait running', 'wait succeeded']);
      assert.deepEqual(lines(received, 'app'), ['run running', 'run succeeded']);

      // The record the report gives, built from those events.
      const steps = (id: string) =>
        report.components.find((c) => c.id === id)!.steps.map((s) => [s.id, s.status, s.attempts]);
      assert.deepEqual(steps('orders'), [
        ['restore', 'succeeded', 1],
        ['wait-active', 'succeeded', 0],
        ['validate', 'succeeded', 0],
        ['cut-over', 'skipped', 0],
      ]);
      assert.deepEqual(steps('schema'), [
        ['run', 'succeeded', 2],
        ['validate', 'succeeded', 1],
      ]);
      assert.deepEqual(steps('warm'), [['wait', 'succeeded', 1]]);
      assert.deepEqual(steps('app'), [['run', 'succeeded', 1]]);
      for (const id of childWorkflowIds(history)) {
        const child = await env.client.workflow.getHandle(id).fetchHistory();
        assert.ok(stepEventsSignalled(child).length > 0, `${id} reported`);
        assertReportsWaitForNothing(child, id);
      }
    });
  });

  it('a simulated recovery reports the same way: a failed first step, the operator’s retry, every step', async () => {
    await withWorker(async ({ taskQueue }) => {
      const handle = await env.client.workflow.start(recoveryWorkflow, {
        taskQueue,
        workflowId: `simulated-${taskQueue}`,
        args: [{ plan, scenario: 'full-restore', simulation: { fail: { schema: 6 } } }],
      });
      const report = await handle.result();
      await recordRecoveryHistories(env.client, handle, 'simulated-recovery-steps');

      assert.equal(report.status, 'succeeded');
      const received = stepEventsReceived(await handle.fetchHistory());
      assert.deepEqual(lines(received, 'orders'), [
        'restore running',
        'restore succeeded',
        'wait-active succeeded',
        'validate succeeded',
        'cut-over running',
        'cut-over succeeded',
      ]);
      assert.deepEqual(lines(received, 'schema'), [
        'run running',
        'run failed: SimulatedFailure: simulated failure 5 of 6 in step run',
        'run running',
        'run succeeded',
        'validate running',
        'validate succeeded',
      ]);
      assert.deepEqual(lines(received, 'app'), ['run running', 'run succeeded']);
      for (const id of childWorkflowIds(await handle.fetchHistory()))
        assertReportsWaitForNothing(await env.client.workflow.getHandle(id).fetchHistory(), id);
    });
  });
});
