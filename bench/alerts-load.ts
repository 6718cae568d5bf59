/**
 * Alert-to-recovery latency under load, on loopback: a Temporal dev server, the real recovery worker
 * in a process of its own (`workers/main.ts`, plans from a temporary directory: one plan whose
 * recovery is a one-hour wait, so nothing runs) and the alert receiver in this process. Sends
 * Alertmanager alerts at increasing rates, each matching a trigger of its own scenario (the receiver
 * runs one recovery per plan and scenario: another incident of a running scenario is only recorded
 * in it) so that each starts a recovery, and prints p50/p99 of
 *
 * - HTTP: from sending the alert to the receiver's 202, which it answers once the recovery is
 *   started on Temporal with the alert as its first signal (one SignalWithStart);
 * - started: from sending to the worker having run the recovery's first workflow task (the time of
 *   the first WorkflowTaskCompleted in its history, read afterwards for a sample of each rate);
 * - direct: a baseline in the same run, the same starts made by the Temporal client without HTTP;
 *
 * and the ratio HTTP/direct. Bounded: at most `--max-alerts` alerts and `--max-seconds` in all.
 *
 * Exports `run` (bench/run.ts calls it).
 *
 *   npm run bench -- alerts [--rates 10,50,100,200] [--seconds 3] [--max-alerts 2000] [--max-seconds 180]
 */
import { TypedSearchAttributes } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { RECOVERY_WORKFLOW_TYPE } from '../cli/recoveries';
import { PlanRegistry } from '../triggers/plan-registry';
import { buildAlertReceiver, LISTEN_BACKLOG } from '../triggers/server';
import { RECOVERY_PLAN, RECOVERY_SCENARIO, RECOVERY_STATUS } from '../workflows/search-attributes';
import { testPlan, waitFor } from '../test/helpers/engine';
import { startDevServerEnv } from '../test/helpers/servers';
import { compared, percentile, type Benchmark, type Figure } from './figures';
import { startWorkerProcess } from './scale-worker';

const TOKEN = 'bench-token';
const TASK_QUEUE = 'alerts-bench';
/** Recoveries per rate whose history is read for the end-to-end latency. */
const E2E_SAMPLES = 25;

/** Absolute time (performance.now) after which no more alerts are sent. */
let deadline = Infinity;

const ms = (value: number) => (Number.isNaN(value) ? '-' : value.toFixed(1));

/** Calls `send(i)` at `rate` per second for `seconds` (open loop: a slow answer does not delay the next send). */
async function paced<T>(rate: number, count: number, send: (i: number) => Promise<T>): Promise<T[]> {
  const start = performance.now();
  const pending: Promise<T>[] = [];
  for (let i = 0; i < count && performance.now() < deadline; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(send(i));
  }
  return Promise.all(pending);
}

/** When the worker completed the recovery's first workflow task, from its history (epoch ms); NaN if not by the deadline. */
async function firstTaskCompleted(env: TestWorkflowEnvironment, workflowId: string): Promise<number> {
  const handle = env.client.workflow.getHandle(workflowId);
  const giveUp = Date.now() + 60_000;
  for (;;) {
    const history = await handle.fetchHistory();
    const event = history.events?.find((e) => e.workflowTaskCompletedEventAttributes);
    if (event?.eventTime)
      return Number(event.eventTime.seconds) * 1000 + Math.floor((event.eventTime.nanos ?? 0) / 1e6);
    if (Date.now() > giveUp) return NaN;
    await sleep(250);
  }
}

