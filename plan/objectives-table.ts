import type { ScenarioAnalysis } from './analysis';
import { formatMinutes } from './rpo';

export const OBJECTIVES_HEADER = [
  'component',
  'kind',
  'RPO',
  'worst case',
  'RPO verdict',
  'RTO',
  'estimate',
  'done after',
  'RTO verdict',
];

/**
 * One row per component of the scenario: its RPO objective, worst-case data loss and verdict (data
 * components only; `none` elsewhere), its RTO objective, estimate, expected finish and verdict.
 */
export function objectivesRows(
  analysis: ScenarioAnalysis,
  {
    verdict,
    none,
    name = (id) => id,
  }: { verdict: (ok: boolean) => string; none: string; name?: (id: string) => string },
): string[][] {
  const rpoBy = new Map(analysis.rpo.map((r) => [r.component, r]));
  return analysis.timeline.map((t) => {
    const rpo = rpoBy.get(t.component);
    return [
      name(t.component),
      t.kind,
      rpo ? formatMinutes(rpo.objectiveMinutes) : none,
      rpo ? (rpo.worstCaseMinutes === null ? 'no backups' : formatMinutes(rpo.worstCaseMinutes)) : none,
      rpo ? verdict(rpo.compliant) : none,
      formatMinutes(t.rtoObjectiveMinutes),
      formatMinutes(t.estimateMinutes),
      formatMinutes(t.finishMinute),
      verdict(t.rtoMet),
    ];
  });
}
