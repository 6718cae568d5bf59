import { ApplicationFailure } from '@temporalio/common';
import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity';
import { spawn } from 'node:child_process';

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

const TAIL_BYTES = 4_000;

/**
 * Runs a plan's shell command. Heartbeats while it runs; on cancellation (abort, workflow cancel)
 * the whole process group gets SIGTERM, then SIGKILL. A non-zero exit fails the attempt with the
 * output tail; the workflow's retry policy and then an operator decide what comes next. Commands
 * must be idempotent: a retry after a crash runs them again.
 */
export async function runCommand({ command, workingDir }: RunCommandInput): Promise<RunCommandResult> {
  const started = Date.now();
  const child = spawn('bash', ['-c', command], { cwd: workingDir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-TAIL_BYTES));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const interval = Math.max(1_000, Math.floor((activityInfo().heartbeatTimeoutMs ?? 30_000) / 3));
  const beat = setInterval(() => heartbeat({ runningForMs: Date.now() - started }), interval);
  const signal = cancellationSignal();
  const stop = () => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
      setTimeout(() => child.exitCode === null && process.kill(-child.pid!, 'SIGKILL'), 5_000).unref();
    } catch {
      // already gone
    }
  };
  signal.addEventListener('abort', stop);
  try {
    const exitCode = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, sig) => resolve(code ?? (sig ? 128 : 1)));
    });
    if (signal.aborted) throw signal.reason;
    const result = { exitCode, outputTail: tail.trim(), durationMs: Date.now() - started };
    if (exitCode !== 0) {
      throw ApplicationFailure.retryable(
        `command exited with status ${exitCode}: ${command}\n${result.outputTail.slice(-1_000)}`,
        'CommandFailed',
        result,
      );
    }
    return result;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw ApplicationFailure.nonRetryable(
        `cannot run the command: ${workingDir ? `working directory ${workingDir} or ` : ''}bash not found`,
        'CommandNotRunnable',
      );
    }
    throw error;
  } finally {
    clearInterval(beat);
    signal.removeEventListener('abort', stop);
  }
}
