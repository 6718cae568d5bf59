/**
 * The demo's on-call engineer. It approves each gate the recovery waits at and marks each manual
 * step done (as if run by hand). A step that failed is retried once, then the recovery is aborted.
 * Before each decision it prints the command a person would type, then runs that very command's
 * code (`recovery approve`, `recovery resolve`).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { approveCommand, resolveCommand, type DecisionOptions } from '../cli/commands/decide';
import { approveCommandLine } from '../cli/progress-text';
import { queryProgress, shellWord, type RecoveryHandle } from '../cli/recoveries';
import type { TemporalTarget } from '../cli/temporal-client';
import type { PendingDecision } from '../workflows/progress';

export const DEMO_ON_CALL = 'demo-on-call';

export interface OnCallOptions {
  /** How long the "person" looks before deciding, so that the waiting shows. */
  thinkMs?: number;
  say?: (line: string) => void;
}

/** Acts on the recovery until `over` settles. */
export async function actAsOnCall(
  target: TemporalTarget,
  handle: RecoveryHandle,
  over: Promise<unknown>,
  { thinkMs = 3_000, say = (line: string) => console.log(line) }: OnCallOptions = {},
): Promise<void> {
  let done = false;
  void over.finally(() => (done = true));
  const id = handle.workflowId;
  const options: DecisionOptions = {
    by: DEMO_ON_CALL,
    connect: () => Promise.resolve({ ...target, close: () => Promise.resolve() }),
  };
  const approved = new Set<string>();
  const retried = new Set<string>();
  /** Shows the command, waits a moment, runs it; false once the recovery is over. */
  const act = async (why: string, command: string, run: () => Promise<{ stdout: string }>) => {
    await Promise.race([sleep(thinkMs), over]);
    if (done) return false;
    say(`\n  On call: ${why}; you would run:\n  $ ${command}`);
    const { stdout } = await run();
    say(`  ${stdout.trim().split('\n')[0]}\n`);
    return true;
  };
  const decide = (d: PendingDecision) => {
    const key = `${d.component}/${d.step}`;
    const action = d.manualCommand ? 'skip' : retried.has(key) ? 'abort' : 'retry';
    retried.add(key);
    const why = d.manualCommand
      ? `"${d.step}" of ${d.component} is a manual step; the demo skips it as if done by hand`
      : `"${d.step}" of ${d.component} failed (${d.error}): ${action}`;
    const comment = d.manualCommand ? 'npm run demo: as if done by hand' : `npm run demo: ${action}`;
    return act(why, `recovery resolve ${shellWord(id)} ${shellWord(d.component)} ${action} --by ${DEMO_ON_CALL}`, () =>
      resolveCommand(id, d.component, action, { ...options, comment }),
    );
  };

  while (!done) {
    const answer = await queryProgress(target, handle, target.taskQueue, 5_000);
    if ('progress' in answer) {
      const { gates, pendingDecisions } = answer.progress;
      for (const { gate } of gates.filter((g) => g.status === 'waiting' && !approved.has(g.gate))) {
        approved.add(gate);
        const command = `${approveCommandLine(id, gate)} --by ${DEMO_ON_CALL}`;
        if (
          !(await act(`approves "${gate}"`, command, () =>
            approveCommand(id, gate, { ...options, comment: 'approved by npm run demo' }),
          ))
        )
          return;
      }
      for (const decision of pendingDecisions) if (!(await decide(decision))) return;
    }
    await Promise.race([sleep(1_000), over]);
  }
}
