import { spawn } from 'node:child_process';
import { freePort, waitForPort } from './net';

/** A running moto server on loopback. */
export interface MotoServer {
  /** e.g. http://127.0.0.1:41234: give it to AWS SDK clients as `endpoint`. */
  endpoint: string;
  port: number;
  /** Forgets every resource (moto's `POST /moto-api/reset`), for isolation between tests. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts moto in server mode on 127.0.0.1. The launcher exits by itself if this process dies, so
 * even a SIGKILLed caller leaves no emulator behind.
 */
export async function startMotoServer(
  toolchain: { motoPython: string; motoLauncher: string },
  { port, env }: { port?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<MotoServer> {
  const listenPort = port ?? (await freePort());
  const child = spawn(toolchain.motoPython, [toolchain.motoLauncher, '127.0.0.1', String(listenPort)], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let alive = true;
  void exited.then(() => (alive = false));
  const endpoint = `http://127.0.0.1:${listenPort}`;
  const stop = async () => {
    if (alive) child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitForPort(listenPort, { timeoutMs: 30_000, isAlive: () => alive });
  } catch (error) {
    await stop();
    throw new Error(`moto did not start on ${endpoint}: ${(error as Error).message}\n${stderr}`, { cause: error });
  }
  return {
    endpoint,
    port: listenPort,
    async reset() {
      const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      if (!response.ok) throw new Error(`moto reset failed: HTTP ${response.status}`);
    },
    stop,
  };
}