export const run: Benchmark = async (args) => {
  const { values } = parseArgs({
    args: args.filter((arg) => arg !== 'alerts'),
    options: {
      rates: { type: 'string', default: '10,50,100,200' },
      seconds: { type: 'string', default: '3' },
      'max-alerts': { type: 'string', default: '2000' },
      'max-seconds': { type: 'string', default: '180' },
    },
  });
  const rates = values.rates.split(',').map(Number);
  const seconds = Number(values.seconds);
  const maxAlerts = Number(values['max-alerts']);
  deadline = performance.now() + Number(values['max-seconds']) * 1000;
  const figures: Figure[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'recovery-bench-'));
  const plansDir = join(scratch, 'plans');
  mkdirSync(plansDir);
  // A scenario per alert (and the warm-up's): each alert starts a recovery of its own.
  const slots =
    Math.min(
      maxAlerts,
      rates.reduce((n, rate) => n + Math.round(rate * seconds), 0),
    ) + 1;
  const scenarios = Array.from({ length: slots }, (_, i) => `s${i}`);
  writeFileSync(
    join(plansDir, 'bench.yaml'),
    stringify({
      ...testPlan([waitFor('soak', '1h')]),
      name: 'bench',
      scenarios: [
        { name: 'full-restore', components: ['soak'] },
        ...scenarios.map((name) => ({ name, components: ['soak'] })),
      ],
      triggers: scenarios.map((scenario) => ({
        source: 'alertmanager',
        match: { alertname: 'BenchDown', slot: scenario },
        scenario,
      })),
    }),
  );
  console.log('Starting the dev server, the worker and the receiver on 127.0.0.1 ...');
  const env = await startDevServerEnv();
  // In a process of its own, so that its work does not slow this one's event loop.
  const worker = await startWorkerProcess({
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_NAMESPACE: env.namespace ?? 'default',
    RECOVERY_TASK_QUEUE: TASK_QUEUE,
    RECOVERY_PLANS_DIR: plansDir,
    RECOVERY_REPORTS_DIR: join(scratch, 'reports'),
    AWS_REGION: 'us-east-1',
  });
  const log = pino({ level: 'warn' });
  const plans = new PlanRegistry(plansDir, log);
  await plans.reload();
  const app = buildAlertReceiver({
    temporal: { client: env.client, namespace: env.namespace ?? 'default', taskQueue: TASK_QUEUE },
    plans,
    auth: { alertmanagerToken: TOKEN },
    sources: ['alertmanager'],
    limits: { rate: { burst: 100_000, perSecond: 100_000 } },
    logger: log,
  });
  await app.listen({ host: '127.0.0.1', port: 0, backlog: LISTEN_BACKLOG });
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/alerts/alertmanager`;

  const rows: string[][] = [];
  let sent = 0;
  let slot = 0;
  try {
    // Warm up both paths (connections, the workflow bundle).
    await directStart(env, 'warmup', 0);
    await sendAlert(url, 'warmup', 0, slot++);
    for (const rate of rates) {
      const count = Math.min(Math.round(rate * seconds), maxAlerts - sent);
      if (count <= 0 || performance.now() > deadline) break;
      sent += count;
      const direct = await paced(rate, count, (i) => directStart(env, `direct-${rate}`, i));
      const first = slot;
      slot += count;
      const viaHttp = await paced(rate, count, async (i) => {
        const sentAt = performance.now();
        const sentEpoch = Date.now();
        const answer = await sendAlert(url, `http-${rate}`, i, first + i);
        return { ...answer, http: performance.now() - sentAt, sentEpoch };
      });
      // The same notifications again: repeats, answered from the receiver's memory (no RPC).
      const repeats = await paced(rate, count, async (i) => {
        const sentAt = performance.now();
        const answer = await sendAlert(url, `http-${rate}`, i, first + i, viaHttp[i]!.startsAt);
        return { ok: answer.outcome === 'running', ms: performance.now() - sentAt };
      });
      const repeat = repeats.map((r) => r.ms).sort((a, b) => a - b);
      const ok = viaHttp.filter((r) => r.ok);
      const http = ok.map((r) => r.http).sort((a, b) => a - b);
      const every = Math.max(1, Math.floor(ok.length / E2E_SAMPLES));
      const sample = ok.filter((_, i) => i % every === 0).slice(0, E2E_SAMPLES);
      const e2e = (
        await Promise.all(sample.map(async (r) => (await firstTaskCompleted(env, r.workflowId)) - r.sentEpoch))
      )
        .filter((v) => !Number.isNaN(v))
        .sort((a, b) => a - b);
      const base = direct.sort((a, b) => a - b);
      const at = `${rate}/s`;
      for (const p of [50, 99])
        figures.push(
          compared({
            bench: 'alerts',
            figure: `alert → 202 (recovery started on Temporal) p${p} at ${at}`,
            value: percentile(http, p),
            unit: 'ms',
            baseline: { what: `client.workflow.start p${p}`, value: percentile(base, p) },
            note: `${ok.length}/${count} started`,
          }),
          {
            bench: 'alerts',
            figure: `alert → first workflow task done p${p} at ${at}`,
            value: percentile(e2e, p),
            unit: 'ms',
            note: e2e.length
              ? `sample of ${e2e.length}`
              : `none of the ${sample.length} sampled had its first task done within a minute`,
          },
        );
      figures.push({
        bench: 'alerts',
        figure: `repeat alert answered p50 at ${at}`,
        value: percentile(repeat, 50),
        unit: 'ms',
        note: repeats.length
          ? `${repeats.filter((r) => r.ok).length}/${repeats.length} deduplicated, no RPC`
          : 'not sent: over --max-seconds',
      });
      rows.push([
        `${rate}/s`,
        `${ok.length}/${count}`,
        ms(percentile(http, 50)),
        ms(percentile(http, 99)),
        ms(percentile(e2e, 50)),
        ms(percentile(e2e, 99)),
        ms(percentile(base, 50)),
        ms(percentile(base, 99)),
        (percentile(http, 50) / percentile(base, 50)).toFixed(2),
        `${repeats.filter((r) => r.ok).length}/${count}`,
        ms(percentile(repeat, 50)),
        ms(percentile(repeat, 99)),
      ]);
      console.log(`  ${rate}/s done: ${ok.length} of ${count} alerts answered 202`);
    }
  } finally {
    await app.close();
    await worker.stop();
    await env.teardown();
    rmSync(scratch, { recursive: true, force: true });
  }

  const header = [
    'rate',
    'started',
    'HTTP p50',
    'HTTP p99',
    'started p50',
    'started p99',
    'direct p50',
    'direct p99',
    'HTTP/direct p50',
    'repeats deduplicated',
    'repeat p50',
    'repeat p99',
  ];
  console.log('\nAlert → recovery started, in ms (loopback, dev server, one worker process):\n');
  console.log(`| ${header.join(' | ')} |`);
  console.log(`| ${header.map(() => '---').join(' | ')} |`);
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log(
    `\nHTTP: until the receiver's 202 (one SignalWithStart: recovery started, alert recorded); started: until the worker ran its first workflow task (sampled, at most ${E2E_SAMPLES} per rate); direct: client.workflow.start without HTTP, at the same rate; repeat: the same notification sent again (no RPC).`,
  );
  return { bench: 'alerts', settings: { rates, seconds, maxAlerts, samplesPerRate: E2E_SAMPLES }, figures };
};

