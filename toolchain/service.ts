import { spawn } from 'node:child_process';
import { openSync } from 'node:fs';
import { waitForPort } from './net';

/** A server process this process started. */
export interface Service {
  pid: number;
  /** SIGTERM, then waits for the exit (SIGKILL after `graceMs`). */
  stop: (graceMs?: number) => Promise<void>;
}

export interface ServiceOptions {
  /** For messages: "moto", "Temporal dev server". */
  name: string;
  command: string;
  args: string[];
  /** Ports that must accept connections before the service counts as started. */
  ports: number[];
  /** File that receives the process's output; its stderr tail goes into errors otherwise. */
  logFile?: string;
  env?: NodeJS.ProcessEnv;
  readyTimeoutMs?: number;
}

/** Starts a server and resolves once all its ports accept connections; stops it again if they never do. */
export async function startService(options: ServiceOptions): Promise<Service> {
  const output = options.logFile ? openSync(options.logFile, 'a') : 'pipe';
  const child = spawn(options.command, options.args, {
    stdio: ['ignore', output, output],
    env: { ...process.env, ...options.env },
  });
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => (tail = (tail + chunk.toString()).slice(-4000)));
  child.stdout?.resume();
  let alive = true;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      alive = false;
      resolve();
    }),
  );
  const stop = async (graceMs = 10_000) => {
    if (alive) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(killer);
  };
  try {
    for (const port of options.ports) {
      await waitForPort(port, { timeoutMs: options.readyTimeoutMs ?? 60_000, isAlive: () => alive });
    }
  } catch (error) {
    await stop(1_000);
    const where = options.logFile ? `see ${options.logFile}` : tail.trim();
    throw new Error(`${options.name} did not start: ${(error as Error).message}\n${where}`, { cause: error });
  }
  return { pid: child.pid!, stop };
}
