import { formatMinutes } from '../plan/rpo';
import type { RecoveryProgress } from '../workflows/progress';
import { TEARDOWN_TEXT } from './markdown';
import { drillSummary, rtoText, runKind, verdictText, type DrillSummary } from './summary';
import {
  at,
  componentsTable,
  integrityTable,
  NO_INTEGRITY_CHECKS,
  noTeardown,
  stepsTable,
  teardownTable,
  took,
  type Table,
} from './tables';

/** Every string from the plan or the report goes through here: no markup of theirs reaches the page. */
export const escapeHtml = (text: string) =>
  text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#1f2328}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}code{font:12px ui-monospace,monospace;background:#f6f8fa;padding:0 .2rem}
.passed{color:#1a7f37;font-weight:bold}.failed{color:#cf222e;font-weight:bold}
.gantt{overflow-x:auto;border:1px solid #d0d7de;padding:.5rem}
.gantt text{font:12px system-ui,sans-serif;fill:#1f2328}.gantt .step{fill:#57606a}.gantt .axis{fill:#57606a;font-size:11px}
.legend span{display:inline-block;margin-right:1rem}.legend i{display:inline-block;width:12px;height:12px;margin-right:.3rem;vertical-align:middle}
`;

/** Bar colours by status: done, running, gone wrong, not run. */
const COLOR: Record<string, string> = {
  succeeded: '#2da44e',
  skipped: '#8c959f',
  running: '#0969da',
  'needs-operator': '#bf8700',
  'waiting-approval': '#bf8700',
  failed: '#cf222e',
  cancelled: '#cf222e',
  pending: '#d0d7de',
  'not-started': '#d0d7de',
};

/**
 * A drill's evidence as one self-contained HTML page (inline CSS and SVG, no script, nothing
 * fetched): the verdict, who ran it, RTO and RPO per component, a Gantt chart of what happened, every
 * step's timing, the integrity checks and the teardown. Pure: the same report gives the same bytes.
 */
export function evidenceHtml(p: RecoveryProgress): string {
  const s = drillSummary(p);
  const title = `Drill evidence: ${p.plan} / ${p.scenario}${s.simulated ? ' (simulated)' : ''}`;
  return [
    '<!DOCTYPE html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    '<body>',
    `<h1>${escapeHtml(title)}</h1>`,
    summaryTable(s),
    '<h2>Timeline</h2>',
    gantt(p, s),
    '<h2>RTO and RPO per component</h2>',
    tableOf(componentsTable(s)),
    '<h2>Step timings</h2>',
    tableOf(stepsTable(s)),
    '<h2>Integrity checks</h2>',
    s.integrityChecks.length ? tableOf(integrityTable(s)) : `<p>${NO_INTEGRITY_CHECKS}</p>`,
    '<h2>Teardown</h2>',
    teardown(p, s),
    '<h2>Approvals and operator decisions</h2>',
    p.gates.length || p.decisions.length
      ? [
          p.gates.length
            ? table(
                ['gate', 'status', 'approved by', 'at', 'comment'],
                p.gates.map((g) => [g.gate, g.status, g.by ?? '-', g.decidedAt ?? '-', g.comment ?? '']),
              )
            : '',
          p.decisions.length
            ? table(
                ['at', 'component', 'step', 'decision', 'by', 'comment'],
                p.decisions.map((d) => [d.at, d.component, d.step, d.action, d.by, d.comment ?? '']),
              )
            : '',
        ].join('\n')
      : '<p>None were needed.</p>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

const tableOf = ({ header, rows }: Table) => table(header, rows);

function table(header: string[], rows: string[][]): string {
  const row = (cells: string[], tag: 'th' | 'td') =>
    `<tr>${cells.map((c) => `<${tag}>${escapeHtml(c)}</${tag}>`).join('')}</tr>`;
  return `<table>\n${row(header, 'th')}\n${rows.map((r) => row(r, 'td')).join('\n')}\n</table>`;
}

function summaryTable(s: DrillSummary): string {
  const verdict = `<span class="${s.passed ? 'passed' : 'failed'}">${escapeHtml(verdictText(s))}</span>`;
  const rows: [string, string][] = [
    [
      'Run',
      runKind(s) === 'simulated'
        ? 'simulated on the time-skipping server (estimates; nothing touched)'
        : runKind(s) === 'real'
          ? 'real drill (isolated copies, production untouched)'
          : 'real recovery',
    ],
    ['Ran by', s.requestedBy],
    ['Recovery', s.recoveryId],
    ['Status', s.status],
    ['Started', s.startedAt],
    ['Finished', s.finishedAt ?? 'not yet'],
    ['RTO (achieved / objective)', rtoText(s.rto)],
    [
      'Teardown',
      s.simulated && s.teardown === 'none' ? 'not needed (simulated)' : TEARDOWN_TEXT[s.teardown].replace(/\*\*/g, ''),
    ],
  ];
  return [
    '<table>',
    `<tr><th>Verdict</th><td>${verdict}</td></tr>`,
    ...rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`),
    '</table>',
  ].join('\n');
}

function teardown(p: RecoveryProgress, s: DrillSummary): string {
  if (!p.teardown?.length) return `<p>${noTeardown(s.simulated)}</p>`;
  const parts = [tableOf(teardownTable(p))];
  if (s.left.length)
    parts.push(
      '<p class="failed">Left behind (remove by hand):</p>',
      table(
        ['component', 'what', 'command'],
        s.left.map((l) => [l.component, l.what, l.command]),
      ),
    );
  return parts.join('\n');
}

