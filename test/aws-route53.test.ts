/** Route 53 failover for real on moto, states moto cannot produce mocked, and a gated recovery on the dev server. */
import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  GetHealthCheckStatusCommand,
  ListResourceRecordSetsCommand,
  Route53ServiceException,
  type ResourceRecordSet,
} from '@aws-sdk/client-route-53';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { mockClient } from 'aws-sdk-client-mock';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { createRoute53Activities } from '../activities/route53';
import type { StepAutomation, StepContext } from '../plan/kinds/define';
import {
  failoverChangeBatch,
  route53FailoverKind,
  schema as route53FailoverSchema,
  type Route53FailoverComponent,
} from '../plan/kinds/route53-failover';
import type { MotoServer } from '../toolchain/moto-server';
import { recoveryWorkflow } from '../workflows';
import { approveUpdate } from '../workflows/messages';
import { runActivity } from './helpers/activity';
import { createHealthCheck, createHostedZone as createZone } from '../demo/aws-region-failover';
import { progressWhen, testPlan, engineWorker } from './helpers/engine';
import { bundleWorkflows, startDevServerEnv, startMoto } from './helpers/servers';

const recover: StepContext = { mode: 'recover', targetTime: 'latest', drillSuffix: '-drill' };
const drill: StepContext = { ...recover, mode: 'drill' };
const PRIMARY_IP = '192.0.2.10';
const SECONDARY_IP = '198.51.100.20';

/** A component failing shop.example.com over to the secondary region. */
const dnsComponent = (hostedZoneId: string, healthChecks: { primary?: string; secondary?: string } = {}, more = {}) =>
  route53FailoverSchema.parse({
    kind: 'route53-failover',
    id: 'dns',
    hostedZoneId,
    recordName: 'shop.example.com',
    primary: { setIdentifier: 'Primary Region', value: PRIMARY_IP, healthCheckId: healthChecks.primary },
    secondary: { setIdentifier: 'Secondary Region', value: SECONDARY_IP, healthCheckId: healthChecks.secondary },
    ...more,
  });

/** What the records hold, as `SetIdentifier Failover value healthCheck`. */
const describeRecords = (sets: ResourceRecordSet[]) =>
  sets
    .filter((r) => r.Failover)
    .map((r) => `${r.SetIdentifier} ${r.Failover} ${r.ResourceRecords?.[0]?.Value} ${r.HealthCheckId ?? '-'}`)
    .sort();

