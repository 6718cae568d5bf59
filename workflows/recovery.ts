import { ApplicationFailure, log, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { RecoveryActivities } from '../activities';
import { parseDuration } from '../plan/duration';
import { describeInputIssues, recoveryInputSchema, type RecoveryInput, type RecoveryStep } from './recovery-input';

/**
 * Restores take minutes to hours: the start-to-close timeout is generous and the heartbeat timeout
 * is what notices a dead worker. Errors that retrying cannot fix are marked non-retryable by the
 * activities themselves (see activities/aws-errors.ts).
 */
const { restoreDynamoDbTableFromBackup } = proxyActivities<RecoveryActivities>({
  startToCloseTimeout: '6h',
  heartbeatTimeout: '1m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '2m', maximumAttempts: 10 },
});

export interface StepReport {
  id: string;
  action: RecoveryStep['action'];
  startedAt: string;
  finishedAt: string;
  outcome: 'succeeded';
  result?: unknown;
}

export interface RecoveryReport {
  name: string;
  workflowId: string;
  startedAt: string;
  finishedAt: string;
  elapsedMs: number;
  steps: StepReport[];
}

async function runStep(step: RecoveryStep): Promise<unknown> {
  switch (step.action) {
    case 'wait':
      await sleep(parseDuration(step.duration) ?? 0, {
        summary: `Wait ${step.duration}${step.reason ? `: ${step.reason}` : ''}`,
      });
      return undefined;
    case 'dynamodb-restore-from-backup':
      return restoreDynamoDbTableFromBackup.executeWithOptions(
        { summary: `Restore DynamoDB table ${step.targetTableName} from backup` },
        [
          {
            backupArn: step.backupArn,
            targetTableName: step.targetTableName,
            region: step.region,
            expectedItemCount: step.expectedItemCount,
          },
        ],
      );
  }
}

/** Runs the steps of a recovery in order, each as a retried, idempotent activity or a durable timer. */
export async function recoveryWorkflow(input: RecoveryInput): Promise<RecoveryReport> {
  const parsed = recoveryInputSchema.safeParse(input);
  if (!parsed.success) {
    throw ApplicationFailure.nonRetryable(
      `Invalid recovery input:\n${describeInputIssues(parsed.error).join('\n')}`,
      'InvalidRecoveryInput',
    );
  }
  const { name, steps } = parsed.data;
  const started = Date.now();
  const reports: StepReport[] = [];
  for (const step of steps) {
    const stepStarted = Date.now();
    log.info('Step started', { step: step.id, action: step.action });
    const result = await runStep(step);
    reports.push({
      id: step.id,
      action: step.action,
      startedAt: new Date(stepStarted).toISOString(),
      finishedAt: new Date().toISOString(),
      outcome: 'succeeded',
      result,
    });
  }
  return {
    name,
    workflowId: workflowInfo().workflowId,
    startedAt: new Date(started).toISOString(),
    finishedAt: new Date().toISOString(),
    elapsedMs: Date.now() - started,
    steps: reports,
  };
}
