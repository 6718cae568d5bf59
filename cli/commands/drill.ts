import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, makeTelemetryFilterString, Runtime, Worker } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { parse } from 'yaml';
import { createPlanActivities } from '../../activities/plans';
import { simulateStep } from '../../activities/simulate';
import { componentHistory } from '../../evidence/history';
import { defaultReportsDir, listEvidence, saveEvidence } from '../../evidence/store';
import { analyzeScenario } from '../../plan/analysis';
import { parseDuration } from '../../plan/duration';
import { estimateOf } from '../../plan/kinds';
import { slug } from '../../plan/schema/common';
import type { RecoveryPlan } from '../../plan/schema/plan';
import { formatMinutes } from '../../plan/rpo';
import { locateToolchain } from '../../toolchain';
import { registerSearchAttributes } from '../../workers/search-attributes';
import { recoveryWorkflow } from '../../workflows';
import { SIMULATED_ATTEMPTS_PER_RUN } from '../../workflows/recovery';
import type { RecoveryProgress } from '../../workflows/progress';
import { describeRequestIssues, recoveryRequestSchema, type RecoveryRequest } from '../../workflows/request';
import { drillSummary, rtoText, verdictText } from '../../evidence/summary';
import { loadValidPlan } from '../load-or-fail';
import { type LiveOutput } from '../progress-text';
import { UsageError, type CommandResult } from '../result';
import { connectTemporal, withTemporal, type Connect } from '../temporal-client';
import { textTable } from '../text-table';
import { pickScenario } from './plan';
import { followRecovery, resolvePlan, startRecovery } from '../start-recovery';
import { compactUtc, recoveryWorkflowId } from './start';

export interface DrillOptions {
  scenario?: string;
  simulate?: boolean;
  /** Run the scenario as a drill on the configured Temporal cluster, by its workers. */
  real?: boolean;
  /** Simulated: each component takes the median of its last real drills instead of its estimate. */
  fromHistory?: boolean;
  /** Where evidence is saved and past drills are read (default RECOVERY_REPORTS_DIR, else drill-reports/). */
  reportsDir?: string;
  /** Real drills: approve every gate automatically. */
  autoApprove?: boolean;
  json?: boolean;
  /** `<component>:<failed attempts>`, repeatable. */
  fail?: string[];
  /** `<component>:<factor>`, repeatable. */
  slow?: string[];
  /** How long a person takes to approve a gate, e.g. `10m`. */
  approvalDelay?: string;
  /** Real drills: how the CLI reaches Temporal (tests pass their environment's). */
  connect?: Connect;
  /** Real drills: where progress is shown while waiting. */
  live?: LiveOutput;
  pollMs?: number;
  now?: () => Date;
}

export interface SimulatedDrill {
  plan: string;
  scenario: string;
  achievedRtoMinutes: number;
  rtoMinutes: number;
  rtoMet: boolean;
  steps: { component: string; step: string; startMinute: number; endMinute: number; attempts: number }[];
  /** With --from-history: the components whose duration came from past real drills. */
  fromHistory?: { component: string; minutes: number; estimateMinutes: number; drills: number }[];
  /** With --from-history: the components no real drill has recovered yet (they keep their estimate). */
  noHistory?: string[];
  /** Where the evidence of this simulated drill was saved. */
  evidence?: { dir: string; files: string[] };
}

/** Who runs a drill, for its evidence: `user@host`. */
export function whoRuns(): string {
  let user = process.env.USER || process.env.USERNAME || 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (some containers): the environment's name will do
  }
  return `${user}@${hostname()}`;
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
  return [
    renderTimeline(drill, report),
    ...(drill.fromHistory?.length
      ? [
          `From past real drills: ${drill.fromHistory
            .map(
              (h) =>
                `${h.component} ${formatMinutes(h.minutes)} (median of ${h.drills} drill${h.drills === 1 ? '' : 's'}; estimate ${formatMinutes(h.estimateMinutes)})`,
            )
            .join(', ')}`,
        ]
      : []),
    ...(drill.noHistory?.length ? [`No real drill yet, estimate kept: ${drill.noHistory.join(', ')}`] : []),
    ...(drill.evidence ? [`Evidence: ${drill.evidence.dir}`] : []),
  ].join('\n');
}

