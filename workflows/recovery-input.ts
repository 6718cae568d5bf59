import { z } from 'zod';
import { DURATION_HINT, parseDuration } from '../plan/duration';

/**
 * The input of `recoveryWorkflow`: one plain JSON object, so the Temporal UI's Start Workflow form
 * can start a recovery. Pure code (zod only): the workflow validates its own input before any step.
 */
const stepId = z
  .string()
  .regex(/^[a-z0-9-]+$/, 'use lowercase letters, digits and dashes')
  .describe('Unique name of the step, e.g. "restore-orders"');

const waitStep = z
  .object({
    id: stepId,
    action: z.literal('wait'),
    /** How long to wait, e.g. `4h` for a DNS TTL to expire. */
    duration: z.string().refine((text) => parseDuration(text) !== undefined, `expected ${DURATION_HINT}`),
    reason: z.string().optional(),
  })
  .strict();

const dynamoDbRestoreStep = z
  .object({
    id: stepId,
    action: z.literal('dynamodb-restore-from-backup'),
    /** @example "arn:aws:dynamodb:us-east-1:123456789012:table/orders/backup/01700000000000-abcdef12" */
    backupArn: z.string().regex(/^arn:aws[a-z-]*:dynamodb:/, 'expected a DynamoDB backup ARN (arn:aws:dynamodb:…)'),
    /** New table the backup is restored into; must not exist yet, unless restored from this backup. */
    targetTableName: z
      .string()
      .regex(/^[a-zA-Z0-9_.-]{3,255}$/, 'expected a DynamoDB table name (3-255 of a-z A-Z 0-9 _ . -)'),
    /** AWS region of the backup; the worker's default region when absent. */
    region: z.string().optional(),
    /** When given, the restore fails unless the restored table holds exactly this many items. */
    expectedItemCount: z.number().int().nonnegative().optional(),
  })
  .strict();

export const recoveryStepSchema = z.discriminatedUnion('action', [waitStep, dynamoDbRestoreStep]);

export const recoveryInputSchema = z
  .object({
    /** Name of the recovery, shown in reports. */
    name: z.string().min(1),
    steps: z.array(recoveryStepSchema).min(1, 'a recovery needs at least one step'),
  })
  .strict()
  .superRefine((input, ctx) => {
    const seen = new Set<string>();
    input.steps.forEach((step, index) => {
      if (seen.has(step.id))
        ctx.addIssue({ code: 'custom', path: ['steps', index, 'id'], message: `duplicate step id "${step.id}"` });
      seen.add(step.id);
    });
  });

export type RecoveryInput = z.infer<typeof recoveryInputSchema>;
export type RecoveryStep = z.infer<typeof recoveryStepSchema>;

/** One line per problem, each naming the field: `steps[0].backupArn: expected a DynamoDB backup ARN`. */
export function describeInputIssues(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`)).join('');
    return `${path.replace(/^\./, '') || '(input)'}: ${issue.message}`;
  });
}
