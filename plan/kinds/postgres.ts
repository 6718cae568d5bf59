import { z } from 'zod';
import { resource } from '../drill-guard';
import { automate, dataComponentSchema, secretEnv, sh, type KindDefinition, type RunbookStep } from './define';

export const schema = dataComponentSchema('postgres', {
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(5432),
  user: z.string().default('postgres'),
  passwordEnv: secretEnv.optional().describe('Environment variable of the worker that holds the password'),
  passwordFile: z
    .string()
    .optional()
    .describe('File on the worker that holds the password (instead of passwordEnv), readable by the worker only'),
  dataDir: z.string().describe('PGDATA of the server'),
  backupDir: z.string().describe('Where pg_basebackup writes base backups'),
  walArchiveDir: z.string().optional().describe('Where WAL segments are archived, for point-in-time recovery'),
  service: z.string().default('postgresql').describe('systemd unit of the server (managedBy: systemd)'),
  managedBy: z
    .enum(['systemd', 'pg_ctl'])
    .default('systemd')
    .describe(
      'How a recovery stops and starts the server: its systemd unit (`service`), or pg_ctl on dataDir as the postgres user, with postgresql.conf in dataDir',
    ),
});

export type PostgresComponent = z.infer<typeof schema>;

/** Where a restore keeps the plan choose-backup verified, per mode: later steps restore exactly that one. */
export const restorePlanDirOf = (c: Pick<PostgresComponent, 'backupDir'>, mode: 'recover' | 'drill') =>
  `${c.backupDir.replace(/\/+$/, '')}/.restore-work/${mode}`;

/** The scratch data directory of a drill, beside production's. */
export const drillDataDirOf = (c: Pick<PostgresComponent, 'dataDir'>, drillSuffix: string) =>
  `${c.dataDir.replace(/\/+$/, '')}${drillSuffix}`;

/** `<dataDir>.restore`: a restore's WAL copies, record (restore.json), server log and scratch socket. */
export const restoreWorkDirOf = (dataDir: string) => `${dataDir}.restore`;

/** The password for a client's environment, from the variable or file the plan names (never the value). */
const passwordOfShell = (c: PostgresComponent) =>
  c.passwordEnv
    ? `PGPASSWORD="$${c.passwordEnv}" `
    : c.passwordFile
      ? `PGPASSWORD="$(cat ${sh(c.passwordFile)})" `
      : '';

/** A PostgreSQL string literal. */
const literal = (value: string) => `'${value.replace(/'/g, "''")}'`;

/** recovery_target_time rejects the `Z` of ISO-8601 UTC times (time zone abbreviations are not loaded yet). */
const recoveryTime = (time: string) => time.replace(/Z$/i, '+00:00');

