import { analyzeScenario, scenariosOf, type ScenarioAnalysis } from '../../plan/analysis';
import { OBJECTIVES_HEADER, objectivesRows } from '../../plan/objectives-table';
import { formatMinutes } from '../../plan/rpo';
import type { RecoveryPlan } from '../../plan/schema/plan';
import { loadValidPlan } from '../load-or-fail';
import { UsageError, type CommandResult } from '../result';
import { textTable } from '../text-table';

/** The scenario `name`, or the plan's only scenario when no name is given. */
export function pickScenario(plan: RecoveryPlan, name: string | undefined): string {
  const names = scenariosOf(plan).map((s) => s.name);
  if (name === undefined) {
    if (names.length === 1) return names[0]!;
    throw new UsageError(`plan "${plan.name}" has several scenarios: choose one with --scenario (${names.join(', ')})`);
  }
  if (!names.includes(name))
    throw new UsageError(`plan "${plan.name}" has no scenario "${name}": use one of ${names.join(', ')}`);
  return name;
}

const verdict = (ok: boolean) => (ok ? 'met' : 'NOT MET');

/** The analysis as a person reads it in a terminal. */
export function renderAnalysis(a: ScenarioAnalysis): string {
  const rows = objectivesRows(a, { verdict, none: '-' });
  const failing = a.rpo.filter((r) => !r.compliant);
  return [
    `Plan ${a.plan}, scenario ${a.scenario} (${a.mode})`,
    ...(a.pulledIn.length ? [`Pulled in as dependencies: ${a.pulledIn.join(', ')}`] : []),
    '',
    'Order (components of one stage run in parallel; each starts as soon as its own dependencies are done):',
    ...a.stages.map((stage, i) => `  ${i + 1}. ${stage.join(', ')}`),
    '',
    `Critical path: ${a.criticalPath.join(' -> ')} (${formatMinutes(a.estimatedRtoMinutes)})`,
    `RTO: estimated ${formatMinutes(a.estimatedRtoMinutes)} against ${formatMinutes(a.rtoMinutes)}: ${verdict(a.rtoMet)}`,
    `RPO: ${a.rpo.length === 0 ? 'no data components in this scenario' : failing.length === 0 ? 'every data component meets its objective' : `${failing.length} of ${a.rpo.length} data components NOT MET`}`,
    '',
    textTable(OBJECTIVES_HEADER, rows),
    ...(a.rpo.length
      ? ['', 'RPO details:', ...a.rpo.map((r) => `  ${r.compliant ? 'ok ' : 'NOT'} ${r.component}: ${r.reason}`)]
      : []),
  ].join('\n');
}

/** `recovery plan <plan.yaml> --scenario <name> [--json]` */
export async function planCommand(
  file: string,
  options: { scenario?: string; json?: boolean },
): Promise<CommandResult> {
  const { plan, warnings } = await loadValidPlan(file);
  const analysis = analyzeScenario(plan, pickScenario(plan, options.scenario));
  return {
    stdout: `${options.json ? JSON.stringify(analysis, null, 2) : renderAnalysis(analysis)}\n`,
    stderr: warnings.length ? `${warnings.join('\n')}\n` : undefined,
    exitCode: 0,
  };
}
