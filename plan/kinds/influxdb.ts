import { z } from 'zod';
import { resource } from '../drill-guard';
import { automate, dataComponentSchema, secretEnv, sh, type KindDefinition, type RunbookStep } from './define';

export const schema = dataComponentSchema('influxdb', {
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(8086).describe('HTTP API port'),
  backupPort: z
    .number()
    .int()
    .min(1)
    .max(65535)
    .default(8088)
    .describe('RPC port (bind-address) that influxd backup and influxd restore use'),
  databases: z.array(z.string()).default([]).describe('Databases to back up and restore; all but _internal when empty'),
  usernameEnv: secretEnv
    .optional()
    .describe('Environment variable of the worker holding the HTTP API user, when auth is on'),
  passwordEnv: secretEnv.optional().describe("Environment variable of the worker holding that user's password"),
  passwordFile: z
    .string()
    .optional()
    .describe("File on the worker holding that user's password (instead of passwordEnv)"),
  configFile: z.string().default('/etc/influxdb/influxdb.conf'),
  dataDir: z
    .string()
    .default('/var/lib/influxdb')
    .describe("Directory of the server's meta/, data/ and wal/: where a cut-over puts the restored ones"),
  backupDir: z
    .string()
    .refine((dir) => !dir.includes('%'), 'no % in backupDir: influxd backup formats the path and mangles it')
    .describe('Where the portable backups are kept (one folder per backup)'),
  restoreDir: z
    .string()
    .optional()
    .describe('Where a recovery builds the restored instance before the cut-over; <backupDir>/.restore when absent'),
  restorePort: z.number().int().min(1).max(65535).default(18086).describe('HTTP port of the restored instance'),
  restoreBackupPort: z.number().int().min(1).max(65535).default(18088).describe('RPC port of the restored instance'),
  cutover: z
    .object({
      command: z
        .string()
        .min(1)
        .describe('Shell command that puts the restored instance (restoreDir) into service; run after validation'),
    })
    .strict()
    .optional()
    .describe('Without it, the cut-over is a manual step'),
  service: z.string().default('influxdb'),
});

export type InfluxDbComponent = z.infer<typeof schema>;

/** The directory a recovery restores into: the plan's restoreDir, or `<backupDir>/.restore`. */
export const restoreDirOf = (c: InfluxDbComponent) => c.restoreDir ?? `${c.backupDir.replace(/\/+$/, '')}/.restore`;

/** Where a drill restores: beside the recovery's directory, `<restoreDir>_drill`. */
export const drillDirOf = (c: InfluxDbComponent, drillSuffix: string) =>
  `${restoreDirOf(c)}${drillSuffix.replace(/[^A-Za-z0-9_]/g, '_')}`;

/** The configuration file the engine writes into an instance's directory (activities/influxdb/server.ts). */
const CONFIG_NAME = 'influxdb.conf';

/**
 * InfluxDB 1.x: portable backups (influxd backup -portable, per database) plus the configuration
 * file. A restore builds a fresh instance in a directory of its own (never the running server),
 * validates it against the backup's manifest, then a cut-over puts it into service.
 */
