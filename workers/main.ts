/**
 * The recovery worker: `npm run worker`. Configured by the environment only (workers/config.ts:
 * Temporal's TEMPORAL_* variables and the RECOVERY_* ones), checked before anything connects; AWS
 * through the standard AWS chain. Polls until SIGINT/SIGTERM, then lets its tasks in flight finish
 * and exits 0. Exit 2: a configuration problem, named on stderr (or in the log once it is set up).
 */
import { Connection } from '@temporalio/client';
import { NativeConnection, Runtime, type Logger, type LogLevel } from '@temporalio/worker';
import { createAwsClients } from '../activities/aws-clients';
import { payloadCodecs } from '../codec/encryption-codec';
import { describeWorkerConfig, WORKER_VARIABLES, workerConfig, WorkerConfigError, type WorkerConfig } from './config';
import { createWorkerLogger, type LogLevelName } from './logging';
import { createRecoveryWorker } from './recovery-worker';
import { missingSearchAttributes, searchAttributeCommand } from './search-attributes';

/** Core logs every poll at debug: its own lines only from warn, unless people ask for trace or debug. */
const coreLevel = (level: LogLevelName): LogLevel =>
  level === 'trace' || level === 'debug' || level === 'error' ? (level.toUpperCase() as LogLevel) : 'WARN';

let logger: Logger | undefined;

async function main(): Promise<number> {
  let config: WorkerConfig;
  try {
    config = workerConfig(process.env, process.stdout.isTTY === true);
  } catch (error) {
    if (!(error instanceof WorkerConfigError)) throw error;
    process.stderr.write(`The recovery worker cannot start:\n${error.problems.map((p) => `  ${p}\n`).join('')}`);
    return 2;
  }

  logger = createWorkerLogger(config.log.level, config.log.format);
  try {
    Runtime.install({
      logger,
      telemetryOptions: {
        logging: { filter: { core: coreLevel(config.log.level), other: 'ERROR' }, forward: {} },
        ...(config.metricsAddress && { metrics: { prometheus: { bindAddress: config.metricsAddress } } }),
      },
    });
  } catch (error) {
    // What can fail here is the metrics exporter's bind (address in use, not an address of this host).
    const what = config.metricsAddress ? `${WORKER_VARIABLES.metricsAddress} ${config.metricsAddress}: ` : '';
    logger.error(`${what}${(error as Error).message}`);
    return 2;
  }
  logger.info('Recovery worker configuration', describeWorkerConfig(config));

  const { connectionOptions, namespace, taskQueue } = config.temporal;
  const { address, tls, apiKey, metadata } = connectionOptions;
  // A recovery whose search attributes are not registered could not even start: say so now.
  let client: Connection;
  try {
    client = await Connection.connect({ address, tls, apiKey, metadata });
  } catch (error) {
    logger.error(
      `Cannot reach Temporal at ${address ?? 'localhost:7233'} (namespace "${namespace}"): ${(error as Error).message}. Set TEMPORAL_ADDRESS (and TEMPORAL_API_KEY or TEMPORAL_TLS_* for a cluster), or TEMPORAL_PROFILE.`,
    );
    return 1;
  }
  const missing = await missingSearchAttributes(client, namespace);
  await client.close();
  if (missing && missing.length > 0) {
    logger.error(
      `Namespace "${namespace}" lacks the search attributes ${missing.join(', ')}. Register them first:\n${searchAttributeCommand(namespace)}`,
      { missing },
    );
    return 2;
  }
  if (!missing)
    logger.warn(
      'Could not list search attributes (no permission?); make sure RecoveryPlan, RecoveryScenario, RecoveryIncident and RecoveryStatus exist.',
    );

  const connection = await NativeConnection.connect(connectionOptions);
  try {
    const worker = await createRecoveryWorker({
      connection,
      namespace,
      taskQueue,
      dependencies: { aws: createAwsClients(), ...config.activities },
      ...(config.workflowBundle && { workflowBundle: { codePath: config.workflowBundle } }),
      dataConverter: { payloadCodecs: payloadCodecs(config.payloadKeys) },
      tuning: config.tuning,
    });
    logger.info(
      `Recovery worker polling task queue "${taskQueue}" in namespace "${namespace}" at ${address ?? 'localhost:7233'}`,
      { taskQueue, namespace, maxCachedWorkflows: worker.options.maxCachedWorkflows },
    );
    await worker.run(); // the SDK shuts down gracefully on SIGINT/SIGTERM
    logger.info('Recovery worker stopped');
  } finally {
    await connection.close();
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (logger) logger.error(`Recovery worker failed: ${(error as Error).message}`, { error });
    else console.error(error);
    process.exit(1);
  },
);
