import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import assert from 'node:assert/strict';

/**
 * Every workflow history of the namespace (children and schedules' runs included), searched byte
 * by byte for the given secrets, as they are and base64-encoded (payload data is base64 in JSON
 * histories, raw bytes in protobuf ones). Fails naming the workflow and the secret's position, never
 * the secret. Returns how many histories were scanned.
 */
export async function assertHistoriesFreeOf(client: Client, secrets: string[], query?: string): Promise<number> {
  const needles = secrets
    .filter((secret) => secret.length >= 8)
    .flatMap((secret, i) => [
      { i, bytes: Buffer.from(secret) },
      { i, bytes: Buffer.from(Buffer.from(secret).toString('base64').replace(/=+$/, '')) },
    ]);
  let scanned = 0;
  for await (const execution of client.workflow.list(query ? { query } : {})) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    const json = Buffer.from(JSON.stringify(history));
    for (const { i, bytes: needle } of needles)
      assert.ok(
        !bytes.includes(needle) && !json.includes(needle),
        `secret #${i + 1} is in the history of ${execution.workflowId} (run ${execution.runId})`,
      );
    scanned++;
  }
  return scanned;
}