function renderTimeline(drill: SimulatedDrill, report: RecoveryProgress): string {
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

/** The explanation when neither --simulate nor --real says what kind of drill to run. */
export const DRILL_KIND_HELP =
  'say which drill: --simulate rehearses the scenario on the time-skipping test server from the estimates, in seconds, touching nothing (add --from-history to use past real drills); --real runs it as a drill on the Temporal cluster by its workers, into isolated copies, then tears them down and saves the evidence';

/**
 * `recovery drill <plan> --scenario <s> --simulate|--real`: with --simulate, the real recovery
 * workflow on the time-skipping test server, each step a durable timer of its share of the
 * component's estimate (or, --from-history, of what past real drills took), so hours play in
 * seconds; failures and slowness injected where asked; the evidence saved, marked simulated. With
 * --real, the scenario as a drill on the Temporal cluster (realDrill).
 */
export async function drillCommand(file: string, options: DrillOptions): Promise<CommandResult> {
  if (options.simulate && options.real) throw new UsageError('--simulate or --real, not both: ' + DRILL_KIND_HELP);
  if (!options.simulate && !options.real) throw new UsageError(DRILL_KIND_HELP);
  const reportsDir = options.reportsDir ?? defaultReportsDir();
  if (options.real) {
    const simulationOnly = [
      options.fail?.length ? '--fail' : '',
      options.slow?.length ? '--slow' : '',
      options.fromHistory ? '--from-history' : '',
      options.approvalDelay && !/^0[smhd]?$/.test(options.approvalDelay) ? '--approval-delay' : '',
    ].filter(Boolean);
    if (simulationOnly.length)
      throw new UsageError(`${simulationOnly.join(', ')}: only for --simulate; a real drill runs for real`);
    return realDrill(file, { ...options, requestedBy: whoRuns() });
  }
  if (options.autoApprove)
    throw new UsageError('--auto-approve is for --real drills: a simulation approves after --approval-delay');
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
  const history = options.fromHistory ? await historyFactors(plan, scenario, reportsDir, slow) : undefined;
  const requestedBy = whoRuns();

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
  let report: RecoveryProgress;
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
    // Its own id: the evidence folder is named after it, and no two simulations share one.
    const started = options.now?.() ?? new Date();
    report = await worker.runUntil(
      env.client.workflow.execute(recoveryWorkflow, {
        taskQueue,
        workflowId: `simulated-drill-${plan.name}-${scenario}-${compactUtc(started)}-${randomBytes(3).toString('hex')}`,
        args: [
          {
            plan: raw,
            scenario,
            requestedBy,
            simulation: {
              fail,
              slow: { ...(history?.slow ?? {}), ...slow },
              approvalDelayMinutes: approvalMs / 60_000,
            },
          },
        ],
      }),
    );
  } finally {
    await env.teardown();
  }
  report = { ...report, simulated: true, requestedBy: report.requestedBy ?? requestedBy };
  const drill: SimulatedDrill = {
    ...simulatedDrillOf(report),
    ...(history ? { fromHistory: history.used, noHistory: history.none } : {}),
    evidence: await saveEvidence(reportsDir, report),
  };
  return {
    stdout: `${options.json ? JSON.stringify(drill, null, 2) : renderDrill(drill, report)}\n`,
    stderr: warnings.length ? `${warnings.join('\n')}\n` : undefined,
    exitCode: drill.rtoMet ? 0 : 1,
  };
}

/**
 * --from-history: the slowness factor that makes each component of the scenario take what its last
 * real drills took (median of finishedAt − startedAt) instead of its estimate; an explicit --slow
 * wins. Components never drilled for real keep their estimate, and are named.
 */
