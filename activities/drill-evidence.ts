import { ApplicationFailure } from '@temporalio/common';
import { saveEvidence } from '../evidence/store';
import type { RecoveryProgress } from '../workflows/progress';

/**
 * The evidence of a drill, saved by the worker at the end of every real drill: Markdown, JSON and a
 * self-contained HTML page under `<reportsDir>/<plan>/<scenario>/<start>-<id>/`. Idempotent: a retry
 * rewrites the same files of the same folder (each atomically), never a second folder.
 */
export function createDrillEvidenceActivities(reportsDir: string) {
  return {
    saveDrillEvidence: async (report: RecoveryProgress): Promise<{ dir: string; files: string[] }> => {
      const missing = (['recoveryId', 'plan', 'scenario', 'startedAt', 'clockStartedAt'] as const).filter(
        (field) =>
          typeof report?.[field] !== 'string' || Number.isNaN(field.endsWith('At') ? Date.parse(report[field]) : 0),
      );
      if (missing.length)
        throw ApplicationFailure.nonRetryable(
          `saveDrillEvidence: the report lacks ${missing.join(', ')} (recovery ${String(report?.recoveryId)})`,
          'InvalidDrillReport',
        );
      return saveEvidence(reportsDir, report);
    },
  };
}
