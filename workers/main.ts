/**
 * The recovery worker: `npm run worker`. Connects to Temporal as configured by the environment (see
 * workers/config.ts) and to AWS through the standard AWS chain, then polls until SIGINT/SIGTERM.
 */
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createAwsClients } from '../activities/aws-clients';
import { activitySettings, temporalSettings } from './config';
import { createRecoveryWorker } from './recovery-worker';
import { missingSearchAttributes, searchAttributeCommand } from './search-attributes';

async function main(): Promise<void> {
  const settings = temporalSettings();
  const { address, tls, apiKey, metadata } = settings.connectionOptions;
  // A recovery whose search attributes are not registered could not even start: say so now.
  const client = await Connection.connect({ address, tls, apiKey, metadata });
  const missing = await missingSearchAttributes(client, settings.namespace);
  await client.close();
  if (missing && missing.length > 0) {
    console.error(
      `Namespace "${settings.namespace}" lacks the search attributes ${missing.join(', ')}. Register them first:\n${searchAttributeCommand(settings.namespace)}`,
    );
    process.exit(2);
  }
  if (!missing)
    console.warn(
      'Could not list search attributes (no permission?); make sure RecoveryPlan, RecoveryScenario, RecoveryIncident and RecoveryStatus exist.',
    );

  const connection = await NativeConnection.connect(settings.connectionOptions);
  try {
    const activities = activitySettings();
    const worker = await createRecoveryWorker({
      connection,
      namespace: settings.namespace,
      taskQueue: settings.taskQueue,
      dependencies: { aws: createAwsClients(), ...activities },
    });
    console.log(
      `Recovery worker polling task queue "${settings.taskQueue}" in namespace "${settings.namespace}" at ${address ?? 'localhost:7233'}; plans from ${activities.plansDir}, drill evidence to ${activities.reportsDir}`,
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
