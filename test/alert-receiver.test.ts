/**
 * The alert receiver (`recovery serve`) over real HTTP on loopback, starting recoveries on the dev
 * server, run by a worker of scripted activities with the same plans directory: Alertmanager,
 * CloudWatch through SNS (signed with a certificate of the test's own, served through an injected
 * certificate source) and signed webhooks; a storm of 1,000 identical alerts; forged, replayed,
 * malformed and oversized requests; a trigger that needs approval; rate limits and reloads.
 */
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { createPlanActivities } from '../activities/plans';
import { serveCommand } from '../cli/commands/serve';
import { UsageError } from '../cli/result';
import { alertsFromAlertmanager } from '../triggers/alertmanager';
import { signGeneric } from '../triggers/generic';
import { PlanRegistry } from '../triggers/plan-registry';
import { buildAlertReceiver, LISTEN_BACKLOG, type AlertReceiverOptions } from '../triggers/server';
import { stringToSign, type SnsMessage } from '../triggers/sns';
import { incidentIdOf } from '../triggers/start-recovery-from-alert';
import type { recoveryWorkflow } from '../workflows';
import { approveUpdate, progressQuery } from '../workflows/messages';
import { once } from './helpers/cleanup';
import { command, progressWhen, scriptedActivities, testPlan, testWorker, waitFor } from './helpers/engine';
import { bundleWorkflows, startDevServerEnv } from './helpers/servers';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-alerts-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
const plansDir = join(scratch, 'plans');

const TOKEN = 'am-token-0123456789';
const METRICS_TOKEN = 'metrics-token-0123456789';
const SECRET = 'webhook-secret-0123456789';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:recovery-alarms';
const CERT_URL = 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem';

/** The plan of these tests: `db` runs at once, `soak` waits an hour, so a started recovery keeps running. */
function writePlan(name: string, triggers: Record<string, unknown>[]) {
  writeFileSync(
    join(plansDir, `${name}.yaml`),
    stringify({
      ...testPlan([command('db', 'ok'), waitFor('soak', '1h', ['db'])]),
      name,
      scenarios: [
        { name: 'full-restore', components: ['db', 'soak'] },
        { name: 'database-restore', components: ['db', 'soak'] },
      ],
      triggers,
    }),
  );
}

