import type { RecoveryProgress } from '../workflows/progress';
import { reportMarkdown } from '../workflows/report-markdown';
import { drillSummary, rtoText, runKind, verdictText, type DrillSummary } from './summary';
import {
  componentsTable,
  integrityTable,
  NO_INTEGRITY_CHECKS,
  noTeardown,
  stepsTable,
  teardownTable,
  type Table,
} from './tables';

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
const tableOf = ({ header, rows }: Table) => table(header, rows);

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
  return [
    '## RTO and RPO per component',
    '',
    'Start and end are counted from the start of the RTO clock; the achieved RTO of a component is when it was back.',
    '',
    tableOf(componentsTable(s)),
  ].join('\n');
}

function stepsSection(s: DrillSummary): string {
  return ['## Step timings', '', tableOf(stepsTable(s))].join('\n');
}

function integritySection(s: DrillSummary): string {
  if (s.integrityChecks.length === 0) return `## Integrity checks\n\n${NO_INTEGRITY_CHECKS}`;
  return ['## Integrity checks', '', tableOf(integrityTable(s))].join('\n');
}

function teardownSection(p: RecoveryProgress, s: DrillSummary): string {
  const lines = ['## Teardown', ''];
  if (!p.teardown?.length) {
    lines.push(noTeardown(s.simulated));
    return lines.join('\n');
  }
  lines.push(tableOf(teardownTable(p)));
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
