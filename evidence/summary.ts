import { formatMinutes } from '../plan/rpo';
import type { ComponentStatus, RecoveryProgress, StepProgress, StepStatus } from '../workflows/progress';
import { SIMULATED_ATTEMPTS_PER_RUN } from '../workflows/recovery';

/**
 * What a drill proved, computed from its report (RecoveryProgress) alone, so the Markdown, the HTML,
 * the JSON and `recovery drills` all say the same thing. Pure.
 */
export interface DrillSummary {
  recoveryId: string;
  plan: string;
  scenario: string;
  /** On the time-skipping server, from the estimates: nothing outside the workflow was touched. */
  simulated: boolean;
  mode: RecoveryProgress['mode'];
  requestedBy: string;
  status: RecoveryProgress['status'];
  startedAt: string;
  finishedAt?: string;
  rto: { objectiveMinutes: number; achievedMinutes: number; met: boolean };
  teardown: TeardownStatus;
  /** Succeeded, inside the RTO, and nothing left behind. */
  passed: boolean;
  components: ComponentSummary[];
  steps: StepSummary[];
  /** The validate and verify steps: what proves the restored data is right. */
  integrityChecks: StepSummary[];
  /** What a failed teardown left behind, and the command that removes it. */
  left: { component: string; step: string; what: string; command: string }[];
}

/** `none`: the drill created nothing to remove (or was simulated). */
export type TeardownStatus = 'done' | 'failed' | 'running' | 'none';

export interface ComponentSummary {
  id: string;
  kind: string;
  status: ComponentStatus;
  /** Minutes from the start of the RTO clock. */
  startMinute?: number;
  endMinute?: number;
  /** finishedAt − startedAt: how long its own recovery took. */
  durationMinutes?: number;
  estimateMinutes: number;
  rto: { objectiveMinutes: number; achievedMinutes?: number; met?: boolean };
  rpo?: { objectiveMinutes: number; achievedMinutes?: number; met?: boolean };
}

export interface StepSummary {
  component: string;
  step: string;
  title: string;
  status: StepStatus;
  automation: StepProgress['automation'];
  attempts: number;
  /** Attempts that failed before the last one. */
  failedAttempts: number;
  startMinute?: number;
  endMinute?: number;
  durationMinutes?: number;
  error?: string;
  actor?: string;
  result?: unknown;
}

/** Steps whose result is an integrity check of the restored data. */
export const isIntegrityCheck = (stepId: string) => /(^|-)(validate|verify)(-|$)/.test(stepId);

const round = (minutes: number) => Math.round(minutes * 100) / 100;
const minutesBetween = (from: string, to: string | undefined) =>
  to === undefined ? undefined : round((Date.parse(to) - Date.parse(from)) / 60_000);

/**
 * Every attempt of a step. A step's `attempts` counts the runs of its component; a simulated step
 * also reports the attempts of its last run, and each earlier run used up `attemptsPerRun`.
 */
export function stepAttempts(step: StepProgress, simulated: boolean, attemptsPerRun: number): number {
  const last = (step.result as { attempts?: unknown } | undefined)?.attempts;
  if (!simulated || typeof last !== 'number') return step.attempts;
  return (step.attempts - 1) * attemptsPerRun + last;
}

export function teardownStatus(p: RecoveryProgress): TeardownStatus {
  const records = p.teardown ?? [];
  if (records.length === 0) return 'none';
  if (records.some((r) => r.status === 'failed')) return 'failed';
  if (records.some((r) => r.status === 'running')) return 'running';
  return 'done';
}

/** Who ran it: the request's `requestedBy`, else unknown. */
export const ranBy = (p: RecoveryProgress) => p.requestedBy ?? 'unknown';