/** One Alertmanager notification of a group of its own, for the trigger of scenario `s<slot>`. */
async function sendAlert(
  url: string,
  group: string,
  i: number,
  slot: number,
  startsAt = new Date().toISOString(),
): Promise<{ ok: boolean; outcome: string; workflowId: string; startsAt: string }> {
  const alertname = 'BenchDown';
  const body = {
    version: '4',
    groupKey: `{}:{alertname="${alertname}",bench="${group}-${i}"}`,
    status: 'firing',
    receiver: 'recovery-engine',
    alerts: [
      {
        status: 'firing',
        labels: { alertname, bench: `${group}-${i}`, slot: `s${slot}` },
        annotations: { summary: 'bench' },
        startsAt,
      },
    ],
  };
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify(body),
  });
  const answer = (await response.json()) as { recoveries?: { outcome: string; workflowId: string }[] };
  const recovery = answer.recoveries?.[0];
  return {
    ok: response.status === 202 && recovery?.outcome === 'started',
    outcome: recovery?.outcome ?? String(response.status),
    workflowId: recovery?.workflowId ?? '',
    startsAt,
  };
}

/** The baseline: the same start, by the client, without HTTP or routing. */
async function directStart(env: TestWorkflowEnvironment, group: string, i: number): Promise<number> {
  const startedAt = performance.now();
  await env.client.workflow.start(RECOVERY_WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUE,
    workflowId: `direct-bench-${group}-${i}-${Date.now()}`,
    args: [{ plan: 'bench', scenario: 'full-restore' }],
    workflowIdConflictPolicy: 'USE_EXISTING',
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    typedSearchAttributes: new TypedSearchAttributes([
      { key: RECOVERY_PLAN, value: 'bench' },
      { key: RECOVERY_SCENARIO, value: 'full-restore' },
      { key: RECOVERY_STATUS, value: 'loading' },
    ]),
  });
  return performance.now() - startedAt;
}