/** A self-signed RSA certificate standing in for SNS's signing certificate. */
function testCertificate(): { pem: string; key: string } {
  const keyFile = join(scratch, 'sns.key');
  const certFile = join(scratch, 'sns.pem');
  execFileSync(
    'openssl',
    [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile,
      '-days', '2', '-subj', '/CN=sns.amazonaws.com',
    ],
    { stdio: 'ignore' },
  ); // prettier-ignore
  return { pem: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}

/** An Alertmanager webhook notification (version 4) of one group. */
function alertmanager(
  alertname: string,
  {
    group = alertname,
    status = 'firing',
    startsAt = '2026-11-21T10:05:00.123456789Z',
    summary,
  }: { group?: string; status?: 'firing' | 'resolved'; startsAt?: string; summary?: string } = {},
) {
  return {
    version: '4',
    groupKey: `{}:{alertname="${group}"}`,
    status,
    receiver: 'recovery-engine',
    groupLabels: { alertname },
    commonLabels: { alertname, severity: 'critical' },
    commonAnnotations: {},
    externalURL: 'http://alertmanager.internal:9093',
    alerts: [
      {
        status,
        labels: { alertname, severity: 'critical', instance: 'db-1:9100' },
        annotations: summary ? { summary } : {},
        startsAt,
        endsAt: status === 'resolved' ? '2026-11-21T12:30:00Z' : '0001-01-01T00:00:00Z',
        generatorURL: 'http://prometheus.internal:9090/graph',
      },
    ],
  };
}

describe('alert receiver (dev server, real HTTP)', () => {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let working: Promise<void>;
  let base: string;
  let certificate: { pem: string; key: string };
  const certificateRequests: string[] = [];
  const confirmed: string[] = [];
  const stops: (() => Promise<void>)[] = [];
  const commands = () => calls.commands.length;
  let calls: ReturnType<typeof scriptedActivities>['calls'];

  /** A receiver on 127.0.0.1:<free port>, closed after the tests. */
  async function receiver(more: Partial<AlertReceiverOptions> = {}): Promise<{ app: FastifyInstance; base: string }> {
    const log = pino({ level: 'silent' });
    const plans = new PlanRegistry(plansDir, log);
    await plans.reload();
    const server = buildAlertReceiver({
      temporal: { client: env.client, namespace: env.namespace ?? 'default', taskQueue: 'alerts' },
      plans,
      auth: { alertmanagerToken: TOKEN, webhookSecret: SECRET, metricsToken: METRICS_TOKEN, snsTopicArns: [TOPIC] },
      certificates: (url) => {
        certificateRequests.push(url);
        return Promise.resolve(certificate.pem);
      },
      confirmSubscription: (url) => {
        confirmed.push(url);
        return Promise.resolve();
      },
      limits: { rate: { burst: 5_000, perSecond: 1_000 } },
      logger: log,
      ...more,
    });
    await server.listen({ host: '127.0.0.1', port: 0, backlog: LISTEN_BACKLOG });
    stops.push(once(() => server.close()));
    return { app: server, base: `http://127.0.0.1:${(server.server.address() as AddressInfo).port}` };
  }

  before(async () => {
    certificate = testCertificate();
    execFileSync('mkdir', ['-p', plansDir]);
    writePlan('shop', [
      { source: 'alertmanager', match: { alertname: 'ShopDbDown' }, scenario: 'full-restore' },
      {
        source: 'alertmanager',
        match: { alertname: 'ShopDbCorrupt' },
        scenario: 'database-restore',
        requireApproval: true,
      },
      { source: 'cloudwatch', match: { alarmName: 'shop-db-unreachable' }, scenario: 'full-restore' },
      { source: 'cloudwatch', match: { alarmName: 'shop-db-latency' }, scenario: 'full-restore' },
      { source: 'generic', match: { name: 'shop-db-down' }, scenario: 'full-restore' },
    ]);
    let bundle;
    [env, bundle] = await Promise.all([startDevServerEnv(), bundleWorkflows()]);
    const scripted = scriptedActivities();
    calls = scripted.calls;
    // The worker reads the plans from the receiver's directory: a recovery names its plan.
    worker = await testWorker(env, bundle, 'alerts', { ...scripted.activities, ...createPlanActivities(plansDir) });
    working = worker.run();
    ({ base } = await receiver());
  });

  after(async () => {
    for (const stop of stops) await stop();
    if (worker) {
      worker.shutdown();
      await working;
    }
    await env?.teardown();
  });

  const handleOf = (id: string) => env.client.workflow.getHandle<typeof recoveryWorkflow>(id);

  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const postAlertmanager = (body: unknown, token = TOKEN) =>
    post('/alerts/alertmanager', body, { authorization: `Bearer ${token}` });

  /** Workflow ids a visibility query lists, polled until the answer is stable (visibility is eventually consistent). */
  async function listed(query: string, nonEmpty = false): Promise<string[]> {
    let last: string[] = [];
    for (let stable = 0, i = 0; stable < 3 && i < 100; i++) {
      const ids: string[] = [];
      for await (const w of env.client.workflow.list({ query })) ids.push(w.workflowId);
      ids.sort();
      stable = (!nonEmpty || ids.length > 0) && ids.join() === last.join() ? stable + 1 : 0;
      last = ids;
      await sleep(100);
    }
    return last;
  }
  /** Recoveries of an incident. */
  const recoveriesOf = (incidentId: string) => listed(`RecoveryIncident = '${incidentId}'`, true);
  /** Every recovery the dev server lists (components' child workflows aside). */
  const allRecoveries = () => listed("WorkflowType = 'recoveryWorkflow'");
  /** Recoveries running now. */
  const allRunning = () => listed("WorkflowType = 'recoveryWorkflow' AND ExecutionStatus = 'Running'");

  /** A counter or histogram count of /metrics; 0 when the series does not exist yet. */
  async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const response = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.equal(response.status, 200);
    const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    let total = 0;
    for (const line of (await response.text()).split('\n')) {
      const match = /^([a-z_]+)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (match?.[1] !== name) continue;
      const have = (match[2] ?? '').split(',');
      if (wanted.every((w) => have.includes(w))) total += Number(match[3]);
    }
    return total;
  }

  /** An SNS message as SNS sends it, signed (SignatureVersion 2) with the test certificate's key. */
  function snsMessage(fields: Partial<SnsMessage> & Pick<SnsMessage, 'Type' | 'Message'>): SnsMessage {
    const message = {
      MessageId: `msg-${Math.random().toString(16).slice(2)}`,
      TopicArn: TOPIC,
      Timestamp: new Date().toISOString(),
      SignatureVersion: '2',
      SigningCertURL: CERT_URL,
      Signature: '',
      ...(fields.Type === 'Notification'
        ? { UnsubscribeURL: `https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=${TOPIC}:1` }
        : {
            Token: 'token-1',
            SubscribeURL: `https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=${TOPIC}&Token=token-1`,
          }),
      ...fields,
    } as SnsMessage;
    message.Signature = sign('RSA-SHA256', Buffer.from(stringToSign(message)), certificate.key).toString('base64');
    return message;
  }
  const alarm = (state: 'ALARM' | 'OK' | 'INSUFFICIENT_DATA', at: string, name = 'shop-db-unreachable') =>
    JSON.stringify({
      AlarmName: name,
      AlarmDescription: 'The shop database does not answer',
      AWSAccountId: '123456789012',
      NewStateValue: state,
      NewStateReason: `Threshold Crossed: 3 datapoints were ${state === 'OK' ? 'below' : 'above'} the threshold`,
      StateChangeTime: at.replace('Z', '+0000'),
      Region: 'US East (N. Virginia)',
      AlarmArn: `arn:aws:cloudwatch:us-east-1:123456789012:alarm:${name}`,
      OldStateValue: state === 'OK' ? 'ALARM' : 'OK',
    });
  const postSns = (message: unknown) =>
    post('/alerts/sns', message, { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'x' });

  const FULL = 'alert-shop-full-restore';
  const DATABASE = 'alert-shop-database-restore';

  /** Ends the recoveries alerts started, so that the next case starts its own; returns when each closed. */
  async function stopRecoveries() {
    for (const id of [FULL, DATABASE])
      await handleOf(id)
        .terminate('test: next case')
        .catch((error: unknown) => {
          if (!(error instanceof WorkflowNotFoundError)) throw error;
        });
    await sleep(5); // an alert of "now" then began after the close
  }

  /** The events of a workflow's history (its latest run). */
  const historyLength = async (id: string) => (await handleOf(id).fetchHistory()).events?.length ?? 0;

  type Answer = {
    matched: number;
    recoveries: {
      plan: string;
      scenario: string;
      alerts: number;
      workflowId: string;
      outcome: string;
      reason?: string;
      previous?: string;
      recorded?: boolean;
    }[];
    ignored?: string;
  };
  const answerOf = async (response: Response) => (await response.json()) as Answer;

  it('an Alertmanager alert starts one recovery of the scenario its trigger names, with the incident from the alert', async () => {
    await stopRecoveries();
    const startsAt = new Date().toISOString();
    const payload = alertmanager('ShopDbDown', { group: 'first', summary: 'shop db down on db-1', startsAt });
    const response = await postAlertmanager(payload);
    assert.equal(response.status, 202);
    const answer = await answerOf(response);
    assert.equal(answer.matched, 1);
    assert.equal(answer.recoveries.length, 1);
    assert.equal(answer.recoveries[0]!.outcome, 'started');
    const id = answer.recoveries[0]!.workflowId;
    assert.equal(id, FULL);

    const progress = await progressWhen(
      handleOf(id),
      (p) => p.alerts?.received === 1 && p.components[0]?.status === 'succeeded',
    );
    assert.equal(progress.plan, 'shop');
    assert.equal(progress.scenario, 'full-restore');
    assert.equal(progress.requestedBy, 'alert:alertmanager/ShopDbDown');
    const incidentId = incidentIdOf(alertsFromAlertmanager(payload)[0]!);
    assert.deepEqual(progress.incident, {
      id: incidentId,
      detectedAt: startsAt,
      source: 'alertmanager',
      summary: 'shop db down on db-1',
    });
    assert.deepEqual(
      progress.alerts!.latest.map(({ receivedAt: _, ...event }) => event),
      [{ source: 'alertmanager', status: 'firing', name: 'ShopDbDown', at: startsAt, summary: 'shop db down on db-1' }],
    );
    assert.deepEqual(await recoveriesOf(incidentId), [id]);
  });

  it('a storm of 1,000 identical alerts over real HTTP starts exactly one recovery, which records the alert once, then the resolved one', async () => {
    await stopRecoveries();
    const startsAt = new Date().toISOString();
    const payload = alertmanager('ShopDbDown', { group: 'storm', startsAt });
    const startedBefore = await metric('recovery_recoveries_started_total');
    const dedupBefore = await metric('recovery_alerts_deduplicated_total');
    const answers = await Promise.all(
      Array.from({ length: 1_000 }, async () => {
        const response = await postAlertmanager(payload);
        assert.equal(response.status, 202);
        return answerOf(response);
      }),
    );
    const outcomes = answers.map((a) => a.recoveries[0]!.outcome);
    assert.equal(outcomes.filter((o) => o === 'started').length, 1);
    assert.equal(outcomes.filter((o) => o === 'running').length, 999);
    const ids = new Set(answers.map((a) => a.recoveries[0]!.workflowId));
    assert.deepEqual([...ids], [FULL]);
    assert.equal((await metric('recovery_recoveries_started_total')) - startedBefore, 1);
    assert.equal((await metric('recovery_alerts_deduplicated_total')) - dedupBefore, 999);
    assert.deepEqual(await recoveriesOf(incidentIdOf(alertsFromAlertmanager(payload)[0]!)), [FULL]);

    const resolved = await postAlertmanager(
      alertmanager('ShopDbDown', { group: 'storm', status: 'resolved', startsAt }),
    );
    assert.equal(resolved.status, 202);
    assert.deepEqual((await answerOf(resolved)).recoveries, [
      { plan: 'shop', scenario: 'full-restore', alerts: 1, outcome: 'resolved', workflowId: FULL, recorded: true },
    ]);
    // The repeats were not signalled: the alert and its resolution, one signal each.
    const progress = await progressWhen(handleOf(FULL), (p) => p.alerts?.resolved === 1);
    assert.deepEqual(
      { ...progress.alerts!, latest: progress.alerts!.latest.map((a) => a.status) },
      { received: 2, firing: 1, resolved: 1, latest: ['firing', 'resolved'] },
    );
    assert.equal(progress.alerts!.latest.at(-1)!.at, '2026-11-21T12:30:00.000Z');
  });

  it('one recovery per plan and scenario: the earliest alert of a group resolving, another incident, repeats — all recorded in it', async () => {
    await stopRecoveries();
    const early = new Date(Date.now() + 1).toISOString();
    const late = new Date(Date.now() + 2_000).toISOString();
    const group = (statuses: ('firing' | 'resolved')[]) => {
      const payload = alertmanager('ShopDbDown', { group: 'moving', startsAt: early });
      payload.alerts = statuses.map((status, i) => ({
        ...payload.alerts[0]!,
        status,
        labels: { ...payload.alerts[0]!.labels, instance: `db-${i}:9100` },
        startsAt: i === 0 ? early : late,
      }));
      return payload;
    };
    const first = await answerOf(await postAlertmanager(group(['firing', 'firing'])));
    assert.equal(first.recoveries[0]!.outcome, 'started');
    // The earliest alert resolved: the group's earliest start moved to `late`.
    const moved = await answerOf(await postAlertmanager(group(['resolved', 'firing'])));
    assert.deepEqual(
      moved.recoveries.map((r) => [r.workflowId, r.outcome]),
      [[FULL, 'running']],
    );
    const again = await answerOf(await postAlertmanager(group(['resolved', 'firing'])));
    assert.equal(again.recoveries[0]!.outcome, 'running');
    const other = await answerOf(
      await postAlertmanager(alertmanager('ShopDbDown', { group: 'another-incident', startsAt: late })),
    );
    assert.deepEqual(
      other.recoveries.map((r) => [r.workflowId, r.outcome]),
      [[FULL, 'running']],
    );
    const progress = await progressWhen(handleOf(FULL), (p) => p.alerts?.received === 4);
    assert.deepEqual(
      { firing: progress.alerts!.firing, resolved: progress.alerts!.resolved },
      { firing: 3, resolved: 1 },
    );
    assert.deepEqual(await allRunning(), [FULL]);
  });

  it('after the recovery closed: an alert that began before is dropped (a failed recovery loudly), one that began after starts a new run', async () => {
    await stopRecoveries();
    const before = new Date().toISOString();
    const started = await answerOf(
      await postAlertmanager(alertmanager('ShopDbDown', { group: 'closed', startsAt: before })),
    );
    assert.equal(started.recoveries[0]!.outcome, 'started');
    const firstRun = (await handleOf(FULL).describe()).runId;
    await stopRecoveries(); // terminated: counts as failed

    const droppedBefore = await metric('recovery_alerts_dropped_total', { reason: 'previous-failed' });
    const late = await answerOf(
      await postAlertmanager(alertmanager('ShopDbDown', { group: 'closed-other', startsAt: before })),
    );
    assert.deepEqual(late.recoveries[0], {
      plan: 'shop',
      scenario: 'full-restore',
      alerts: 1,
      workflowId: FULL,
      outcome: 'dropped',
      reason: 'previous-failed',
      previous: 'TERMINATED',
    });
    assert.equal((await metric('recovery_alerts_dropped_total', { reason: 'previous-failed' })) - droppedBefore, 1);
    assert.equal((await handleOf(FULL).describe()).runId, firstRun, 'nothing started');

    const fresh = await answerOf(
      await postAlertmanager(alertmanager('ShopDbDown', { group: 'closed', startsAt: new Date().toISOString() })),
    );
    assert.equal(fresh.recoveries[0]!.outcome, 'started');
    const secondRun = await handleOf(FULL).describe();
    assert.notEqual(secondRun.runId, firstRun);
    assert.equal(secondRun.status.name, 'RUNNING');
  });

  it('a 1,000-alert group resent 20 times: one recovery, every alert counted, a history of a few events', async () => {
    await stopRecoveries();
    const base = Date.now();
    const payload = alertmanager('ShopDbDown', { group: 'big' });
    payload.alerts = Array.from({ length: 1_000 }, (_, i) => ({
      ...payload.alerts[0]!,
      labels: { ...payload.alerts[0]!.labels, instance: `db-${i}:9100` },
      annotations: { summary: `db-${i} does not answer: ${'connection refused '.repeat(10)}` },
      startsAt: new Date(base + i).toISOString(),
    }));
    const body = JSON.stringify(payload);
    assert.ok(body.length > 256 * 1024, `${body.length} bytes: more than the other endpoints take`);
    for (let resend = 0; resend < 20; resend++) {
      const response = await post('/alerts/alertmanager', body, { authorization: `Bearer ${TOKEN}` });
      assert.equal(response.status, 202, await response.clone().text());
      const answer = await answerOf(response);
      assert.equal(answer.recoveries[0]!.outcome, resend === 0 ? 'started' : 'running');
    }
    const progress = await progressWhen(handleOf(FULL), (p) => p.alerts?.received === 1_000);
    assert.equal(progress.alerts!.firing, 1_000);
    assert.equal(progress.alerts!.latest.length, 20);
    await sleep(300);
    assert.equal((await handleOf(FULL).query(progressQuery)).alerts!.received, 1_000, 'resends not recorded again');
    const events = await historyLength(FULL);
    assert.ok(events < 60, `${events} history events`);
  });

  it('a trigger with requireApproval starts the recovery held at the start gate until someone approves it', async () => {
    const response = await postAlertmanager(
      alertmanager('ShopDbCorrupt', { group: 'corrupt', startsAt: new Date().toISOString() }),
    );
    assert.equal(response.status, 202);
    const [delivery] = (await answerOf(response)).recoveries;
    assert.equal(delivery!.scenario, 'database-restore');
    assert.equal(delivery!.workflowId, DATABASE);
    const handle = handleOf(delivery!.workflowId);
    const before = commands();
    const held = await progressWhen(handle, (p) => p.gates[0]?.status === 'waiting');
    assert.equal(held.gates[0]!.gate, 'start');
    assert.deepEqual(
      held.components.map((c) => c.status),
      held.components.map(() => 'pending'),
    );
    await sleep(500);
    assert.equal(commands(), before, 'nothing runs before the approval');
    assert.equal((await handle.query(progressQuery)).components[0]!.status, 'pending');

    await handle.executeUpdate(approveUpdate, { args: [{ gate: 'start', by: 'on-call' }] });
    const approved = await progressWhen(handle, (p) => p.components[0]?.status === 'succeeded');
    assert.equal(approved.gates[0]!.status, 'approved');
    assert.equal(approved.gates[0]!.by, 'on-call');
  });

  it('SNS: a signed subscription confirmation is confirmed at its SubscribeURL; a CloudWatch ALARM starts the recovery, ALARM again after INSUFFICIENT_DATA goes to it, its OK is recorded', async () => {
    const confirmation = snsMessage({ Type: 'SubscriptionConfirmation', Message: 'You have chosen to subscribe' });
    const confirm = await postSns(confirmation);
    assert.equal(confirm.status, 200, await confirm.clone().text());
    assert.deepEqual(confirmed, [(confirmation as { SubscribeURL: string }).SubscribeURL]);
    assert.ok(certificateRequests.every((url) => url === CERT_URL));

    await stopRecoveries();
    const firedAt = new Date().toISOString();
    const fire = await postSns(
      snsMessage({ Type: 'Notification', Subject: 'ALARM: "shop-db-unreachable"', Message: alarm('ALARM', firedAt) }),
    );
    assert.equal(fire.status, 200);
    const [started] = (await answerOf(fire)).recoveries;
    assert.equal(started!.outcome, 'started');
    assert.equal(started!.scenario, 'full-restore');
    const handle = handleOf(started!.workflowId);
    const progress = await progressWhen(handle, (p) => p.alerts?.received === 1);
    assert.equal(progress.incident?.source, 'cloudwatch');
    assert.equal(progress.incident?.detectedAt, firedAt);
    assert.equal(progress.requestedBy, 'alert:cloudwatch/shop-db-unreachable');

    // The region's metrics stop, then come back: a new StateChangeTime, the same recovery.
    const insufficient = await postSns(
      snsMessage({ Type: 'Notification', Message: alarm('INSUFFICIENT_DATA', new Date().toISOString()) }),
    );
    assert.equal(insufficient.status, 200);
    assert.equal((await answerOf(insufficient)).matched, 0);
    const again = await postSns(
      snsMessage({ Type: 'Notification', Message: alarm('ALARM', new Date().toISOString()) }),
    );
    assert.deepEqual(
      (await answerOf(again)).recoveries.map((r) => [r.workflowId, r.outcome]),
      [[started!.workflowId, 'running']],
    );
    assert.deepEqual(await recoveriesOf(progress.incident.id), [started!.workflowId]);

    const ok = await postSns(snsMessage({ Type: 'Notification', Message: alarm('OK', new Date().toISOString()) }));
    assert.equal(ok.status, 200);
    assert.deepEqual(
      (await answerOf(ok)).recoveries.map((r) => [r.workflowId, r.outcome, r.recorded]),
      [[started!.workflowId, 'resolved', true]],
    );
    const after = await progressWhen(handle, (p) => p.alerts?.resolved === 1);
    assert.equal(after.alerts!.firing, 2);
    assert.equal(after.alerts!.latest.at(-1)!.status, 'resolved');
  });

  it('SNS out of order or late: an ALARM older than the OK already received is ignored; an ALARM of 15 minutes ago starts nothing', async () => {
    await stopRecoveries();
    const name = 'shop-db-unreachable';
    const alarmAt = new Date(Date.now() - 30_000).toISOString();
    const okAt = new Date(Date.now() - 10_000).toISOString();
    const ok = await postSns(snsMessage({ Type: 'Notification', Message: alarm('OK', okAt, name) }));
    assert.equal(ok.status, 200);
    assert.equal((await answerOf(ok)).recoveries[0]!.recorded, false);
    const supersededBefore = await metric('recovery_alerts_ignored_total', { reason: 'superseded-by-ok' });
    const delayed = await postSns(snsMessage({ Type: 'Notification', Message: alarm('ALARM', alarmAt, name) }));
    assert.equal(delayed.status, 200);
    assert.deepEqual(await delayed.json(), { matched: 0, recoveries: [], ignored: 'superseded-by-ok' });
    assert.equal(
      (await metric('recovery_alerts_ignored_total', { reason: 'superseded-by-ok' })) - supersededBefore,
      1,
      'an ignored ALARM is counted',
    );

    const staleBefore = await metric('recovery_alerts_dropped_total', { reason: 'stale-alarm' });
    const old = new Date(Date.now() - 15 * 60_000).toISOString();
    const stale = await postSns(snsMessage({ Type: 'Notification', Message: alarm('ALARM', old, 'shop-db-latency') }));
    assert.equal(stale.status, 200);
    assert.deepEqual(
      (await answerOf(stale)).recoveries.map((r) => [r.outcome, r.reason]),
      [['dropped', 'stale-alarm']],
    );
    assert.equal((await metric('recovery_alerts_dropped_total', { reason: 'stale-alarm' })) - staleBefore, 1);
    assert.deepEqual(await allRunning(), []);
  });

  it('a signed generic webhook starts the recovery of its trigger', async () => {
    await stopRecoveries();
    const startsAt = new Date().toISOString();
    const body = JSON.stringify({ name: 'shop-db-down', status: 'firing', incident: 'INC-42', startsAt });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const response = await post('/alerts/generic', body, {
      'x-recovery-timestamp': timestamp,
      'x-recovery-signature': signGeneric(SECRET, timestamp, body),
    });
    assert.equal(response.status, 202);
    const [started] = (await answerOf(response)).recoveries;
    assert.equal(started!.outcome, 'started');
    const progress = await progressWhen(handleOf(started!.workflowId), (p) => p.alerts?.received === 1);
    assert.equal(progress.incident?.source, 'generic');
    assert.equal(progress.incident?.detectedAt, startsAt);
  });

  it('forged and replayed requests start nothing and are counted by reason', async () => {
    const workflowsBefore = await allRecoveries();
    const startedBefore = await metric('recovery_recoveries_started_total');
    const payload = alertmanager('ShopDbDown', { group: 'forged' });
    const body = JSON.stringify({ name: 'shop-db-down', status: 'firing', incident: 'forged' });
    const now = Math.floor(Date.now() / 1000);
    const generic = (timestamp: number, secret: string) =>
      post('/alerts/generic', body, {
        'x-recovery-timestamp': String(timestamp),
        'x-recovery-signature': signGeneric(secret, String(timestamp), body),
      });
    const fired = alarm('ALARM', new Date().toISOString(), 'shop-db-unreachable');
    const tampered = { ...snsMessage({ Type: 'Notification', Message: fired }), Subject: 'ALARM' };
    const wrongHost = snsMessage({
      Type: 'Notification',
      Message: fired,
      SigningCertURL: 'https://sns.us-east-1.amazonaws.com.attacker.example/SimpleNotificationService-1.pem',
    });
    const otherTopic = snsMessage({
      Type: 'Notification',
      Message: fired,
      TopicArn: 'arn:aws:sns:us-east-1:999999999999:mine',
    });
    const oldMessage = snsMessage({
      Type: 'Notification',
      Message: fired,
      Timestamp: new Date(Date.now() - 7_200_000).toISOString(),
    });
    const evilConfirmation = snsMessage({
      Type: 'SubscriptionConfirmation',
      Message: 'subscribe',
      SubscribeURL: 'https://attacker.example/?Action=ConfirmSubscription',
    });
    const cases: [string, () => Promise<Response>, number, string, string][] = [
      ['no bearer token', () => post('/alerts/alertmanager', payload), 401, 'alertmanager', 'no-token'],
      ['a wrong token', () => postAlertmanager(payload, 'guess'), 401, 'alertmanager', 'bad-token'],
      ['a wrong HMAC', () => generic(now, 'not-the-secret'), 401, 'generic', 'bad-signature'],
      ['no signature', () => post('/alerts/generic', body), 401, 'generic', 'unsigned'],
      ['a stale timestamp', () => generic(now - 3_600, SECRET), 401, 'generic', 'stale-timestamp'],
      ['a tampered SNS message', () => postSns(tampered), 403, 'sns', 'bad-signature'],
      ['a certificate off the SNS host', () => postSns(wrongHost), 403, 'sns', 'bad-cert-url'],
      ['another topic', () => postSns(otherTopic), 403, 'sns', 'unknown-topic'],
      ['an old SNS message replayed', () => postSns(oldMessage), 403, 'sns', 'stale-timestamp'],
      ['a SubscribeURL off the SNS host', () => postSns(evilConfirmation), 403, 'sns', 'bad-subscribe-url'],
    ];
    const counts = new Map<string, number>();
    for (const [, , , source, reason] of cases)
      counts.set(`${source}/${reason}`, await metric('recovery_alerts_rejected_total', { source, reason }));
    const confirmedBefore = confirmed.length;
    for (const [what, send, status, , reason] of cases) {
      const response = await send();
      assert.equal(response.status, status, what);
      const answer = (await response.json()) as { error: string; message: string };
      assert.equal(answer.error, reason, what);
      assert.ok(answer.message.length > 10, what);
    }
    for (const [what, , , source, reason] of cases)
      assert.equal(
        (await metric('recovery_alerts_rejected_total', { source, reason })) - counts.get(`${source}/${reason}`)!,
        cases.filter(([, , , s, r]) => s === source && r === reason).length,
        what,
      );
    assert.ok(!certificateRequests.some((url) => url.includes('attacker')), 'no certificate fetched off the SNS host');
    assert.equal(confirmed.length, confirmedBefore);
    assert.equal(await metric('recovery_recoveries_started_total'), startedBefore);
    await sleep(300);
    assert.deepEqual(await allRecoveries(), workflowsBefore);
  });

  it('malformed, oversized and mistyped payloads get 400, 413 and 415 with a reason; unmatched alerts 202 with matched 0', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const workflowsBefore = await allRecoveries();
    const notJson = await post('/alerts/alertmanager', '{"version": "4", "alerts": [', auth);
    assert.equal(notJson.status, 400);
    assert.equal(((await notJson.json()) as { error: string }).error, 'malformed');
    const wrongShape = await post('/alerts/alertmanager', { version: '4', alerts: 'all of them' }, auth);
    assert.equal(wrongShape.status, 400);
    assert.match(((await wrongShape.json()) as { message: string }).message, /groupKey is missing/);
    // Alertmanager takes up to 4 MiB (a large group; it does not retry a 4xx): 300 KiB is accepted.
    const large = await postAlertmanager(alertmanager('DiskAlmostFull', { summary: 'x'.repeat(300 * 1024) }));
    assert.equal(large.status, 202);
    const huge = alertmanager('ShopDbDown', { group: 'huge', summary: 'x'.repeat(5 * 1024 * 1024) });
    const oversized = await postAlertmanager(huge);
    assert.equal(oversized.status, 413);
    assert.equal(((await oversized.json()) as { error: string }).error, 'body-too-large');
    // The other endpoints keep 256 KiB.
    const bigGeneric = await post('/alerts/generic', { name: 'x', status: 'firing', summary: 'x'.repeat(300 * 1024) });
    assert.equal(bigGeneric.status, 413);
    const plain = await post('/alerts/alertmanager', JSON.stringify(alertmanager('ShopDbDown')), {
      ...auth,
      'content-type': 'text/plain',
    });
    assert.equal(plain.status, 415);
    const xml = await post('/alerts/alertmanager', '<alert/>', { ...auth, 'content-type': 'application/xml' });
    assert.equal(xml.status, 415);
    assert.equal(((await xml.json()) as { error: string }).error, 'unsupported-media-type');
    assert.equal(
      await metric('recovery_alerts_rejected_total', { source: 'alertmanager', reason: 'body-too-large' }),
      1,
    );

    const unmatchedBefore = await metric('recovery_alerts_unmatched_total', { source: 'alertmanager' });
    const unmatched = await postAlertmanager(alertmanager('DiskAlmostFull'));
    assert.equal(unmatched.status, 202);
    assert.deepEqual(await unmatched.json(), { matched: 0, recoveries: [] });
    assert.equal((await metric('recovery_alerts_unmatched_total', { source: 'alertmanager' })) - unmatchedBefore, 1);
    assert.deepEqual(await allRecoveries(), workflowsBefore);
  });

  it('health is open and says nothing; readiness needs plans with triggers and Temporal; metrics and reload need the token; a plan broken on reload keeps its previous version', async () => {
    const health = await fetch(`${base}/healthz`);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    assert.equal(((await ready.json()) as { status: string }).status, 'ready');
    assert.equal((await fetch(`${base}/metrics`)).status, 401);
    assert.equal((await fetch(`${base}/metrics`, { headers: { authorization: 'Bearer nope' } })).status, 401);
    assert.equal((await post('/-/reload', '')).status, 401);

    writePlan('billing', [{ source: 'generic', match: { name: 'billing-down' }, scenario: 'full-restore' }]);
    writeFileSync(join(plansDir, 'shop.yaml'), 'name: shop\ncomponents: not-a-list\n');
    try {
      const reload = await fetch(`${base}/-/reload`, {
        method: 'POST',
        headers: { authorization: `Bearer ${METRICS_TOKEN}` },
      });
      assert.equal(reload.status, 200);
      const summary = (await reload.json()) as { plans: string[]; invalid: { file: string; kept: boolean }[] };
      assert.deepEqual(summary.plans.sort(), ['billing', 'shop']);
      assert.deepEqual(
        summary.invalid.map(({ file, kept }) => ({ file, kept })),
        [{ file: 'shop.yaml', kept: true }],
      );
      // The shop's triggers still route.
      const still = await postAlertmanager(alertmanager('ShopDbDown', { group: 'after-reload' }));
      assert.equal(((await still.json()) as { matched: number }).matched, 1);
    } finally {
      rmSync(join(plansDir, 'billing.yaml'));
      writePlan('shop', [
        { source: 'alertmanager', match: { alertname: 'ShopDbDown' }, scenario: 'full-restore' },
        { source: 'cloudwatch', match: { alarmName: 'shop-db-unreachable' }, scenario: 'full-restore' },
      ]);
    }
  });

  it('not ready without plans with triggers, nor when Temporal does not answer; a delivery past its deadline answers 503', async () => {
    const emptyDir = mkdtempSync(join(scratch, 'empty-'));
    const log = pino({ level: 'silent' });
    const empty = new PlanRegistry(emptyDir, log);
    await empty.reload();
    const noPlans = await receiver({ plans: empty });
    const answer = await fetch(`${noPlans.base}/readyz`);
    assert.equal(answer.status, 503);
    assert.match(((await answer.json()) as { problems: string[] }).problems.join(), /no plan with triggers/);

    // A Temporal that accepts connections and never answers.
    const silent = createServer(() => {});
    const sockets: Socket[] = [];
    silent.on('connection', (socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const connection = Connection.lazy({ address: `127.0.0.1:${(silent.address() as AddressInfo).port}` });
    try {
      const client = new Client({ connection, namespace: 'default' });
      const stuck = await receiver({
        temporal: { client, namespace: 'default', taskQueue: 'alerts' },
        delivery: { deadlineMs: 500 },
      });
      const notReady = await fetch(`${stuck.base}/readyz`);
      assert.equal(notReady.status, 503);
      assert.match(((await notReady.json()) as { problems: string[] }).problems.join(), /Temporal does not answer/);
      const startedAt = Date.now();
      const response = await fetch(`${stuck.base}/alerts/alertmanager`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(alertmanager('ShopDbDown', { group: 'stuck', startsAt: new Date().toISOString() })),
      });
      assert.equal(response.status, 503);
      assert.ok(Date.now() - startedAt < 5_000, 'answered at the deadline');
      // Not remembered as passed on: the sender's retry is delivered again (and times out again).
      const retry = await fetch(`${stuck.base}/alerts/alertmanager`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(alertmanager('ShopDbDown', { group: 'stuck', startsAt: new Date().toISOString() })),
      });
      assert.equal(retry.status, 503);
    } finally {
      await connection.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("rate limits each source with 429 and Retry-After, after authentication: junk does not use up the sender's bucket", async () => {
    const limited = await receiver({ limits: { rate: { burst: 2, perSecond: 0.5 } } });
    const send = (token: string) =>
      fetch(`${limited.base}/alerts/alertmanager`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify(alertmanager('DiskAlmostFull')),
      });
    const junk: number[] = [];
    for (let i = 0; i < 4; i++) {
      const response = await send('forged');
      junk.push(response.status);
      await response.body?.cancel();
    }
    assert.deepEqual(junk, [401, 401, 429, 429]);
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 3; i++) {
      const response = await send(TOKEN);
      statuses.push(response.status);
      if (response.status === 429) {
        retryAfter = response.headers.get('retry-after');
        assert.equal(((await response.json()) as { error: string }).error, 'rate-limited');
      } else await response.body?.cancel();
    }
    assert.deepEqual(statuses, [202, 202, 429]);
    assert.equal(retryAfter, '2');
  });

  it('recovery serve refuses to start with no plan with triggers, an invalid plan or an unreadable plans directory, naming it', async () => {
    const secrets = { RECOVERY_ALERTMANAGER_TOKEN: TOKEN };
    const connect = () => Promise.reject(new Error('must not connect'));
    const serve = (dir: string) =>
      serveCommand({
        plansDir: dir,
        sources: 'alertmanager',
        env: secrets,
        connect,
        logger: pino({ level: 'silent' }),
      });
    const emptyDir = mkdtempSync(join(scratch, 'none-'));
    await assert.rejects(
      serve(emptyDir),
      (error: Error) => error instanceof UsageError && /no plan .*has triggers/.test(error.message),
    );
    const brokenDir = mkdtempSync(join(scratch, 'broken-'));
    writeFileSync(join(brokenDir, 'orders.yaml'), 'name: orders\ncomponents: not-a-list\n');
    await assert.rejects(
      serve(brokenDir),
      (error: Error) => error instanceof UsageError && /orders\.yaml/.test(error.message),
    );
    await assert.rejects(
      serve(join(scratch, 'no-such-dir')),
      (error: Error) => error instanceof UsageError && /cannot read the plans directory/.test(error.message),
    );
  });

  it('refuses to start without the secrets of the endpoints it serves, naming the variables', () => {
    const plans = new PlanRegistry(plansDir, pino({ level: 'silent' }));
    const temporal = { client: env.client, namespace: 'default', taskQueue: 'alerts' };
    assert.throws(
      () => buildAlertReceiver({ temporal, plans, auth: {}, logger: false }),
      (error: Error) =>
        /RECOVERY_ALERTMANAGER_TOKEN/.test(error.message) &&
        /RECOVERY_WEBHOOK_SECRET/.test(error.message) &&
        /RECOVERY_SNS_TOPIC_ARNS/.test(error.message),
    );
    assert.doesNotThrow(() =>
      buildAlertReceiver({
        temporal,
        plans,
        auth: { alertmanagerToken: TOKEN },
        sources: ['alertmanager'],
        logger: false,
      }),
    );
  });
});
