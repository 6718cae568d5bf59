import type { WorkflowHandle } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const HISTORIES_DIR = join(__dirname, '..', 'fixtures', 'histories');

/**
 * Saves the history of a finished workflow for the replay test, when RECORD_HISTORIES=1. Recorded
 * histories are committed: a later change of workflow code that would break a running recovery
 * fails the replay test (use `patched()` to change behaviour compatibly).
 */
export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  mkdirSync(HISTORIES_DIR, { recursive: true });
  // The encoded protobuf (exact, unlike the JSON mapping), and the workflow id, since child
  // workflow ids derive from it.
  const encoded = Buffer.from(temporal.api.history.v1.History.encode(history).finish()).toString('base64');
  writeFileSync(
    join(HISTORIES_DIR, `${name}.json`),
    `${JSON.stringify({ workflowId: handle.workflowId, history: encoded }, null, 1)}\n`,
  );
}

/** Reads a history saved by recordHistory. */
export function readHistory(file: string): { workflowId: string; history: temporal.api.history.v1.History } {
  const { workflowId, history } = JSON.parse(readFileSync(file, 'utf8')) as { workflowId: string; history: string };
  return { workflowId, history: temporal.api.history.v1.History.decode(Buffer.from(history, 'base64')) };
}
