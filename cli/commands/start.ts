import type { RecoveryProgress } from '../../workflows/progress';
import { reportMarkdown } from '../../workflows/report-markdown';
import { describeRequestIssues, recoveryRequestSchema, type RecoveryRequest } from '../../workflows/request';
import { type LiveOutput } from '../progress-text';
import { shellWord, type RecoveryHandle } from '../recoveries';
import { UsageError, type CommandResult } from '../result';
import { connectTemporal, withTemporal, type Connect, type TemporalTarget } from '../temporal-client';
import { followRecovery, resolvePlan, runningOfScenario, startRecovery } from '../start-recovery';

export interface StartOptions {
  scenario?: string;
  /** The incident's id: in the workflow id, and the RTO clock starts at its detection. */
  incident?: string;
  /** When the incident was detected (ISO-8601); now when absent. */
  detectedAt?: string;
  /** Point in time to restore data to (ISO-8601); the latest recovery point when absent. */
  targetTime?: string;
  /** Approve every gate automatically: drills and tests. */
  autoApprove?: boolean;
  /** Start even though a recovery of the same plan and scenario runs. */
  alongside?: boolean;
  wait?: boolean;
  json?: boolean;
  connect?: Connect;
  /** Where `--wait` shows progress as it goes; nothing when absent. */
  live?: LiveOutput;
  /** Between two progress queries while waiting. */
  pollMs?: number;
  queryTimeoutMs?: number;
  now?: () => Date;
}

/** `20261121T140500Z`: a UTC timestamp that sorts and fits in a workflow id. */
export const compactUtc = (at: Date) =>
  at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

/** `recovery-<plan>-<scenario>-<incident id, or the UTC time of the start>` */
export const recoveryWorkflowId = (plan: string, scenario: string, incidentOrTime: string) =>
  `recovery-${plan}-${scenario}-${incidentOrTime}`;

/** Command-line names of the request's fields, for error messages. */
const FLAGS: [RegExp, string][] = [
  [/^incident\.detectedAt:/, '--detected-at:'],
  [/^incident\.id:/, '--incident:'],
  [/^targetTime:/, '--target-time:'],
  [/^scenario:/, '--scenario:'],
];

/**
 * `recovery start <plan> --scenario <name> [--incident <id>] [--target-time <iso>] [--wait]`:
 * starts a recovery. Without --wait, prints its id; with --wait, shows its progress until it is
 * over, then its report, and exits 1 unless it succeeded.
 */
export async function startCommand(plan: string, options: StartOptions): Promise<CommandResult> {
  const now = options.now?.() ?? new Date();
  if (options.detectedAt !== undefined && options.incident === undefined)
    throw new UsageError('--detected-at needs --incident <id>: it is when that incident was detected');
  const resolved = await resolvePlan(plan, options.scenario);
  const request: RecoveryRequest = {
    plan: resolved.ref,
    scenario: resolved.scenario,
    ...(options.incident !== undefined
      ? { incident: { id: options.incident, detectedAt: options.detectedAt ?? now.toISOString() } }
      : {}),
    ...(options.targetTime !== undefined ? { targetTime: options.targetTime } : {}),
    ...(options.autoApprove ? { approvals: { auto: true } } : {}),
  };
  const checked = recoveryRequestSchema.safeParse(request);
  if (!checked.success) {
    const lines = describeRequestIssues(checked.error).map((line) =>
      FLAGS.reduce((text, [field, flag]) => text.replace(field, flag), line),
    );
    throw new UsageError(lines.join('\n'));
  }
  const workflowId = recoveryWorkflowId(resolved.name, resolved.scenario, options.incident ?? compactUtc(now));
  const stderr = resolved.warnings.length ? `${resolved.warnings.join('\n')}\n` : undefined;

  return withTemporal(options.connect ?? (() => connectTemporal()), async (target) => {
    const running = options.alongside ? [] : await runningOfScenario(target, resolved.name, resolved.scenario);
    if (running.length > 0)
      throw new UsageError(
        `a recovery of ${resolved.name}/${resolved.scenario} is already running: ${running.join(', ')}. ` +
          `Follow it with recovery status ${shellWord(running[0]!)}; to start another beside it anyway, add --alongside`,
      );
    const handle = await startRecovery(target, { workflowId, request, plan: resolved, what: 'recovery' });
    const runId = handle.firstExecutionRunId;
    if (!options.wait) {
      const stdout = options.json
        ? `${JSON.stringify({ workflowId, runId }, null, 2)}\n`
        : [
            `Started ${workflowId} (plan ${resolved.name}, scenario ${resolved.scenario}) on task queue "${target.taskQueue}".`,
            `Follow it with: recovery status ${shellWord(workflowId)}`,
            '',
          ].join('\n');
      return { stdout, stderr, exitCode: 0 };
    }
    const result = await waitForRecovery(target, handle, options);
    return { ...result, stderr: [stderr, result.stderr].filter(Boolean).join('') || undefined };
  });
}

/** Watches a started recovery until it is over: progress as it changes, then the report. */
async function waitForRecovery(
  target: TemporalTarget,
  handle: RecoveryHandle,
  options: StartOptions,
): Promise<CommandResult> {
  const outcome = await followRecovery(target, handle, options);
  if (!options.json) options.live?.write('\n'); // the report follows
  if ('report' in outcome) return report(outcome.report, options.json);
  if ('refused' in outcome) throw new UsageError(`recovery ${handle.workflowId} refused: ${outcome.refused}`);
  const reason = `recovery ${handle.workflowId} ended: ${outcome.ended}\n`;
  if (outcome.progress) return { ...report(outcome.progress, options.json), stderr: reason, exitCode: 1 };
  return { stdout: '', stderr: reason, exitCode: 1 };
}

/** The final report, as `recovery report` prints it; exit code 0 only for a recovery that succeeded. */
function report(progress: RecoveryProgress, json: boolean | undefined): CommandResult {
  return {
    stdout: json ? `${JSON.stringify(progress, null, 2)}\n` : reportMarkdown(progress),
    exitCode: progress.status === 'succeeded' ? 0 : 1,
  };
}