describe('Route 53 failover (moto)', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let zone: string;
  let health: { primary: string; secondary: string };
  /** Commands the activities sent to Route 53 (a middleware on the real client: nothing is mocked). */
  const sent: string[] = [];

  before(async () => {
    moto = await startMoto();
    aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
    aws.route53().middlewareStack.add(
      (next, context) => (args) => {
        sent.push(context.commandName ?? '');
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
  });
  after(() => moto?.stop());
  beforeEach(async () => {
    await moto.reset();
    zone = await createZone(aws);
    health = {
      primary: await createHealthCheck(aws, PRIMARY_IP),
      secondary: await createHealthCheck(aws, SECONDARY_IP),
    };
    const component = dnsComponent(zone, health);
    await aws.route53().send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zone,
        ChangeBatch: failoverChangeBatch(component, component.primary, component.secondary, 'before the incident'),
      }),
    );
    sent.length = 0;
  });

  const records = async () =>
    describeRecords(
      (await aws.route53().send(new ListResourceRecordSetsCommand({ HostedZoneId: zone }))).ResourceRecordSets ?? [],
    );
  const changesSent = () => sent.filter((name) => name === 'ChangeResourceRecordSetsCommand').length;

  /** Runs the automated steps of the kind's runbook, as the engine would, with their inputs. */
  async function runSteps(component: Route53FailoverComponent, context: StepContext, env?: MockActivityEnvironment) {
    const activities = createRoute53Activities(aws);
    const results: Record<string, unknown> = {};
    for (const step of route53FailoverKind.steps(component, context)) {
      if (!step.automation || !('activity' in step.automation)) continue;
      const { activity, input } = step.automation as StepAutomation & { activity: keyof typeof activities };
      results[step.id] = await runActivity((i: never) => activities[activity](i), input as never, env);
    }
    return results;
  }

  it('fails over: sends the manual change batch once, waits for INSYNC, reads the records back', async () => {
    const component = dnsComponent(zone, health);
    const steps = route53FailoverKind.steps(component, recover);
    const change = steps.find((s) => s.id === 'change')!;
    const manualBatch: unknown = JSON.parse(/--change-batch '([^']*)'/.exec(change.command)![1]!);

    const results = await runSteps(component, recover);

    assert.deepEqual(
      (change.automation as StepAutomation).input.changeBatch,
      manualBatch,
      'the same batch as the command',
    );
    assert.equal((results.inspect as { matchesChange: boolean }).matchesChange, false);
    assert.deepEqual((results['check-health'] as { health: unknown }).health, {
      healthCheckId: health.secondary,
      healthy: true,
      success: 1,
      checkers: 1,
    });
    assert.equal((results.change as { changed: boolean }).changed, true);
    assert.match((results.change as { changeId: string }).changeId, /^\/change\/C/);
    assert.deepEqual(await records(), [
      `Primary Region PRIMARY ${SECONDARY_IP} ${health.secondary}`,
      `Secondary Region SECONDARY ${PRIMARY_IP} ${health.primary}`,
    ]);
    assert.equal(changesSent(), 1);
    assert.deepEqual(
      steps.filter((s) => !s.automation || !('activity' in s.automation)).map((s) => [s.id, s.automation]),
      [
        ['wait-insync', { coveredBy: 'change' }],
        ['validate', { coveredBy: 'change' }],
      ],
    );
  });

  it('is idempotent: when the records already carry the values, no change is sent', async () => {
    const component = dnsComponent(zone, health);
    await runSteps(component, recover);
    const failedOver = await records();

    const again = await runSteps(component, recover);

    assert.deepEqual(again.change, { changed: false, records: (again.change as { records: unknown }).records });
    assert.equal((again.inspect as { matchesChange: boolean }).matchesChange, true);
    assert.equal(changesSent(), 1, 'only the first run sent a change');
    assert.deepEqual(await records(), failedOver);
  });

  it('a retry after the change was sent resumes waiting on that change, sending nothing', async () => {
    const component = dnsComponent(zone);
    const first = (await runSteps(component, recover)).change as { changeId: string };
    sent.length = 0;

    const retry = (
      await runSteps(
        component,
        recover,
        new MockActivityEnvironment({ heartbeatDetails: { changeId: first.changeId } }),
      )
    ).change as { changed: boolean; changeId: string };

    assert.deepEqual([retry.changed, retry.changeId], [true, first.changeId]);
    assert.equal(changesSent(), 0);
    assert.ok(sent.includes('GetChangeCommand'), 'it waited for INSYNC');
  });

  it('fails back to the primary', async () => {
    await runSteps(dnsComponent(zone), recover);
    await runSteps(dnsComponent(zone, {}, { failoverTo: 'primary' }), recover);
    assert.deepEqual(await records(), [
      `Primary Region PRIMARY ${PRIMARY_IP} -`,
      `Secondary Region SECONDARY ${SECONDARY_IP} -`,
    ]);
  });

  it('drill: reads the records and the health check, never changes anything', async () => {
    const before = await records();
    const steps = route53FailoverKind.steps(dnsComponent(zone, health), drill);
    assert.ok(
      steps.every((s) => s.automation),
      'a drill runs without a person',
    );

    const results = await runSteps(dnsComponent(zone, health), drill);

    assert.equal((results.inspect as { matchesChange: boolean }).matchesChange, false);
    assert.equal((results['check-health'] as { health: { healthy: boolean } }).health.healthy, true);
    assert.equal(changesSent(), 0);
    assert.deepEqual(await records(), before);
  });

  it('a record the plan names that does not exist stops before any change, naming it', async () => {
    const component = dnsComponent(zone, {}, { secondary: { setIdentifier: 'Secondary Regoin', value: SECONDARY_IP } });
    await assert.rejects(runSteps(component, recover), (error: unknown) => {
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, 'RecordNotFound');
      assert.equal(error.nonRetryable, true);
      assert.match(error.message, /SetIdentifier "Secondary Regoin" not found in hosted zone Z\w+; existing: /);
      return true;
    });
    assert.equal(changesSent(), 0);
  });

  it('a missing hosted zone stops at once, not retryable, naming it', async () => {
    await assert.rejects(runSteps(dnsComponent('ZNOSUCHZONE'), recover), (error: unknown) => {
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, 'NoSuchHostedZone');
      assert.equal(error.nonRetryable, true);
      assert.match(error.message, /hosted zone ZNOSUCHZONE/);
      return true;
    });
  });
});

