/**
 * The alert receiver (`recovery serve`) over real HTTP on loopback, starting recoveries on the dev
 * server, run by a worker of scripted activities with the same plans directory: Alertmanager,
 * CloudWatch through SNS (signed with a certificate of the test's own, served through an injected
 * certificate source) and signed webhooks; a storm of 1,000 identical alerts; forged, replayed,
 * malformed and oversized requests; a trigger that needs approval; rate limits and reloads.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { FastifyInstance } from 'fastify';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { createPlanActivities } from '../activities/plans';
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

  /** Recoveries of the plan, by the dev server's visibility (eventually consistent: polled until stable). */
  async function recoveriesOf(incidentId: string): Promise<string[]> {
    let last: string[] = [];
    for (let stable = 0, i = 0; stable < 3 && i < 100; i++) {
      const ids: string[] = [];
      for await (const w of env.client.workflow.list({ query: `RecoveryIncident = '${incidentId}'` }))
        ids.push(w.workflowId);
      stable = ids.length > 0 && ids.join() === last.join() ? stable + 1 : 0;
      last = ids;
      await sleep(100);
    }
    return last.sort();
  }

  /** Every recovery the dev server lists (components' child workflows aside), once visibility settled. */
  async function allRecoveries(): Promise<string[]> {
    let last: string[] = [];
    for (let stable = 0, i = 0; stable < 3 && i < 100; i++) {
      const ids: string[] = [];
      for await (const w of env.client.workflow.list({ query: "WorkflowType = 'recoveryWorkflow'" }))
        ids.push(w.workflowId);
      ids.sort();
      stable = ids.join() === last.join() ? stable + 1 : 0;
      last = ids;
      await sleep(100);
    }
    return last;
  }

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

  it('an Alertmanager alert starts one recovery of the scenario its trigger names, with the incident from the alert', async () => {
    const payload = alertmanager('ShopDbDown', { group: 'first', summary: 'shop db down on db-1' });
    const response = await postAlertmanager(payload);
    assert.equal(response.status, 202);
    const answer = (await response.json()) as {
      matched: number;
      recoveries: { workflowId: string; outcome: string }[];
    };
    assert.equal(answer.matched, 1);
    assert.equal(answer.recoveries.length, 1);
    assert.equal(answer.recoveries[0]!.outcome, 'started');
    const id = answer.recoveries[0]!.workflowId;
    assert.match(id, /^alert-shop-full-restore-[0-9a-f]{12}-20261121T100500Z$/);

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
      detectedAt: '2026-11-21T10:05:00.123Z',
      source: 'alertmanager',
      summary: 'shop db down on db-1',
    });
    assert.deepEqual(
      progress.alerts!.latest.map(({ receivedAt: _, ...event }) => event),
      [
        {
          source: 'alertmanager',
          status: 'firing',
          name: 'ShopDbDown',
          at: '2026-11-21T10:05:00.123Z',
          summary: 'shop db down on db-1',
        },
      ],
    );
    assert.deepEqual(await recoveriesOf(incidentId), [id]);
  });

  it('a storm of 1,000 identical alerts over real HTTP starts exactly one recovery, which records them all, then the resolved one', async () => {
    const payload = alertmanager('ShopDbDown', { group: 'storm', startsAt: '2026-11-21T11:00:00Z' });
    const startedBefore = await metric('recovery_recoveries_started_total');
    const dedupBefore = await metric('recovery_alerts_deduplicated_total');
    const answers = await Promise.all(
      Array.from({ length: 1_000 }, async () => {
        const response = await postAlertmanager(payload);
        assert.equal(response.status, 202);
        return (await response.json()) as { recoveries: { workflowId: string; outcome: string }[] };
      }),
    );
    const outcomes = answers.map((a) => a.recoveries[0]!.outcome);
    assert.equal(outcomes.filter((o) => o === 'started').length, 1);
    assert.equal(outcomes.filter((o) => o === 'running').length, 999);
    const ids = new Set(answers.map((a) => a.recoveries[0]!.workflowId));
    assert.equal(ids.size, 1);
    const [id] = [...ids] as [string];
    assert.equal((await metric('recovery_recoveries_started_total')) - startedBefore, 1);
    assert.equal((await metric('recovery_alerts_deduplicated_total')) - dedupBefore, 999);
    assert.deepEqual(await recoveriesOf(incidentIdOf(alertsFromAlertmanager(payload)[0]!)), [id]);

    const resolved = await postAlertmanager(
      alertmanager('ShopDbDown', { group: 'storm', status: 'resolved', startsAt: '2026-11-21T11:00:00Z' }),
    );
    assert.equal(resolved.status, 202);
    assert.deepEqual(((await resolved.json()) as { recoveries: unknown[] }).recoveries, [
      { plan: 'shop', scenario: 'full-restore', outcome: 'resolved', workflowIds: [id] },
    ]);
    const progress = await progressWhen(handleOf(id), (p) => p.alerts?.received === 1_001, 60_000);
    assert.deepEqual(
      { ...progress.alerts!, latest: progress.alerts!.latest.at(-1)!.status },
      {
        received: 1_001,
        firing: 1_000,
        resolved: 1,
        latest: 'resolved',
      },
    );
    assert.equal(progress.alerts!.latest.length, 20);
    assert.equal(progress.alerts!.latest.at(-1)!.at, '2026-11-21T12:30:00.000Z');
  });

  it('two incidents start two recoveries; a later firing period of the same group starts another', async () => {
    const answers = await Promise.all(
      [
        alertmanager('ShopDbDown', { group: 'incident-a', startsAt: '2026-11-20T10:00:00Z' }),
        alertmanager('ShopDbDown', { group: 'incident-b', startsAt: '2026-11-20T10:00:00Z' }),
        alertmanager('ShopDbDown', { group: 'incident-a', startsAt: '2026-11-20T10:00:00Z' }),
        alertmanager('ShopDbDown', { group: 'incident-b', startsAt: '2026-11-20T10:00:00Z' }),
        alertmanager('ShopDbDown', { group: 'incident-a', startsAt: '2026-11-20T12:00:00Z' }),
      ].map(async (payload) => {
        const response = await postAlertmanager(payload);
        assert.equal(response.status, 202);
        return ((await response.json()) as { recoveries: { workflowId: string }[] }).recoveries[0]!.workflowId;
      }),
    );
    assert.equal(new Set(answers).size, 3);
    assert.equal(answers[0], answers[2]);
    assert.equal(answers[1], answers[3]);
    const a = incidentIdOf(alertsFromAlertmanager(alertmanager('ShopDbDown', { group: 'incident-a' }))[0]!);
    const b = incidentIdOf(alertsFromAlertmanager(alertmanager('ShopDbDown', { group: 'incident-b' }))[0]!);
    assert.equal((await recoveriesOf(a)).length, 2);
    assert.deepEqual(await recoveriesOf(b), [answers[1]]);
  });

  it('a trigger with requireApproval starts the recovery held at the start gate until someone approves it', async () => {
    const response = await postAlertmanager(alertmanager('ShopDbCorrupt', { group: 'corrupt' }));
    assert.equal(response.status, 202);
    const [delivery] = ((await response.json()) as { recoveries: { workflowId: string; scenario: string }[] })
      .recoveries;
    assert.equal(delivery!.scenario, 'database-restore');
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

  it('SNS: a signed subscription confirmation is confirmed at its SubscribeURL; a CloudWatch ALARM starts the recovery and its OK is recorded', async () => {
    const confirmation = snsMessage({ Type: 'SubscriptionConfirmation', Message: 'You have chosen to subscribe' });
    const confirm = await postSns(confirmation);
    assert.equal(confirm.status, 200, await confirm.clone().text());
    assert.deepEqual(confirmed, [(confirmation as { SubscribeURL: string }).SubscribeURL]);
    assert.ok(certificateRequests.every((url) => url === CERT_URL));

    const firedAt = new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, '.000Z');
    const fire = await postSns(
      snsMessage({ Type: 'Notification', Subject: 'ALARM: "shop-db-unreachable"', Message: alarm('ALARM', firedAt) }),
    );
    assert.equal(fire.status, 200);
    const [started] = (
      (await fire.json()) as { recoveries: { workflowId: string; outcome: string; scenario: string }[] }
    ).recoveries;
    assert.equal(started!.outcome, 'started');
    assert.equal(started!.scenario, 'full-restore');
    const handle = handleOf(started!.workflowId);
    const progress = await progressWhen(handle, (p) => p.alerts?.received === 1);
    assert.equal(progress.incident?.source, 'cloudwatch');
    assert.equal(progress.incident?.detectedAt, firedAt);
    assert.equal(progress.requestedBy, 'alert:cloudwatch/shop-db-unreachable');

    // The OK says when it resolved, not when the ALARM began: found by the incident search attribute.
    assert.deepEqual(await recoveriesOf(progress.incident.id), [started!.workflowId]);
    const ok = await postSns(snsMessage({ Type: 'Notification', Message: alarm('OK', new Date().toISOString()) }));
    assert.equal(ok.status, 200);
    assert.deepEqual(((await ok.json()) as { recoveries: { workflowIds: string[] }[] }).recoveries[0]!.workflowIds, [
      started!.workflowId,
    ]);
    const after = await progressWhen(handle, (p) => p.alerts?.resolved === 1);
    assert.equal(after.alerts!.latest.at(-1)!.status, 'resolved');

    const insufficient = await postSns(
      snsMessage({ Type: 'Notification', Message: alarm('INSUFFICIENT_DATA', new Date().toISOString()) }),
    );
    assert.equal(insufficient.status, 200);
    assert.equal(((await insufficient.json()) as { matched: number }).matched, 0);
  });

  it('a signed generic webhook starts the recovery of its trigger', async () => {
    const body = JSON.stringify({
      name: 'shop-db-down',
      status: 'firing',
      incident: 'INC-42',
      startsAt: '2026-11-20T08:00:00Z',
    });
    const timestamp = String(Math.floor(Date.now() / 1000));
    const response = await post('/alerts/generic', body, {
      'x-recovery-timestamp': timestamp,
      'x-recovery-signature': signGeneric(SECRET, timestamp, body),
    });
    assert.equal(response.status, 202);
    const [started] = ((await response.json()) as { recoveries: { workflowId: string; outcome: string }[] }).recoveries;
    assert.equal(started!.outcome, 'started');
    const progress = await progressWhen(handleOf(started!.workflowId), (p) => p.alerts?.received === 1);
    assert.equal(progress.incident?.source, 'generic');
    assert.equal(progress.incident?.detectedAt, '2026-11-20T08:00:00.000Z');
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
    const huge = alertmanager('ShopDbDown', { group: 'huge', summary: 'x'.repeat(300 * 1024) });
    const oversized = await postAlertmanager(huge);
    assert.equal(oversized.status, 413);
    assert.equal(((await oversized.json()) as { error: string }).error, 'body-too-large');
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

  it('health is open and says nothing; metrics and reload need the token; a plan broken on reload keeps its previous version', async () => {
    const health = await fetch(`${base}/healthz`);
    assert.deepEqual(await health.json(), { status: 'ok' });
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
      writePlan('shop', [{ source: 'alertmanager', match: { alertname: 'ShopDbDown' }, scenario: 'full-restore' }]);
    }
  });

  it('rate limits each source with 429 and Retry-After', async () => {
    const limited = await receiver({ limits: { rate: { burst: 2, perSecond: 0.5 } } });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 3; i++) {
      const response = await fetch(`${limited.base}/alerts/alertmanager`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(alertmanager('DiskAlmostFull')),
      });
      statuses.push(response.status);
      if (response.status === 429) {
        retryAfter = response.headers.get('retry-after');
        assert.equal(((await response.json()) as { error: string }).error, 'rate-limited');
      } else await response.body?.cancel();
    }
    assert.deepEqual(statuses, [202, 202, 429]);
    assert.equal(retryAfter, '2');
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
