import { reportMarkdown } from '../../workflows/report-markdown';
import { executionStatus, readRecovery } from '../recoveries';
import { CommandFailure, UsageError, type CommandResult } from '../result';
import { connectTemporal, withTemporal, type Connect } from '../temporal-client';

export const REPORT_FORMATS = ['md', 'json'] as const;

export interface ReportOptions {
  format?: string;
  /** Same as --format json. */
  json?: boolean;
  connect?: Connect;
  queryTimeoutMs?: number;
}

/**
 * `recovery report <id> [--format md|json]`: the report of a recovery, from its result once it
 * completed, else from its worker (so far, for one still running; the record, for one cancelled).
 */
export async function reportCommand(id: string, options: ReportOptions): Promise<CommandResult> {
  const format = options.json ? 'json' : (options.format ?? 'md');
  if (!(REPORT_FORMATS as readonly string[]).includes(format))
    throw new UsageError(`--format is md or json, not "${format}"`);
  return withTemporal(options.connect ?? (() => connectTemporal()), async (target) => {
    const record = await readRecovery(target, id, options.queryTimeoutMs);
    if (!record.progress) {
      throw new CommandFailure(
        `the record of recovery ${id} (workflow ${executionStatus(record.description.status)}) is read from its worker: ${record.unavailable}` +
          (record.failure ? `\nThe workflow failed: ${record.failure}` : ''),
      );
    }
    return {
      stdout: format === 'json' ? `${JSON.stringify(record.progress, null, 2)}\n` : reportMarkdown(record.progress),
      stderr: record.failure ? `The workflow failed: ${record.failure}\n` : undefined,
      exitCode: 0,
    };
  });
}
