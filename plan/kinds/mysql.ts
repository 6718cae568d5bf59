import { z } from 'zod';
import { resource } from '../drill-guard';
import {
  automate,
  dataComponentSchema,
  secretEnv,
  sh,
  type AutomationActivity,
  type KindDefinition,
  type RunbookStep,
} from './define';

export const schema = dataComponentSchema('mysql', {
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(3306),
  user: z.string().default('root'),
  passwordEnv: secretEnv.optional().describe('Environment variable of the worker that holds the password'),
  passwordFile: z
    .string()
    .optional()
    .describe('File on the worker that holds the password (instead of passwordEnv), readable by the worker only'),
  dataDir: z.string().default('/var/lib/mysql').describe('Data directory of the server'),
  configFiles: z
    .array(z.string())
    .default(['/etc/mysql/my.cnf'])
    .describe('Configuration files saved with each backup'),
  logDir: z.string().optional().describe('Server log directory saved with each backup'),
  backupDir: z
    .string()
    .describe('Where mariadb-backup writes full and incremental backups, and where binlogs are archived'),
  binlogDir: z
    .string()
    .optional()
    .describe(
      "Directory of the server's binary logs, read when archiving them; the directory of the server's log_bin_basename when absent",
    ),
  workDir: z
    .string()
    .optional()
    .describe('Scratch space where restores prepare a copy of the backups; <backupDir>/.restore-work when absent'),
  restoreDataDir: z
    .string()
    .optional()
    .describe('Fresh data directory a recovery restores into, beside the damaged one; <dataDir>-restored when absent'),
  restorePort: z
    .number()
    .int()
    .min(1)
    .max(65535)
    .optional()
    .describe('Port of the restored server on 127.0.0.1; port + 1 when absent'),
  cutover: z
    .object({
      command: z
        .string()
        .min(1)
        .describe(
          'Switches clients to the restored server (run by bash; gets RESTORED_MYSQL_PORT, RESTORED_MYSQL_SOCKET, RESTORED_MYSQL_DATADIR)',
        ),
    })
    .strict()
    .optional()
    .describe('How a recovery cuts over to the restored server; a manual step when absent'),
  service: z.string().default('mariadb').describe('systemd unit of the server'),
});

export type MysqlComponent = z.infer<typeof schema>;

/** What every restore step's activity gets: the component, and where this mode restores to. */
export interface MysqlRestoreInput {
  component: MysqlComponent;
  mode: 'recover' | 'drill';
  /** ISO-8601, or `latest`. */
  targetTime: string;
  restore: {
    /** A fresh data directory, never the production one. */
    dataDir: string;
    /** 0: any free port (drills). */
    port: number;
    /** Binary log on: a recovered server will be backed up and archived in turn. */
    binlog: boolean;
  };
}

/** Where restores of `c` prepare their copies: one folder per mode (`recover`, `drill`, `verify-<id>`). */
export const restoreWorkRootOf = (c: Pick<MysqlComponent, 'workDir' | 'backupDir'>) =>
  c.workDir ?? `${c.backupDir.replace(/\/+$/, '')}/.restore-work`;

/** Where each mode restores to: a drill beside production on a free port, a recovery into restoreDataDir. */
export function restoreTargetOf(c: MysqlComponent, mode: 'recover' | 'drill', drillSuffix: string) {
  return mode === 'drill'
    ? { dataDir: `${c.dataDir}${drillSuffix}`, port: 0, binlog: false }
    : { dataDir: c.restoreDataDir ?? `${c.dataDir}-restored`, port: c.restorePort ?? c.port + 1, binlog: true };
}

/** `<dataDir>.run`: the restored server's socket, pid file, error log and state (activities/mysql/server.ts). */
const runDirOf = (dataDir: string) => `${dataDir.replace(/\/+$/, '')}.run`;

/** `2026-03-01 02:30:00`: a target time as mysqlbinlog --stop-datetime reads it (with TZ=UTC); placeholders as given. */
export function stopDatetimeOf(targetTime: string): string {
  const time = new Date(targetTime);
  if (targetTime === 'latest' || Number.isNaN(time.getTime())) return targetTime;
  return time.toISOString().slice(0, 19).replace('T', ' ');
}

