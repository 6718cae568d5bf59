import type { RecoveryStatus } from '../../workflows/progress';
import {
  RECOVERY_INCIDENT,
  RECOVERY_PLAN,
  RECOVERY_SCENARIO,
  RECOVERY_STATUS,
} from '../../workflows/search-attributes';
import { executionStatus, RECOVERY_WORKFLOW_TYPE, rootCause, serverFailure } from '../recoveries';
import { CommandFailure, UsageError, type CommandResult } from '../result';
import { connectTemporal, withTemporal, type Connect } from '../temporal-client';
import { textTable } from '../text-table';

export const RECOVERY_STATUSES: RecoveryStatus[] = [
  'loading',
  'running',
  'waiting',
  'succeeded',
  'failed',
  'aborted',
  'cancelled',
];

export interface ListOptions {
  status?: string;
  plan?: string;
  limit?: string | number;
  json?: boolean;
  connect?: Connect;
}

export interface ListedRecovery {
  workflowId: string;
  runId: string;
  plan?: string;
  scenario?: string;
  incident?: string;
  /** The recovery's own status (search attribute RecoveryStatus). */
  status?: string;
  /** The workflow's: running, completed, failed, cancelled, terminated, timed out. */
  execution: string;
  startTime: string;
  closeTime?: string;
}

/** The visibility query of `recovery list`: recoveries only, filtered by the recovery search attributes. */
export function listQuery(options: { status?: string; plan?: string }): string {
  return [
    `WorkflowType = '${RECOVERY_WORKFLOW_TYPE}'`,
    ...(options.status ? [`${RECOVERY_STATUS.name} = '${options.status}'`] : []),
    ...(options.plan ? [`${RECOVERY_PLAN.name} = '${options.plan}'`] : []),
  ].join(' AND ');
}

/** `2026-11-21 14:05:00Z` */
const when = (iso: string) => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

/** `recovery list [--status <s>] [--plan <p>] [--limit 20] [--json]`: recent recoveries, newest first. */
export async function listCommand(options: ListOptions): Promise<CommandResult> {
  if (options.status !== undefined && !(RECOVERY_STATUSES as string[]).includes(options.status))
    throw new UsageError(`--status is one of ${RECOVERY_STATUSES.join(', ')}, not "${options.status}"`);
  if (options.plan !== undefined && !/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(options.plan))
    throw new UsageError(`--plan takes a plan name (lowercase letters, digits, dashes), not "${options.plan}"`);
  const limit = Number(options.limit ?? 20);
  if (!Number.isInteger(limit) || limit < 1)
    throw new UsageError(`--limit is a whole number of 1 or more, not "${options.limit}"`);
  const query = listQuery(options);

  return withTemporal(options.connect ?? (() => connectTemporal()), async (target) => {
    const found: ListedRecovery[] = [];
    try {
      for await (const w of target.client.workflow.list({ query, pageSize: Math.min(limit, 100) })) {
        const attributes = w.typedSearchAttributes;
        found.push({
          workflowId: w.workflowId,
          runId: w.runId,
          plan: attributes.get(RECOVERY_PLAN),
          scenario: attributes.get(RECOVERY_SCENARIO),
          incident: attributes.get(RECOVERY_INCIDENT),
          status: attributes.get(RECOVERY_STATUS),
          execution: executionStatus(w.status),
          startTime: w.startTime.toISOString(),
          closeTime: w.closeTime?.toISOString(),
        });
        if (found.length >= limit) break;
      }
    } catch (error) {
      const cause = rootCause(error) as Error & { code?: number; details?: string };
      if (cause.code === 12 /* UNIMPLEMENTED */)
        throw new CommandFailure(
          `this Temporal server cannot list workflows (${cause.details ?? cause.message}); the time-skipping test server cannot, the dev server and clusters can`,
        );
      throw serverFailure(error, `cannot list recoveries (${query})`);
    }
    if (options.json) return { stdout: `${JSON.stringify(found, null, 2)}\n`, exitCode: 0 };
    if (found.length === 0) return { stdout: `No recoveries match ${query}\n`, exitCode: 0 };
    const rows = found.map((r) => {
      // A workflow that ended without the recovery saying so (terminated, timed out) still says "running".
      const stale =
        r.execution !== 'running' &&
        (r.status === 'running' || r.status === 'waiting' || r.status === 'loading' || !r.status);
      return [
        r.workflowId,
        r.plan ?? '',
        r.scenario ?? '',
        r.incident ?? '',
        stale ? `${r.status ?? '?'} (${r.execution})` : (r.status ?? ''),
        when(r.startTime),
      ];
    });
    return {
      stdout: `${textTable(['id', 'plan', 'scenario', 'incident', 'status', 'started'], rows)}\n`,
      exitCode: 0,
    };
  });
}