export const influxDbKind: KindDefinition<InfluxDbComponent> = {
  kind: 'influxdb',
  title: 'InfluxDB 1.x',
  stateful: true,
  tier: 'data',
  defaultEstimate: '1h',
  schema,
  backups: {
    types: ['full', 'incremental'],
    take: 'backupInfluxdb',
    verifyByRestore: 'verifyInfluxdbRestore',
  },
  productionResources: (c) => [
    resource.dir(c.dataDir),
    resource.dir(c.configFile),
    resource.tcp(c.host, c.port),
    resource.tcp(c.host, c.backupPort),
    // Where a recovery builds the restored instance.
    resource.dir(restoreDirOf(c)),
    resource.tcp('127.0.0.1', c.restorePort),
    resource.tcp('127.0.0.1', c.restoreBackupPort),
  ],
  teardown(c, { drillSuffix }): RunbookStep[] {
    const dir = drillDirOf(c, drillSuffix);
    const pid = sh(`${dir}/influxd.pid`);
    return [
      {
        id: 'tear-down',
        title: `Stop the scratch influxd on ${dir} and remove it`,
        does: `Stops the drill's influxd, if one runs on ${dir} (only the process whose command line names ${dir}/${CONFIG_NAME}: a stale pid file never stops another), then deletes ${dir}.`,
        command: `pid="$(cat ${pid} 2>/dev/null)" && grep -qzxF ${sh(`${dir}/${CONFIG_NAME}`)} "/proc/$pid/cmdline" && kill "$pid" && while kill -0 "$pid" 2>/dev/null; do sleep 1; done; rm -rf ${sh(dir)}`,
        validate: `test ! -e ${sh(dir)} && echo removed   # removed`,
        automation: automate('removeInfluxdbRestore', { component: c, dir }, 'long', [resource.dir(dir)]),
      },
    ];
  },
  steps(c, { mode, targetTime, drillSuffix }) {
    const drill = mode === 'drill';
    const backup = `${sh(c.backupDir)}/'<BACKUP>'`;
    const dir = drill ? drillDirOf(c, drillSuffix) : restoreDirOf(c);
    const d = (path: string) => sh(`${dir}/${path}`);
    // A drill's instance listens on free ports: the plan's restore ports are a recovery's.
    const httpPort = drill ? '<FREE-HTTP-PORT>' : String(c.restorePort);
    const rpc = `127.0.0.1:${drill ? '<FREE-RPC-PORT>' : c.restoreBackupPort}`;
    const restored = (q: string) => `influx -host 127.0.0.1 -port ${httpPort} -execute ${sh(q)}`;
    const writes = drill ? [resource.dir(dir)] : undefined;
    const scratchPorts = drill ? { freePorts: true } : {};
    const configName = c.configFile.split('/').pop() || 'influxdb.conf';
    const manifestOf = (backup: string) => `${sh(c.backupDir)}/'${backup}'/manifest.json`;
    const auth = 'With authentication on, export INFLUX_USERNAME and INFLUX_PASSWORD first: the influx CLI reads them.';
    const choose = {
      id: 'choose-backup',
      title: 'Choose the backup for the target time',
      does: `The newest backup taken at or before ${targetTime}, and the incremental backups back to its full backup (each names its base); every file is checked against the checksums of its manifest before anything is touched.`,
      command: `ls -1tr ${sh(c.backupDir)}`,
      validate: `jq -r '.type, .base, .recoveryPoint, .details.databases[].name' ${backup}/manifest.json   # the chain back to a full backup; ${c.databases.length ? c.databases.join(', ') : 'every database to restore'}`,
      automation: automate('planInfluxdbRestore', { component: c, targetTime }, 'short', drill ? [] : undefined),
    };
    const config = [
      'reporting-disabled = true',
      `bind-address = "${rpc}"`,
      '[meta]',
      `  dir = "${dir}/meta"`,
      '[data]',
      `  dir = "${dir}/data"`,
      `  wal-dir = "${dir}/wal"`,
      '[http]',
      `  bind-address = "127.0.0.1:${httpPort}"`,
      '[retention]',
      '  enabled = false',
      '[continuous_queries]',
      '  enabled = false',
    ];
    const restore = {
      id: 'restore',
      title: drill ? 'Restore the chain into a scratch instance' : 'Restore the chain into a fresh instance',
      does: `A new influxd on ${dir} (127.0.0.1:${httpPort}, RPC ${rpc}, retention enforcement and continuous queries off) gets the full backup database by database; each incremental after it is restored beside the database under another name and copied in with SELECT INTO, because a portable restore refuses a database that exists. Continuous queries are recreated from the manifest, the saved ${configName} is copied to ${dir}/saved-config, and the instance is stopped. ${drill ? 'Production is never touched.' : `The running server is not touched until the cut-over.`}`,
      command: [
        `mkdir -p ${d('meta')} ${d('data')} ${d('wal')}`,
        `printf '%s\\n' ${config.map(sh).join(' ')} > ${d('influxdb.conf')}`,
        `influxd -config ${d('influxdb.conf')} >> ${d('influxd.log')} 2>&1 & echo $! > ${d('influxd.pid')}`,
        `jq -r '.details.databases[] | [.name, .dir] | @tsv' ${manifestOf('<FULL>')} | while IFS=$'\\t' read -r db dir; do influxd restore -portable -host ${rpc} -db "$db" ${sh(c.backupDir)}/'<FULL>'/"$dir"; done`,
        '# a database without shards (no .tar.gz in its folder) is not restored: CREATE DATABASE it, with the retention policies its manifest lists',
        '# then each incremental, oldest first (n = 1, 2, …), for every database it holds:',
        `influxd restore -portable -host ${rpc} -db '<DATABASE>' -newdb '<DATABASE>_incremental_<n>' ${sh(c.backupDir)}/'<INCREMENTAL>'/'<DIR>'   # <DIR>: the database's .dir in that manifest`,
        restored(
          'SELECT * INTO "<DATABASE>"."<RP>".:MEASUREMENT FROM "<DATABASE>_incremental_<n>"."<RP>"./.*/ GROUP BY *',
        ),
        restored('DROP DATABASE "<DATABASE>_incremental_<n>"'),
        `mkdir -p ${d('saved-config')} && cp ${sh(c.backupDir)}/'<LAST>'/config/${sh(configName)} ${d('saved-config')}/`,
      ].join('\n'),
      validate: `${restored('SHOW DATABASES')}   # ${c.databases.length ? c.databases.join(', ') : 'every database of the manifest'} listed`,
      rollback: `kill "$(cat ${d('influxd.pid')})"; rm -rf ${sh(dir)}`,
      automation: automate('restoreInfluxdbChain', { component: c, targetTime, dir, ...scratchPorts }, 'long', writes),
    };
    const validate = {
      id: 'validate',
      title: drill ? 'Count the points in the scratch instance' : 'Count the points in the restored instance',
      does: `Databases, retention policies, continuous queries, series and field values per measurement against the manifest of the chain's last backup (counted just before it was taken): fewer is a failure; more is reported (points written during the backup, or deleted after the full one). Users are not in portable backups: the result lists them.`,
      command: [
        `influxd -config ${d('influxdb.conf')} >> ${d('influxd.log')} 2>&1 & echo $! > ${d('influxd.pid')}`,
        `jq -r '.details.databases[].name' ${manifestOf('<LAST>')} | while read -r db; do influx -host 127.0.0.1 -port ${httpPort} -database "$db" -execute 'SHOW SERIES EXACT CARDINALITY'; influx -host 127.0.0.1 -port ${httpPort} -database "$db" -execute 'SELECT count(*) FROM /.*/'; done   # per retention policy: FROM "<RP>"./.*/`,
        `kill "$(cat ${d('influxd.pid')})"`,
      ].join('\n'),
      validate: `jq '.details.databases[] | {name, series, values}' ${manifestOf('<LAST>')}   # the counts above are at least these`,
      automation: automate('validateInfluxdbRestore', { component: c, dir, ...scratchPorts }, 'long', writes),
    };

    if (drill)
      return [
        choose,
        {
          id: 'compare-config',
          title: 'Compare the saved configuration with the running one',
          does: `A drill leaves ${c.configFile} alone: it only checks that the copy in the backup matches.`,
          command: `diff ${backup}/config/${sh(configName)} ${sh(c.configFile)}`,
          validate: `diff -q ${backup}/config/${sh(configName)} ${sh(c.configFile)} && echo same   # same, or differences you can explain`,
          automation: automate('compareInfluxdbConfig', { component: c, targetTime }, 'short', []),
        },
        restore,
        validate,
      ];

    const data = c.dataDir.replace(/\/+$/, '');
    const aside = `${data}.before-restore`;
    const manualCutover = [
      `systemctl stop ${sh(c.service)}`,
      `mkdir -p ${sh(aside)} && for d in meta data wal; do test ! -e ${sh(data)}/$d || mv ${sh(data)}/$d ${sh(aside)}/; done`,
      `mkdir -p ${sh(data)} && cp -a ${d('meta')} ${d('data')} ${d('wal')} ${sh(data)}/ && chown -R influxdb:influxdb ${sh(data)}`,
      `test ! -e ${sh(c.configFile)} || cp -p ${sh(c.configFile)} ${sh(`${c.configFile}.before-restore`)}`,
      `cp ${d(`saved-config/${configName}`)} ${sh(c.configFile)}`,
      `systemctl start ${sh(c.service)}`,
    ].join('\n');
    return [
      choose,
      restore,
      validate,
      {
        id: 'cutover',
        title: 'Put the restored instance into service',
        does: c.cutover
          ? `The plan's cut-over command, once the restored instance in ${dir} matches its backup (it is stopped). Portable backups carry no users: with authentication on, recreate those the validation lists (CREATE USER, GRANT) before applications reconnect.`
          : `Stop ${c.service}, set its meta/, data/ and wal/ aside in ${aside}, copy the restored ones and the saved configuration in, start it. Portable backups carry no users: with authentication on, recreate those the validation lists (CREATE USER, GRANT) before applications reconnect. ${auth}`,
        command: c.cutover ? c.cutover.command : manualCutover,
        validate: `systemctl is-active ${sh(c.service)} && influx -host ${sh(c.host)} -port ${c.port} -execute 'SHOW DATABASES'   # active, and the restored databases listed`,
        rollback: `systemctl stop ${sh(c.service)}; for d in meta data wal; do rm -rf ${sh(data)}/$d; test ! -e ${sh(aside)}/$d || mv ${sh(aside)}/$d ${sh(data)}/; done; cp -p ${sh(`${c.configFile}.before-restore`)} ${sh(c.configFile)}; systemctl start ${sh(c.service)}`,
        ...(c.cutover
          ? {
              automation: automate('runCommand', { command: c.cutover.command }),
            }
          : {}),
      },
    ];
  },
};
