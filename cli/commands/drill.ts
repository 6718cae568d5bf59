import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, makeTelemetryFilterString, Runtime, Worker } from '@temporalio/worker';
import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { createPlanActivities } from '../../activities/plans';
import { simulateStep } from '../../activities/simulate';
import { parseDuration } from '../../plan/duration';
import { slug } from '../../plan/schema/common';
import { formatMinutes } from '../../plan/rpo';
import { locateToolchain } from '../../toolchain';
import { registerSearchAttributes } from '../../workers/search-attributes';
import { recoveryWorkflow } from '../../workflows';
import { SIMULATED_ATTEMPTS_PER_RUN } from '../../workflows/recovery';
import type { RecoveryProgress } from '../../workflows/progress';
import { loadValidPlan } from '../load-or-fail';
import { UsageError, type CommandResult } from '../result';
import { pickScenario } from './plan';

export interface DrillOptions {
  scenario?: string;
  simulate?: boolean;
  json?: boolean;
  /** `<component>:<failed attempts>`, repeatable. */
  fail?: string[];
  /** `<component>:<factor>`, repeatable. */
  slow?: string[];
  /** How long a person takes to approve a gate, e.g. `10m`. */
  approvalDelay?: string;
}

export interface SimulatedDrill {
  plan: string;
  scenario: string;
  achievedRtoMinutes: number;
  rtoMinutes: number;
  rtoMet: boolean;
  steps: { component: string; step: string; startMinute: number; endMinute: number; attempts: number }[];
}

/** `a:3` pairs of a repeatable option, each value checked, named in the error when wrong. */
function pairs(option: string, values: string[] = [], check: (value: number) => boolean, what: string) {
  const result: Record<string, number> = {};
  for (const value of values) {
    const match = /^(.+):([0-9.]+)$/.exec(value);
    const number = match ? Number(match[2]) : NaN;
    if (!match || !slug.safeParse(match[1]).success || !check(number))
      throw new UsageError(`${option} "${value}": expected <component>:<${what}>`);
    result[match[1]!] = number;
  }
  return result;
}

/**
 * Every attempt of a step: each run of the component before the last used up the activity's
 * attempts (SIMULATED_ATTEMPTS_PER_RUN), the last made as many as its result says.
 */
function attemptsOf(step: RecoveryProgress['components'][number]['steps'][number]): number {
  const last = (step.result as { attempts?: number } | undefined)?.attempts;
  return last === undefined ? step.attempts : (step.attempts - 1) * SIMULATED_ATTEMPTS_PER_RUN + last;
}

const minutesBetween = (from: string, to: string | undefined) =>
  to === undefined ? 0 : Math.round(((Date.parse(to) - Date.parse(from)) / 60_000) * 100) / 100;

/** The report of a simulated run, in the documented JSON shape (minutes from the start of the recovery). */
export function simulatedDrillOf(report: RecoveryProgress): SimulatedDrill {
  const start = report.clockStartedAt;
  const achieved = minutesBetween(start, report.finishedAt);
  return {
    plan: report.plan,
    scenario: report.scenario,
    achievedRtoMinutes: achieved,
    rtoMinutes: report.rtoMinutes,
    rtoMet: achieved <= report.rtoMinutes,
    steps: report.components.flatMap((c) =>
      c.steps
        .filter((s) => s.startedAt !== undefined)
        .map((s) => ({
          component: c.id,
          step: s.id,
          startMinute: minutesBetween(start, s.startedAt),
          endMinute: minutesBetween(start, s.finishedAt),
          attempts: attemptsOf(s),
        })),
    ),
  };
}

