import {
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  WorkflowUpdateRPCTimeoutOrCancelledError,
} from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { approveUpdate, resolveUpdate, type ApproveInput, type ResolveInput } from '../../workflows/messages';
import { assertRunning, describeRecovery, rootCause, serverFailure, shellWord } from '../recoveries';
import { CommandFailure, UsageError, type CommandResult } from '../result';
import { connectTemporal, withTemporal, type Connect } from '../temporal-client';

export interface DecisionOptions {
  /** Who decides, for the record; $USER when absent. */
  by?: string;
  comment?: string;
  json?: boolean;
  connect?: Connect;
  env?: NodeJS.ProcessEnv;
  /** How long to wait for the recovery's worker to accept or refuse. */
  updateTimeoutMs?: number;
}

export const RESOLVE_ACTIONS = ['retry', 'skip', 'abort'] as const;

/** Who decides: --by, else $USER; the record must name a person. */
function decider(options: DecisionOptions, verb: string): string {
  const by = (options.by ?? (options.env ?? process.env).USER)?.trim();
  if (!by) throw new UsageError(`say who ${verb} with --by <name> (there is no $USER to default to)`);
  return by;
}

/**
 * Sends an approval or a decision to a running recovery and returns its answer. The workflow's
 * validator refuses what makes no sense (an unknown gate, a component that is not waiting): that
 * is the user's to fix, exit 2 with the validator's words.
 */
async function sendUpdate<Input>(
  id: string,
  update: UpdateDefinition<string, [Input]>,
  input: Input,
  doing: string,
  options: DecisionOptions,
): Promise<string> {
  return withTemporal(options.connect ?? (() => connectTemporal()), async (target) => {
    const { handle, description } = await describeRecovery(target, id);
    assertRunning(id, description, doing);
    const timeoutMs = options.updateTimeoutMs ?? 30_000;
    try {
      return await target.client.withDeadline(Date.now() + timeoutMs, () =>
        handle.executeUpdate(update, { args: [input] }),
      );
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) throw new UsageError(rootCause(error).message);
      if (error instanceof WorkflowNotFoundError)
        throw new UsageError(`recovery ${id} is over: nothing to ${doing} (${error.message})`);
      if (error instanceof WorkflowUpdateRPCTimeoutOrCancelledError)
        throw new CommandFailure(
          `recovery ${id} did not answer within ${timeoutMs / 1000}s: is a worker polling task queue "${description.taskQueue}"? ` +
            `It may still take effect when one does: check with recovery status ${shellWord(id)}`,
        );
      throw serverFailure(error, `cannot ${doing} in recovery ${id}`);
    }
  });
}

/** `recovery approve <id> <gate> --by <name> [--comment <text>]`: opens an approval gate. */
export async function approveCommand(id: string, gate: string, options: DecisionOptions): Promise<CommandResult> {
  const input: ApproveInput = { gate, by: decider(options, 'approves'), comment: options.comment };
  const answer = await sendUpdate(id, approveUpdate, input, 'approve', options);
  return {
    stdout: options.json
      ? `${JSON.stringify({ recoveryId: id, ...input, answer }, null, 2)}\n`
      : `${answer}\nFollow it with: recovery status ${shellWord(id)}\n`,
    exitCode: 0,
  };
}

/** `recovery resolve <id> <component> retry|skip|abort --by <name> [--comment <text>]`: an operator's decision. */
export async function resolveCommand(
  id: string,
  component: string,
  action: string,
  options: DecisionOptions,
): Promise<CommandResult> {
  if (!(RESOLVE_ACTIONS as readonly string[]).includes(action))
    throw new UsageError(
      `the decision is retry (run the failed step again), skip (it is done by hand or not needed) or abort (stop the recovery), not "${action}"`,
    );
  const input: ResolveInput = {
    component,
    action: action as ResolveInput['action'],
    by: decider(options, 'decides'),
    comment: options.comment,
  };
  const answer = await sendUpdate(id, resolveUpdate, input, 'decide', options);
  return {
    stdout: options.json
      ? `${JSON.stringify({ recoveryId: id, ...input, answer }, null, 2)}\n`
      : `${answer}\nFollow it with: recovery status ${shellWord(id)}\n`,
    exitCode: 0,
  };
}
