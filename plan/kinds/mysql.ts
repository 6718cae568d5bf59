import { z } from 'zod';
import { dataComponentSchema, secretEnv, sh, type KindDefinition } from './define';

export const schema = dataComponentSchema('mysql', {
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(3306),
  user: z.string().default('root'),
  passwordEnv: secretEnv.optional().describe('Environment variable of the worker that holds the password'),
  dataDir: z.string().default('/var/lib/mysql').describe('Data directory of the server'),
  configFiles: z
    .array(z.string())
    .default(['/etc/mysql/my.cnf'])
    .describe('Configuration files saved with each backup'),
  logDir: z.string().optional().describe('Server log directory saved with each backup'),
  backupDir: z.string().describe('Where mariadb-backup writes full and incremental backups'),
  binlogDir: z.string().optional().describe('Where binary logs are archived, for point-in-time recovery'),
  service: z.string().default('mariadb').describe('systemd unit of the server'),
});

export type MysqlComponent = z.infer<typeof schema>;

/** Self-hosted MySQL/MariaDB: full + incremental physical backups with mariadb-backup, plus binlogs. */
export const mysqlKind: KindDefinition<MysqlComponent> = {
  kind: 'mysql',
  title: 'MySQL / MariaDB server',
  stateful: true,
  tier: 'data',
  defaultEstimate: '2h',
  schema,
  steps(c, { mode, targetTime, drillSuffix }) {
    const connection = `--host=${sh(c.host)} --port=${c.port} --user=${sh(c.user)}${c.passwordEnv ? ` --password="$${c.passwordEnv}"` : ''}`;
    const client = `mariadb ${connection}`;
    const work = `${c.backupDir}/restore-work`;
    const dataDir = mode === 'drill' ? `${c.dataDir}${drillSuffix}` : c.dataDir;
    const steps = [
      {
        id: 'choose-chain',
        title: 'Choose the backup chain for the target time',
        does: `Find the newest full backup taken before ${targetTime} and every incremental after it, in order, up to the target time. A missing link ends the chain there.`,
        command: `ls -1tr ${sh(c.backupDir)}; cat ${sh(c.backupDir)}/*/xtrabackup_checkpoints`,
        validate: `grep -H _lsn ${sh(c.backupDir)}/*/xtrabackup_checkpoints   # each incremental's from_lsn equals the previous to_lsn`,
      },
      {
        id: 'prepare',
        title: 'Prepare the full backup, then apply each incremental in order, on a copy',
        does: 'Never prepare the backups themselves: a copy prepared twice or out of order is unusable.',
        command: [
          `rm -rf ${sh(work)} && cp -a ${sh(c.backupDir)}/<FULL> ${sh(work)}`,
          `mariadb-backup --prepare --target-dir=${sh(work)}`,
          `mariadb-backup --prepare --target-dir=${sh(work)} --incremental-dir=${sh(c.backupDir)}/<INCREMENTAL>   # once per incremental, oldest first`,
        ].join('\n'),
        validate: `grep backup_type ${sh(work)}/xtrabackup_checkpoints   # full-prepared`,
      },
    ];
    const restore =
      mode === 'drill'
        ? [
            {
              id: 'copy-back',
              title: 'Copy the prepared backup into a scratch data directory',
              does: `A drill restores beside production, into ${dataDir}, and starts a scratch server on another port.`,
              command: `mariadb-backup --copy-back --target-dir=${sh(work)} --datadir=${sh(dataDir)}\nmariadbd --datadir=${sh(dataDir)} --port=${c.port + 1} --socket=/tmp/drill.sock &`,
              rollback: `kill "$(cat ${sh(dataDir)}/*.pid)"   # stop the scratch server\nrm -rf ${sh(dataDir)}`,
            },
          ]
        : [
            {
              id: 'copy-back',
              title: 'Stop the server, set the broken data directory aside, copy the backup back',
              does: 'The old data directory is kept, renamed, until the restore is validated.',
              command: [
                `systemctl stop ${sh(c.service)}`,
                `mv ${sh(c.dataDir)} ${sh(c.dataDir)}.before-restore`,
                `mariadb-backup --copy-back --target-dir=${sh(work)} --datadir=${sh(c.dataDir)}`,
                `chown -R mysql:mysql ${sh(c.dataDir)} && systemctl start ${sh(c.service)}`,
              ].join('\n'),
              validate: `systemctl is-active ${sh(c.service)}`,
              rollback: `systemctl stop ${sh(c.service)}; rm -rf ${sh(c.dataDir)}; mv ${sh(c.dataDir)}.before-restore ${sh(c.dataDir)}; systemctl start ${sh(c.service)}`,
            },
          ];
    const replay = c.binlogDir
      ? [
          {
            id: 'replay-binlogs',
            title: 'Replay the binary logs up to the target time',
            does: 'Starts at the binlog position recorded with the last backup of the chain and stops just before the target time.',
            command: `mysqlbinlog --start-position=<POSITION> --stop-datetime=${sh(targetTime)} ${sh(c.binlogDir)}/<FIRST-BINLOG> ${sh(c.binlogDir)}/<LATER-BINLOGS…> | ${client}`,
            validate: `${client} -e 'SELECT NOW(), @@gtid_current_pos'`,
          },
        ]
      : [];
    const validate = {
      id: 'validate',
      title: 'Validate tables and checksums against the backup manifest',
      does: 'Every table is readable and its checksum matches the one recorded when the backup was taken.',
      command: `mariadb-check --all-databases ${connection}\n${client} -e 'CHECKSUM TABLE <db>.<table>, …'`,
      validate: `${client} -e 'SELECT table_schema, COUNT(*) FROM information_schema.tables GROUP BY table_schema'   # no errors above; checksums equal the manifest's`,
    };
    return [...steps, ...restore, ...replay, validate];
  },
};
