/**
 * Starts a restored server and waits, heartbeating, until it has replayed the WAL to the target
 * and promoted itself. PostgreSQL stops at the target only when it sees a commit after it; when the
 * WAL ends first it refuses to open ("recovery ended before configured recovery target was
 * reached"): every commit there is precedes the target then, so the restore starts again without
 * a target and opens at the end of the WAL, and says it fell short.
 */
import { heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { PostgresComponent } from '../../plan/kinds/postgres';
import { runProcess } from '../process';
import { isPermanent, psql, type PgTarget } from './psql';
import { dropRecoveryTarget, logFileOf, workDirOf, writeRecord, type RestoreRecord } from './restore';
import { isRunning, startServer } from './server';

const ENDED_EARLY = 'recovery ended before configured recovery target was reached';

/** How the server of a restore is reached and started. */
export interface RestoredServer {
  target: PgTarget;
  /** Starts it (again); resolves once it is starting, not when it accepts connections. */
  start: () => Promise<void>;
  /** The last lines of its log, for messages. */
  logTail: () => Promise<string>;
}

/** The settings of a scratch server: loopback only, socket and log in its work directory, nothing archived. */
export function scratchSettings(dataDir: string, port: number): Record<string, string | number> {
  const work = workDirOf(dataDir);
  return {
    port,
    listen_addresses: '127.0.0.1',
    unix_socket_directories: work,
    archive_mode: 'off',
    hba_file: `${work}/pg_hba.conf`,
    ident_file: `${work}/pg_ident.conf`,
    logging_collector: 'off',
  };
}

/** The last `bytes` of a file, or '' when there is none. */
export async function tailOf(file: string, bytes = 3_000): Promise<string> {
  return existsSync(file) ? (await readFile(file, 'utf8')).slice(-bytes) : '';
}

/** A server started with pg_ctl on the restore's data directory (scratch servers, and `control: pg_ctl`). */
export function pgCtlServer(
  bin: string,
  dataDir: string,
  target: PgTarget,
  settings: Record<string, string | number>,
): RestoredServer {
  return {
    target,
    start: () => startServer({ bin, dataDir, logFile: logFileOf(dataDir), settings }),
    logTail: () => tailOf(logFileOf(dataDir)),
  };
}

/** The component's own server under systemd: its unit starts it, its journal has the log. */
export function systemdServer(c: PostgresComponent, target: PgTarget): RestoredServer {
  return {
    target,
    start: async () => {
      const run = await runProcess('systemctl', ['start', c.service]);
      // A unit that gives up waiting for a long recovery reports a failure while the server replays on.
      if (run.exitCode !== 0) heartbeat({ systemctl: `start ${c.service} exited ${run.exitCode}`, output: run.tail });
    },
    logTail: async () => {
      const run = await runProcess('journalctl', ['-u', c.service, '-n', '40', '--no-pager', '-o', 'cat'], {
        stdoutLimit: 16_000,
      });
      return `${run.stdout}\n(the server's own log: /var/log/postgresql/ on Debian and Ubuntu)`;
    },
  };
}

/** Polls until the server left recovery: 'promoted', or 'stopped' when it exited. */
async function waitForPromotion(bin: string, dataDir: string, server: RestoredServer): Promise<'promoted' | 'stopped'> {
  for (;;) {
    let status: string;
    if (!(await isRunning(bin, dataDir))) return 'stopped';
    try {
      const [[inRecovery, replayed = '', commit = ''] = []] = await psql(
        bin,
        server.target,
        'postgres',
        'select pg_is_in_recovery(), pg_last_wal_replay_lsn(), pg_last_xact_replay_timestamp()',
      );
      if (inRecovery === 'f') return 'promoted';
      status = `replaying WAL: at ${replayed}, last commit ${commit || 'none yet'}`;
    } catch (error) {
      if (error instanceof TemporalFailure) throw error; // cancelled
      if (isPermanent(error)) throw ApplicationFailure.nonRetryable((error as Error).message, 'PostgresAccessDenied');
      status = 'starting: not accepting connections yet';
    }
    heartbeat({ dataDir, status });
    await sleep(500);
  }
}

/**
 * Starts the restored server and waits until it promoted itself; records the point it reached.
 * `resetSettings` removes the recovery settings from postgresql.auto.conf afterwards (a recovered
 * production server; scratch servers are torn down anyway).
 */
export async function recover(
  c: PostgresComponent,
  bin: string,
  record: RestoreRecord,
  server: RestoredServer,
  { resetSettings }: { resetSettings: boolean },
): Promise<RestoreRecord> {
  const { dataDir } = record;
  let note: string | undefined;
  await server.start();
  for (let attempt = 0; ; attempt++) {
    if ((await waitForPromotion(bin, dataDir, server)) === 'promoted') break;
    const log = await server.logTail();
    if (attempt === 0 && record.recoveryTargetTime && log.includes(ENDED_EARLY)) {
      await dropRecoveryTarget(dataDir);
      note = `the WAL restored ends before ${record.targetTime}: replayed all of it instead, the data written after its last commit is not restored`;
      record.short = true;
      delete record.recoveryTargetTime;
      await writeRecord(record);
      await server.start();
      continue;
    }
    throw ApplicationFailure.nonRetryable(
      `${c.id}: the server restored into ${dataDir} stopped during recovery. Its log ends with:\n${log.slice(-1_500)}`,
      'RecoveryFailed',
    );
  }

  const [[commitEpoch = '', timeline = '1'] = []] = await psql(
    bin,
    server.target,
    'postgres',
    `select extract(epoch from pg_last_xact_replay_timestamp()), ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int`,
  );
  if (resetSettings) {
    try {
      await psql(
        bin,
        server.target,
        'postgres',
        ...['restore_command', 'recovery_target_time', 'recovery_target_action'].map((s) => `alter system reset ${s}`),
        'select pg_reload_conf()',
      );
    } catch (error) {
      if (error instanceof TemporalFailure) throw error; // cancelled
      note = `${note ? `${note}; ` : ''}the recovery settings are still in ${dataDir}/postgresql.auto.conf (${(error as Error).message.slice(0, 200)}): remove them by hand`;
    }
  }
  record.state = 'promoted';
  record.promoted = {
    at: new Date().toISOString(),
    lastReplayedCommit: commitEpoch ? new Date(Math.floor(Number(commitEpoch) * 1000)).toISOString() : null,
    timeline: Number(timeline),
    ...(note ? { note } : {}),
  };
  await writeRecord(record);
  return record;
}

/** pg_hba.conf of a scratch server: its superuser connects through the socket in the private work directory. */
export function scratchHba(user: string): string {
  return [
    `local all "${user.replace(/"/g, '""')}" trust`,
    'host all all 127.0.0.1/32 scram-sha-256',
    'host all all ::1/128 scram-sha-256',
    '',
  ].join('\n');
}
