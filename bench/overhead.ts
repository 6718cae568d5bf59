/**
 * What the engine adds to a recovery's own work: a generated plan of 40 `command` components in a
 * DAG (each `sleep` of a fixed time, so the ideal critical path is known), run by the real recovery
 * worker on the Temporal dev server, against
 *
 * - the ideal: the critical path of the sleeps, what no orchestrator can beat;
 * - what people use today: the same 40 commands one after another in a bash script;
 *
 * and, from the same run's histories (the recovery and its 40 component workflows), each step's
 * latency: scheduled → completed minus the command's own run time (measured by the activity), the
 * time in the task queue, and the workflow tasks' latency.
 *
 *   npm run bench -- overhead [--layers 8] [--width 5]
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import type { RunCommandResult } from '../activities/run-command';
import { recoveryWorkflow } from '../workflows';
import { testPlan, waitFor } from '../test/helpers/engine';
import { startDevServerEnv } from '../test/helpers/servers';
import { inProcessWorker } from './in-process-worker';
import { compared, percentile, type Benchmark, type Figure } from './figures';
import {
  activityTimings,
  eventMs,
  recoveryHistories,
  workflowTaskLatencies,
  type RecoveryHistories,
} from './histories';
import { criticalPathSeconds, dagPlan, generateDag, sleepCommand, type DagComponent } from './plans';

const TASK_QUEUE = 'overhead-bench';

export const run: Benchmark = async (args) => {
  const { values } = parseArgs({
    args,
    options: { layers: { type: 'string', default: '8' }, width: { type: 'string', default: '5' } },
  });
  const dag = generateDag(Number(values.layers), Number(values.width));
  const ideal = criticalPathSeconds(dag);

  // The baseline first, on a quiet machine: the same commands, one after another, by bash.
  const script = dag.map(sleepCommand).join('\n');
  const scriptStart = performance.now();
  const bash = spawnSync('bash', ['-c', script], { stdio: 'ignore' });
  const sequentialSeconds = (performance.now() - scriptStart) / 1000;
  if (bash.status !== 0) throw new Error(`the sequential script exited with ${bash.status}`);

  console.log(
    `overhead: ${dag.length} components, critical path ${ideal.seconds.toFixed(1)} s; starting the dev server`,
  );
  const env = await startDevServerEnv();
  try {
    const worker = await inProcessWorker(env, TASK_QUEUE);
    const recovery = (workflowId: string, plan: Record<string, unknown>) =>
      env.client.workflow.execute(recoveryWorkflow, {
        taskQueue: TASK_QUEUE,
        workflowId,
        args: [{ plan, scenario: 'full-restore', requestedBy: 'bench' }],
      });
    const { wallSeconds, report } = await worker.runUntil(async () => {
      // Warm-up: the workflow bundle loaded, connections open, as on a worker that has been up a while.
      await recovery('overhead-warmup', { ...testPlan([waitFor('w', '1s')]), name: 'warmup' });
      const started = performance.now();
      const report = await recovery('overhead-dag', dagPlan(dag));
      return { wallSeconds: (performance.now() - started) / 1000, report };
    });
    if (report.status !== 'succeeded') throw new Error(`the bench recovery ended ${report.status}`);

    const { parent, children } = await recoveryHistories(env.client, 'overhead-dag');
    const timings = [parent, ...children.map((c) => c.history)].flatMap(activityTimings);
    const commands = timings.filter((t) => t.activityType === 'runCommand');
    if (commands.length !== dag.length) throw new Error(`${commands.length} commands ran, expected ${dag.length}`);
    const stepOverhead = commands.map((t) => t.totalMs - (t.result as RunCommandResult).durationMs);
    const queue = commands.map((t) => t.queueMs);
    const workflowTasks = [parent, ...children.map((c) => c.history)].flatMap(workflowTaskLatencies);
    const engineSeconds = wallSeconds - ideal.seconds;
    const { handoff, wrapUp } = handoffs(parent, children, dag);

    const figures: Figure[] = [
      compared({
        bench: 'overhead',
        figure: `wall time, ${dag.length}-component DAG`,
        value: wallSeconds,
        unit: 's',
        baseline: { what: 'ideal critical path', value: ideal.seconds },
      }),
      compared({
        bench: 'overhead',
        figure: `wall time, ${dag.length}-component DAG`,
        value: wallSeconds,
        unit: 's',
        baseline: { what: 'sequential bash script', value: sequentialSeconds },
      }),
      {
        bench: 'overhead',
        figure: 'engine time per step on the critical path',
        value: (engineSeconds * 1000) / ideal.path.length,
        unit: 'ms',
        note: `(wall − ideal) ÷ ${ideal.path.length} steps: dependency seen → child workflow → activity → result`,
      },
      ...latency('step latency: scheduled → completed − command time', stepOverhead),
      ...latency('step latency: scheduled → started (task queue)', queue),
      ...latency('workflow task: scheduled → completed', workflowTasks),
      ...latency('dependency done (parent saw its child complete) → next step scheduled', handoff),
      ...latency('step completed → its component done (parent saw the child complete)', wrapUp),
    ];
    return {
      bench: 'overhead',
      settings: {
        components: dag.length,
        layers: Number(values.layers),
        width: Number(values.width),
        criticalPath: ideal.path,
        server: 'Temporal CLI dev server (in memory)',
        worker: 'createRecoveryWorker, SDK default tuning, same process',
        histories: 1 + children.length,
      },
      figures,
    };
  } finally {
    await env.teardown();
  }
};

type History = RecoveryHistories['parent'];

/**
 * Where the engine's time between two steps goes: from the parent seeing the last dependency's
 * child workflow complete to the dependent's activity being scheduled (gate, child start, its
 * "running" report), and from a step's activity completing to the parent seeing its child complete.
 */
function handoffs(parent: History, children: RecoveryHistories['children'], dag: DagComponent[]) {
  const childDone = new Map<string, number>();
  for (const e of parent.events ?? []) {
    const id = e.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId;
    if (id) childDone.set(id.split('/').at(-2)!, eventMs(e));
  }
  const scheduled = new Map<string, number>();
  const completed = new Map<string, number>();
  for (const child of children) {
    const component = child.workflowId.split('/').at(-2)!;
    for (const e of child.history.events ?? []) {
      if (e.activityTaskScheduledEventAttributes && !scheduled.has(component)) scheduled.set(component, eventMs(e));
      if (e.activityTaskCompletedEventAttributes) completed.set(component, eventMs(e));
    }
  }
  const handoff = dag
    .filter((c) => c.dependsOn.length > 0)
    .map((c) => scheduled.get(c.id)! - Math.max(...c.dependsOn.map((d) => childDone.get(d)!)));
  const wrapUp = dag.map((c) => childDone.get(c.id)! - completed.get(c.id)!);
  return { handoff, wrapUp };
}

/** p50 and p99 of `values` (ms), as two figures. */
function latency(figure: string, values: number[]): Figure[] {
  return [50, 99].map((p) => ({
    bench: 'latency',
    figure: `${figure} p${p}`,
    value: percentile(values, p),
    unit: 'ms',
    note: `${values.length} samples`,
  }));
}
