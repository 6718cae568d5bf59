import { ganttDate, nodeId } from '../plan/docs/mermaid';
import { formatMinutes } from '../plan/rpo';
import {
  isDone,
  type ComponentProgress,
  type ComponentStatus,
  type RecoveryProgress,
  type StepStatus,
} from './progress';

/**
 * The report of a recovery as Markdown, for the post-incident review: objectives against what was
 * achieved, every component, gate, operator decision and notification, and a Mermaid gantt of the
 * actual timeline with the RTO as a milestone. Pure: works on a finished recovery (its result) and
 * on one still running (its progress query), and the same record always gives the same bytes.
 */
export function reportMarkdown(p: RecoveryProgress): string {
  const over = p.finishedAt !== undefined;
  const sections = [
    `# Recovery report: ${p.plan} / ${p.scenario}${over ? '' : ' (in progress)'}`,
    summaryTable(p),
    componentsSection(p),
    stepsSection(p),
    gatesSection(p),
    decisionsSection(p),
    notificationsSection(p),
    timelineSection(p),
    ...(p.warnings.length ? [['## Plan warnings', '', ...p.warnings.map((w) => `- ${cell(w)}`)].join('\n')] : []),
  ];
  return `${sections.filter(Boolean).join('\n\n')}\n`;
}

/** Markdown table cells cannot hold pipes or line breaks. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const table = (header: string[], rows: string[][]) =>
  [header, header.map(() => '---'), ...rows].map((row) => `| ${row.map(cell).join(' | ')} |`).join('\n');

/** Minutes from the start of the RTO clock to `at`. */
const sinceClock = (p: RecoveryProgress, at: string) => (Date.parse(at) - Date.parse(p.clockStartedAt)) / 60_000;
/** `+12m`: when something happened, counted from the start of the RTO clock. */
const offset = (p: RecoveryProgress, at: string | undefined) =>
  at === undefined ? '-' : `+${formatMinutes(Math.max(0, sinceClock(p, at)))}`;
const verdict = (met: boolean | undefined) => (met === undefined ? '' : met ? ' (met)' : ' (**NOT met**)');

function summaryTable(p: RecoveryProgress): string {
  const incident = p.incident
    ? `${p.incident.id}, detected ${p.incident.detectedAt}${p.incident.source ? ` (${p.incident.source})` : ''}${p.incident.summary ? `: ${p.incident.summary}` : ''}`
    : 'none given: the RTO clock started with the recovery';
  const rto = p.finishedAt
    ? `objective ${formatMinutes(p.rtoMinutes)}, achieved ${formatMinutes(p.elapsedMinutes)}${verdict(p.rtoMet)}`
    : `objective ${formatMinutes(p.rtoMinutes)}; ${formatMinutes(p.elapsedMinutes)} used, projected finish after ${formatMinutes(p.projectedMinutes)}${p.projectedMinutes > p.rtoMinutes ? ' (**past the RTO**)' : ''}`;
  return table(
    ['', ''],
    [
      ['Recovery', `\`${p.recoveryId}\``],
      ['Status', `**${p.status}**`],
      ['Mode', p.mode === 'drill' ? 'drill (isolated copies, production untouched)' : 'recover'],
      ['Incident', incident],
      ['RTO clock started', p.clockStartedAt],
      ['Recovery started', p.startedAt],
      ['Finished', p.finishedAt ?? 'not yet'],
      ['Restore data to', p.targetTime ?? 'the latest recovery point'],
      ['RTO', rto],
      ['Deadline', p.deadline],
    ],
  );
}

function componentsSection(p: RecoveryProgress): string {
  if (p.components.length === 0) return '## Components\n\nNone: the plan was not loaded.';
  const rows = p.components.map((c) => [
    c.id,
    c.kind,
    c.status,
    offset(p, c.startedAt),
    offset(p, c.finishedAt),
    String(c.runs),
    formatMinutes(c.rto.objectiveMinutes),
    c.rto.achievedMinutes === undefined ? '-' : `${formatMinutes(c.rto.achievedMinutes)}${verdict(c.rto.met)}`,
    c.rpo ? formatMinutes(c.rpo.objectiveMinutes) : '-',
    c.rpo?.achievedMinutes === undefined ? '-' : `${formatMinutes(c.rpo.achievedMinutes)}${verdict(c.rpo.met)}`,
  ]);
  return [
    '## Components',
    '',
    'Start and end are counted from the start of the RTO clock.',
    '',
    table(['component', 'kind', 'status', 'start', 'end', 'runs', 'RTO', 'RTO achieved', 'RPO', 'RPO achieved'], rows),
  ].join('\n');
}

const STEP_MARK: Record<StepStatus, string> = {
  pending: 'pending',
  running: 'running',
  succeeded: 'done',
  failed: 'FAILED',
  skipped: 'skipped',
  cancelled: 'cancelled',
};

