import { formatIssue } from '../plan/issues';
import { loadPlanFile } from '../plan/load-file';
import type { RecoveryPlan } from '../plan/schema/plan';
import { UsageError } from './result';

/** The valid plan in `file`, or a UsageError listing every problem. */
export async function loadValidPlan(file: string): Promise<{ plan: RecoveryPlan; warnings: string[] }> {
  const { plan, errors, warnings } = await loadPlanFile(file);
  if (!plan) throw new UsageError(errors.map(formatIssue).join('\n'));
  return { plan, warnings: warnings.map(formatIssue) };
}
