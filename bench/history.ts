/**
 * How much history a long recovery writes, against Temporal's limits per workflow (51,200 events
 * and 50 MB; the server terminates a workflow past them). A generated 40-component plan whose
 * critical path is 4 hours: four chains of durable waits, HTTP checks that fail their first
 * attempts (503) and poll again on the activity retry policy, and polling commands, run by the real
 * recovery worker on the time-skipping server (a compressed clock: the waits and the retry backoffs
 * pass in milliseconds). The same plan scaled to 1 h and 2 h gives the growth per hour of plan time.
 *
 *   npm run bench -- history [--hours 1,2,4] [--failures 3]
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { recoveryWorkflow } from '../workflows';
import { testPlan } from '../test/helpers/engine';
import { startTimeSkippingEnv } from '../test/helpers/servers';
import { inProcessWorker } from './in-process-worker';
import { compared, type Benchmark, type Figure } from './figures';
import { eventCount, historyBytes, recoveryHistories } from './histories';

/** Temporal's per-workflow limits (history count and size limit errors, default server configuration). */
const EVENT_LIMIT = 51_200;
const BYTE_LIMIT = 50 * 1024 * 1024;
const TASK_QUEUE = 'history-bench';
const CHAINS = 4;
/** One chain: w = wait (a fifth of the hours), h = HTTP check that fails first, c = polling command. */
const CHAIN = ['w', 'h', 'c', 'w', 'h', 'w', 'c', 'w', 'h', 'w'] as const;

/** A plan of CHAINS chains whose waits add up to `hours` each; checks go to `url`/<id>. */
function longPlan(hours: number, url: string): Record<string, unknown> {
  const waitMinutes = (hours * 60) / CHAIN.filter((k) => k === 'w').length;
  const components = Array.from({ length: CHAINS }, (_, chain) =>
    CHAIN.map((kind, i) => {
      const id = `ch${chain}-${i}-${kind}`;
      const dependsOn = i === 0 ? [] : [`ch${chain}-${i - 1}-${CHAIN[i - 1]}`];
      if (kind === 'w')
        return { id, kind: 'wait', duration: `${waitMinutes}m`, estimate: `${waitMinutes}m`, dependsOn };
      if (kind === 'h') return { id, kind: 'http-check', url: `${url}/${id}`, estimate: '2m', dependsOn };
      // Polls a condition a few times, as a readiness loop does.
      return { id, kind: 'command', run: 'for i in 1 2 3 4 5; do sleep 0.02; done', estimate: '1m', dependsOn };
    }),
  ).flat();
  return { ...testPlan(components), name: `bench-history-${hours}h`, objectives: { rpo: '1h', rto: `${hours * 2}h` } };
}

export const run: Benchmark = async (args) => {
  const { values } = parseArgs({
    args,
    options: { hours: { type: 'string', default: '1,2,4' }, failures: { type: 'string', default: '3' } },
  });
  const hoursList = values.hours.split(',').map(Number);
  const failures = Number(values.failures);
  // A service that is not up yet: each check path answers 503 `failures` times, then 200.
  const calls = new Map<string, number>();
  const service = createServer((req, res) => {
    const n = (calls.get(req.url!) ?? 0) + 1;
    calls.set(req.url!, n);
    res.writeHead(n <= failures ? 503 : 200).end(n <= failures ? 'starting' : 'ok');
  });
  await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(service.address() as AddressInfo).port}`;

  const env = await startTimeSkippingEnv();
  const measured: {
    hours: number;
    wallSeconds: number;
    parentEvents: number;
    parentBytes: number;
    totalEvents: number;
    totalBytes: number;
    largestChildEvents: number;
    children: number;
  }[] = [];
  try {
    const worker = await inProcessWorker(env, TASK_QUEUE);
    await worker.runUntil(async () => {
      for (const hours of hoursList) {
        calls.clear();
        const workflowId = `history-${hours}h`;
        const started = performance.now();
        const report = await env.client.workflow.execute(recoveryWorkflow, {
          taskQueue: TASK_QUEUE,
          workflowId,
          args: [{ plan: longPlan(hours, url), scenario: 'full-restore', requestedBy: 'bench' }],
        });
        const wallSeconds = (performance.now() - started) / 1000;
        if (report.status !== 'succeeded') throw new Error(`the ${hours} h recovery ended ${report.status}`);
        const { parent, children } = await recoveryHistories(env.client, workflowId);
        const childEvents = children.map((c) => eventCount(c.history));
        measured.push({
          hours,
          wallSeconds,
          parentEvents: eventCount(parent),
          parentBytes: historyBytes(parent),
          totalEvents: eventCount(parent) + childEvents.reduce((a, b) => a + b, 0),
          totalBytes: historyBytes(parent) + children.reduce((a, c) => a + historyBytes(c.history), 0),
          largestChildEvents: Math.max(...childEvents),
          children: children.length,
        });
        console.log(
          `history: ${hours} h recovery simulated in ${wallSeconds.toFixed(1)} s; ${measured.at(-1)!.parentEvents} events in the recovery's history`,
        );
      }
    });
  } finally {
    await env.teardown();
    service.close();
  }

  const longest = measured.reduce((a, b) => (b.hours > a.hours ? b : a));
  const shortest = measured.reduce((a, b) => (b.hours < a.hours ? b : a));
  const span = longest.hours - shortest.hours;
  const perHour = (key: 'parentEvents' | 'parentBytes') => (span > 0 ? (longest[key] - shortest[key]) / span : NaN);
  const h = `${longest.hours} h recovery`;
  const perComponent = longest.parentEvents / longest.children;
  /** A figure against Temporal's limit per workflow. */
  const underLimit = (figure: string, value: number, unit: string, limit: number, note?: string) =>
    compared({
      bench: 'history',
      figure,
      value,
      unit,
      baseline: { what: "Temporal's limit per workflow", value: limit },
      ...(note ? { note } : {}),
    });
  const figures: Figure[] = [
    underLimit(
      `events, ${h}'s own history`,
      longest.parentEvents,
      'events',
      EVENT_LIMIT,
      `${perComponent.toFixed(1)} events per component: about ${Math.floor(EVENT_LIMIT / perComponent)} components before the limit`,
    ),
    underLimit(`bytes, ${h}'s own history`, longest.parentBytes, 'B', BYTE_LIMIT),
    underLimit(`events, largest component workflow`, longest.largestChildEvents, 'events', EVENT_LIMIT),
    {
      bench: 'history',
      figure: `events and bytes, recovery + ${longest.children} component workflows`,
      value: longest.totalEvents,
      unit: 'events',
      note: `${longest.totalBytes} B in all; each workflow has its own limit`,
    },
    {
      bench: 'history',
      figure: `growth per hour of plan time, recovery's history`,
      value: perHour('parentEvents'),
      unit: 'events/h',
      note: `${perHour('parentBytes').toFixed(0)} B/h, from the ${shortest.hours} h and ${longest.hours} h runs: heartbeats and retries write no events; ±1 is the order of timers`,
    },
    {
      bench: 'history',
      figure: `${h} simulated (compressed clock)`,
      value: longest.wallSeconds,
      unit: 's',
      note: `${CHAINS} chains, HTTP checks failing ${failures} times each first`,
    },
  ];
  return {
    bench: 'history',
    settings: { server: 'Java time-skipping test server', failuresPerCheck: failures, runs: measured },
    figures,
  };
};
