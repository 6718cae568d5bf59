import { schedule } from '../plan/graph';
import { formatMinutes } from '../plan/rpo';

/** Pure types and functions of a recovery's state; the workflow keeps one `RecoveryProgress` and the report is its last value. */

/** `waiting`: running, but some component waits for a person (an approval or an operator decision). */
export type RecoveryStatus = 'loading' | 'running' | 'waiting' | 'succeeded' | 'failed' | 'aborted' | 'cancelled';
export type ComponentStatus =
  | 'pending'
  | 'waiting-approval'
  | 'running'
  | 'needs-operator'
  | 'succeeded'
  | 'skipped'
  | 'failed'
  | 'cancelled'
  | 'not-started';
export type StepStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped' | 'cancelled';

export interface StepProgress {
  id: string;
  title: string;
  status: StepStatus;
  /** How the engine carries it out: an activity, a durable timer, covered by an earlier step, or by hand. */
  automation: 'activity' | 'timer' | 'covered' | 'manual';
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
  error?: string;
  /** Who skipped it, when an operator did. */
  actor?: string;
  comment?: string;
  result?: unknown;
}

export interface ComponentProgress {
  id: string;
  kind: string;
  dependsOn: string[];
  status: ComponentStatus;
  estimateMinutes: number;
  approvalRequired: boolean;
  /** Runs of the component's child workflow (each retry decision starts one). */
  runs: number;
  startedAt?: string;
  finishedAt?: string;
  lastError?: string;
  steps: StepProgress[];
  /** Restored data dates from here (data components that report it). */
  recoveryPoint?: string;
  rto: { objectiveMinutes: number; achievedMinutes?: number; met?: boolean };
  /** Data components only. `achievedMinutes`: incident time minus the recovery point restored. */
  rpo?: { objectiveMinutes: number; achievedMinutes?: number; met?: boolean };
}

export interface GateRecord {
  gate: string;
  status: 'closed' | 'waiting' | 'approved';
  openedAt?: string;
  decidedAt?: string;
  by?: string;
  comment?: string;
  /** Contacts notified because nobody approved in time, in order. */
  escalatedTo: string[];
}

export interface DecisionRecord {
  component: string;
  step: string;
  action: 'retry' | 'skip' | 'abort';
  by: string;
  comment?: string;
  at: string;
}

export interface PendingDecision {
  component: string;
  step: string;
  error: string;
  /** The step has no automation: a person runs this command, then resolves with `skip`. */
  manualCommand?: string;
}

export interface NotificationRecord {
  event: string;
  at: string;
  message: string;
}

/** An alert about the recovery's incident, as the alert receiver passed it on: only what the record needs. */
export interface AlertEvent {
  source: 'alertmanager' | 'cloudwatch' | 'generic';
  status: 'firing' | 'resolved';
  /** The alert or alarm name. */
  name: string;
  /** When it started firing, or resolved, as the source says. */
  at: string;
  /** One line: the alert's summary annotation or the alarm's reason, at most 300 characters. */
  summary?: string;
}

/** Alerts of one notification for one recovery: at most `ALERT_BATCH_LIMIT` events, the rest only counted. */
export interface AlertBatch {
  events: AlertEvent[];
  /** Alerts of the notification beyond `events`, counted but not listed. */
  omitted?: { firing: number; resolved: number };
}

/** The most events an `alerts` signal carries (and its handler records). */
export const ALERT_BATCH_LIMIT = 50;

/** Alerts received for the incident: counts, and the latest ones. */
export interface AlertRecord {
  received: number;
  firing: number;
  resolved: number;
  /** The last 20, oldest first, each with when the recovery got it. */
  latest: (AlertEvent & { receivedAt: string })[];
}

/** Drills: the teardown of one component, run as compensation once the drill is over. */
export interface TeardownRecord {
  component: string;
  status: 'running' | 'done' | 'failed';
  steps: { id: string; title: string; status: 'succeeded' | 'failed'; error?: string; result?: unknown }[];
  /** What a failed teardown left behind, where, and the command that removes it by hand. */
  left?: { step: string; what: string; command: string }[];
}

