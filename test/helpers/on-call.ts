import type { WorkflowHandle } from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { approveUpdate, progressQuery, resolveUpdate } from '../../workflows/messages';
import type { PendingDecision, RecoveryProgress } from '../../workflows/progress';

export interface OnCallOptions {
  /** Abort the recovery at the first decision this picks (a failure the test injected). */
  abortOn?: (decision: PendingDecision) => boolean;
  /** Gives up (throws) after this long: a recovery that never ends must not hang the tests. */
  deadlineMs?: number;
  /**
   * On the time-skipping server: moves its clock on by a bounded step between two looks (e.g.
   * `() => env.sleep('1m')`). Awaiting the result there would let the server skip freely, and a
   * recovery idle for an operator skips past its last timer to its timeout before anyone looks.
   */
  advance?: () => Promise<void>;
}

/**
 * Acts as the people on call until the recovery ends: approves the `approve` gates when they wait,
 * skips the steps it is asked about that have a manual command (done by hand), retries the rest,
 * aborts where `abortOn` says. Returns the final report and every decision taken, for the test to
 * assert on.
 */
export async function actAsOnCall(
  handle: WorkflowHandle,
  approve: string[],
  { abortOn = () => false, deadlineMs = 10 * 60_000, advance }: OnCallOptions = {},
): Promise<{ report: RecoveryProgress; decisions: string[] }> {
  const deadline = Date.now() + deadlineMs;
  const decisions: string[] = [];
  let report: RecoveryProgress | undefined;
  let failure: Error | undefined;
  const settle = () =>
    handle.result().then(
      (result: RecoveryProgress) => (report = result),
      (error: Error) => (failure = error),
    );
  if (!advance) void settle();
  while (!report) {
    if (failure) throw failure;
    if (advance && (await handle.describe()).status.name !== 'RUNNING') {
      await settle();
      continue;
    }
    const progress = await handle.query(progressQuery).catch(() => undefined);
    if (Date.now() > deadline) {
      const state = progress?.components.map((c) => [
        c.id,
        c.status,
        c.lastError,
        c.steps.map((s) => [s.id, s.status]),
      ]);
      throw new Error(`the recovery was not over after ${deadlineMs / 1000} s: ${JSON.stringify(state)}`);
    }
    for (const decision of progress?.pendingDecisions ?? []) {
      const action = abortOn(decision) ? 'abort' : decision.manualCommand ? 'skip' : 'retry';
      decisions.push(`${decision.component}/${decision.step} ${action}: ${decision.error}`);
      await handle.executeUpdate(resolveUpdate, {
        args: [{ component: decision.component, action, by: 'test-operator' }],
      });
    }
    for (const gate of progress?.gates ?? []) {
      if (gate.status === 'waiting' && approve.includes(gate.gate))
        await handle.executeUpdate(approveUpdate, { args: [{ gate: gate.gate, by: 'sre', comment: 'healthy' }] });
    }
    await (advance ? advance() : sleep(200));
  }
  return { report, decisions };
}