describe('Route 53 failover: states moto cannot produce', () => {
  const component = dnsComponent('Z0123456789ABC', { secondary: 'hc-secondary' });
  const steps = route53FailoverKind.steps(component, recover);
  const changeInput = (steps.find((s) => s.id === 'change')!.automation as StepAutomation).input as never;
  const batch = failoverChangeBatch(component, component.secondary, component.primary, 'test');
  const listed = (sets: typeof batch.Changes) => ({
    IsTruncated: false,
    ResourceRecordSets: sets.map((c) => ({ ...c.ResourceRecordSet, Name: 'shop.example.com.' })),
  });
  const failedOver = listed(batch.Changes);
  const asBefore = listed(failoverChangeBatch(component, component.primary, component.secondary, 'test').Changes);
  const healthy = { HealthCheckObservations: [{ StatusReport: { Status: 'Success: HTTP Status Code 200' } }] };

  function mocked() {
    const aws = createAwsClients({ region: 'us-east-1' });
    const route53 = mockClient(aws.route53());
    route53.on(GetHealthCheckStatusCommand).resolves(healthy);
    route53
      .on(ChangeResourceRecordSetsCommand)
      .resolves({ ChangeInfo: { Id: '/change/C1', Status: 'PENDING', SubmittedAt: new Date() } });
    return { activities: createRoute53Activities(aws, { pollIntervalMs: 10 }), route53 };
  }

  it('waits while the change is PENDING, heartbeating, until INSYNC (mocked: moto cannot keep a change PENDING)', async () => {
    const { activities, route53 } = mocked();
    route53.on(ListResourceRecordSetsCommand).resolvesOnce(asBefore).resolves(failedOver);
    const pending = { ChangeInfo: { Id: '/change/C1', Status: 'PENDING' as const, SubmittedAt: new Date() } };
    route53
      .on(GetChangeCommand)
      .resolvesOnce(pending)
      .resolvesOnce(pending)
      .resolves({ ChangeInfo: { ...pending.ChangeInfo, Status: 'INSYNC' } });
    const env = new MockActivityEnvironment();
    const heartbeats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => heartbeats.push(d));

    const result = await runActivity((i: never) => activities.changeRoute53Failover(i), changeInput, env);

    assert.deepEqual([result.changed, result.changeId], [true, '/change/C1']);
    assert.equal(route53.commandCalls(GetChangeCommand).length, 3);
    assert.deepEqual(heartbeats.slice(-3), [
      { changeId: '/change/C1', status: 'PENDING' },
      { changeId: '/change/C1', status: 'PENDING' },
      { changeId: '/change/C1', status: 'INSYNC' },
    ]);
  });

  it('stops waiting when cancelled (mocked: moto cannot keep a change PENDING)', async () => {
    const { activities, route53 } = mocked();
    route53.on(ListResourceRecordSetsCommand).resolves(asBefore);
    route53
      .on(GetChangeCommand)
      .resolves({ ChangeInfo: { Id: '/change/C1', Status: 'PENDING', SubmittedAt: new Date() } });
    const env = new MockActivityEnvironment();
    env.on('heartbeat', (d: { status?: string }) => d.status === 'PENDING' && env.cancel());

    await assert.rejects(
      runActivity((i: never) => activities.changeRoute53Failover(i), changeInput, env),
      (error: unknown) => error instanceof CancelledFailure,
    );
    const polls = route53.commandCalls(GetChangeCommand).length;
    await sleep(100);
    assert.equal(route53.commandCalls(GetChangeCommand).length, polls, 'no polling after cancellation');
  });

  it('an unhealthy target fails, retryable, naming its health check; nothing changes (mocked: moto cannot report an unhealthy check)', async () => {
    const { activities, route53 } = mocked();
    route53.on(GetHealthCheckStatusCommand).resolves({
      HealthCheckObservations: [
        { StatusReport: { Status: 'Failure: Connection timed out' } },
        { StatusReport: { Status: 'Failure: Connection timed out' } },
        { StatusReport: { Status: 'Success: HTTP Status Code 200' } },
      ],
    });
    route53.on(ListResourceRecordSetsCommand).resolves(asBefore);

    await assert.rejects(
      runActivity((i: never) => activities.changeRoute53Failover(i), changeInput),
      (error: unknown) => {
        assert.ok(error instanceof ApplicationFailure);
        assert.equal(error.type, 'EndpointUnhealthy');
        assert.equal(error.nonRetryable, false);
        assert.match(
          error.message,
          /^health check hc-secondary of 198\.51\.100\.20 \(PRIMARY after the change\): 1 of 3 Route 53 checkers report success/,
        );
        return true;
      },
    );
    assert.equal(route53.commandCalls(ChangeResourceRecordSetsCommand).length, 0);
  });

  it('access denied names route53:ChangeResourceRecordSets and is not retried (mocked: moto cannot deny access)', async () => {
    const { activities, route53 } = mocked();
    route53.on(ListResourceRecordSetsCommand).resolves(asBefore);
    route53.on(ChangeResourceRecordSetsCommand).rejects(
      new Route53ServiceException({
        name: 'AccessDenied',
        $fault: 'client',
        $metadata: {},
        message: 'not authorized',
      }),
    );

    await assert.rejects(
      runActivity((i: never) => activities.changeRoute53Failover(i), changeInput),
      (error: unknown) => {
        assert.ok(error instanceof ApplicationFailure);
        assert.equal(error.nonRetryable, true);
        assert.match(
          error.message,
          /^change failover records in hosted zone Z0123456789ABC .*: access denied: the worker's role needs route53:ChangeResourceRecordSets/,
        );
        return true;
      },
    );
  });
});

