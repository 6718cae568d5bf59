import { freePort } from './net';
import { startService } from './service';

/** A running moto server on loopback. */
export interface MotoServer {
  /** e.g. http://127.0.0.1:41234: give it to AWS SDK clients as `endpoint`. */
  endpoint: string;
  port: number;
  /** Forgets every resource (moto's `POST /moto-api/reset`), for isolation between tests. */
  reset: () => Promise<void>;
  stop: () => Promise<void>;
}

/**
 * Starts moto in server mode on 127.0.0.1. The launcher exits by itself if this process dies, so
 * even a SIGKILLed caller leaves no emulator behind.
 */
export async function startMotoServer(
  toolchain: { motoPython: string; motoLauncher: string },
  { port, logFile, env }: { port?: number; logFile?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<MotoServer> {
  const listenPort = port ?? (await freePort());
  const service = await startService({
    name: 'moto',
    command: toolchain.motoPython,
    args: [toolchain.motoLauncher, '127.0.0.1', String(listenPort)],
    ports: [listenPort],
    logFile,
    env,
  });
  const endpoint = `http://127.0.0.1:${listenPort}`;
  return {
    endpoint,
    port: listenPort,
    async reset() {
      const response = await fetch(`${endpoint}/moto-api/reset`, { method: 'POST' });
      if (!response.ok) throw new Error(`moto reset failed: HTTP ${response.status}`);
    },
    stop: () => service.stop(),
  };
}
