import { Client, Connection } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { createAwsClients } from '../../activities/aws-clients';
import { startDevServer, type DevServer } from '../../toolchain/dev-server';
import { freePort } from '../../toolchain/net';
import { createRecoveryWorker } from '../../workers/recovery-worker';
import { registerSearchAttributes } from '../../workers/search-attributes';
import { launchChromium } from './browser';
import { once, onCleanup } from './cleanup';
import { TEST_REPORTS_DIR } from './engine';
import { bundleWorkflows, testToolchain } from './servers';

export interface UiStackOptions {
  /** The worker's plans directory (write `<plan>.yaml` there first); also holds the dev server's database and log. */
  scratch: string;
  taskQueue: string;
  /** The dev server's `--ui-codec-endpoint`: a codec server the UI's pages call. */
  uiCodecEndpoint?: string;
  /** The worker's payload codecs; the stack's client has none. */
  dataConverter?: DataConverter;
}

export interface UiStack {
  /** gRPC address, e.g. 127.0.0.1:7233. */
  address: string;
  /** The Temporal Web UI, e.g. http://127.0.0.1:8233. */
  uiUrl: string;
  /** Without payload codecs: it sees the payloads as the server holds them. */
  client: Client;
  browser: Browser;
  /** Stops all of it, once; also run by the cleanup when the test is interrupted. */
  stop: () => Promise<void>;
}

/**
 * What a Web UI test needs: the dev server with its Web UI on free ports, the recovery search
 * attributes, a recovery worker on `taskQueue` (AWS pointed nowhere: for plans without AWS
 * components), a client, and Debian's Chromium. Stops what it started when a step fails.
 */
export async function startUiStack(options: UiStackOptions): Promise<UiStack> {
  let server: DevServer | undefined;
  let connection: Connection | undefined;
  let workerConnection: NativeConnection | undefined;
  let worker: Worker | undefined;
  let workerRun: Promise<void> | undefined;
  let browser: Browser | undefined;
  const stop = once(async () => {
    await browser?.close();
    if (worker) {
      worker.shutdown();
      await workerRun;
    }
    await workerConnection?.close();
    await connection?.close();
    await server?.stop();
  });
  onCleanup(stop);

  try {
    const { temporalCli } = await testToolchain();
    const [port, uiPort] = [await freePort(), await freePort()];
    const bundle = bundleWorkflows();
    server = await startDevServer(temporalCli, {
      port,
      uiPort,
      dbFile: join(options.scratch, 'temporal.db'),
      logFile: join(options.scratch, 'temporal.log'),
      uiCodecEndpoint: options.uiCodecEndpoint,
    });
    connection = await Connection.connect({ address: server.address });
    await registerSearchAttributes(connection, 'default');
    workerConnection = await NativeConnection.connect({ address: server.address });
    worker = await createRecoveryWorker({
      connection: workerConnection,
      namespace: 'default',
      taskQueue: options.taskQueue,
      dependencies: {
        aws: createAwsClients({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1' }),
        plansDir: options.scratch,
        notifications: {},
        reportsDir: TEST_REPORTS_DIR,
      },
      workflowBundle: await bundle,
      dataConverter: options.dataConverter,
    });
    workerRun = worker.run();
    browser = await launchChromium();
    return { address: server.address, uiUrl: server.uiUrl, client: new Client({ connection }), browser, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
