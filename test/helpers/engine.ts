import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createActivities, type ActivityDependencies, type RecoveryActivities } from '../../activities';
import type { RecoveryNotification } from '../../activities/notify';
import { createAwsClients, type AwsClients } from '../../activities/aws-clients';
import { createRecoveryWorker } from '../../workers/recovery-worker';
import { progressQuery } from '../../workflows/messages';
import type { RecoveryProgress } from '../../workflows/progress';

/** Drill evidence of the tests' workers: a folder of this test process, removed when it exits. */
export const TEST_REPORTS_DIR = mkdtempSync(join(tmpdir(), 'recovery-reports-'));
process.on('exit', () => rmSync(TEST_REPORTS_DIR, { recursive: true, force: true }));

/** A plan object for tests: contacts with an escalation chain, the given components. */
export function testPlan(
  components: Record<string, unknown>[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    name: 'test-plan',
    objectives: { rpo: '1h', rto: '4h' },
    contacts: [
      { name: 'Ana (on call)', role: 'primary', phone: '+1 555 0100', escalateAfter: '30m' },
      { name: 'Ben (lead)', role: 'secondary', phone: '+1 555 0101', escalateAfter: '30m' },
      { name: 'Cy (manager)', role: 'manager', phone: '+1 555 0102' },
    ],
    components,
    ...extra,
  };
}

/** A component that takes `duration` of workflow time (a durable timer). */
export const waitFor = (
  id: string,
  duration: string,
  dependsOn: string[] = [],
  more: Record<string, unknown> = {},
) => ({
  id,
  kind: 'wait',
  duration,
  estimate: duration,
  dependsOn,
  ...more,
});

/** A command component; the mock runs `run` as a script (see scriptedActivities). */
export const command = (id: string, run: string, dependsOn: string[] = [], more: Record<string, unknown> = {}) => ({
  id,
  kind: 'command',
  run,
  estimate: '5m',
  dependsOn,
  ...more,
});

/**
 * Activities typed like the real ones. `runCommand` reads its command as a script:
 * `ok` succeeds; `fail-once:<key>` fails (non-retryable) the first time for that key, then succeeds;
 * `fail` always fails; `hang` heartbeats until cancelled. Plans load for real, from examples/.
 */
export function scriptedActivities() {
  const calls = { commands: [] as string[], notifications: [] as RecoveryNotification[], cancelled: [] as string[] };
  const failedOnce = new Set<string>();
  const activities: RecoveryActivities = {
    // Every real activity (AWS ones pointed nowhere: these tests never call them), then the scripted ones.
    ...createActivities({
      aws: createAwsClients({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1' }),
      plansDir: 'examples',
      notifications: {},
      reportsDir: TEST_REPORTS_DIR,
    }),
    notify: (notification) => {
      calls.notifications.push(notification);
      return Promise.resolve({ channels: ['test'] });
    },
    async runCommand({ command: script }) {
      calls.commands.push(script);
      if (script.startsWith('fail-once:') && !failedOnce.has(script)) {
        failedOnce.add(script);
        throw ApplicationFailure.nonRetryable(`${script} failed on purpose`, 'CommandFailed');
      }
      if (script === 'fail') throw ApplicationFailure.nonRetryable('this command always fails', 'CommandFailed');
      if (script === 'hang') {
        const context = Context.current();
        while (!context.cancellationSignal.aborted) {
          context.heartbeat();
          await sleep(50);
        }
        calls.cancelled.push(script);
        throw context.cancellationSignal.reason;
      }
      return { exitCode: 0, outputTail: '', durationMs: 1 };
    },
    httpCheck: () => Promise.resolve({ status: 200, ms: 1 }),
    restoreDynamoDbTableFromBackup: (input) =>
      Promise.resolve({
        tableName: input.targetTableName,
        tableArn: `arn:aws:dynamodb:us-east-1:123456789012:table/${input.targetTableName}`,
        sourceBackupArn: input.backupArn,
        restoredNow: true,
        itemCount: 3,
        recoveryPoint: '2026-11-20T16:10:00.000Z',
      }),
  };
  return { activities, calls };
}

/** A worker for one test, with heartbeats sent often enough that cancellation arrives quickly. */
export function testWorker(
  env: TestWorkflowEnvironment,
  bundle: WorkflowBundleWithSourceMap,
  taskQueue: string,
  activities: RecoveryActivities,
) {
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities,
    maxHeartbeatThrottleInterval: '200ms',
    defaultHeartbeatThrottleInterval: '200ms',
  });
}

/** The real recovery worker on a test server, its AWS calls going to `aws` (the emulator, or a proxy in front of it). */
export function engineWorker(
  env: TestWorkflowEnvironment,
  bundle: WorkflowBundleWithSourceMap,
  taskQueue: string,
  aws: AwsClients,
  more: Partial<Pick<ActivityDependencies, 'plansDir' | 'binaries' | 'reportsDir'>> = {},
) {
  return createRecoveryWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    dependencies: { aws, plansDir: 'examples', notifications: {}, reportsDir: TEST_REPORTS_DIR, ...more },
    workflowBundle: bundle,
  });
}

/** Polls the progress query (real time; it does not move the time-skipping clock) until `ready`. */
export async function progressWhen(
  handle: WorkflowHandle,
  ready: (progress: RecoveryProgress) => boolean,
  timeoutMs = 20_000,
): Promise<RecoveryProgress> {
  const deadline = Date.now() + timeoutMs;
  let last: RecoveryProgress | undefined;
  while (Date.now() < deadline) {
    try {
      last = await handle.query(progressQuery);
      if (ready(last)) return last;
    } catch {
      // not started yet
    }
    await sleep(50);
  }
  throw new Error(
    `progress never reached the expected state; last: ${JSON.stringify(last?.components.map((c) => [c.id, c.status]))}`,
  );
}

/** Polls `get` (real time) until it returns something: for side effects the workflow records after its state changes. */
export async function eventually<T>(what: string, get: () => T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await sleep(50);
  }
}

/** Minutes between two ISO times. */
export const minutesBetween = (from: string, to: string | undefined) => (Date.parse(to!) - Date.parse(from)) / 60_000;