export interface RecoveryProgress {
  recoveryId: string;
  plan: string;
  scenario: string;
  mode: 'recover' | 'drill';
  /** A rehearsal on the time-skipping server: nothing outside the workflow was touched. */
  simulated?: boolean;
  /** Who started it, as the request says. */
  requestedBy?: string;
  status: RecoveryStatus;
  incident?: { id: string; detectedAt: string; source?: string; summary?: string };
  targetTime?: string;
  /** The RTO clock starts here: the incident's detection, or the start of the workflow. */
  clockStartedAt: string;
  startedAt: string;
  finishedAt?: string;
  elapsedMinutes: number;
  rtoMinutes: number;
  deadline: string;
  /** Elapsed time plus what remains of the critical path, from the estimates and what is done. */
  projectedMinutes: number;
  rtoMet?: boolean;
  components: ComponentProgress[];
  gates: GateRecord[];
  decisions: DecisionRecord[];
  pendingDecisions: PendingDecision[];
  notifications: NotificationRecord[];
  warnings: string[];
  /** Alerts about the incident (recoveries started by an alarm). */
  alerts?: AlertRecord;
  /** Drills: what was torn down, component by component, dependents first. */
  teardown?: TeardownRecord[];
  /** Drills: where the worker saved the evidence (Markdown, JSON, HTML). */
  evidence?: { dir: string; files: string[] };
}

/** A child workflow's report of one step. */
export interface StepEvent {
  component: string;
  step: string;
  status: StepStatus;
  at: string;
  attempts?: number;
  error?: string;
  result?: unknown;
}

const DONE: ComponentStatus[] = ['succeeded', 'skipped'];

export const isDone = (c: ComponentProgress) => DONE.includes(c.status);

/**
 * Minutes from the clock start until the recovery is expected to finish: finished components count
 * as done, running ones have the rest of their estimate left, the others all of it, each starting
 * as soon as its dependencies are done.
 */
export function projectMinutes(progress: RecoveryProgress, now: number): number {
  const clockStart = Date.parse(progress.clockStartedAt);
  const elapsed = (now - clockStart) / 60_000;
  const byId = new Map(progress.components.map((c) => [c.id, c]));
  const remaining = (id: string) => {
    const c = byId.get(id)!;
    if (isDone(c) || c.status === 'failed' || c.status === 'not-started' || c.status === 'cancelled') return 0;
    if (c.status === 'running' && c.startedAt)
      return Math.max(0, c.estimateMinutes - (now - Date.parse(c.startedAt)) / 60_000);
    return c.estimateMinutes;
  };
  const graph = new Map(progress.components.map((c) => [c.id, c.dependsOn.filter((d) => byId.has(d))]));
  return elapsed + schedule(graph, remaining, (a, b) => a.localeCompare(b)).makespan;
}

const ICON: Record<ComponentStatus, string> = {
  pending: '⏳',
  'waiting-approval': '✋',
  running: '▶️',
  'needs-operator': '🛑',
  succeeded: '✅',
  skipped: '⏭️',
  failed: '❌',
  cancelled: '⛔',
  'not-started': '·',
};

/** A short Markdown summary for the Temporal UI (`setCurrentDetails`): where the recovery stands. */
export function summaryMarkdown(p: RecoveryProgress): string {
  const verdict = p.projectedMinutes <= p.rtoMinutes ? 'inside the RTO' : '**past the RTO**';
  const lines = [
    `## Recovery ${p.plan} / ${p.scenario}: ${p.status}`,
    '',
    `RTO: ${formatMinutes(p.elapsedMinutes)} of ${formatMinutes(p.rtoMinutes)} used; projected finish after ${formatMinutes(p.projectedMinutes)} (${verdict}).`,
    ...(p.incident ? [`Incident ${p.incident.id}, detected ${p.incident.detectedAt}.`] : []),
    '',
    '| | component | status | step |',
    '| --- | --- | --- | --- |',
    ...p.components.map((c) => {
      const step =
        c.steps.find((s) => s.status === 'running' || s.status === 'failed') ??
        c.steps.find((s) => s.status === 'pending');
      return `| ${ICON[c.status]} | ${c.id} | ${c.status} | ${step && !isDone(c) ? step.title : ''} |`;
    }),
  ];
  for (const g of p.gates.filter((g) => g.status === 'waiting')) {
    lines.push('', `✋ Waiting for approval: \`recovery approve ${p.recoveryId} ${g.gate}\``);
  }
  for (const d of p.pendingDecisions) {
    lines.push(
      '',
      `🛑 ${d.component} needs an operator at step "${d.step}": ${d.error}`,
      `\`recovery resolve ${p.recoveryId} ${d.component} retry|skip|abort\``,
    );
  }
  return lines.join('\n');
}
