import type { WorkflowHandle } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { approveUpdate, progressQuery, resolveUpdate } from '../../workflows/messages';
import type { RecoveryProgress } from '../../workflows/progress';

/**
 * Acts as the people on call until the recovery ends: approves the `approve` gates when they wait,
 * skips the steps it is asked about that have a manual command (done by hand), retries the rest.
 * Returns the final report and every decision taken, for the test to assert on.
 */
export async function actAsOnCall(
  handle: WorkflowHandle,
  approve: string[],
): Promise<{ report: RecoveryProgress; decisions: string[] }> {
  const decisions: string[] = [];
  let report: RecoveryProgress | undefined;
  let failure: Error | undefined;
  void handle.result().then(
    (result: RecoveryProgress) => (report = result),
    (error: Error) => (failure = error),
  );
  while (!report) {
    if (failure) throw failure;
    const progress = await handle.query(progressQuery).catch(() => undefined);
    for (const decision of progress?.pendingDecisions ?? []) {
      const action = decision.manualCommand ? 'skip' : 'retry';
      decisions.push(`${decision.component}/${decision.step} ${action}: ${decision.error}`);
      await handle.executeUpdate(resolveUpdate, {
        args: [{ component: decision.component, action, by: 'test-operator' }],
      });
    }
    for (const gate of progress?.gates ?? []) {
      if (gate.status === 'waiting' && approve.includes(gate.gate))
        await handle.executeUpdate(approveUpdate, { args: [{ gate: gate.gate, by: 'sre', comment: 'healthy' }] });
    }
    await sleep(200);
  }
  return { report, decisions };
}
