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
    /**
     * Run the scenario as a drill whatever its mode: isolated copies, the drill guard, teardown
     * (`recovery drill --real`).
     */
    drill: z.boolean().optional(),
    /**
     * Hold the recovery at the `start` gate until a person approves it (an alarm trigger with
     * `requireApproval`): nothing runs before, the RTO clock runs all the same.
     */
    hold: z.boolean().optional(),
    /** Who started it (`user@host`, a schedule, an alarm), for the record and the drill evidence. */
    requestedBy: z.string().min(1).max(200).optional(),
    /** Point in time to restore data to; the latest recovery point when absent. */
    targetTime: isoTime.optional(),
    approvals: z
      .object({ auto: z.boolean().default(false).describe('Approve every gate automatically (drills, tests)') })
      .strict()
      .optional(),
    /**
     * A rehearsal on paper (the time-skipping server): every step takes its component's estimate
     * (times `slow`), nothing outside the workflow is touched, gates pass after `approvalDelayMinutes`.
     */
    simulation: z
      .object({
        slow: z.record(z.string(), z.number().positive()).default({}).describe('component id → factor on its estimate'),
        fail: z
          .record(z.string(), z.number().int().min(1))
          .default({})
          .describe('component id → failed attempts of its first step before it succeeds'),
        approvalDelayMinutes: z.number().min(0).default(0).describe('how long a person takes to approve a gate'),
        operatorDelayMinutes: z
          .number()
          .min(0)
          .default(15)
          .describe('how long a person takes to retry a step whose retries ran out'),
      })
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
