/**
 * Many drills at once on one worker: a Temporal dev server on loopback and the real recovery worker
 * (`workers/main.ts`, a prebuilt workflow bundle) in a process of its own. The plan's drill scenario
 * is five components in a DAG whose steps are real activities (`command` steps running `sleep`, a
 * `wait` timer), each drill with its teardown and evidence like any real drill. It runs one drill
 * alone (the baseline), then starts `--drills` drills at once and measures:
 *
 * - the time until every one has completed, and that every one succeeded;
 * - the worker's resident memory at its peak (sampled from /proc) against the same worker idle;
 * - "no starved step": schedule-to-start waits of every activity and workflow task of a sample of
 *   the drills (from their histories and their component child workflows'), p50/p99/max.
 *
 *   npm run bench -- scale [--drills 200] [--step-seconds 0.2] [--soak 2s] [--sample 50] [--max-seconds 300]
 *                          [--max-activities N] [--max-workflow-tasks N] [--max-cached N]
 *
 * The worker limits default to the SDK's (RECOVERY_MAX_CONCURRENT_* unset); the run records what the
 * worker reported it used.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { RECOVERY_WORKFLOW_TYPE } from '../cli/recoveries';
import { parseDuration } from '../plan/duration';
import type { RecoveryProgress } from '../workflows/progress';
import { startDevServerEnv, bundleWorkflows } from '../test/helpers/servers';
import { compared, percentile, type Benchmark, type Figure } from './figures';
import { queueWaits } from './scale-histories';
import { childrenNamed, cpuSecondsOf, machineCpu, memoryOf, sampleMemory, startWorkerProcess } from './scale-worker';

const TASK_QUEUE = 'scale-bench';
const PLAN = 'scale';
const SCENARIO = 'drill';

/**
 * stop-writes → restore-db (run, validate) → soak (timer) → app (run, validate), restore-cache on
 * the side: a critical path of five command steps and the soak.
 */
function drillPlan(stepSeconds: number, soak: string) {
  const sleep = `sleep ${stepSeconds}`;
  const step = (id: string, dependsOn: string[], validate = false) => ({
    id,
    kind: 'command',
    run: sleep,
    ...(validate && { validate: sleep }),
    estimate: '5m',
    dependsOn,
  });
  return {
    name: PLAN,
    objectives: { rpo: '1h', rto: '4h' },
    contacts: [{ name: 'Bench (on call)', role: 'primary', phone: '+1 555 0100' }],
    components: [
      step('stop-writes', []),
      step('restore-db', ['stop-writes'], true),
      step('restore-cache', ['stop-writes']),
      { id: 'soak', kind: 'wait', duration: soak, estimate: soak, dependsOn: ['restore-db'] },
      step('app', ['soak', 'restore-cache'], true),
    ],
    scenarios: [{ name: SCENARIO, mode: 'drill', description: 'Rehearse on copies' }],
  };
}

/** Starts drill `id`; `done` is its result. */
async function drill(env: TestWorkflowEnvironment, id: string) {
  const handle = await env.client.workflow.start(RECOVERY_WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUE,
    workflowId: id,
    args: [{ plan: PLAN, scenario: SCENARIO, requestedBy: 'bench scale' }],
  });
  return { id, done: handle.result() as Promise<RecoveryProgress> };
}