/** Self-hosted PostgreSQL: base backups plus WAL archive, restored with recovery_target_time. */
export const postgresKind: KindDefinition<PostgresComponent> = {
  kind: 'postgres',
  title: 'PostgreSQL server',
  stateful: true,
  tier: 'data',
  defaultEstimate: '1h',
  schema,
  backups: {
    types: ['full', 'log'],
    take: 'backupPostgres',
    archiveLogs: 'archivePostgresWal',
    verifyByRestore: 'verifyPostgresRestore',
  },
  productionResources: (c) => [
    resource.dir(c.dataDir),
    resource.tcp(c.host, c.port),
    // What a recovery writes besides: the data directory set aside, its work directory and plan.
    resource.dir(`${c.dataDir}.before-restore`),
    resource.dir(restoreWorkDirOf(c.dataDir)),
    resource.dir(restorePlanDirOf(c, 'recover')),
    ...(c.walArchiveDir ? [resource.dir(c.walArchiveDir)] : []),
  ],
  steps(c, { mode, targetTime, drillSuffix }): RunbookStep[] {
    const drill = mode === 'drill';
    const dataDir = drill ? drillDataDirOf(c, drillSuffix) : c.dataDir;
    const port = drill ? c.port + 1 : c.port;
    const aside = `${c.dataDir}.before-restore`;
    const base = `${sh(c.backupDir)}/<BASE_BACKUP>`;
    const psql = `${passwordOfShell(c)}psql -h ${sh(c.host)} -p ${port} -U ${sh(c.user)}`;
    const pgCtl = (action: string) => `sudo -u postgres pg_ctl -D ${sh(dataDir)} ${action}`;
    const systemd = c.managedBy === 'systemd';
    const serverLog = `${c.dataDir}.restore/server.log`;
    const stop = systemd ? `systemctl stop ${sh(c.service)}` : pgCtl('stop -m fast');
    const start = systemd
      ? `systemctl start ${sh(c.service)}`
      : pgCtl(`-o ${sh(`-p ${c.port}`)} -l ${sh(serverLog)} start`);
    const isActive = systemd ? `systemctl is-active ${sh(c.service)}` : pgCtl('status');
    const undo = `${stop}; rm -rf ${sh(c.dataDir)}; mv ${sh(aside)} ${sh(c.dataDir)}; ${start}`;
    const input = { component: c, targetTime };
    const planDir = restorePlanDirOf(c, drill ? 'drill' : 'recover');
    // What the drill creates: its plan, its scratch data directory and work directory, its port.
    const drillWrites = [
      resource.dir(planDir),
      resource.dir(dataDir),
      resource.dir(restoreWorkDirOf(dataDir)),
      resource.tcp('127.0.0.1', port),
    ];
    const settings = [
      ...(c.walArchiveDir
        ? [
            `restore_command = ${literal(`cp ${sh(c.walArchiveDir)}/%f "%p"`)}`,
            `recovery_target_time = ${literal(recoveryTime(targetTime))}`,
            `recovery_target_action = 'promote'`,
          ]
        : []),
      ...(drill ? [`archive_mode = 'off'`] : []),
    ];

    const choose: RunbookStep = {
      id: 'choose-backup',
      title: 'Choose the base backup for the target time',
      does: `The newest base backup that finished before ${targetTime}${c.walArchiveDir ? '; the WAL archive carries it forward to the target time' : '. Without a WAL archive the restore stops at the end of the backup'}. The engine also picks the log backups up to the target and checks every file against its manifest, before anything is touched, and keeps that choice in ${planDir}/plan.json: the next steps restore exactly it, even if a backup is taken meanwhile.`,
      command: `ls -1tr ${sh(c.backupDir)}`,
      validate: `tar -xzOf ${base}/base.tar.gz backup_label | grep 'START TIME'   # before ${targetTime} (plain format: grep 'START TIME' ${base}/backup_label)`,
      automation: drill
        ? automate('choosePostgresBackup', { ...input, mode, drillSuffix }, 'short', [resource.dir(planDir)])
        : automate('choosePostgresBackup', input),
    };
    const extract = [
      `tar -xzf ${base}/base.tar.gz -C ${sh(dataDir)}`,
      `tar -xzf ${base}/pg_wal.tar.gz -C ${sh(dataDir)}/pg_wal`,
      `# plain-format backup, instead of the two tar commands: cp -a ${base}/. ${sh(dataDir)}/`,
    ];
    const tablespaces =
      'A backup with tablespaces has one more <OID>.tar.gz per tablespace, extracted into its directory (listed in tablespace_map).';
    const configure: RunbookStep[] = settings.length
      ? [
          {
            id: 'configure-recovery',
            title: c.walArchiveDir
              ? 'Configure recovery to the target time'
              : 'Turn WAL archiving off in the drill copy',
            does: [
              c.walArchiveDir
                ? `On start the server replays archived WAL up to ${targetTime}, then promotes itself and accepts writes; recovery.signal asks for that replay. Write the time with a numeric offset (+00:00): PostgreSQL rejects a trailing Z here.`
                : '',
              drill
                ? "archive_mode = 'off' keeps the drill copy from archiving into the production WAL archive. Debian and Ubuntu keep postgresql.conf in /etc/postgresql: the drill copy gets an empty one and copies of pg_hba.conf and pg_ident.conf, never the production file, whose data_directory is production's."
                : '',
            ]
              .filter(Boolean)
              .join(' '),
            command: [
              ...(drill
                ? [
                    `test -e ${sh(dataDir)}/postgresql.conf || { touch ${sh(dataDir)}/postgresql.conf && cp /etc/postgresql/<VERSION>/main/pg_hba.conf /etc/postgresql/<VERSION>/main/pg_ident.conf ${sh(dataDir)}/; }`,
                  ]
                : []),
              `cat >> ${sh(dataDir)}/postgresql.auto.conf <<'EOF'`,
              ...settings,
              'EOF',
              ...(c.walArchiveDir ? [`touch ${sh(dataDir)}/recovery.signal`] : []),
              `chown -R postgres:postgres ${sh(dataDir)}`,
            ].join('\n'),
            validate: `tail -n ${settings.length} ${sh(dataDir)}/postgresql.auto.conf${c.walArchiveDir ? `; ls ${sh(dataDir)}/recovery.signal` : ''}   # the settings above${c.walArchiveDir ? ', and recovery.signal' : ''}`,
            automation: { coveredBy: drill ? 'validate' : 'restore-base' },
          },
        ]
      : [];
    const validate: RunbookStep = {
      id: 'validate',
      title: 'Check that the server left recovery, and count rows',
      does: `The server accepts writes and its last replayed transaction is just before ${targetTime}; row counts of key tables are those expected then.`,
      command: `${psql} -d postgres -c 'select pg_is_in_recovery(), pg_last_xact_replay_timestamp(), now()'\n${psql} -d <DATABASE> -c 'select count(*) from <TABLE>'`,
      validate: `${psql} -d postgres -Atc 'select pg_is_in_recovery()'   # f; t while WAL is still replayed: wait and ask again`,
      automation: automate('validateRestoredPostgres', { component: c }),
    };

    if (drill)
      return [
        choose,
        {
          id: 'restore-base',
          title: 'Extract the base backup into a scratch data directory',
          does: `A drill restores beside production, into ${dataDir}, and never stops the production server. ${tablespaces}`,
          command: [
            `install -d -m 700 -o postgres -g postgres ${sh(dataDir)}`,
            ...extract,
            `chown -R postgres:postgres ${sh(dataDir)}`,
          ].join('\n'),
          validate: `ls ${sh(dataDir)}   # PG_VERSION, base/, global/, pg_wal/ and backup_label`,
          rollback: `rm -rf ${sh(dataDir)}   # the drill's teardown does it once the drill is over`,
          automation: { coveredBy: 'validate' },
        },
        ...configure,
        {
          id: 'start',
          title: `Start a scratch server on port ${port}`,
          does: 'pg_ctl waits until the server accepts connections (on Debian and Ubuntu it is in /usr/lib/postgresql/<VERSION>/bin).',
          command: pgCtl(`-o ${sh(`-p ${port}`)} -l ${sh(`${dataDir}/drill.log`)} start`),
          validate: `tail ${sh(`${dataDir}/drill.log`)}   # "database system is ready to accept connections"`,
          rollback: `${pgCtl('stop -m immediate')}   # the drill's teardown does it once the drill is over`,
          automation: { coveredBy: 'validate' },
        },
        {
          ...validate,
          does: `${validate.does} The engine does the drill in this one step: it restores the backups choose-backup picked into ${dataDir} (its WAL from the log backups), starts the copy on port ${port} (another free port when that one is taken) and checks every table of the base backup. The copy runs on until the drill's teardown removes it, also when the drill fails.`,
          automation: automate('drillPostgresRestore', { ...input, drillSuffix }, 'long', drillWrites),
        },
      ];

    return [
      choose,
      {
        id: 'set-aside',
        title: 'Stop the server and set the broken data directory aside',
        does: 'The old data directory is kept, renamed, until the restore is validated.',
        command: [
          stop,
          `mv ${sh(c.dataDir)} ${sh(aside)}`,
          `install -d -m 700 -o postgres -g postgres ${sh(c.dataDir)}`,
        ].join('\n'),
        validate: `${isActive}   # ${systemd ? 'inactive' : 'no server running'}`,
        rollback: undo,
        automation: automate('setAsidePostgresDataDir', { component: c }),
      },
      {
        id: 'restore-base',
        title: 'Extract the base backup into the data directory',
        does: `${tablespaces}${c.walArchiveDir ? ' WAL segments not yet archived are taken from the old directory when it still has them.' : ''} The engine replays the WAL of the log backups (extracted into ${c.dataDir}.restore/wal)${c.walArchiveDir ? ', then what the WAL archive holds after them' : ''}.`,
        command: [
          ...extract,
          ...(c.walArchiveDir ? [`cp -n ${sh(aside)}/pg_wal/0* ${sh(c.dataDir)}/pg_wal/ || true`] : []),
          `chown -R postgres:postgres ${sh(c.dataDir)} && chmod 700 ${sh(c.dataDir)}`,
        ].join('\n'),
        validate: `ls ${sh(c.dataDir)}   # PG_VERSION, base/, global/, pg_wal/ and backup_label`,
        automation: automate('restorePostgresBase', input, 'long'),
      },
      ...configure,
      {
        id: 'start',
        title: 'Start the server',
        does: c.walArchiveDir
          ? `It replays WAL up to ${targetTime}, then promotes itself; large gaps take a while. "recovery ended before configured recovery target was reached" in the server log means the archive stops short of the target time: the engine then starts it again without a target, replaying all the WAL there is (none of it past the target), and reports the restore as short.`
          : 'It replays the WAL included in the backup and opens.',
        command: start,
        validate: `${isActive}   # ${systemd ? 'active' : 'server is running'}; the server log says "database system is ready to accept connections"`,
        rollback: undo,
        automation: automate('startRestoredPostgres', { component: c }, 'long'),
      },
      validate,
    ];
  },
  teardown(c, { drillSuffix }): RunbookStep[] {
    const dataDir = drillDataDirOf(c, drillSuffix);
    const work = restoreWorkDirOf(dataDir);
    const planDir = restorePlanDirOf(c, 'drill');
    return [
      {
        id: 'remove-drill-copy',
        title: `Stop the drill's scratch PostgreSQL server on ${dataDir} and delete ${dataDir}, ${work} and ${planDir}`,
        does: `Stops the scratch server only when its postmaster.pid names a running server of ${dataDir} (never production on ${c.dataDir}), then deletes the drill's data directory, its work directory and the drill's restore plan. Nothing there: nothing to do.`,
        command: [
          `pid="$(head -n 1 ${sh(`${dataDir}/postmaster.pid`)} 2>/dev/null)"`,
          `if [ -n "$pid" ] && tr '\\0' ' ' < /proc/"$pid"/cmdline | grep -qF -- ${sh(`-D ${dataDir} `)}; then kill -QUIT "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 1; done; fi`,
          `rm -rf ${sh(dataDir)} ${sh(work)} ${sh(planDir)}`,
        ].join('\n'),
        validate: `ls -d ${sh(dataDir)} ${sh(work)} ${sh(planDir)}   # No such file or directory, for each`,
        automation: automate('tearDownPostgresDrill', { component: c, drillSuffix }, 'short', [
          resource.dir(planDir),
          resource.dir(dataDir),
          resource.dir(work),
          resource.tcp('127.0.0.1', c.port + 1),
        ]),
      },
    ];
  },
};