/** A person's reading of the simulated timeline: one line per component, then the verdict. */
function renderDrill(drill: SimulatedDrill, report: RecoveryProgress): string {
  const rows = report.components.map((c) => {
    const steps = drill.steps.filter((s) => s.component === c.id);
    const from = minutesBetween(report.clockStartedAt, c.startedAt);
    const to = minutesBetween(report.clockStartedAt, c.finishedAt);
    const failed = steps.reduce((n, s) => n + Math.max(0, s.attempts - 1), 0);
    return [
      c.id,
      c.kind,
      c.startedAt ? `+${formatMinutes(from)}` : '-',
      c.finishedAt ? `+${formatMinutes(to)}` : '-',
      c.startedAt && c.finishedAt ? formatMinutes(to - from) : '-',
      failed ? `${failed} failed attempt${failed === 1 ? '' : 's'}` : '',
    ];
  });
  const header = ['component', 'kind', 'start', 'end', 'took', ''];
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const verdict = drill.rtoMet ? 'met' : 'MISSED';
  return [
    `Simulated drill of ${drill.plan}, scenario ${drill.scenario} (time-skipping server: estimates, no real calls)`,
    '',
    line(header),
    ...rows.map(line),
    '',
    `RTO: ${formatMinutes(drill.achievedRtoMinutes)} against ${formatMinutes(drill.rtoMinutes)}: ${verdict}`,
    ...(report.decisions.length
      ? [`Operator decisions: ${report.decisions.map((d) => `${d.component} ${d.action}`).join(', ')}`]
      : []),
  ].join('\n');
}

/**
 * `recovery drill <plan.yaml> --scenario <s> --simulate [--json] [--fail c:n] [--slow c:f]
 * [--approval-delay <d>]`: the real recovery workflow on the time-skipping test server, each step
 * a durable timer of its share of the component's estimate, so hours play in seconds; failures and
 * slowness injected where asked.
 */
export async function drillCommand(file: string, options: DrillOptions): Promise<CommandResult> {
  if (!options.simulate)
    throw new UsageError(
      'only --simulate drills exist so far: a real drill is a drill-mode scenario started with recovery start',
    );
  const fail = pairs('--fail', options.fail, (n) => Number.isInteger(n) && n >= 1, 'failed attempts');
  const slow = pairs('--slow', options.slow, (n) => n > 0, 'factor');
  const approvalDelay = options.approvalDelay ?? '0m';
  const approvalMs = /^0[smhd]?$/.test(approvalDelay) ? 0 : parseDuration(approvalDelay);
  if (approvalMs === undefined)
    throw new UsageError(`--approval-delay "${approvalDelay}": expected a duration such as 10m`);
  const { plan, warnings } = await loadValidPlan(file);
  const scenario = pickScenario(plan, options.scenario);
  for (const id of [...Object.keys(fail), ...Object.keys(slow)])
    if (!plan.components.some((c) => c.id === id))
      throw new UsageError(
        `no component "${id}" in plan ${plan.name}: use one of ${plan.components.map((c) => c.id).join(', ')}`,
      );

  // The test server and the worker are the command's own business: only errors are worth a line.
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
  });
  const { testServer } = await locateToolchain();
  const [env, workflowBundle] = await Promise.all([
    TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: testServer } } }),
    bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: new DefaultLogger('ERROR') }),
  ]);
  try {
    await registerSearchAttributes(env.connection, env.namespace ?? 'default');
    const taskQueue = 'simulated-drill';
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle,
      // Only what a simulation calls: the plan loader, notifications to nowhere, and the failure injector.
      activities: { ...createPlanActivities('.'), notify: () => Promise.resolve({ channels: [] }), simulateStep },
    });
    const raw = parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    const report = await worker.runUntil(
      env.client.workflow.execute(recoveryWorkflow, {
        taskQueue,
        workflowId: `simulated-drill-${plan.name}-${scenario}`,
        args: [
          {
            plan: raw,
            scenario,
            simulation: {
              fail,
              slow,
              approvalDelayMinutes: approvalMs / 60_000,
            },
          },
        ],
      }),
    );
    const drill = simulatedDrillOf(report);
    return {
      stdout: `${options.json ? JSON.stringify(drill, null, 2) : renderDrill(drill, report)}\n`,
      stderr: warnings.length ? `${warnings.join('\n')}\n` : undefined,
      exitCode: drill.rtoMet ? 0 : 1,
    };
  } finally {
    await env.teardown();
  }
}
