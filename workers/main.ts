/**
 * The recovery worker: `npm run worker`. Connects to Temporal as configured by the environment (see
 * workers/config.ts) and to AWS through the standard AWS chain, then polls until SIGINT/SIGTERM.
 */
import { NativeConnection } from '@temporalio/worker';
import { createAwsClients } from '../activities/aws-clients';
import { temporalSettings } from './config';
import { createRecoveryWorker } from './recovery-worker';

async function main(): Promise<void> {
  const settings = temporalSettings();
  const connection = await NativeConnection.connect(settings.connectionOptions);
  try {
    const worker = await createRecoveryWorker({
      connection,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
      dependencies: { aws: createAwsClients() },
    });
    console.log(
      `Recovery worker polling task queue "${settings.taskQueue}" in namespace "${settings.namespace}" at ${settings.connectionOptions.address ?? 'localhost:7233'}`,
    );
    await worker.run(); // the SDK shuts down gracefully on SIGINT/SIGTERM
  } finally {
    await connection.close();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