/** Self-hosted MySQL/MariaDB: full + incremental physical backups with mariadb-backup, plus binlogs. */
export const mysqlKind: KindDefinition<MysqlComponent> = {
  kind: 'mysql',
  title: 'MySQL / MariaDB server',
  stateful: true,
  tier: 'data',
  defaultEstimate: '2h',
  schema,
  backups: {
    types: ['full', 'incremental', 'log'],
    take: 'backupMysql',
    archiveLogs: 'archiveMysqlBinlogs',
    verifyByRestore: 'verifyMysqlRestore',
  },
  productionResources(c) {
    const recovery = restoreTargetOf(c, 'recover', '');
    return [
      resource.dir(c.dataDir),
      resource.tcp(c.host, c.port),
      // What a recovery writes: its data dir, the restored server's run dir and port, its work dir.
      resource.dir(recovery.dataDir),
      resource.dir(runDirOf(recovery.dataDir)),
      resource.tcp('127.0.0.1', recovery.port),
      resource.dir(`${restoreWorkRootOf(c)}/recover`),
    ];
  },
  teardown(c, { targetTime, drillSuffix }): RunbookStep[] {
    const restore = restoreTargetOf(c, 'drill', drillSuffix);
    const input: MysqlRestoreInput = { component: c, mode: 'drill', targetTime, restore };
    const run = runDirOf(restore.dataDir);
    const work = `${restoreWorkRootOf(c)}/drill`;
    return [
      {
        id: 'teardown',
        title: `Stop the scratch MariaDB on ${restore.dataDir} and remove it`,
        does: `Stops the drill's scratch server, if one runs on ${restore.dataDir} (only the mariadbd whose command line names --datadir=${restore.dataDir}: a stale pid file never stops another), then removes ${restore.dataDir}, ${run} and the prepared copy in ${work}.`,
        command: `pid="$(cat ${sh(`${run}/mysqld.pid`)} 2>/dev/null)" && grep -qzxF -- ${sh(`--datadir=${restore.dataDir}`)} "/proc/$pid/cmdline" && kill "$pid" && while kill -0 "$pid" 2>/dev/null; do sleep 1; done; rm -rf ${sh(restore.dataDir)} ${sh(run)} ${sh(work)}`,
        validate: `ls -d ${sh(restore.dataDir)} ${sh(run)} ${sh(work)}   # No such file or directory, for each`,
        automation: automate('tearDownMysqlDrill', input as unknown as Record<string, unknown>, 'long', [
          resource.dir(restore.dataDir),
          resource.dir(run),
          resource.dir(work),
        ]),
      },
    ];
  },
  steps(c, { mode, targetTime, drillSuffix }) {
    // The password through the client's environment (MYSQL_PWD), never on a command line `ps` shows.
    const pwd = c.passwordEnv
      ? `MYSQL_PWD="$${c.passwordEnv}" `
      : c.passwordFile
        ? `MYSQL_PWD="$(cat ${sh(c.passwordFile)})" `
        : '';
    const work = `${restoreWorkRootOf(c)}/${mode}`;
    const restore = restoreTargetOf(c, mode, drillSuffix);
    const input: MysqlRestoreInput = { component: c, mode, targetTime, restore };
    const run = runDirOf(restore.dataDir);
    const client = `${pwd}mariadb --socket=${sh(`${run}/mysqld.sock`)} --user=${sh(c.user)}`;
    // Drills: what each step writes (a scratch port of 0 is none: the drill's server takes a free one).
    const drillWrites = {
      work: [resource.dir(work)],
      server: [resource.dir(restore.dataDir), resource.dir(run)],
      marker: [resource.dir(run)],
    };
    const automation = (activity: AutomationActivity, writes: string[]) =>
      automate(activity, input as unknown as Record<string, unknown>, 'long', mode === 'drill' ? writes : undefined);
    const bd = sh(c.backupDir);
    const steps: RunbookStep[] = [
      {
        id: 'choose-chain',
        title: 'Choose the backup chain for the target time',
        does: `Find the newest full backup taken before ${targetTime} and every incremental after it, in order, then the binlog archives up to the target; check every file against its manifest. A missing link or a damaged file stops the restore before anything is touched.`,
        command: `ls -1 ${bd}; grep -H _lsn ${bd}/*/data/xtrabackup_checkpoints`,
        validate: `grep -H -e '"type"' -e '"base"' -e '"recoveryPoint"' ${bd}/*/manifest.json   # each incremental's base is the link before it`,
        automation: automation('planMysqlRestore', drillWrites.work),
      },
      {
        id: 'prepare',
        title: 'Prepare the full backup, then apply each incremental in order, on a copy',
        does: 'Never prepare the backups themselves (applying an incremental consumes it): a copy prepared twice or out of order is unusable, so an interrupted step starts the copy again from the backups.',
        command: [
          `rm -rf ${sh(work)} && mkdir -p ${sh(work)} && cp -a ${bd}/<FULL>/data ${sh(`${work}/prepared`)}`,
          `mariadb-backup --no-defaults --prepare --target-dir=${sh(`${work}/prepared`)}`,
          `cp -a ${bd}/<INCREMENTAL>/data ${sh(`${work}/incremental`)} && mariadb-backup --no-defaults --prepare --target-dir=${sh(`${work}/prepared`)} --incremental-dir=${sh(`${work}/incremental`)} && rm -rf ${sh(`${work}/incremental`)}   # once per incremental, oldest first`,
        ].join('\n'),
        validate: `grep backup_type ${sh(`${work}/prepared`)}/xtrabackup_checkpoints   # log-applied`,
        automation: automation('prepareMysqlChain', drillWrites.work),
      },
      {
        id: 'copy-back',
        title: `Copy the prepared backup into ${restore.dataDir} and start a server on it`,
        does:
          mode === 'drill'
            ? `A drill restores beside production, into ${restore.dataDir}, and starts a scratch server on a free port of 127.0.0.1.`
            : `The damaged server and its data directory are left as they are; the restored server runs beside them on port ${restore.port} until the cutover.`,
        command: [
          `mariadb-backup --no-defaults --copy-back --target-dir=${sh(`${work}/prepared`)} --datadir=${sh(restore.dataDir)}`,
          `mkdir -p ${sh(run)} && cp ${sh(`${work}/prepared`)}/backup-my.cnf ${sh(run)}/`,
          `TZ=UTC mariadbd --defaults-file=${sh(`${run}/backup-my.cnf`)} --datadir=${sh(restore.dataDir)} --port=${restore.port || '<FREE-PORT>'} --bind-address=127.0.0.1 --socket=${sh(`${run}/mysqld.sock`)} --pid-file=${sh(`${run}/mysqld.pid`)} --log-error=${sh(`${run}/error.log`)} --default-time-zone=+00:00 --max-allowed-packet=1G --user=root${restore.binlog ? ` --log-bin=${sh(`${restore.dataDir}/mysql-bin`)} --server-id=1 --binlog-format=ROW` : ''} &`,
        ].join('\n'),
        validate: `${client} -e 'SELECT @@datadir, @@port'`,
        rollback:
          mode === 'drill'
            ? `# the drill's teardown stops the scratch server and removes ${restore.dataDir} once the drill is over`
            : `kill "$(cat ${sh(`${run}/mysqld.pid`)})"   # stop the restored server\nrm -rf ${sh(restore.dataDir)} ${sh(run)}`,
        automation: automation('startRestoredMysql', drillWrites.server),
      },
    ];
    if (c.binlogDir !== undefined || c.backup?.schedules.some((s) => s.type === 'log'))
      steps.push({
        id: 'replay-binlogs',
        title: 'Replay the archived binary logs up to the target time',
        does: 'Starts at the binlog position recorded with the last backup of the chain and stops before the first event at or after the target time (binlog times have a resolution of one second).',
        command: `TZ=UTC mysqlbinlog --start-position=<POSITION>${targetTime === 'latest' ? '' : ` --stop-datetime=${sh(stopDatetimeOf(targetTime))}`} ${bd}/<LOG-ARCHIVE>/binlogs/<FIRST-BINLOG> ${bd}/<LOG-ARCHIVE>/binlogs/<LATER-BINLOGS…> | ${client} --binary-mode --max-allowed-packet=1G`,
        validate: `${client} -e 'SELECT NOW(), @@gtid_current_pos'`,
        automation: automation('replayMysqlBinlogs', drillWrites.server),
      });
    steps.push({
      id: 'validate',
      title: 'Validate tables and checksums against the backup manifest',
      does: 'Every table the backup recorded exists and is readable; its row count and checksum equal the backup’s when no binlog was replayed, and are reported when one was.',
      command: `${pwd}mariadb-check --all-databases --socket=${sh(`${run}/mysqld.sock`)} --user=${sh(c.user)}\n${client} -e 'CHECKSUM TABLE <db>.<table>, …'`,
      validate: `${client} -e 'SELECT table_schema, COUNT(*) FROM information_schema.tables GROUP BY table_schema'   # no errors above; checksums equal the manifest's`,
      automation: automation('validateMysqlRestore', drillWrites.marker),
    });
    if (mode === 'recover')
      steps.push({
        id: 'cutover',
        title: 'Cut over to the restored server',
        does: c.cutover
          ? `Runs the plan's cutover command, which points the clients at the restored server on port ${restore.port}.`
          : `Point the clients at the restored server (port ${restore.port}), or move its data directory into the server's place.`,
        command:
          c.cutover?.command ??
          [
            `systemctl stop ${sh(c.service)}   # the damaged server, if it still runs`,
            `kill "$(cat ${sh(`${run}/mysqld.pid`)})" && mv ${sh(c.dataDir)} ${sh(`${c.dataDir}.before-restore`)} && mv ${sh(restore.dataDir)} ${sh(c.dataDir)}`,
            `chown -R mysql:mysql ${sh(c.dataDir)} && systemctl start ${sh(c.service)}`,
          ].join('\n'),
        validate: `${pwd}mariadb --host=${sh(c.host)} --port=${c.port} --user=${sh(c.user)} -e 'SELECT @@datadir'`,
        ...(c.cutover ? { automation: automation('cutOverMysql', []) } : {}),
      });
    return steps;
  },
};