describe('Route 53 failover behind an approval (dev server + moto)', () => {
  let env: TestWorkflowEnvironment;
  let moto: MotoServer;
  let bundle: WorkflowBundleWithSourceMap;
  let aws: AwsClients;

  before(async () => {
    [env, moto, bundle] = await Promise.all([startDevServerEnv(), startMoto(), bundleWorkflows()]);
    aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
  });
  after(async () => {
    await env?.teardown();
    await moto?.stop();
  });

  it('DNS does not change until the gate is approved, then it fails over', async () => {
    const zone = await createZone(aws);
    const hc = await createHealthCheck(aws, SECONDARY_IP);
    const component = dnsComponent(zone, { secondary: hc });
    await aws.route53().send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zone,
        ChangeBatch: failoverChangeBatch(component, component.primary, component.secondary, 'before the incident'),
      }),
    );
    const records = async () =>
      describeRecords(
        (await aws.route53().send(new ListResourceRecordSetsCommand({ HostedZoneId: zone }))).ResourceRecordSets ?? [],
      );
    const before = await records();
    const taskQueue = 'dns-gate';
    const worker = await engineWorker(env, bundle, taskQueue, aws);

    const report = await worker.runUntil(async () => {
      const handle = await env.client.workflow.start(recoveryWorkflow, {
        taskQueue,
        workflowId: 'dns-gate',
        args: [{ plan: testPlan([{ ...component, approval: 'required' }]), scenario: 'full-restore' }],
      });
      await progressWhen(handle, (p) => p.gates.some((g) => g.gate === 'dns' && g.status === 'waiting'));
      await sleep(500);
      assert.deepEqual(await records(), before, 'nothing changes while the gate waits');
      await handle.executeUpdate(approveUpdate, { args: [{ gate: 'dns', by: 'sre-on-call' }] });
      return handle.result();
    });

    assert.equal(report.status, 'succeeded');
    assert.deepEqual(await records(), [
      `Primary Region PRIMARY ${SECONDARY_IP} ${hc}`,
      `Secondary Region SECONDARY ${PRIMARY_IP} -`,
    ]);
    assert.deepEqual(
      report.components[0]!.steps.map((s) => [s.id, s.status, s.automation]),
      [
        ['inspect', 'succeeded', 'activity'],
        ['check-health', 'succeeded', 'activity'],
        ['change', 'succeeded', 'activity'],
        ['wait-insync', 'succeeded', 'covered'],
        ['validate', 'succeeded', 'covered'],
      ],
    );
    assert.equal(report.gates[0]!.by, 'sre-on-call');
  });
});