export function drillSummary(p: RecoveryProgress): DrillSummary {
  const clock = p.clockStartedAt;
  const simulated = p.simulated === true;
  const achieved = p.finishedAt ? minutesBetween(clock, p.finishedAt)! : round(p.elapsedMinutes);
  const rtoMet = p.rtoMet ?? (p.status === 'succeeded' && achieved <= p.rtoMinutes);
  const teardown = teardownStatus(p);
  const steps = p.components.flatMap((c) =>
    c.steps.map((s): StepSummary => {
      const attempts = stepAttempts(s, simulated, SIMULATED_ATTEMPTS_PER_RUN);
      const start = s.startedAt === undefined ? undefined : minutesBetween(clock, s.startedAt);
      const end = s.finishedAt === undefined ? undefined : minutesBetween(clock, s.finishedAt);
      return {
        component: c.id,
        step: s.id,
        title: s.title,
        status: s.status,
        automation: s.automation,
        attempts,
        failedAttempts: Math.max(0, attempts - (s.status === 'succeeded' ? 1 : 0)),
        startMinute: start,
        endMinute: end,
        durationMinutes: start !== undefined && end !== undefined ? round(end - start) : undefined,
        ...(s.error !== undefined ? { error: s.error } : {}),
        ...(s.actor !== undefined ? { actor: s.actor } : {}),
        ...(s.result !== undefined ? { result: s.result } : {}),
      };
    }),
  );
  return {
    recoveryId: p.recoveryId,
    plan: p.plan,
    scenario: p.scenario,
    simulated,
    mode: p.mode,
    requestedBy: ranBy(p),
    status: p.status,
    startedAt: p.startedAt,
    ...(p.finishedAt ? { finishedAt: p.finishedAt } : {}),
    rto: { objectiveMinutes: p.rtoMinutes, achievedMinutes: achieved, met: rtoMet },
    teardown,
    passed: p.status === 'succeeded' && rtoMet && (teardown === 'done' || teardown === 'none'),
    components: p.components.map((c) => ({
      id: c.id,
      kind: c.kind,
      status: c.status,
      startMinute: minutesBetween(clock, c.startedAt),
      endMinute: minutesBetween(clock, c.finishedAt),
      durationMinutes: c.startedAt ? minutesBetween(c.startedAt, c.finishedAt) : undefined,
      estimateMinutes: c.estimateMinutes,
      rto: c.rto,
      ...(c.rpo ? { rpo: c.rpo } : {}),
    })),
    steps,
    integrityChecks: steps.filter((s) => isIntegrityCheck(s.step)),
    left: (p.teardown ?? []).flatMap((t) => (t.left ?? []).map((l) => ({ component: t.component, ...l }))),
  };
}

/** `PASSED`, or `FAILED` with every reason: the drill's status, the RTO, the teardown. */
export function verdictText(s: DrillSummary): string {
  if (s.passed) return 'PASSED';
  const reasons = [
    s.status !== 'succeeded' ? `the drill ${s.status}` : undefined,
    !s.rto.met
      ? `RTO missed (${formatMinutes(s.rto.achievedMinutes)} against ${formatMinutes(s.rto.objectiveMinutes)})`
      : undefined,
    s.teardown === 'failed' ? 'teardown failed: drill resources are left behind' : undefined,
    s.teardown === 'running' ? 'teardown did not finish' : undefined,
  ].filter(Boolean);
  return `FAILED: ${reasons.join('; ')}`;
}

/** `real drill`, `simulated drill`, or `recovery` for a report of a real recovery. */
export const runKind = (s: Pick<DrillSummary, 'simulated' | 'mode'>) =>
  s.simulated ? 'simulated' : s.mode === 'drill' ? 'real' : 'recovery';

/** `1h42m / 4h (met)` */
export const rtoText = (rto: { objectiveMinutes: number; achievedMinutes?: number; met?: boolean }) =>
  rto.achievedMinutes === undefined
    ? `- / ${formatMinutes(rto.objectiveMinutes)}`
    : `${formatMinutes(rto.achievedMinutes)} / ${formatMinutes(rto.objectiveMinutes)} (${rto.met ? 'met' : 'NOT met'})`;

const roundNumbers = (_key: string, value: unknown) =>
  typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 100) / 100 : value;

/** A step result in one line, for tables: `rows: 25, tables: 3`. */
export function resultText(result: unknown, max = 160): string {
  if (result === undefined || result === null) return '';
  const text =
    typeof result === 'object' && !Array.isArray(result)
      ? Object.entries(result as Record<string, unknown>)
          .map(([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value, roundNumbers)}`)
          .join(', ')
      : typeof result === 'string'
        ? result
        : JSON.stringify(result, roundNumbers);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