/** Rejects after `ms` naming what was not done, so a stuck run ends instead of hanging. */
function deadline<T>(work: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`scale bench: over ${ms / 1000} s: ${what()}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

const ms1 = (v: number) => Math.round(v * 10) / 10;

export const run: Benchmark = async (args) => {
  const { values } = parseArgs({
    args,
    options: {
      drills: { type: 'string', default: '200' },
      'step-seconds': { type: 'string', default: '0.2' },
      soak: { type: 'string', default: '2s' },
      sample: { type: 'string', default: '50' },
      'max-seconds': { type: 'string', default: '300' },
      'max-activities': { type: 'string' },
      'max-workflow-tasks': { type: 'string' },
      'max-cached': { type: 'string' },
    },
  });
  const drills = Number(values.drills);
  const stepSeconds = Number(values['step-seconds']);
  const soakMs = parseDuration(values.soak);
  const sample = Math.min(drills, Number(values.sample));
  const budgetMs = Number(values['max-seconds']) * 1000;
  if (!(drills >= 1) || !(stepSeconds >= 0) || soakMs === undefined || !(sample >= 1) || !(budgetMs > 0))
    throw new Error('scale bench: --drills, --sample, --max-seconds ≥ 1, --step-seconds ≥ 0, --soak a duration');
  const began = performance.now();
  const left = () => budgetMs - (performance.now() - began);

  const scratch = mkdtempSync(join(tmpdir(), 'recovery-bench-scale-'));
  const env = await startDevServerEnv();
  let worker: Awaited<ReturnType<typeof startWorkerProcess>> | undefined;
  try {
    const plansDir = join(scratch, 'plans');
    mkdirSync(plansDir);
    writeFileSync(join(plansDir, `${PLAN}.yaml`), stringify(drillPlan(stepSeconds, values.soak)));
    // Bundled here once, as `npm run build` does for production: webpack's memory is not the worker's.
    const bundle = join(scratch, 'workflow-bundle.js');
    const { code } = await bundleWorkflows();
    writeFileSync(bundle, code);
    const tuning = {
      ...(values['max-activities'] && { RECOVERY_MAX_CONCURRENT_ACTIVITIES: values['max-activities'] }),
      ...(values['max-workflow-tasks'] && { RECOVERY_MAX_CONCURRENT_WORKFLOW_TASKS: values['max-workflow-tasks'] }),
      ...(values['max-cached'] && { RECOVERY_MAX_CACHED_WORKFLOWS: values['max-cached'] }),
    };
    worker = await startWorkerProcess({
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: env.namespace ?? 'default',
      RECOVERY_TASK_QUEUE: TASK_QUEUE,
      RECOVERY_PLANS_DIR: plansDir,
      RECOVERY_REPORTS_DIR: join(scratch, 'reports'),
      RECOVERY_WORKFLOW_BUNDLE: bundle,
      AWS_REGION: 'us-east-1',
      ...tuning,
    });
    const tag = Date.now().toString(36);

    // A first drill warms the worker (workflow sandbox, connections); the second, alone, is the baseline.
    const warm = await drill(env, `scale-${tag}-warmup`);
    await deadline(warm.done, left(), () => 'the warm-up drill did not complete');
    const idle = memoryOf(worker.pid).rssMiB;
    const aloneStart = performance.now();
    const alone = await drill(env, `scale-${tag}-alone`);
    const aloneResult = await deadline(alone.done, left(), () => 'the baseline drill did not complete');
    const aloneMs = performance.now() - aloneStart;
    if (aloneResult.status !== 'succeeded') throw new Error(`the baseline drill ended ${aloneResult.status}`);

    // All at once: the starts are sent together, then every result awaited.
    const memory = sampleMemory(worker.pid);
    const cpuBefore = cpuSecondsOf(worker.pid);
    // The dev server's CPU too, and the machine's: on a shared machine the others' load shows here.
    const devServer = childrenNamed('temporal')[0];
    const serverBefore = devServer ? cpuSecondsOf(devServer) : NaN;
    const machineBefore = machineCpu();
    const ids = Array.from({ length: drills }, (_, i) => `scale-${tag}-${i}`);
    const start = performance.now();
    const finished: number[] = [];
    const outcomes = new Map<string, string>();
    const all = Promise.all(
      ids.map(async (id) => {
        const result = await (await drill(env, id)).done;
        finished.push(performance.now() - start);
        outcomes.set(id, result.status);
      }),
    );
    await deadline(all, left(), () => `${finished.length} of ${drills} drills completed`);
    const wallMs = performance.now() - start;
    const cpu = cpuSecondsOf(worker.pid) - cpuBefore;
    const serverCpu = devServer ? cpuSecondsOf(devServer) - serverBefore : NaN;
    const machineAfter = machineCpu();
    const machineBusy = (machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total);
    const { peakMiB } = memory.stop();
    const succeeded = [...outcomes.values()].filter((s) => s === 'succeeded').length;

    // Every `every`-th drill's histories, and the baseline's.
    const every = Math.max(1, Math.floor(drills / sample));
    const sampled = ids.filter((_, i) => i % every === 0).slice(0, sample);
    const [loaded, baseline] = await Promise.all([queueWaits(env.client, sampled), queueWaits(env.client, [alone.id])]);
    const criticalPathMs = 5 * stepSeconds * 1000 + soakMs;

    const figures: Figure[] = [
      compared({
        bench: 'scale',
        figure: `all ${drills} drills completed (wall)`,
        value: wallMs / 1000,
        unit: 's',
        baseline: { what: 'one drill alone', value: aloneMs / 1000 },
        note: `${succeeded}/${drills} succeeded; critical path of the steps ${criticalPathMs / 1000} s`,
      }),
      compared({
        bench: 'scale',
        figure: `drill duration p50 (${loaded.durations.length} sampled)`,
        value: percentile(loaded.durations, 50) / 1000,
        unit: 's',
        baseline: { what: 'one drill alone', value: baseline.durations[0]! / 1000 },
      }),
      compared({
        bench: 'scale',
        figure: 'drill duration p99',
        value: percentile(loaded.durations, 99) / 1000,
        unit: 's',
        baseline: { what: 'one drill alone', value: baseline.durations[0]! / 1000 },
      }),
      ...(['p50', 'p99', 'max'] as const).flatMap((p) => {
        const at = (values: number[]) => (p === 'max' ? Math.max(...values) : percentile(values, Number(p.slice(1))));
        return [
          compared({
            bench: 'scale',
            figure: `activity schedule-to-start ${p} (${loaded.activities.length} tasks)`,
            value: ms1(at(loaded.activities)),
            unit: 'ms',
            baseline: { what: 'one drill alone', value: ms1(at(baseline.activities)) },
          }),
          compared({
            bench: 'scale',
            figure: `workflow task schedule-to-start ${p} (${loaded.workflowTasks.length} tasks)`,
            value: ms1(at(loaded.workflowTasks)),
            unit: 'ms',
            baseline: { what: 'one drill alone', value: ms1(at(baseline.workflowTasks)) },
          }),
        ];
      }),
      compared({
        bench: 'scale',
        figure: 'worker resident memory, peak',
        value: Math.round(peakMiB),
        unit: 'MiB',
        baseline: { what: 'the same worker idle, after the warm-up', value: Math.round(idle) },
        note: `VmHWM ${Math.round(memoryOf(worker.pid).peakMiB)} MiB`,
      }),
      {
        bench: 'scale',
        figure: 'worker CPU during the drills',
        value: Math.round(cpu * 10) / 10,
        unit: 's',
        note: `${((cpu / (wallMs / 1000)) * 100).toFixed(0)} % of one core on average`,
      },
      {
        bench: 'scale',
        figure: 'dev server CPU during the drills',
        value: Math.round(serverCpu * 10) / 10,
        unit: 's',
        note: `the whole machine was ${(machineBusy * 100).toFixed(0)} % busy (${cpus().length} cores, other processes included)`,
      },
      {
        bench: 'scale',
        figure: 'activity retries in the sampled histories',
        value: loaded.retries + baseline.retries,
        unit: 'attempts',
        note: 'a retry is a step that failed: none expected',
      },
    ];
    if (succeeded !== drills)
      throw new Error(
        `scale bench: ${drills - succeeded} of ${drills} drills did not succeed: ${[...outcomes]
          .filter(([, s]) => s !== 'succeeded')
          .slice(0, 5)
          .map(([id, s]) => `${id} ${s}`)
          .join(', ')}`,
      );
    return {
      bench: 'scale',
      settings: {
        drills,
        stepSeconds,
        soak: values.soak,
        componentsPerDrill: 5,
        commandStepsPerDrill: 6,
        sampledDrills: sampled.length,
        sampledHistories: loaded.histories,
        worker: { ...worker.limits, process: 'workers/main.ts, own process, prebuilt bundle', logLevel: 'info' },
        workerVariables: tuning,
      },
      figures,
    };
  } finally {
    await worker?.stop();
    await env.teardown();
    rmSync(scratch, { recursive: true, force: true });
  }
};
