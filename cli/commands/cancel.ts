import { randomUUID } from 'node:crypto';
import { assertRunning, describeRecovery, serverFailure, shellWord } from '../recoveries';
import type { CommandResult } from '../result';
import { connectTemporal, withTemporal, type Connect } from '../temporal-client';

export interface CancelOptions {
  /** Why, for the workflow's history (the cancel request event). */
  reason?: string;
  json?: boolean;
  connect?: Connect;
}

/**
 * `recovery cancel <id> [--reason <text>]`: asks a running recovery to stop. It stops its running
 * steps, starts nothing new, tells the contacts, and keeps its record (status `cancelled`).
 */
export async function cancelCommand(id: string, options: CancelOptions): Promise<CommandResult> {
  return withTemporal(options.connect ?? (() => connectTemporal()), async (target) => {
    const { description } = await describeRecovery(target, id);
    assertRunning(id, description, 'cancel');
    try {
      // The request itself rather than handle.cancel(), which cannot carry a reason.
      await target.client.workflowService.requestCancelWorkflowExecution({
        namespace: target.namespace,
        workflowExecution: { workflowId: id, runId: description.runId },
        identity: target.client.options.identity,
        requestId: randomUUID(),
        reason: options.reason ?? 'recovery cancel',
      });
    } catch (error) {
      throw serverFailure(error, `cannot cancel recovery ${id}`);
    }
    const stdout = options.json
      ? `${JSON.stringify({ recoveryId: id, runId: description.runId, cancelRequested: true, reason: options.reason }, null, 2)}\n`
      : [
          `Cancellation requested for ${id}${options.reason ? ` (${options.reason})` : ''}.`,
          'Running steps are stopped (commands see the cancellation), components not started yet will not start,',
          'the contacts are told what was and was not done, and the record is kept with status "cancelled".',
          `Follow it with: recovery status ${shellWord(id)}`,
          '',
        ].join('\n');
    return { stdout, exitCode: 0 };
  });
}
