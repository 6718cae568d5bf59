/**
 * The restore bench's baseline: the mysql runbook's commands (`recovery docs`, plan/kinds/mysql.ts)
 * typed by a person who already read the backup ids, binlog position and files, as one bash script
 * with no pause between commands. It does the same work as the engine's steps, validation included
 * (CHECKSUM TABLE and COUNT(*) of every user table: here the one bench table), and prints the time
 * at each phase so that both can be compared step by step.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { DataServerBinaries } from '../toolchain/data-servers';
import { TABLE } from './restore-data';

export interface HandRestore {
  backupDir: string;
  workDir: string;
  dataDir: string;
  runDir: string;
  port: number;
  full: string;
  incrementals: string[];
  position: number;
  binlogs: string[];
  /** The log archive holding `binlogs`. */
  archive: string;
  /** Name of the environment variable holding root's password (passed as MYSQL_PWD, never on a command line). */
  passwordEnv: string;
}

/** Phases as the engine's step ids name them. */
export const HAND_PHASES = ['choose-chain', 'prepare', 'copy-back', 'replay-binlogs', 'validate'] as const;

const q = (value: string) => `'${value.replace(/'/g, `'\\''`)}'`;

function script(b: DataServerBinaries, r: HandRestore): string {
  const sock = join(r.runDir, 'mysqld.sock');
  const client = `MYSQL_PWD="$${r.passwordEnv}" ${q(b.mariadb)} --no-defaults --socket=${q(sock)} --user=root`;
  const prepared = join(r.workDir, 'prepared');
  const incoming = join(r.workDir, 'incremental');
  const binlogs = r.binlogs.map((name) => q(join(r.backupDir, r.archive, 'binlogs', name))).join(' ');
  return [
    'set -euo pipefail',
    'phase() { echo "phase $1 $(date +%s.%N)"; }',
    'phase choose-chain',
    `ls -1 ${q(r.backupDir)} > /dev/null; grep -H _lsn ${q(r.backupDir)}/*/data/xtrabackup_checkpoints > /dev/null`,
    'phase prepare',
    `rm -rf ${q(r.workDir)} && mkdir -p ${q(r.workDir)} && cp -a ${q(join(r.backupDir, r.full, 'data'))} ${q(prepared)}`,
    `${q(b.mariadbBackup)} --no-defaults --prepare --target-dir=${q(prepared)} 2> /dev/null`,
    ...r.incrementals.map(
      (id) =>
        `cp -a ${q(join(r.backupDir, id, 'data'))} ${q(incoming)} && ${q(b.mariadbBackup)} --no-defaults --prepare --target-dir=${q(prepared)} --incremental-dir=${q(incoming)} 2> /dev/null && rm -rf ${q(incoming)}`,
    ),
    'phase copy-back',
    `${q(b.mariadbBackup)} --no-defaults --copy-back --target-dir=${q(prepared)} --datadir=${q(r.dataDir)} 2> /dev/null`,
    `mkdir -p ${q(r.runDir)} && cp ${q(join(prepared, 'backup-my.cnf'))} ${q(r.runDir)}/`,
    // Detached, like the engine's, so the script can end while it runs; stopped by the bench.
    `TZ=UTC setsid ${q(b.mariadbd)} --defaults-file=${q(join(r.runDir, 'backup-my.cnf'))} --datadir=${q(r.dataDir)} --port=${r.port} --bind-address=127.0.0.1 --socket=${q(sock)} --pid-file=${q(join(r.runDir, 'mysqld.pid'))} --log-error=${q(join(r.runDir, 'error.log'))} --default-time-zone=+00:00${process.getuid?.() === 0 ? ' --user=root' : ''} --log-bin=${q(join(r.dataDir, 'mysql-bin'))} --server-id=1 --binlog-format=ROW < /dev/null > /dev/null 2>&1 &`,
    // A person watches the error log for "ready for connections"; polled every 50 ms, as the engine does.
    `until grep -q 'ready for connections' ${q(join(r.runDir, 'error.log'))} 2> /dev/null; do sleep 0.05; done`,
    'phase replay-binlogs',
    `TZ=UTC ${q(b.mysqlbinlog)} --start-position=${r.position} ${binlogs} | ${client} --binary-mode`,
    'phase validate',
    `${client} --batch --skip-column-names -e 'CHECKSUM TABLE ${TABLE}; SELECT COUNT(*) FROM ${TABLE}'`,
    'phase done',
  ].join('\n');
}

export interface HandResult {
  /** Seconds per phase, by the engine's step ids. */
  phases: Record<string, number>;
  totalSeconds: number;
  rows: number;
  checksum: string;
  script: string;
}

/** Writes the script beside the work dir, runs it, and reads its phase times and the validation's output. */
export async function restoreByHand(binaries: DataServerBinaries, restore: HandRestore): Promise<HandResult> {
  const text = script(binaries, restore);
  const file = `${restore.workDir}.sh`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${text}\n`, { mode: 0o700 });
  const started = performance.now();
  const child = spawn('bash', [file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err = `${err}${chunk}`.slice(-3_000)));
  const code = await new Promise<number>((resolve) => child.once('close', (c) => resolve(c ?? 1)));
  const totalSeconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`the restore by hand failed (exit ${code}):\n${err}`);
  const marks = [...out.matchAll(/^phase (\S+) (\d+\.\d+)$/gm)].map((m) => [m[1]!, Number(m[2])] as const);
  const phases = Object.fromEntries(marks.slice(0, -1).map(([name, at], i) => [name, marks[i + 1]![1] - at]));
  const [checksumLine, countLine] = out.split('\n').filter((line) => line && !line.startsWith('phase '));
  return {
    phases,
    totalSeconds,
    checksum: checksumLine!.split('\t')[1]!,
    rows: Number(countLine),
    script: text,
  };
}
