import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import assert from 'node:assert/strict';

type History = temporal.api.history.v1.IHistory;

/**
 * Workflow histories searched byte by byte for the given secrets, as they are and base64-encoded
 * (payload data is base64 in JSON histories, raw bytes in protobuf ones). `scope`: a visibility
 * query, by default every workflow of the namespace (children and schedules' runs included); or the
 * workflow ids to start from, each followed into every child workflow it started, for servers that
 * cannot list workflows (the Java time-skipping server answers ListWorkflowExecutions with
 * UNIMPLEMENTED). Fails naming the workflow and the secret's position, never the secret. Returns
 * how many histories were scanned.
 */
export async function assertHistoriesFreeOf(
  client: Client,
  secrets: string[],
  scope?: string | { workflowIds: string[] },
): Promise<number> {
  const needles = secrets
    .filter((secret) => secret.length >= 8)
    .flatMap((secret, i) => [
      { i, bytes: Buffer.from(secret) },
      { i, bytes: Buffer.from(Buffer.from(secret).toString('base64').replace(/=+$/, '')) },
    ]);
  let scanned = 0;
  const histories = typeof scope === 'object' ? followed(client, scope.workflowIds) : listed(client, scope);
  for await (const { name, history } of histories) {
    const bytes = Buffer.from(temporal.api.history.v1.History.encode(history).finish());
    const json = Buffer.from(JSON.stringify(history));
    for (const { i, bytes: needle } of needles)
      assert.ok(!bytes.includes(needle) && !json.includes(needle), `secret #${i + 1} is in the history of ${name}`);
    scanned++;
  }
  return scanned;
}

/** Every run the visibility query finds. */
async function* listed(client: Client, query?: string): AsyncGenerator<{ name: string; history: History }> {
  for await (const execution of client.workflow.list(query ? { query } : {})) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    yield { name: `${execution.workflowId} (run ${execution.runId})`, history };
  }
}

/** The latest run of each workflow id, then of each child workflow its history starts. */
async function* followed(client: Client, workflowIds: string[]): AsyncGenerator<{ name: string; history: History }> {
  const queue = [...workflowIds];
  const seen = new Set<string>();
  for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
    if (seen.has(id)) continue;
    seen.add(id);
    const history = await client.workflow.getHandle(id).fetchHistory();
    yield { name: id, history };
    for (const event of history.events ?? []) {
      const child = event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
      if (child) queue.push(child);
    }
  }
}