const LABEL_WIDTH = 280;
const CHART_WIDTH = 760;
const ROW = 22;
const TOP = 28;

/** A round tick interval that gives about eight ticks over `span` minutes. */
function tickEvery(span: number): number {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 180, 240, 360, 720, 1440];
  return steps.find((step) => span / step <= 10) ?? Math.ceil(span / 10 / 1440) * 1440;
}

/**
 * The Gantt chart as inline SVG: a row per component and one per step under it, bars placed by
 * minutes from the start of the RTO clock, the RTO objective as a vertical line, steps with failed
 * attempts outlined and marked ✕n. Hovering a bar shows its times (SVG titles: no script).
 */
function gantt(p: RecoveryProgress, s: DrillSummary): string {
  type Row = { label: string; indent: boolean; color: string; from?: number; to?: number; tip: string; failed: number };
  const rows: Row[] = [];
  for (const c of s.components) {
    rows.push({
      label: c.id,
      indent: false,
      color: COLOR[c.status] ?? '#8c959f',
      from: c.startMinute,
      to: c.endMinute ?? (c.startMinute !== undefined ? p.elapsedMinutes : undefined),
      tip: `${c.id} (${c.kind}): ${c.status}, ${at(c.startMinute)} to ${at(c.endMinute)}, took ${took(c.durationMinutes)}`,
      failed: 0,
    });
    for (const step of s.steps.filter((st) => st.component === c.id))
      rows.push({
        label: step.title,
        indent: true,
        color: COLOR[step.status] ?? '#8c959f',
        from: step.startMinute,
        to: step.endMinute ?? (step.startMinute !== undefined ? p.elapsedMinutes : undefined),
        tip: `${step.title}: ${step.status}, ${at(step.startMinute)} to ${at(step.endMinute)}, ${step.attempts} attempt${step.attempts === 1 ? '' : 's'}${step.failedAttempts ? `, ${step.failedAttempts} failed` : ''}${step.error ? `: ${step.error}` : ''}`,
        failed: step.failedAttempts,
      });
  }
  const last = Math.max(s.rto.objectiveMinutes, s.rto.achievedMinutes, ...rows.map((r) => r.to ?? 0));
  const span = Math.max(1, last * 1.05);
  const x = (minute: number) => LABEL_WIDTH + (Math.max(0, minute) / span) * CHART_WIDTH;
  const height = TOP + rows.length * ROW + 10;
  const width = LABEL_WIDTH + CHART_WIDTH + 20;
  const every = tickEvery(span);
  const parts: string[] = [
    `<svg width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(`Timeline of ${p.scenario} against an RTO of ${formatMinutes(s.rto.objectiveMinutes)}`)}">`,
  ];
  for (let minute = 0; minute <= span; minute += every) {
    parts.push(
      `<line x1="${x(minute).toFixed(1)}" y1="${TOP - 6}" x2="${x(minute).toFixed(1)}" y2="${height - 10}" stroke="#eaeef2"/>`,
      `<text class="axis" x="${x(minute).toFixed(1)}" y="${TOP - 10}" text-anchor="middle">+${formatMinutes(minute)}</text>`,
    );
  }
  rows.forEach((row, i) => {
    const y = TOP + i * ROW;
    const label = row.label.length > 40 ? `${row.label.slice(0, 39)}…` : row.label;
    parts.push(
      `<text${row.indent ? ' class="step"' : ''} x="${row.indent ? 18 : 4}" y="${y + 15}">${escapeHtml(label)}</text>`,
    );
    if (row.from === undefined || row.to === undefined) return;
    const x1 = x(row.from);
    const w = Math.max(2, x(row.to) - x1);
    const outline = row.failed ? ' stroke="#cf222e" stroke-width="2" stroke-dasharray="4 2"' : '';
    parts.push(
      `<rect x="${x1.toFixed(1)}" y="${y + (row.indent ? 6 : 3)}" width="${w.toFixed(1)}" height="${row.indent ? 10 : 16}" rx="2" fill="${row.color}"${outline}><title>${escapeHtml(row.tip)}</title></rect>`,
    );
    if (row.failed)
      parts.push(
        `<text x="${(x1 + w + 4).toFixed(1)}" y="${y + 15}" fill="#cf222e" style="fill:#cf222e">✕${row.failed}</text>`,
      );
  });
  const rtoX = x(s.rto.objectiveMinutes).toFixed(1);
  parts.push(
    `<line x1="${rtoX}" y1="${TOP - 4}" x2="${rtoX}" y2="${height - 6}" stroke="#cf222e" stroke-width="2" stroke-dasharray="6 3"><title>RTO objective ${escapeHtml(formatMinutes(s.rto.objectiveMinutes))}</title></line>`,
    `<text x="${rtoX}" y="${height - 1}" text-anchor="middle" style="fill:#cf222e">RTO ${escapeHtml(formatMinutes(s.rto.objectiveMinutes))}</text>`,
    '</svg>',
  );
  const legend = [
    ['#2da44e', 'succeeded'],
    ['#0969da', 'running'],
    ['#bf8700', 'waiting for a person'],
    ['#cf222e', 'failed'],
    ['#8c959f', 'skipped'],
  ]
    .map(([color, name]) => `<span><i style="background:${color}"></i>${name}</span>`)
    .join('');
  return `<div class="gantt">\n${parts.join('\n')}\n</div>\n<p class="legend">${legend}<span>dashed red outline, ✕n: failed attempts</span><span>dashed red line: RTO objective</span></p>`;
}
