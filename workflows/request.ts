import { z } from 'zod';

const isoTime = z.iso.datetime({ offset: true, message: 'expected an ISO-8601 time such as 2026-11-21T14:05:00Z' });

/**
 * What starts a recovery: one plain JSON object, so the Temporal UI's Start Workflow form can start
 * `{"plan":"agama","scenario":"full-restore"}`. Pure code: the workflow validates it first thing.
 */
export const recoveryRequestSchema = z
  .object({
    /** A plan name (read from the worker's plans directory) or a whole plan object. */
    plan: z.union([z.string().min(1), z.record(z.string(), z.unknown())], {
      message: 'expected a plan name or a plan object',
    }),
    scenario: z.string().min(1, 'name the scenario to run, e.g. "full-restore"'),
    incident: z
      .object({
        id: z.string().min(1),
        /** The RTO clock starts here; the start of the workflow when absent. */
        detectedAt: isoTime,
        source: z.string().optional(),
        summary: z.string().optional(),
      })
      .strict()
      .optional(),
    /** Point in time to restore data to; the latest recovery point when absent. */
    targetTime: isoTime.optional(),
    approvals: z
      .object({ auto: z.boolean().default(false).describe('Approve every gate automatically (drills, tests)') })
      .strict()
      .optional(),
  })
  .strict();

export type RecoveryRequest = z.input<typeof recoveryRequestSchema>;

/** One line per problem, each naming the field: `incident.detectedAt: expected an ISO-8601 time`. */
export function describeRequestIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`)).join('');
    return `${path.replace(/^\./, '') || '(request)'}: ${issue.message}`;
  });
}
