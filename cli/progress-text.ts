import { formatMinutes } from '../plan/rpo';
import { isDone, type ComponentProgress, type RecoveryProgress } from '../workflows/progress';
import { shellWord } from './recoveries';
import { textTable } from './text-table';

/** The commands a person types to move a recovery on, exactly as printed. */
export const approveCommandLine = (id: string, gate: string) => `recovery approve ${shellWord(id)} ${shellWord(gate)}`;
export const resolveCommandLine = (id: string, component: string) =>
  `recovery resolve ${shellWord(id)} ${shellWord(component)} retry|skip|abort`;

/** The step a component is at: running or failed, else the next to run; none once it is done. */
export function currentStep(c: ComponentProgress) {
  if (isDone(c)) return undefined;
  return (
    c.steps.find((s) => s.status === 'running' || s.status === 'failed') ?? c.steps.find((s) => s.status === 'pending')
  );
}

/** `+12m`: minutes since the start of the RTO clock. */
const sinceClock = (p: RecoveryProgress, at: string | undefined) =>
  at === undefined ? '' : `+${formatMinutes(Math.max(0, (Date.parse(at) - Date.parse(p.clockStartedAt)) / 60_000))}`;

/** One line on the RTO: used and projected while it runs, achieved and the verdict once over. */
export function rtoLine(p: RecoveryProgress): string {
  if (p.finishedAt)
    return `RTO: ${formatMinutes(p.elapsedMinutes)} against ${formatMinutes(p.rtoMinutes)}: ${p.rtoMet ? 'met' : 'NOT met'}`;
  const inside = p.projectedMinutes <= p.rtoMinutes ? 'inside the RTO' : 'PAST THE RTO';
  return `RTO: ${formatMinutes(p.elapsedMinutes)} of ${formatMinutes(p.rtoMinutes)} used; projected finish after ${formatMinutes(p.projectedMinutes)} (${inside}); deadline ${p.deadline}`;
}

/** What a person must do: open gates and pending decisions, each with its command. */
export function actionLines(p: RecoveryProgress, indent = '  '): string[] {
  const lines: string[] = [];
  for (const g of p.gates.filter((g) => g.status === 'waiting')) {
    const escalated = g.escalatedTo.length ? ` (escalated to ${g.escalatedTo.join(', ')})` : '';
    lines.push(`${indent}${g.gate} waits for approval${escalated}: ${approveCommandLine(p.recoveryId, g.gate)}`);
  }
  for (const d of p.pendingDecisions) {
    lines.push(`${indent}${d.component} stopped at step "${d.step}": ${d.error}`);
    if (d.manualCommand) lines.push(`${indent}  by hand, then skip: ${d.manualCommand}`);
    lines.push(`${indent}  decide: ${resolveCommandLine(p.recoveryId, d.component)}`);
  }
  return lines;
}

/** `recovery status`: where a recovery stands, for a terminal. */
export function statusText(p: RecoveryProgress): string {
  const rows = p.components.map((c) => {
    const step = currentStep(c);
    return [
      c.id,
      c.status,
      sinceClock(p, c.startedAt),
      sinceClock(p, c.finishedAt),
      step
        ? `${step.id}: ${step.title}${step.status === 'running' && step.attempts > 1 ? ` (attempt ${step.attempts})` : ''}`
        : '',
    ];
  });
  const actions = actionLines(p);
  return [
    `Recovery ${p.recoveryId}: ${p.status}`,
    `Plan ${p.plan}, scenario ${p.scenario} (${p.mode})${p.incident ? `; incident ${p.incident.id}, detected ${p.incident.detectedAt}` : ''}`,
    rtoLine(p),
    ...(p.finishedAt ? [`Finished ${p.finishedAt}; the report: recovery report ${shellWord(p.recoveryId)}`] : []),
    '',
    ...(rows.length
      ? [textTable(['component', 'status', 'started', 'finished', 'step'], rows)]
      : ['No components yet: the plan is not loaded.']),
    ...(actions.length ? ['', 'Waiting for you:', ...actions] : []),
    ...(p.warnings.length ? ['', 'Plan warnings:', ...p.warnings.map((w) => `  ${w}`)] : []),
  ].join('\n');
}

/** What changes are printed for: statuses, steps, gates, decisions (not the ticking clock). */
export function changeKey(p: RecoveryProgress): string {
  return JSON.stringify([
    p.status,
    p.components.map((c) => [c.id, c.status, currentStep(c)?.id, c.runs]),
    p.gates.map((g) => [g.gate, g.status]),
    p.pendingDecisions.map((d) => [d.component, d.step]),
  ]);
}

/** The compact line printed at each change while `start --wait` watches, with what a person must do. */
export function liveLines(p: RecoveryProgress): string[] {
  const components = p.components
    .map((c) => {
      const step = c.status === 'running' || c.status === 'needs-operator' ? currentStep(c) : undefined;
      return `${c.id} ${c.status}${step ? ` (${step.id})` : ''}`;
    })
    .join(', ');
  const projection = p.finishedAt
    ? `${formatMinutes(p.elapsedMinutes)} against an RTO of ${formatMinutes(p.rtoMinutes)}`
    : `projected ${formatMinutes(p.projectedMinutes)} of ${formatMinutes(p.rtoMinutes)}`;
  return [
    `[+${formatMinutes(p.elapsedMinutes)}] ${p.status} (${projection})${components ? `: ${components}` : ''}`,
    ...actionLines(p),
  ];
}

/** Where `start --wait` writes while it watches: a terminal (one line updated in place) or a pipe. */
export interface LiveOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/**
 * Prints a recovery as it goes: a block of lines at each change; on a terminal also a clock line
 * rewritten in place every poll. Nothing but plain lines when the output is not a terminal.
 */
export class LiveDisplay {
  private lastKey: string | undefined;
  private ticker = false;

  constructor(private readonly out: LiveOutput | undefined) {}

  /** A line that stays. */
  note(line: string): void {
    this.clearTicker();
    this.out?.write(`${line}\n`);
  }

  update(p: RecoveryProgress): void {
    const key = changeKey(p);
    if (key !== this.lastKey) {
      this.lastKey = key;
      this.clearTicker();
      this.out?.write(`${liveLines(p).join('\n')}\n`);
    }
    if (this.out?.isTTY && !p.finishedAt) {
      const width = Math.max(20, (this.out.columns ?? 80) - 1);
      const line = `  ${rtoLine(p)} (Ctrl-C stops watching, not the recovery)`;
      this.out.write(`\r\x1b[K${line.slice(0, width)}`);
      this.ticker = true;
    }
  }

  /** Leaves the terminal on a fresh line. */
  done(): void {
    this.clearTicker();
  }

  private clearTicker(): void {
    if (this.ticker) this.out?.write('\r\x1b[K');
    this.ticker = false;
  }
}