async function historyFactors(
  plan: RecoveryPlan,
  scenario: string,
  reportsDir: string,
  explicit: Record<string, number>,
): Promise<{ slow: Record<string, number>; used: NonNullable<SimulatedDrill['fromHistory']>; none: string[] }> {
  const { drills } = await listEvidence(reportsDir, plan.name);
  const history = componentHistory(drills.map((d) => d.summary));
  const slow: Record<string, number> = {};
  const used: NonNullable<SimulatedDrill['fromHistory']> = [];
  const none: string[] = [];
  for (const id of analyzeScenario(plan, scenario).components) {
    if (explicit[id] !== undefined) continue;
    const past = history.get(id);
    if (!past) {
      none.push(id);
      continue;
    }
    const estimateMinutes = parseDuration(estimateOf(plan.components.find((c) => c.id === id)!))! / 60_000;
    // A component that took no measurable time still needs a positive factor.
    slow[id] = Math.max(past.minutes, 1 / 60) / Math.max(estimateMinutes, 1 / 60);
    used.push({ component: id, minutes: past.minutes, estimateMinutes, drills: past.drills });
  }
  return { slow, used, none };
}

/**
 * --real: starts the scenario as a drill (`drill: true`, who runs it) on the configured Temporal
 * cluster, follows it as `recovery start --wait` does, then prints the verdict and where the worker
 * saved the evidence. Exit code 0 only for a drill that succeeded inside its RTO and was torn down.
 */
async function realDrill(plan: string, options: DrillOptions & { requestedBy: string }): Promise<CommandResult> {
  const now = options.now?.() ?? new Date();
  const resolved = await resolvePlan(plan, options.scenario);
  const request: RecoveryRequest = {
    plan: resolved.ref,
    scenario: resolved.scenario,
    drill: true,
    requestedBy: options.requestedBy,
    ...(options.autoApprove ? { approvals: { auto: true } } : {}),
  };
  const checked = recoveryRequestSchema.safeParse(request);
  if (!checked.success) throw new UsageError(describeRequestIssues(checked.error).join('\n'));
  const workflowId = recoveryWorkflowId(resolved.name, resolved.scenario, `drill-${compactUtc(now)}`);
  const stderr = resolved.warnings.length ? `${resolved.warnings.join('\n')}\n` : undefined;

  return withTemporal(options.connect ?? (() => connectTemporal()), async (target) => {
    const handle = await startRecovery(target, { workflowId, request, plan: resolved, what: 'drill' });
    const outcome = await followRecovery(target, handle, { live: options.live, pollMs: options.pollMs, what: 'drill' });
    if ('refused' in outcome) throw new UsageError(`drill ${workflowId} refused: ${outcome.refused}`);
    const ended = 'ended' in outcome ? outcome.ended : undefined;
    const result = drillResult('report' in outcome ? outcome.report : outcome.progress, ended, options.json);
    return {
      ...result,
      stderr: [stderr, ended ? `drill ${workflowId} ended: ${ended}\n` : ''].filter(Boolean).join('') || undefined,
    };
  });
}

/** The verdict of a real drill, per component, and where its evidence is. */
function drillResult(progress: RecoveryProgress | undefined, ended: string | undefined, json?: boolean): CommandResult {
  if (!progress) return { stdout: json ? `${JSON.stringify({ passed: false, ended }, null, 2)}\n` : '', exitCode: 1 };
  const summary = drillSummary(progress);
  const passed = summary.passed && !ended;
  if (json)
    return {
      stdout: `${JSON.stringify({ passed, summary, evidence: progress.evidence ?? null }, null, 2)}\n`,
      exitCode: passed ? 0 : 1,
    };
  const rows = summary.components.map((c) => [
    c.id,
    c.status,
    c.durationMinutes === undefined ? '-' : formatMinutes(c.durationMinutes),
    rtoText(c.rto),
  ]);
  const lines = [
    '',
    `Drill ${summary.recoveryId} of ${summary.plan}, scenario ${summary.scenario}, run by ${summary.requestedBy}`,
    '',
    textTable(['component', 'status', 'took', 'RTO (achieved / objective)'], rows),
    '',
    `RTO: ${rtoText(summary.rto)}`,
    `Teardown: ${summary.teardown}`,
    ...summary.left.map((l) => `  left behind: ${l.what} (${l.component}); remove it with: ${l.command}`),
    `Verdict: ${verdictText(summary)}`,
    progress.evidence
      ? `Evidence: ${progress.evidence.dir} (${progress.evidence.files.map((f) => f.split('/').pop()).join(', ')})`
      : 'Evidence: none saved (the worker reported no evidence folder)',
  ];
  return { stdout: `${lines.join('\n')}\n`, exitCode: passed ? 0 : 1 };
}
