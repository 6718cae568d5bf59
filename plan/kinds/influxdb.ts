import { z } from 'zod';
import { dataComponentSchema, sh, type KindDefinition } from './define';

export const schema = dataComponentSchema('influxdb', {
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(8086).describe('HTTP API port'),
  backupPort: z.number().int().min(1).max(65535).default(8088).describe('RPC port used by influxd backup/restore'),
  databases: z.array(z.string()).default([]).describe('Databases to back up and restore; all when empty'),
  configFile: z.string().default('/etc/influxdb/influxdb.conf'),
  backupDir: z.string(),
  service: z.string().default('influxdb'),
});

export type InfluxDbComponent = z.infer<typeof schema>;

/** InfluxDB 1.x: portable backups (influxd backup -portable) plus the configuration file. */
export const influxDbKind: KindDefinition<InfluxDbComponent> = {
  kind: 'influxdb',
  title: 'InfluxDB 1.x',
  stateful: true,
  tier: 'data',
  defaultEstimate: '1h',
  schema,
  steps(c, { mode, targetTime, drillSuffix }) {
    const backup = `${sh(c.backupDir)}/<BACKUP>`;
    const influx = `influx -host ${sh(c.host)} -port ${c.port}`;
    const query = (q: string, database?: string) =>
      `${influx}${database ? ` -database ${sh(database)}` : ''} -execute ${sh(q)}`;
    const restore = (args: string) =>
      `influxd restore -portable -host ${sh(`${c.host}:${c.backupPort}`)}${args} ${backup}`;
    const savedConfig = `${backup}/${sh(c.configFile.split('/').pop() ?? 'influxdb.conf')}`;
    const auth = 'With authentication on, export INFLUX_USERNAME and INFLUX_PASSWORD first: the influx CLI reads them.';
    const choose = {
      id: 'choose-backup',
      title: 'Choose the backup for the target time',
      does: `The newest portable backup taken before ${targetTime}; its manifests list the databases it holds. Incremental backups written into the directory of their full backup are restored with it (the newest copy of each shard wins); one in a directory of its own is restored after it under another name and copied in with SELECT INTO, as for an existing database.`,
      command: `ls -1tr ${sh(c.backupDir)}`,
      validate: `jq -r '.files[].database' ${backup}/*.manifest | sort -u   # ${c.databases.length ? c.databases.join(', ') : 'every database to restore'}`,
    };

    if (mode === 'drill') {
      const suffix = drillSuffix.replace(/[^A-Za-z0-9_]/g, '_');
      const databases = c.databases.length ? c.databases : ['<DATABASE>'];
      const drillDb = (db: string) => `${db}${suffix}`;
      const drop = databases.map((db) => query(`DROP DATABASE "${drillDb(db)}"`)).join('\n');
      return [
        choose,
        {
          id: 'compare-config',
          title: 'Compare the saved configuration with the running one',
          does: `A drill leaves ${c.configFile} alone: it only checks that the copy in the backup matches. ${auth}`,
          command: `diff ${savedConfig} ${sh(c.configFile)}`,
          validate: `diff -q ${savedConfig} ${sh(c.configFile)} && echo same   # same, or differences you can explain`,
        },
        {
          id: 'restore',
          title: 'Restore the databases under drill names',
          does: `A drill never writes to a production database: each one is restored as a new database with the ${suffix} suffix${c.databases.length ? '' : ', once per database the manifest lists'}.`,
          command: databases.map((db) => restore(` -db ${sh(db)} -newdb ${sh(drillDb(db))}`)).join('\n'),
          validate: `${query('SHOW DATABASES')}   # ${databases.map(drillDb).join(', ')} listed`,
          rollback: `${drop}   # drops the drill databases once the drill is over`,
        },
        {
          id: 'validate',
          title: 'Count the points in the drill databases',
          does: 'Measurements are there and their counts match production up to the backup time.',
          command: databases
            .flatMap((db) => [
              query('SHOW MEASUREMENTS', drillDb(db)),
              query('SELECT count(*) FROM <MEASUREMENT>', drillDb(db)),
            ])
            .join('\n'),
          validate: `${databases.map((db) => query(`SHOW RETENTION POLICIES ON "${drillDb(db)}"`)).join('\n')}   # the retention policies of production; every expected measurement above, with non-zero counts`,
        },
      ];
    }

    const example = c.databases[0] ?? '<DATABASE>';
    return [
      choose,
      {
        id: 'restore-config',
        title: 'Put the saved configuration back and restart the server',
        does: `The backup keeps a copy of ${c.configFile}. Portable restores go through the running server's RPC port ${c.backupPort} (bind-address), so it must be up. ${auth}`,
        command: [
          `test ! -e ${sh(c.configFile)} || cp -p ${sh(c.configFile)} ${sh(`${c.configFile}.before-restore`)}`,
          `cp ${savedConfig} ${sh(c.configFile)}`,
          `systemctl restart ${sh(c.service)}`,
        ].join('\n'),
        validate: `systemctl is-active ${sh(c.service)} && ${query('SHOW DATABASES')}   # active, and the server answers`,
        rollback: `cp -p ${sh(`${c.configFile}.before-restore`)} ${sh(c.configFile)}; systemctl restart ${sh(c.service)}`,
      },
      {
        id: 'restore',
        title: c.databases.length ? 'Restore the databases' : 'Restore every database of the backup',
        does: `A database that still exists makes the restore fail: either drop it first (\`DROP DATABASE "${example}"\`, losing points written since the backup), or restore it beside with \`-db ${example} -newdb ${example}_restored\` and copy the points in with \`SELECT * INTO "${example}"."autogen".:MEASUREMENT FROM "${example}_restored"."autogen"./.*/ GROUP BY *\` (once per retention policy), then drop ${example}_restored.`,
        command: c.databases.length ? c.databases.map((db) => restore(` -db ${sh(db)}`)).join('\n') : restore(''),
        validate: `${query('SHOW DATABASES')}   # ${c.databases.length ? c.databases.join(', ') : 'every database of the backup'} listed`,
        rollback: c.databases.length
          ? c.databases.map((db) => query(`DROP DATABASE "${db}"`)).join('\n')
          : `${query('DROP DATABASE "<DATABASE>"')}   # once per database restored`,
      },
      {
        id: 'validate',
        title: 'Count the points',
        does: 'Measurements are there and their counts match those at backup time.',
        command: (c.databases.length ? c.databases : ['<DATABASE>'])
          .flatMap((db) => [query('SHOW MEASUREMENTS', db), query('SELECT count(*) FROM <MEASUREMENT>', db)])
          .join('\n'),
        validate: `${(c.databases.length ? c.databases : ['<DATABASE>']).map((db) => query(`SHOW RETENTION POLICIES ON "${db}"`)).join('\n')}   # the retention policies as before; every expected measurement above, with non-zero counts`,
      },
    ];
  },
};
