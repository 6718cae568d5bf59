import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity';
import { spawn } from 'node:child_process';

export interface ProcessRun {
  exitCode: number;
  /** Standard output, up to `stdoutLimit` bytes (empty unless asked for). */
  stdout: string;
  /** The last 4 kB of standard output and error together, for messages and reports. */
  tail: string;
  durationMs: number;
}

const TAIL_BYTES = 4_000;

/**
 * Runs a program for an activity, in a process group of its own: heartbeats while it runs, and on
 * cancellation (abort, workflow cancel) sends the whole group SIGTERM, then SIGKILL after `graceMs`,
 * so nothing it started keeps running. Rejects with the cancellation when cancelled.
 */
export async function runProcess(
  command: string,
  args: string[],
  options: {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    graceMs?: number;
    stdoutLimit?: number;
    details?: () => unknown;
  } = {},
): Promise<ProcessRun> {
  const started = Date.now();
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let tail = '';
  child.stdout.on('data', (chunk: Buffer) => {
    const text = chunk.toString();
    if (stdout.length < (options.stdoutLimit ?? 0)) stdout += text;
    tail = (tail + text).slice(-TAIL_BYTES);
  });
  child.stderr.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-TAIL_BYTES)));
  const interval = Math.max(1_000, Math.floor((activityInfo().heartbeatTimeoutMs ?? 30_000) / 3));
  const beat = setInterval(() => heartbeat(options.details?.() ?? { runningForMs: Date.now() - started }), interval);
  const signal = cancellationSignal();
  const stop = () => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
      setTimeout(
        () => child.exitCode === null && process.kill(-child.pid!, 'SIGKILL'),
        options.graceMs ?? 5_000,
      ).unref();
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
    return { exitCode, stdout, tail: tail.trim(), durationMs: Date.now() - started };
  } finally {
    clearInterval(beat);
    signal.removeEventListener('abort', stop);
  }
}
