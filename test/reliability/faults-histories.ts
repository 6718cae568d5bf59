/**
 * The secrets scan of test/helpers/history-secrets.ts for servers that cannot list workflows: the
 * Java time-skipping server answers ListWorkflowExecutions with UNIMPLEMENTED. Starts from the
 * workflow ids the test started and follows every child workflow their histories start.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import assert from 'node:assert/strict';

/** Fails naming the workflow and the secret's number (never the secret); returns how many histories were scanned. */
export async function assertHistoriesOfFreeOf(
  client: Client,
  workflowIds: string[],
  secrets: string[],
): Promise<number> {
  const needles = secrets
    .filter((secret) => secret.length >= 8)
    .flatMap((secret, i) => [
      { i, bytes: Buffer.from(secret) },
      { i, bytes: Buffer.from(Buffer.from(secret).toString('base64').replace(/=+$/, '')) },
    ]);
  const queue = [...workflowIds];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const id = queue.shift()!;
    if (seen.has(id)) continue;
    seen.add(id);
    const history = await client.workflow.getHandle(id).fetchHistory();
    const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    const json = Buffer.from(JSON.stringify(history));
    for (const { i, bytes: needle } of needles)
      assert.ok(!bytes.includes(needle) && !json.includes(needle), `secret #${i + 1} is in the history of ${id}`);
    for (const event of history.events ?? []) {
      const child = event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      if (child) queue.push(child);
    }
  }
  return seen.size;
}
