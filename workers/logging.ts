import { DefaultLogger, type LogEntry, type Logger } from '@temporalio/worker';
import { inspect } from 'node:util';
import { pino } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export const LOG_FORMATS = ['json', 'text'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];
export type LogFormat = (typeof LOG_FORMATS)[number];

const isoTime = (entry: LogEntry) => new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();

/**
 * The worker's one logger, installed as the Temporal Runtime's: the worker's own lines, the SDK's
 * and Core's (forwarded), and every activity's and workflow's context logger, which add
 * workflowId, runId, activityType and the like. `json`: one pino JSON object per line on stdout,
 * `level` as a name and `time` as ISO 8601 (when it happened: Core and workflow lines arrive up
 * to 100 ms late). `text`: one readable line for people at a terminal.
 */
export function createWorkerLogger(level: LogLevelName, format: LogFormat): Logger {
  const threshold = level.toUpperCase() as Uppercase<LogLevelName>;
  if (format === 'text')
    return new DefaultLogger(threshold, (entry) => {
      const fields = entry.meta ? ` ${inspect(entry.meta, { breakLength: Infinity, depth: 4 })}` : '';
      process.stdout.write(`${isoTime(entry)} ${entry.level.padEnd(5)} ${entry.message}${fields}\n`);
    });
  const json = pino(
    {
      name: 'recovery-worker',
      level: 'trace', // DefaultLogger filters
      timestamp: false, // each line's own time, below
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    },
    pino.destination({ dest: 1, sync: true }), // nothing lost when the process exits,
  );
  return new DefaultLogger(threshold, (entry) => {
    const method = entry.level.toLowerCase() as LogLevelName;
    json[method]({ time: isoTime(entry), ...entry.meta }, entry.message);
  });
}
