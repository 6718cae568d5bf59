import { Client, Connection } from '@temporalio/client';
import { payloadCodecs } from '../codec/encryption-codec';
import { payloadKeyringFromEnv } from '../codec/keys';
import { temporalSettings } from '../workers/config';
import { CommandFailure, UsageError } from './result';

/** A client of the namespace recoveries run in, and the task queue their worker polls. */
export interface TemporalTarget {
  client: Client;
  namespace: string;
  taskQueue: string;
  /** Closes what `connect` opened (nothing, for an injected client). */
  close(): Promise<void>;
}

/** How commands reach Temporal; tests pass one that returns their test environment's client. */
export type Connect = () => Promise<TemporalTarget>;

/** How long the CLI waits for the server before it says it cannot reach it. */
const CONNECT_TIMEOUT = '5s';

/**
 * Connects the way the worker does (workers/config.ts): TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_API_KEY, TEMPORAL_TLS_*, or a TEMPORAL_PROFILE of the Temporal config file; the task
 * queue from RECOVERY_TASK_QUEUE. Payloads go through the worker's codec (codec/keys.ts:
 * RECOVERY_PAYLOAD_KEY…), so what this client writes the worker reads, and the other way round.
 */
export async function connectTemporal(env: NodeJS.ProcessEnv = process.env): Promise<TemporalTarget> {
  const keys = payloadKeyringFromEnv(env);
  if (keys.problems.length > 0) throw new UsageError(keys.problems.join('\n'));
  const { connectionOptions, namespace, taskQueue } = temporalSettings(env);
  const { address, tls, apiKey, metadata } = connectionOptions;
  let connection: Connection;
  try {
    connection = await Connection.connect({ address, tls, apiKey, metadata, connectTimeout: CONNECT_TIMEOUT });
  } catch (error) {
    throw new CommandFailure(
      `cannot reach Temporal at ${address ?? 'localhost:7233'} (namespace "${namespace}"): ${(error as Error).message}.\n` +
        'Set TEMPORAL_ADDRESS (and TEMPORAL_NAMESPACE, TEMPORAL_API_KEY or TEMPORAL_TLS_* for a cluster), or TEMPORAL_PROFILE.',
    );
  }
  return {
    client: new Client({ connection, namespace, dataConverter: { payloadCodecs: payloadCodecs(keys.keyring) } }),
    namespace,
    taskQueue,
    close: () => connection.close(),
  };
}

/** Runs `body` with a connection that is closed afterwards, whatever happens. */
export async function withTemporal<T>(connect: Connect, body: (target: TemporalTarget) => Promise<T>): Promise<T> {
  const target = await connect();
  try {
    return await body(target);
  } finally {
    await target.close();
  }
}
