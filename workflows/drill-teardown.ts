import { proxyActivities } from '@temporalio/workflow';
import type { RecoveryActivities } from '../activities';
import type { ComponentRunbook } from '../plan/kinds';
import { describeFailure, runAutomation } from './component';
import type { RecoveryProgress, TeardownRecord } from './progress';

/**
 * Teardown deletes and waits for deletions (an RDS instance takes minutes): it heartbeats, and it
 * keeps trying longer than a recovery step, because what it fails to remove stays behind.
 */
const teardownActivities = proxyActivities<RecoveryActivities>({
  startToCloseTimeout: '1h',
  heartbeatTimeout: '2m',
  retry: { initialInterval: '10s', backoffCoefficient: 2, maximumInterval: '2m', maximumAttempts: 8 },
});

/**
 * The drill's compensation: removes what the drill created, component by component, dependents
 * first (a drill service goes before the drill database it reads). Only components whose runbook
 * started are torn down; every step of a component's teardown is tried even when one fails, and
 * what a failed step leaves is recorded with its manual command. The caller runs it in a
 * non-cancellable scope, so a cancelled drill is cleaned up too.
 */
export async function tearDownDrill(
  state: RecoveryProgress,
  runbooks: Record<string, ComponentRunbook>,
  refresh: () => void,
): Promise<TeardownRecord[]> {
  const records: TeardownRecord[] = state.components
    .filter((c) => c.runs > 0 && (runbooks[c.id]?.teardown.length ?? 0) > 0)
    .reverse()
    .map((c) => ({ component: c.id, status: 'running', steps: [] }));
  state.teardown = records;
  refresh();
  for (const record of records) {
    for (const step of runbooks[record.component]!.teardown) {
      const automation = step.automation;
      if (!automation || !('activity' in automation)) continue;
      try {
        const result = await runAutomation(
          teardownActivities,
          automation,
          `teardown ${record.component}: ${step.title}`,
        );
        record.steps.push({ id: step.id, title: step.title, status: 'succeeded', result });
      } catch (error) {
        record.steps.push({ id: step.id, title: step.title, status: 'failed', error: describeFailure(error) });
        (record.left ??= []).push({ step: step.id, what: step.title, command: step.command });
      }
      refresh();
    }
    record.status = record.left ? 'failed' : 'done';
    refresh();
  }
  return records;
}

/** One line per thing a failed teardown left behind, with the command that removes it. */
export function describeLeftovers(records: TeardownRecord[]): string[] {
  return records.flatMap((r) =>
    (r.left ?? []).map((l) => `${r.component}: ${l.what} — not done; by hand: ${l.command.split('\n').join(' && ')}`),
  );
}
