import { componentTrends, SLOWER_FACTOR, type ComponentTrend } from '../../evidence/history';
import { defaultReportsDir, listEvidence } from '../../evidence/store';
import { runKind, type DrillSummary } from '../../evidence/summary';
import { formatMinutes } from '../../plan/rpo';
import { loadValidPlan } from '../load-or-fail';
import { UsageError, type CommandResult } from '../result';
import { textTable } from '../text-table';
import { isPlanFile } from '../start-recovery';

export interface DrillsOptions {
  reportsDir?: string;
  json?: boolean;
  /** Drills per component in the trend. */
  last?: number;
}

const PLAN_NAME = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;

/** One past drill as `recovery drills --json` lists it. */
export interface ListedDrill {
  dir: string;
  recoveryId: string;
  startedAt: string;
  scenario: string;
  run: 'real' | 'simulated' | 'recovery';
  status: string;
  achievedRtoMinutes: number;
  rtoMinutes: number;
  rtoMet: boolean;
  requestedBy: string;
  teardown: DrillSummary['teardown'];
  passed: boolean;
}

/** `2026-11-21 14:05Z` */
const shortDate = (iso: string) => new Date(iso).toISOString().slice(0, 16).replace('T', ' ') + 'Z';
const percent = (change: number | undefined) =>
  change === undefined ? '-' : `${change >= 0 ? '+' : ''}${Math.round(change * 100)}%`;

/**
 * `recovery drills <plan> [--reports-dir <dir>] [--json]`: the drills of a plan found in the reports
 * folder, newest first, then the achieved RTO of each component across the last real drills, with
 * the components getting slower flagged before an outage finds out.
 */
export async function drillsCommand(plan: string, options: DrillsOptions): Promise<CommandResult> {
  let name = plan;
  if (isPlanFile(plan)) name = (await loadValidPlan(plan)).plan.name;
  else if (!PLAN_NAME.test(plan))
    throw new UsageError(
      `"${plan}" is neither a plan name (lowercase letters, digits, dashes) nor a plan file (.yaml)`,
    );
  const last = options.last ?? 5;
  if (!Number.isInteger(last) || last < 2)
    throw new UsageError(`--last "${last}": expected a whole number of at least 2`);
  const reportsDir = options.reportsDir ?? defaultReportsDir();
  const { drills, skipped } = await listEvidence(reportsDir, name);
  const listed: ListedDrill[] = drills.map(({ dir, summary: s }) => ({
    dir,
    recoveryId: s.recoveryId,
    startedAt: s.startedAt,
    scenario: s.scenario,
    run: runKind(s),
    status: s.status,
    achievedRtoMinutes: s.rto.achievedMinutes,
    rtoMinutes: s.rto.objectiveMinutes,
    rtoMet: s.rto.met,
    requestedBy: s.requestedBy,
    teardown: s.teardown,
    passed: s.passed,
  }));
  const trend = componentTrends(
    drills.map((d) => d.summary),
    last,
  );
  const stderr = skipped.length ? `Skipped (no readable report.json): ${skipped.join(', ')}\n` : undefined;
  if (options.json)
    return {
      stdout: `${JSON.stringify({ plan: name, reportsDir, drills: listed, trend }, null, 2)}\n`,
      stderr,
      exitCode: 0,
    };
  if (listed.length === 0)
    return {
      stdout: `No drills of ${name} in ${reportsDir}: run one with recovery drill <plan> --scenario <s> --simulate|--real\n`,
      stderr,
      exitCode: 0,
    };
  return { stdout: `${renderDrills(name, reportsDir, listed, trend, last)}\n`, stderr, exitCode: 0 };
}

function renderDrills(
  plan: string,
  reportsDir: string,
  drills: ListedDrill[],
  trend: ComponentTrend[],
  last: number,
): string {
  const rows = drills.map((d) => [
    shortDate(d.startedAt),
    d.scenario,
    d.run,
    d.status,
    `${formatMinutes(d.achievedRtoMinutes)} / ${formatMinutes(d.rtoMinutes)} ${d.rtoMet ? 'met' : 'NOT met'}`,
    d.requestedBy,
    d.run === 'simulated' && d.teardown === 'none' ? '-' : d.teardown,
    d.passed ? 'passed' : 'FAILED',
  ]);
  const lines = [
    `Drills of ${plan} in ${reportsDir}, newest first`,
    '',
    textTable(
      ['date (UTC)', 'scenario', 'run', 'status', 'RTO achieved / objective', 'by', 'teardown', 'verdict'],
      rows,
    ),
    '',
  ];
  if (trend.length === 0) {
    lines.push('No real drill yet: the trend of achieved RTO per component starts with the first one.');
    return lines.join('\n');
  }
  const width = Math.max(...trend.map((t) => t.values.length));
  lines.push(
    `Achieved RTO per component, last ${last} real drills (oldest → newest); slower: last > ${SLOWER_FACTOR} × median of the earlier ones`,
    '',
    textTable(
      [
        'component',
        ...Array.from({ length: width }, (_, i) => (i === width - 1 ? 'last' : '')),
        'median before',
        'change',
        '',
      ],
      trend.map((t) => [
        t.component,
        ...Array.from({ length: width - t.values.length }, () => ''),
        ...t.values.map((v) => formatMinutes(v.minutes)),
        t.medianBefore === undefined ? '-' : formatMinutes(t.medianBefore),
        percent(t.change),
        t.slower ? 'SLOWER' : '',
      ]),
    ),
  );
  const slower = trend.filter((t) => t.slower);
  if (slower.length)
    lines.push(
      '',
      `Getting slower: ${slower.map((t) => `${t.component} (${formatMinutes(t.last)}, median before ${formatMinutes(t.medianBefore!)})`).join(', ')}`,
    );
  return lines.join('\n');
}
