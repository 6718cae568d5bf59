import { z } from 'zod';
import { resource } from '../drill-guard';
import { automate, dataComponentSchema, secretEnv, sh, type KindDefinition, type RunbookStep } from './define';

export const schema = dataComponentSchema('redis', {
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(1).max(65535).default(6379),
  passwordEnv: secretEnv.optional(),
  dataDir: z.string().default('/var/lib/redis'),
  rdbFile: z.string().default('dump.rdb'),
  backupDir: z.string().describe('Where RDB snapshots are copied'),
  service: z.string().default('redis-server'),
  restoreDir: z
    .string()
    .optional()
    .describe('Directory of the fresh server a recovery loads the snapshot into; <dataDir>-restored when absent'),
  restorePort: z
    .number()
    .int()
    .min(1)
    .max(65535)
    .optional()
    .describe('Port of that server, on 127.0.0.1; port + 1 when absent'),
  cutover: z
    .object({
      command: z
        .string()
        .min(1)
        .describe(
          'Shell command run once the restored server is validated: moves clients to it (127.0.0.1:restorePort) or its data into production',
        ),
    })
    .strict()
    .optional()
    .describe('Without it, the cut-over is a manual step, by the steps of the runbook'),
});

export type RedisComponent = z.infer<typeof schema>;

/** Where a drill loads the snapshot: /tmp/<id><drillSuffix> (a scratch server on a free port). */
export const drillDirOf = (c: Pick<RedisComponent, 'id'>, drillSuffix: string) => `/tmp/${c.id}${drillSuffix}`;

