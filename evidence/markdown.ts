import { formatMinutes } from '../plan/rpo';
import type { RecoveryProgress } from '../workflows/progress';
import { reportMarkdown } from '../workflows/report-markdown';
import { drillSummary, resultText, rtoText, runKind, verdictText, type DrillSummary } from './summary';

/** The recovery report's sections that the evidence carries as they are (the rest it says its own way). */
const REPORT_SECTIONS = ['Approvals', 'Operator decisions', 'Notifications', 'Timeline', 'Plan warnings'];

/**
 * A drill's evidence as Markdown, for an auditor: the verdict, who ran it, achieved RTO and RPO per
 * component against the objectives, every step's timing, the integrity checks, the teardown, then
 * the recovery report's approvals, decisions, notifications and Mermaid timeline. Pure: the same
 * report always gives the same bytes.
 */
export function evidenceMarkdown(p: RecoveryProgress): string {
  const s = drillSummary(p);
  const sections = [
    `# Drill evidence: ${p.plan} / ${p.scenario}${s.simulated ? ' (simulated)' : ''}`,
    summarySection(s),
    componentsSection(s),
    stepsSection(s),
    integritySection(s),
    teardownSection(p, s),
    ...reportSections(p),
  ];
  return `${sections.join('\n\n')}\n`;
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
const table = (header: string[], rows: string[][]) =>
  [header, header.map(() => '---'), ...rows].map((row) => `| ${row.map(cell).join(' | ')} |`).join('\n');
const at = (minute: number | undefined) => (minute === undefined ? '-' : `+${formatMinutes(Math.max(0, minute))}`);
const took = (minutes: number | undefined) => (minutes === undefined ? '-' : formatMinutes(minutes));

const RUN: Record<ReturnType<typeof runKind>, string> = {
  real: 'real drill, on the recovery workers: isolated copies, production untouched',
  simulated: 'simulated on the time-skipping server: every step took its estimate, nothing was touched',
  recovery: 'a real recovery, not a drill',
};

export const TEARDOWN_TEXT: Record<DrillSummary['teardown'], string> = {
  done: 'done: everything the drill created was removed',
  failed: '**FAILED**: drill resources are left behind (below)',
  running: '**not finished**',
  none: 'nothing to remove',
};

function summarySection(s: DrillSummary): string {
  return table(
    ['', ''],
    [
      ['Verdict', `**${verdictText(s)}**`],
      ['Run', RUN[runKind(s)]],
      ['Ran by', s.requestedBy],
      ['Recovery', `\`${s.recoveryId}\``],
      ['Status', s.status],
      ['Started', s.startedAt],
      ['Finished', s.finishedAt ?? 'not yet'],
      ['RTO (achieved / objective)', rtoText(s.rto)],
      ['Teardown', s.simulated && s.teardown === 'none' ? 'not needed (simulated)' : TEARDOWN_TEXT[s.teardown]],
    ],
  );
}

function componentsSection(s: DrillSummary): string {
  const rows = s.components.map((c) => [
    c.id,
    c.kind,
    c.status,
    at(c.startMinute),
    at(c.endMinute),
    took(c.durationMinutes),
    formatMinutes(c.estimateMinutes),
    rtoText(c.rto),
    c.rpo ? rtoText(c.rpo) : '-',
  ]);
  return [
    '## RTO and RPO per component',
    '',
    'Start and end are counted from the start of the RTO clock; the achieved RTO of a component is when it was back.',
    '',
    table(
      [
        'component',
        'kind',
        'status',
        'start',
        'end',
        'took',
        'estimate',
        'RTO (achieved / objective)',
        'RPO (achieved / objective)',
      ],
      rows,
    ),
  ].join('\n');
}

function stepsSection(s: DrillSummary): string {
  const rows = s.steps.map((step) => [
    step.component,
    step.step,
    step.title,
    step.status,
    at(step.startMinute),
    at(step.endMinute),
    took(step.durationMinutes),
    String(step.attempts),
    [step.failedAttempts ? `${step.failedAttempts} failed` : '', step.actor ? `by ${step.actor}` : '', step.error ?? '']
      .filter(Boolean)
      .join('; '),
  ]);
  return [
    '## Step timings',
    '',
    table(['component', 'step', 'title', 'status', 'start', 'end', 'took', 'attempts', 'notes'], rows),
  ].join('\n');
}

function integritySection(s: DrillSummary): string {
  if (s.integrityChecks.length === 0) return '## Integrity checks\n\nThis scenario has no validate or verify steps.';
  const rows = s.integrityChecks.map((c) => [
    c.component,
    c.step,
    c.status === 'succeeded' ? 'passed' : c.status === 'failed' ? 'FAILED' : c.status,
    c.status === 'failed' ? (c.error ?? '') : resultText(c.result),
  ]);
  return ['## Integrity checks', '', table(['component', 'check', 'result', 'details'], rows)].join('\n');
}

function teardownSection(p: RecoveryProgress, s: DrillSummary): string {
  const lines = ['## Teardown', ''];
  const records = p.teardown ?? [];
  if (records.length === 0) {
    lines.push(s.simulated ? 'Simulated: nothing was created, nothing to remove.' : 'Nothing to remove.');
    return lines.join('\n');
  }
  lines.push(
    table(
      ['component', 'status', 'steps'],
      records.map((r) => [
        r.component,
        r.status,
        r.steps.map((step) => `${step.title}: ${step.status}${step.error ? ` (${step.error})` : ''}`).join('; '),
      ]),
    ),
  );
  if (s.left.length)
    lines.push(
      '',
      '**Left behind** (remove by hand):',
      '',
      table(
        ['component', 'what', 'command'],
        s.left.map((l) => [l.component, l.what, `\`${l.command}\``]),
      ),
    );
  return lines.join('\n');
}

/** The recovery report's own sections named in REPORT_SECTIONS, as it renders them. */
function reportSections(p: RecoveryProgress): string[] {
  const body = reportMarkdown(p).trimEnd();
  return body
    .split(/\n(?=## )/)
    .filter((section) => REPORT_SECTIONS.some((name) => section.startsWith(`## ${name}\n`)))
    .map((section) => section.trimEnd());
}
