import { statusText } from '../progress-text';
import { executionStatus, readRecovery, type RecoveryRecord } from '../recoveries';
import type { CommandResult } from '../result';
import { connectTemporal, withTemporal, type Connect } from '../temporal-client';
import {
  RECOVERY_INCIDENT,
  RECOVERY_PLAN,
  RECOVERY_SCENARIO,
  RECOVERY_STATUS,
} from '../../workflows/search-attributes';

export interface RecoveryReadOptions {
  json?: boolean;
  connect?: Connect;
  /** How long a progress query waits for a worker. */
  queryTimeoutMs?: number;
}

/** What the server alone knows of a recovery: its execution and search attributes. */
export function serverView(record: RecoveryRecord) {
  const { description: d } = record;
  const attribute = (key: typeof RECOVERY_PLAN) => d.typedSearchAttributes.get(key);
  return {
    recoveryId: d.workflowId,
    runId: d.runId,
    execution: executionStatus(d.status),
    status: attribute(RECOVERY_STATUS),
    plan: attribute(RECOVERY_PLAN),
    scenario: attribute(RECOVERY_SCENARIO),
    incident: attribute(RECOVERY_INCIDENT),
    taskQueue: d.taskQueue,
    startTime: d.startTime.toISOString(),
    closeTime: d.closeTime?.toISOString(),
    failure: record.failure,
    liveDetails: record.unavailable,
  };
}

/**
 * `recovery status <id> [--json]`: where a recovery stands, from its result once it completed,
 * else from its worker (the progress query); without a worker, what the server knows.
 */
export async function statusCommand(id: string, options: RecoveryReadOptions): Promise<CommandResult> {
  return withTemporal(options.connect ?? (() => connectTemporal()), async (target) => {
    const record = await readRecovery(target, id, options.queryTimeoutMs);
    const execution = record.description.status.name;
    const note = record.failure
      ? `The workflow failed: ${record.failure}\n`
      : execution === 'TERMINATED' || execution === 'TIMED_OUT'
        ? `The workflow ${executionStatus(record.description.status)}: the record is where it stopped.\n`
        : undefined;
    if (record.progress) {
      return {
        stdout: options.json ? `${JSON.stringify(record.progress, null, 2)}\n` : `${statusText(record.progress)}\n`,
        stderr: note,
        exitCode: 0,
      };
    }
    const view = serverView(record);
    if (options.json) return { stdout: `${JSON.stringify(view, null, 2)}\n`, exitCode: 0 };
    const lines = [
      `Recovery ${view.recoveryId}: ${view.status ?? 'unknown'} (workflow ${view.execution})`,
      `Plan ${view.plan ?? '?'}, scenario ${view.scenario ?? '?'}${view.incident ? `; incident ${view.incident}` : ''}`,
      `Started ${view.startTime}${view.closeTime ? `, closed ${view.closeTime}` : ''}`,
      ...(view.failure ? [`Failed: ${view.failure}`] : []),
      '',
      `Live details (components, steps, gates, decisions) need a worker: ${view.liveDetails}`,
    ];
    return { stdout: `${lines.join('\n')}\n`, exitCode: 0 };
  });
}