/** Redis: RDB snapshots (BGSAVE) restored into a fresh server. */
export const redisKind: KindDefinition<RedisComponent> = {
  kind: 'redis',
  title: 'Redis',
  stateful: true,
  tier: 'data',
  defaultEstimate: '15m',
  schema,
  backups: {
    types: ['snapshot'],
    take: 'backupRedis',
    verifyByRestore: 'verifyRedisRestore',
  },
  productionResources: (c) => [
    resource.dir(c.dataDir),
    resource.tcp(c.host, c.port),
    // Where a recovery loads the snapshot.
    resource.dir(c.restoreDir ?? `${c.dataDir}-restored`),
    resource.tcp('127.0.0.1', c.restorePort ?? c.port + 1),
  ],
  teardown(c, { drillSuffix }): RunbookStep[] {
    const dir = drillDirOf(c, drillSuffix);
    const pid = sh(`${dir}/redis.pid`);
    return [
      {
        id: 'tear-down',
        title: `Stop the scratch redis-server in ${dir} and remove it`,
        does: `Stops the drill's scratch server, if one still runs from ${dir} (only the process whose command line names --dir ${dir}: a stale pid file never stops another), without saving, then deletes ${dir}.`,
        command: `pid="$(cat ${pid} 2>/dev/null)" && grep -qzxF ${sh(dir)} "/proc/$pid/cmdline" && kill -9 "$pid"; rm -rf ${sh(dir)}`,
        validate: `test ! -e ${sh(dir)} && echo removed   # removed`,
        automation: automate('tearDownRedisDrill', { component: c, drillSuffix }, 'short', [resource.dir(dir)]),
      },
    ];
  },
  steps(c, { mode, targetTime, drillSuffix }): RunbookStep[] {
    const auth = c.passwordEnv ? `REDISCLI_AUTH="$${c.passwordEnv}" ` : '';
    const cli = `${auth}redis-cli -h ${sh(c.host)} -p ${c.port}`;
    const snapshot = `${sh(c.backupDir)}/<SNAPSHOT>/dump.rdb`;
    const input = { component: c, targetTime };
    const choose: RunbookStep = {
      id: 'choose-snapshot',
      title: 'Choose the snapshot for the target time',
      does: `The newest RDB snapshot taken before ${targetTime}; writes after it are lost.`,
      command: `ls -lt ${sh(c.backupDir)}`,
      validate: `redis-check-rdb ${snapshot}   # "RDB looks OK!"`,
      automation: automate('chooseRedisSnapshot', input),
    };

    if (mode === 'drill') {
      const dir = drillDirOf(c, drillSuffix);
      const scratch = `redis-cli -h 127.0.0.1 -p <FREE-PORT>`;
      return [
        { ...choose, automation: automate('chooseRedisSnapshot', input, 'short', []) },
        {
          id: 'start-scratch',
          title: 'Load the snapshot into a scratch server on a free port',
          does: `A drill never touches ${c.service}, nor port ${c.restorePort ?? c.port + 1} where a recovery loads: a scratch redis-server loads the snapshot from ${dir}, on a free port of 127.0.0.1, with persistence off.`,
          command: [
            `mkdir -p ${sh(dir)}`,
            `cp ${snapshot} ${sh(`${dir}/${c.rdbFile}`)}`,
            `redis-server --port <FREE-PORT> --bind 127.0.0.1 --dir ${sh(dir)} --dbfilename ${sh(c.rdbFile)} --appendonly no --save '' --set-proc-title no --daemonize yes --pidfile ${sh(`${dir}/redis.pid`)} --logfile ${sh(`${dir}/redis.log`)}`,
          ].join('\n'),
          validate: `${scratch} INFO persistence   # loading:0; ${dir}/redis.log says "DB loaded from disk"`,
          rollback: `${scratch} shutdown nosave; rm -rf ${sh(dir)}   # the drill's teardown does it once the drill is over`,
          automation: { coveredBy: 'validate' },
        },
        {
          id: 'validate',
          title: 'Count the keys and read a few',
          does: `The key count is close to the one of production at snapshot time; a few known keys read back. The engine does the drill in this one step: it loads the snapshot into ${dir} on a free port with a one-time password, compares the key counts and the sampled keys with the snapshot's manifest, then stops the scratch server and removes ${dir}.`,
          command: `${scratch} DBSIZE\n${scratch} INFO keyspace`,
          validate: `${cli} DBSIZE   # production's count now: the drill's is close, give or take what changed since the snapshot`,
          automation: automate('drillRedisRestore', { ...input, drillSuffix }, 'long', [resource.dir(dir)]),
        },
      ];
    }

    const rdb = `${c.dataDir}/${c.rdbFile}`;
    const aofs = `${sh(`${c.dataDir}/appendonly.aof`)} ${sh(`${c.dataDir}/appendonlydir`)}`;
    const restoreDir = c.restoreDir ?? `${c.dataDir}-restored`;
    const restorePort = c.restorePort ?? c.port + 1;
    const restored = `${auth}redis-cli -h 127.0.0.1 -p ${restorePort}`;
    const loaded: RunbookStep[] = [
      {
        id: 'load-snapshot',
        title: `Load the snapshot into a fresh server on port ${restorePort}`,
        does: `Production is not touched yet: a redis-server in ${restoreDir}, on 127.0.0.1:${restorePort}, with appendonly off so that the snapshot is what it loads, and the same password. It keeps running for the cutover.`,
        command: [
          `mkdir -p ${sh(restoreDir)}`,
          `cp ${snapshot} ${sh(`${restoreDir}/${c.rdbFile}`)}`,
          `${c.passwordEnv ? `printf 'requirepass "%s"\\n' "$${c.passwordEnv}" | ` : ''}redis-server ${c.passwordEnv ? '- ' : ''}--port ${restorePort} --bind 127.0.0.1 --dir ${sh(restoreDir)} --dbfilename ${sh(c.rdbFile)} --appendonly no --daemonize yes --logfile ${sh(`${restoreDir}/redis.log`)}`,
        ].join('\n'),
        validate: `${restored} INFO persistence   # loading:0; ${restoreDir}/redis.log says "DB loaded from disk"`,
        rollback: `${restored} shutdown nosave; rm -rf ${sh(restoreDir)}`,
        automation: automate('restoreRedisSnapshot', input, 'long'),
      },
      {
        id: 'validate-restored',
        title: 'Compare the restored server with the snapshot',
        does: "Each database's key count, and the sampled keys' values, against the snapshot's manifest.",
        command: `${restored} INFO keyspace\njq '.details.databases, .details.sample' ${sh(c.backupDir)}/<SNAPSHOT>/manifest.json`,
        validate: `${restored} DBSIZE   # the keys of the manifest's databases (keys with a TTL may have expired since)`,
        automation: { coveredBy: 'load-snapshot' },
      },
    ];
    if (c.cutover)
      return [
        choose,
        ...loaded,
        {
          id: 'cut-over',
          title: 'Cut over to the restored data',
          does: "The plan's cutover command: it moves clients to the restored server, or its data into production.",
          command: c.cutover.command,
          validate: `${cli} DBSIZE   # the restored key count, once clients use the restored data`,
          automation: automate('runCommand', { command: c.cutover.command }),
        },
      ];
    return [
      choose,
      ...loaded,
      {
        id: 'check-aof',
        title: 'Check whether the append-only file is on',
        does: `With appendonly yes Redis loads the AOF at start and ignores the snapshot. If it is on (or the server is down and ${c.dataDir} holds appendonly.aof or appendonlydir/), set \`appendonly no\` in redis.conf now; it is turned back on after validation.`,
        command: `${cli} CONFIG GET appendonly\nls -la ${sh(c.dataDir)}`,
        validate: `grep -n '^appendonly' <REDIS_CONF>   # appendonly no (Debian and Ubuntu: /etc/redis/redis.conf)`,
      },
      {
        id: 'replace-dump',
        title: 'Stop the server and put the snapshot in place',
        does: 'Stop first: Redis writes its dump on shutdown and would overwrite the restored file. The current dump and AOF are kept, renamed, until the restore is validated.',
        command: [
          `systemctl stop ${sh(c.service)}`,
          `for f in ${sh(rdb)} ${aofs}; do test ! -e "$f" || mv "$f" "$f.before-restore"; done`,
          `cp ${snapshot} ${sh(rdb)}`,
          `chown redis:redis ${sh(rdb)}`,
        ].join('\n'),
        validate: `ls -l ${sh(rdb)}   # the snapshot's size, owned by redis`,
        rollback: `systemctl stop ${sh(c.service)}; for f in ${sh(rdb)} ${aofs}; do test ! -e "$f.before-restore" || { rm -rf "$f"; mv "$f.before-restore" "$f"; }; done; systemctl start ${sh(c.service)}`,
      },
      {
        id: 'start',
        title: 'Start the server',
        does: 'Redis loads the snapshot before it answers commands.',
        command: `systemctl start ${sh(c.service)}`,
        validate: `${cli} INFO persistence   # loading:0, and the log says "DB loaded from disk"`,
      },
      {
        id: 'validate',
        title: 'Count the keys and read a few',
        does: 'The key count is close to the one at snapshot time; a few known keys read back.',
        command: `${cli} DBSIZE\n${cli} INFO keyspace`,
        validate: `${cli} RANDOMKEY   # a key name, not (nil): the data is back`,
      },
      {
        id: 'reenable-aof',
        title: 'If the append-only file was on, turn it back on',
        does: `Only when check-aof found appendonly yes: Redis rewrites the AOF from the restored data in the background, and CONFIG REWRITE saves the setting to redis.conf. The fresh server on port ${restorePort} is no longer needed then: stop it (the rollback of load-snapshot).`,
        command: `${cli} CONFIG SET appendonly yes\n${cli} CONFIG REWRITE`,
        validate: `${cli} INFO persistence   # aof_enabled:1, aof_rewrite_in_progress:0 once done`,
        rollback: `${cli} CONFIG SET appendonly no`,
      },
    ];
  },
};
