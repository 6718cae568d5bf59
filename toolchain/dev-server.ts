import { isPortFree } from './net';
import { startService } from './service';

export interface DevServer {
  /** gRPC address for clients and workers, e.g. 127.0.0.1:7233. */
  address: string;
  /** The Temporal Web UI, e.g. http://127.0.0.1:8233. */
  uiUrl: string;
  stop: () => Promise<void>;
}

export interface DevServerOptions {
  port: number;
  uiPort: number;
  /** SQLite file that keeps workflows across restarts. */
  dbFile: string;
  logFile: string;
  namespace?: string;
  /**
   * A remote codec server (`recovery codec-server`) the Web UI's pages call to show encrypted
   * payloads in clear, e.g. http://127.0.0.1:8888.
   */
  uiCodecEndpoint?: string;
}

/** Starts `temporal server start-dev` on loopback with the Web UI and SQLite persistence. */
export async function startDevServer(temporalCli: string, options: DevServerOptions): Promise<DevServer> {
  for (const [flag, port] of [
    ['--port', options.port],
    ['--ui-port', options.uiPort],
  ] as const) {
    if (!(await isPortFree(port))) {
      throw new Error(
        `port ${port} on 127.0.0.1 is in use (another Temporal server?): stop it or choose another with ${flag}`,
      );
    }
  }
  const service = await startService({
    name: 'Temporal dev server',
    command: temporalCli,
    args: [
      'server',
      'start-dev',
      '--ip',
      '127.0.0.1',
      '--port',
      String(options.port),
      '--ui-port',
      String(options.uiPort),
      '--db-filename',
      options.dbFile,
      '--namespace',
      options.namespace ?? 'default',
      ...(options.uiCodecEndpoint ? ['--ui-codec-endpoint', options.uiCodecEndpoint] : []),
      '--log-format',
      'pretty',
      '--log-level',
      'warn',
    ],
    ports: [options.port, options.uiPort],
    logFile: options.logFile,
  });
  return {
    address: `127.0.0.1:${options.port}`,
    uiUrl: `http://127.0.0.1:${options.uiPort}`,
    stop: () => service.stop(),
  };
}