function stepsSection(p: RecoveryProgress): string {
  if (p.components.length === 0) return '';
  const lines = p.components.map((c) => {
    const steps = c.steps.map((s) => {
      const details = [
        s.attempts > 1 ? `${s.attempts} attempts` : undefined,
        s.actor ? `by ${s.actor}${s.comment ? `: ${s.comment}` : ''}` : undefined,
        s.status === 'failed' && s.error ? s.error : undefined,
      ].filter(Boolean);
      return `${s.id} ${STEP_MARK[s.status]}${details.length ? ` (${details.join('; ')})` : ''}`;
    });
    const point = c.recoveryPoint ? `; data restored to ${c.recoveryPoint}` : '';
    const error = c.lastError && !isDone(c) ? `; last error: ${c.lastError}` : '';
    return `- **${c.id}**: ${steps.join(', ') || 'no steps'}${point}${error}`;
  });
  return ['## Steps', '', ...lines].join('\n');
}

function gatesSection(p: RecoveryProgress): string {
  if (p.gates.length === 0) return '## Approvals\n\nNo approval gates in this scenario.';
  const rows = p.gates.map((g) => [
    g.gate,
    g.status,
    offset(p, g.openedAt),
    g.by ?? '-',
    offset(p, g.decidedAt),
    g.openedAt && g.decidedAt ? formatMinutes((Date.parse(g.decidedAt) - Date.parse(g.openedAt)) / 60_000) : '-',
    g.escalatedTo.join(', ') || '-',
    g.comment ?? '',
  ]);
  return [
    '## Approvals',
    '',
    table(['gate', 'status', 'opened', 'approved by', 'approved', 'waited', 'escalated to', 'comment'], rows),
  ].join('\n');
}

function decisionsSection(p: RecoveryProgress): string {
  const lines = ['## Operator decisions', ''];
  if (p.decisions.length === 0 && p.pendingDecisions.length === 0) return [...lines, 'None were needed.'].join('\n');
  if (p.decisions.length) {
    lines.push(
      table(
        ['at', 'component', 'step', 'decision', 'by', 'comment'],
        p.decisions.map((d) => [offset(p, d.at), d.component, d.step, d.action, d.by, d.comment ?? '']),
      ),
    );
  }
  for (const d of p.pendingDecisions) {
    lines.push(
      '',
      `Waiting for a decision: **${d.component}** stopped at step "${d.step}": ${d.error}` +
        (d.manualCommand ? ` (by hand: \`${d.manualCommand}\`)` : '') +
        ` — \`recovery resolve ${p.recoveryId} ${d.component} retry|skip|abort\``,
    );
  }
  return lines.join('\n');
}

function notificationsSection(p: RecoveryProgress): string {
  if (p.notifications.length === 0) return '## Notifications\n\nNone were sent.';
  return [
    '## Notifications',
    '',
    table(
      ['at', 'event', 'message'],
      p.notifications.map((n) => [offset(p, n.at), n.event, n.message]),
    ),
  ].join('\n');
}

/** Gantt tags of a component's bar: finished, running, or gone wrong. */
const TAGS: Partial<Record<ComponentStatus, string>> = {
  succeeded: 'done',
  skipped: 'done',
  running: 'active',
  'needs-operator': 'crit, active',
  'waiting-approval': 'active',
  failed: 'crit',
  cancelled: 'crit',
};

/** A Mermaid gantt of what really happened, from the start of the RTO clock, with the RTO as a milestone. */
export function actualTimelineGantt(p: RecoveryProgress): string {
  const end = (at: string | undefined) => (at === undefined ? p.elapsedMinutes : sinceClock(p, at));
  const bar = (name: string, tags: string, from: number, to: number) =>
    `  ${name} :${tags}, ${ganttDate(Math.max(0, from))}, ${Math.max(1, Math.round(to - Math.max(0, from)))}m`;
  const lines = [
    'gantt',
    `  title Actual timeline of ${p.scenario}: ${formatMinutes(p.elapsedMinutes)}${p.finishedAt ? '' : ' so far'} against an RTO of ${formatMinutes(p.rtoMinutes)}`,
    '  dateFormat YYYY-MM-DD HH:mm',
    '  axisFormat %H:%M',
  ];
  const started = sinceClock(p, p.startedAt);
  if (p.incident && started >= 1)
    lines.push('  section Incident', bar('detected until recovery start', 'incident', 0, started));
  const ran = p.components
    .filter((c): c is ComponentProgress & { startedAt: string } => c.startedAt !== undefined)
    .sort((a, b) => a.startedAt.localeCompare(b.startedAt) || a.id.localeCompare(b.id));
  if (ran.length) lines.push('  section Components');
  for (const c of ran) {
    const tags = [TAGS[c.status], nodeId(c.id)].filter(Boolean).join(', ');
    lines.push(bar(c.id, tags, sinceClock(p, c.startedAt), end(c.finishedAt)));
  }
  const opened = p.gates.filter((g): g is typeof g & { openedAt: string } => g.openedAt !== undefined);
  if (opened.length) lines.push('  section Approvals');
  for (const g of opened) {
    const tags = [g.status === 'approved' ? 'done' : 'active', `${nodeId(g.gate)}_gate`].join(', ');
    lines.push(bar(`approval of ${g.gate}`, tags, sinceClock(p, g.openedAt), end(g.decidedAt)));
  }
  lines.push(
    '  section Objective',
    `  RTO ${formatMinutes(p.rtoMinutes)} :milestone, crit, rto, ${ganttDate(p.rtoMinutes)}, 0m`,
  );
  return lines.join('\n');
}

function timelineSection(p: RecoveryProgress): string {
  return ['## Timeline', '', '```mermaid', actualTimelineGantt(p), '```'].join('\n');
}
