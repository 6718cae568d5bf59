import { ApplicationFailure } from '@temporalio/common';
import { runProcess } from './process';

export interface RunCommandInput {
  /** Run by `bash -c`, in `workingDir` when given. */
  command: string;
  workingDir?: string;
}

export interface RunCommandResult {
  exitCode: number;
  /** The last lines of output, for the report (commands must not print secrets). */
  outputTail: string;
  durationMs: number;
}

/**
 * Runs a plan's shell command. Heartbeats while it runs; on cancellation (abort, workflow cancel)
 * the whole process group gets SIGTERM, then SIGKILL. A non-zero exit fails the attempt with the
 * output tail; the workflow's retry policy and then an operator decide what comes next. Commands
 * must be idempotent: a retry after a crash runs them again.
 */
export async function runCommand({ command, workingDir }: RunCommandInput): Promise<RunCommandResult> {
  let run: Awaited<ReturnType<typeof runProcess>>;
  try {
    run = await runProcess('bash', ['-c', command], { cwd: workingDir });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw ApplicationFailure.nonRetryable(
        `cannot run the command: ${workingDir ? `working directory ${workingDir} or ` : ''}bash not found`,
        'CommandNotRunnable',
      );
    }
    throw error;
  }
  const result = { exitCode: run.exitCode, outputTail: run.tail, durationMs: run.durationMs };
  if (run.exitCode !== 0) {
    throw ApplicationFailure.retryable(
      `command exited with status ${run.exitCode}: ${command}\n${result.outputTail.slice(-1_000)}`,
      'CommandFailed',
      result,
    );
  }
  return result;
}
