/**
 * Binlog replay into a restored server: mysqlbinlog (from the backup's position in the first file,
 * stopping before the target time) piped into the mariadb client on the server's socket. Both run
 * with TZ=UTC, so --stop-datetime and the binlog's event times are read alike.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { MysqlComponent } from '../../plan/kinds/mysql';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { runProcess } from '../process';
import { withClientConfig } from './connection';
import type { MysqlRestorePlan } from './restore-plan';

export interface ReplayResult {
  files: string[];
  /** Archives the files came from. */
  archives: string[];
  startPosition?: number;
  stopDatetime?: string;
  durationMs: number;
}

// Paths come in through the environment and "$@": nothing is interpolated into the script.
// mysqlbinlog writes one statement per transaction's row events: a 20 MB INSERT becomes a 27 MB
// statement, over the client's default 16 MiB packet. 1G is the most both sides allow.
const PIPELINE =
  'set -o pipefail; "$MYSQLBINLOG" "$@" | "$MARIADB" --defaults-file="$CLIENT_OPTIONS" --binary-mode --max-allowed-packet=1G';

export async function replayBinlogs(
  binaries: DataServerBinaries,
  c: MysqlComponent,
  plan: Pick<MysqlRestorePlan, 'binlogs' | 'startPosition' | 'stopDatetime'>,
  socket: string,
): Promise<ReplayResult> {
  const files = plan.binlogs.map((b) => b.name);
  const archives = [...new Set(plan.binlogs.map((b) => b.archive))];
  if (plan.binlogs.length === 0) return { files, archives, durationMs: 0 };
  const args = [
    `--start-position=${plan.startPosition ?? 4}`,
    ...(plan.stopDatetime ? [`--stop-datetime=${plan.stopDatetime}`] : []),
    ...plan.binlogs.map((b) => b.path),
  ];
  const run = await withClientConfig(c, { socket }, (optionFile) =>
    runProcess('bash', ['-c', PIPELINE, 'replay-binlogs', ...args], {
      env: {
        ...process.env,
        TZ: 'UTC',
        MYSQLBINLOG: binaries.mysqlbinlog,
        MARIADB: binaries.mariadb,
        CLIENT_OPTIONS: optionFile,
      },
    }),
  );
  if (run.exitCode !== 0) {
    // The client's ERROR line comes after the statement it echoes (pages of base64): it goes first.
    const errors = run.tail.split('\n').filter((line) => /^ERROR \d+/.test(line));
    throw ApplicationFailure.nonRetryable(
      `${c.id}: replaying binlogs ${files[0]}…${files.at(-1)} into the restored server failed (exit ${run.exitCode}); the next attempt restores a fresh copy before replaying again: ${errors.length ? `${errors.join('; ')}; output ends: ${run.tail.slice(-300)}` : run.tail.slice(-1_500)}`,
      'ReplayFailed',
    );
  }
  return {
    files,
    archives,
    ...(plan.startPosition !== undefined ? { startPosition: plan.startPosition } : {}),
    ...(plan.stopDatetime ? { stopDatetime: plan.stopDatetime } : {}),
    durationMs: run.durationMs,
  };
}
