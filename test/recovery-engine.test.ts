/**
 * The recovery engine on the time-skipping test server: hours of recovery in seconds. Activities are
 * scripted mocks typed like the real ones; plans are real, validated by the real activity.
 */
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { recoveryWorkflow } from '../workflows';
import { alertSignal, approveUpdate, progressQuery, resolveUpdate } from '../workflows/messages';
import type { RecoveryProgress } from '../workflows/progress';
import type { RecoveryRequest } from '../workflows/request';
import {
  command,
  minutesBetween,
  progressWhen,
  eventually,
  scriptedActivities,
  testPlan,
  testWorker,
  waitFor,
} from './helpers/engine';
import { recordHistory } from './helpers/histories';
import { bundleWorkflows, startTimeSkippingEnv } from './helpers/servers';

describe('recovery engine (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  let queue = 0;

  before(async () => {
    [env, bundle] = await Promise.all([startTimeSkippingEnv(), bundleWorkflows()]);
  });
  after(() => env?.teardown());

  /** Runs `body` with a fresh task queue, a worker with scripted activities, and a started recovery. */
  async function withRecovery<T>(
    request: RecoveryRequest,
    body: (ctx: {
      handle: Awaited<ReturnType<typeof env.client.workflow.start<typeof recoveryWorkflow>>>;
      calls: ReturnType<typeof scriptedActivities>['calls'];
    }) => Promise<T>,
  ): Promise<T> {
    const taskQueue = `engine-${++queue}`;
    const { activities, calls } = scriptedActivities();
    const worker = await testWorker(env, bundle, taskQueue, activities);
    return worker.runUntil(async () => {
      const handle = await env.client.workflow.start(recoveryWorkflow, {
        taskQueue,
        workflowId: `recovery-${taskQueue}`,
        args: [request],
      });
      return body({ handle, calls });
    });
  }

  const events = (calls: { notifications: { event: string; message: string }[] }, event: string) =>
    calls.notifications.filter((n) => n.event === event).map((n) => n.message);
  const component = (report: RecoveryProgress, id: string) => report.components.find((c) => c.id === id)!;

  it('recovers a plan of four hours of work inside its RTO, in seconds of wall time', async () => {
    const wallStart = Date.now();
    await withRecovery(
      {
        plan: testPlan([
          waitFor('restore-db', '1h'),
          waitFor('restore-files', '1h'),
          waitFor('warm-cache', '2h', ['restore-db']),
          command('deploy-app', 'ok', ['warm-cache', 'restore-files']),
          waitFor('dns-ttl', '30m', ['deploy-app']),
        ]),
        scenario: 'full-restore',
      },
      async ({ handle, calls }) => {
        const report = await handle.result();
        await recordHistory(handle, 'four-hour-plan');
        assert.equal(report.status, 'succeeded');
        assert.equal(report.rtoMet, true);
        assert.ok(report.elapsedMinutes >= 210 && report.elapsedMinutes < 240, `took ${report.elapsedMinutes} minutes`);
        assert.equal(
          Math.round(minutesBetween(report.startedAt, component(report, 'deploy-app').startedAt)),
          180,
          'after the 1h + 2h chain',
        );
        assert.ok(report.components.every((c) => c.status === 'succeeded' && c.rto.met === true));
        assert.deepEqual(calls.commands, ['ok']);
        assert.equal(events(calls, 'rto-threshold').length, 2, '50 % at 2h and 75 % at 3h; done before 90 %');
        assert.deepEqual(events(calls, 'rto-projected-overrun'), []);
        assert.ok(Date.now() - wallStart < 60_000);
      },
    );
  });

  it('notifies each RTO threshold exactly once, and the projected overrun as soon as it shows', async () => {
    await withRecovery(
      {
        plan: testPlan([waitFor('slow-restore', '90m'), waitFor('slower-sync', '1h', ['slow-restore'])], {
          objectives: { rto: '2h' },
        }),
        scenario: 'full-restore',
      },
      async ({ handle, calls }) => {
        const report = await handle.result();
        assert.equal(report.status, 'succeeded');
        assert.equal(report.rtoMet, false);
        assert.deepEqual(events(calls, 'rto-threshold'), [
          '50 % of the 2h RTO used; projected finish after 2h30m',
          '75 % of the 2h RTO used; projected finish after 2h30m',
          '90 % of the 2h RTO used; projected finish after 2h30m',
          '100 % of the 2h RTO used; projected finish after 2h30m',
        ]);
        const overrun = calls.notifications.filter((n) => n.event === 'rto-projected-overrun');
        assert.equal(overrun.length, 1);
        assert.equal(overrun[0]!.severity, 'critical');
        assert.equal(overrun[0]!.contacts.length, 3, 'everyone is called');
        const [first] = report.notifications.filter((n) => n.event === 'rto-projected-overrun');
        assert.ok(minutesBetween(report.startedAt, first!.at) < 1, 'known from the estimates before anything ran');
      },
    );
  });

  it('starts a branch as soon as its own dependencies finish, while a slower sibling still runs', async () => {
    await withRecovery(
      {
        plan: testPlan([
          waitFor('config', '10m'),
          waitFor('big-restore', '2h'),
          waitFor('app', '20m', ['config']),
          waitFor('reports', '10m', ['big-restore', 'app']),
        ]),
        scenario: 'full-restore',
      },
      async ({ handle }) => {
        const report = await handle.result();
        const at = (id: string) => Math.round(minutesBetween(report.startedAt, component(report, id).startedAt));
        const done = (id: string) => Math.round(minutesBetween(report.startedAt, component(report, id).finishedAt));
        assert.equal(at('app'), 10, 'app starts when config is done, not when its stage is');
        assert.equal(done('app'), 30);
        assert.equal(done('big-restore'), 120, 'while the sibling restore still ran');
        assert.equal(at('reports'), 120);
      },
    );
  });

  it('holds a gate until a person approves it, escalating while nobody does', async () => {
    await withRecovery(
      {
        plan: testPlan([command('restore', 'ok'), command('flip-dns', 'ok', ['restore'], { approval: 'required' })]),
        scenario: 'full-restore',
      },
      async ({ handle, calls }) => {
        await progressWhen(handle, (p) => p.status !== 'loading');
        await assert.rejects(
          handle.executeUpdate(approveUpdate, { args: [{ gate: 'restore', by: 'ana' }] }),
          (error: unknown) => {
            assert.ok(error instanceof WorkflowUpdateFailedError);
            assert.match(String(error.cause?.message), /unknown gate "restore"; gates of this recovery: flip-dns/);
            return true;
          },
        );
        const waiting = await progressWhen(handle, (p) => p.gates[0]?.status === 'waiting');
        assert.equal(component(waiting, 'flip-dns').status, 'waiting-approval');
        assert.equal(waiting.status, 'waiting', 'the recovery says it waits for a person');
        const searchable = (await handle.describe()).typedSearchAttributes
          .getAll()
          .find((p) => p.key.name === 'RecoveryStatus');
        assert.equal(searchable?.value, 'waiting');
        assert.deepEqual(calls.commands, ['ok'], 'nothing behind the gate ran');

        await env.sleep('45m');
        const escalated = await handle.query(progressQuery);
        assert.deepEqual(escalated.gates[0]!.escalatedTo, ['Ben (lead)']);
        const escalation = await eventually('the escalation notification', () =>
          calls.notifications.find((n) => n.event === 'approval-escalated'),
        );
        assert.equal(events(calls, 'approval-escalated').length, 1);
        assert.equal(escalation.contacts[0]!.name, 'Ben (lead)');

        const answer = await handle.executeUpdate(approveUpdate, {
          args: [{ gate: 'flip-dns', by: 'ana', comment: 'secondary healthy' }],
        });
        assert.equal(answer, 'approved flip-dns by ana');
        const report = await handle.result();
        assert.equal(report.status, 'succeeded');
        assert.deepEqual(
          { ...report.gates[0], openedAt: undefined, decidedAt: undefined },
          {
            gate: 'flip-dns',
            status: 'approved',
            by: 'ana',
            comment: 'secondary healthy',
            escalatedTo: ['Ben (lead)'],
            openedAt: undefined,
            decidedAt: undefined,
          },
        );
        assert.ok(minutesBetween(report.gates[0]!.openedAt!, report.gates[0]!.decidedAt) >= 45);
        await assert.rejects(handle.executeUpdate(approveUpdate, { args: [{ gate: 'flip-dns', by: 'ben' }] }));
      },
    );
  });

  it('holds an alarm-started recovery at the start gate until approved, recording the incident’s alerts', async () => {
    await withRecovery(
      {
        plan: testPlan([command('db', 'ok')]),
        scenario: 'full-restore',
        hold: true,
        requestedBy: 'alert:alertmanager/DatabaseDown',
      },
      async ({ handle, calls }) => {
        const held = await progressWhen(handle, (p) => p.gates[0]?.status === 'waiting');
        assert.equal(held.gates[0]!.gate, 'start');
        assert.equal(component(held, 'db').status, 'pending', 'nothing runs before the yes');
        const alert = { source: 'alertmanager' as const, name: 'DatabaseDown', at: '2026-11-21T12:00:00.000Z' };
        await handle.signal(alertSignal, { ...alert, status: 'firing', summary: 'db is down' });
        await handle.signal(alertSignal, { ...alert, status: 'firing' });
        await env.sleep('10m');
        assert.deepEqual(calls.commands, []);
        await handle.signal(alertSignal, { ...alert, status: 'resolved', at: '2026-11-21T12:30:00.000Z' });
        await handle.executeUpdate(approveUpdate, { args: [{ gate: 'start', by: 'ana', comment: 'real outage' }] });
        const report = await handle.result();
        assert.equal(report.status, 'succeeded');
        assert.equal(report.requestedBy, 'alert:alertmanager/DatabaseDown');
        assert.deepEqual(pickGate(report.gates[0]!), { gate: 'start', status: 'approved', by: 'ana' });
        assert.deepEqual(calls.commands, ['ok']);
        const alerts = (await handle.query(progressQuery)).alerts;
        assert.deepEqual(
          { ...alerts, latest: alerts?.latest.map((a) => [a.status, a.summary]) },
          {
            received: 3,
            firing: 2,
            resolved: 1,
            latest: [
              ['firing', 'db is down'],
              ['firing', undefined],
              ['resolved', undefined],
            ],
          },
        );
      },
    );
  });

  it('hands a failing step to an operator, and retries it when told', async () => {
    await withRecovery(
      { plan: testPlan([command('db', 'fail-once:db'), command('app', 'ok', ['db'])]), scenario: 'full-restore' },
      async ({ handle, calls }) => {
        const stuck = await progressWhen(handle, (p) => p.pendingDecisions.length > 0);
        assert.deepEqual(stuck.pendingDecisions, [
          { component: 'db', step: 'run', error: 'CommandFailed: fail-once:db failed on purpose' },
        ]);
        assert.equal(component(stuck, 'db').status, 'needs-operator');
        assert.equal(component(stuck, 'app').status, 'pending', 'its dependent waits');
        assert.match(
          await eventually('the needs-operator notification', () => events(calls, 'needs-operator')[0]),
          /db stopped at step "run": .* recovery resolve recovery-engine-\d+ db retry\|skip\|abort/,
        );
        await assert.rejects(
          handle.executeUpdate(resolveUpdate, { args: [{ component: 'app', action: 'retry', by: 'ana' }] }),
          (error: unknown) => {
            assert.match(
              String((error as WorkflowUpdateFailedError).cause?.message),
              /"app" does not need an operator; components waiting for a decision: db/,
            );
            return true;
          },
        );

        await handle.executeUpdate(resolveUpdate, {
          args: [{ component: 'db', action: 'retry', by: 'ana', comment: 'disk freed' }],
        });
        const report = await handle.result();
        await recordHistory(handle, 'operator-retry');
        assert.equal(report.status, 'succeeded');
        assert.equal(component(report, 'db').runs, 2);
        assert.deepEqual(calls.commands, ['fail-once:db', 'fail-once:db', 'ok']);
        assert.deepEqual(
          report.decisions.map((d) => [d.component, d.step, d.action, d.by, d.comment]),
          [['db', 'run', 'retry', 'ana', 'disk freed']],
        );
      },
    );
  });

  it('skips a step on the operator’s word and goes on; the record says who', async () => {
    await withRecovery(
      {
        plan: testPlan([command('db', 'fail', [], { validate: 'ok' }), command('app', 'ok', ['db'])]),
        scenario: 'full-restore',
      },
      async ({ handle, calls }) => {
        await progressWhen(handle, (p) => p.pendingDecisions.length > 0);
        await handle.executeUpdate(resolveUpdate, {
          args: [{ component: 'db', action: 'skip', by: 'ana', comment: 'restored by hand' }],
        });
        const report = await handle.result();
        assert.equal(report.status, 'succeeded');
        const db = component(report, 'db');
        assert.deepEqual(
          db.steps.map((s) => [s.id, s.status, s.actor]),
          [
            ['run', 'skipped', 'ana'],
            ['validate', 'succeeded', undefined],
          ],
        );
        assert.deepEqual(calls.commands, ['fail', 'ok', 'ok'], 'the validate step and the app ran after the skip');
      },
    );
  });

  it('treats a step without automation as manual: an operator does it and says so', async () => {
    // The restore is automated (scripted here); pointing the services at the new table is not.
    const manual = {
      id: 'orders-table',
      kind: 'dynamodb-table',
      tableName: 'orders',
      region: 'us-east-1',
      restoreFrom: 'backup',
      backupArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/01700000000000-abcdefgh',
      targetTableName: 'orders-restored',
    };
    await withRecovery({ plan: testPlan([manual]), scenario: 'full-restore' }, async ({ handle }) => {
      const stuck = await progressWhen(handle, (p) => p.pendingDecisions.length > 0);
      assert.equal(stuck.pendingDecisions[0]!.step, 'cut-over');
      assert.match(stuck.pendingDecisions[0]!.manualCommand!, /orders-restored/);
      const steps = stuck.components[0]!.steps;
      assert.equal(steps.find((s) => s.id === 'restore')!.status, 'succeeded');
      assert.equal(steps.find((s) => s.id === 'cut-over')!.automation, 'manual');
    });
  });

  it('aborts on the operator’s word: running steps stop, the rest never starts, the record says what was done', async () => {
    await withRecovery(
      {
        plan: testPlan([
          command('db', 'fail'),
          command('long-copy', 'hang'),
          command('app', 'ok', ['db', 'long-copy']),
        ]),
        scenario: 'full-restore',
      },
      async ({ handle, calls }) => {
        await progressWhen(
          handle,
          (p) => p.pendingDecisions.length > 0 && component(p, 'long-copy').status === 'running',
        );
        await handle.executeUpdate(resolveUpdate, {
          args: [{ component: 'db', action: 'abort', by: 'ana', comment: 'wrong backup' }],
        });
        const report = await handle.result();
        assert.equal(report.status, 'aborted');
        assert.deepEqual(
          report.components.map((c) => [c.id, c.status]),
          [
            ['db', 'failed'],
            ['long-copy', 'cancelled'],
            ['app', 'not-started'],
          ],
        );
        assert.deepEqual(calls.cancelled, ['hang'], 'the running command saw the cancellation');
        assert.equal(report.rtoMet, false);
      },
    );
  });

  it('stops cleanly when the workflow is cancelled mid-step, and records what was and was not done', async () => {
    await withRecovery(
      {
        plan: testPlan([
          command('quick', 'ok'),
          command('long-copy', 'hang', ['quick']),
          command('app', 'ok', ['long-copy']),
        ]),
        scenario: 'full-restore',
      },
      async ({ handle, calls }) => {
        await progressWhen(
          handle,
          (p) => component(p, 'long-copy').status === 'running' && calls.commands.includes('hang'),
        );
        await handle.cancel();
        await assert.rejects(
          handle.result(),
          (error: unknown) => error instanceof WorkflowFailedError && error.cause instanceof CancelledFailure,
        );
        const record = await handle.query(progressQuery);
        assert.equal(record.status, 'cancelled');
        assert.deepEqual(
          record.components.map((c) => [c.id, c.status]),
          [
            ['quick', 'succeeded'],
            ['long-copy', 'cancelled'],
            ['app', 'not-started'],
          ],
        );
        assert.deepEqual(calls.cancelled, ['hang']);
        assert.deepEqual(events(calls, 'cancelled'), ['cancelled; done: quick; not done: long-copy, app']);
      },
    );
  });

  it('rejects a bad request before anything runs, naming each bad field', async () => {
    const bad = { plan: 'agama', scenario: '', incident: { id: 'INC-1', detectedAt: 'yesterday' } } as RecoveryRequest;
    await withRecovery(bad, async ({ handle, calls }) => {
      await assert.rejects(handle.result(), (error: unknown) => {
        const failure = (error as WorkflowFailedError).cause as ApplicationFailure;
        assert.equal(failure.type, 'InvalidRecoveryRequest');
        assert.match(failure.message, /scenario: name the scenario to run/);
        assert.match(failure.message, /incident\.detectedAt: expected an ISO-8601 time/);
        return true;
      });
      assert.deepEqual(calls.notifications, []);
    });
  });

  it('loads a plan by name from the plans directory, and names the plans there when it is unknown', async () => {
    await withRecovery({ plan: 'agama-compliant', scenario: 'no-such-scenario' }, async ({ handle }) => {
      await assert.rejects(handle.result(), (error: unknown) => {
        assert.match(
          String(((error as WorkflowFailedError).cause?.cause as Error | undefined)?.message),
          /plan "agama-compliant" has no scenario "no-such-scenario" \(use one of full-restore, database-restore, monthly-restore-test\)/,
        );
        return true;
      });
    });
    await withRecovery({ plan: 'agam', scenario: 'full-restore' }, async ({ handle }) => {
      await assert.rejects(handle.result(), (error: unknown) => {
        assert.match(
          String(((error as WorkflowFailedError).cause?.cause as Error | undefined)?.message),
          /no plan "agam" in the worker's plans directory .*examples \(plans there: agama, agama-compliant, aws-region-failover\)/,
        );
        return true;
      });
    });
  });

  it('starts the RTO clock at the incident and reports the achieved RPO of restored data', async () => {
    // The time-skipping server's clock runs ahead of the wall clock: the incident is 90 minutes before *its* now.
    const detectedAt = new Date((await env.currentTimeMs()) - 90 * 60_000).toISOString();
    const orders = {
      id: 'orders',
      kind: 'dynamodb-table',
      tableName: 'orders',
      region: 'us-east-1',
      restoreFrom: 'backup',
      backupArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/01700000000000-abcdef12',
      cutover: 'none',
      backup: { schedules: [{ type: 'snapshot', cron: '10 16 * * *' }] },
    };
    await withRecovery(
      {
        plan: testPlan([orders]),
        scenario: 'full-restore',
        incident: { id: 'INC-42', detectedAt, source: 'pagerduty' },
      },
      async ({ handle, calls }) => {
        const report = await handle.result();
        assert.equal(report.clockStartedAt, detectedAt);
        assert.ok(report.elapsedMinutes >= 90, 'the clock counts from detection');
        const restored = component(report, 'orders');
        assert.equal(restored.recoveryPoint, '2026-11-20T16:10:00.000Z');
        assert.equal(
          restored.rpo!.achievedMinutes,
          Math.max(0, minutesBetween('2026-11-20T16:10:00.000Z', detectedAt)),
        );
        assert.equal(events(calls, 'rto-threshold').length, 0, 'inside 50 % of 4h');
        const description = await handle.describe();
        assert.deepEqual(
          description.typedSearchAttributes
            .getAll()
            .map((pair) => [pair.key.name, pair.value])
            // Temporal's own: the patches the run took (patched()).
            .filter(([name]) => name !== 'TemporalChangeVersion')
            .sort(),
          [
            ['RecoveryIncident', 'INC-42'],
            ['RecoveryPlan', 'test-plan'],
            ['RecoveryScenario', 'full-restore'],
            ['RecoveryStatus', 'succeeded'],
          ],
        );
      },
    );
  });
});

const pickGate = ({ gate, status, by }: RecoveryProgress['gates'][number]) => ({ gate, status, by });
