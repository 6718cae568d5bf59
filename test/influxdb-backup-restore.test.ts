/**
 * The influxdb kind on real InfluxDB 1.x (Debian's influxd): portable full and incremental backups of
 * a "production" server, restores of a chain into fresh instances, validation against manifests,
 * and the failures an SRE must see before anything is touched (broken chain, corrupt file).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { cp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AwsClients } from '../activities/aws-clients';
import { createInfluxdbActivities } from '../activities/influxdb';
import { InfluxClient } from '../activities/influxdb/client';
import type { InfluxBackupDetails } from '../activities/influxdb/backup';
import { readState, STATE_NAME } from '../activities/influxdb/restore';
import { startInfluxd, type InfluxdInstance } from '../activities/influxdb/server';
import { LocalBackupStore } from '../backups/local-store';
import { backupIdOf, type BackupManifest } from '../backups/manifest';
import { DRILL_SUFFIX } from '../plan/kinds/define';
import { influxDbKind, schema, type InfluxDbComponent } from '../plan/kinds/influxdb';
import type { DataServerBinaries } from '../toolchain/data-servers';
import { freePort, isPortFree } from '../toolchain/net';
import { runActivity } from './helpers/activity';
import { nonRetryable } from './helpers/assertions';
import { once, onCleanup } from './helpers/cleanup';
import { assertGuardSeesDrillDir, assertNothingLeft, processesOn, runTeardown } from './helpers/self-hosted-drill';
import { testToolchain } from './helpers/servers';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-influxdb-'));
let data: DataServerBinaries;
let production: InfluxdInstance;
let component: InfluxDbComponent;
let activities: ReturnType<typeof createInfluxdbActivities>;
let prod: InfluxClient;

const cleanup = once(async () => {
  await production?.stop();
  for (const dir of [join(scratch, 'restore'), join(scratch, 'restore_drill'), join(scratch, 'between')])
    await activities?.removeInfluxdbRestore({ component, dir }).catch(() => undefined);
  rmSync(scratch, { recursive: true, force: true });
});
onCleanup(cleanup);
after(cleanup);

async function startProduction(): Promise<InfluxdInstance> {
  return startInfluxd({
    influxd: data.influxd,
    dir: join(scratch, 'prod'),
    httpPort: component.port,
    rpcPort: component.backupPort,
  });
}

before(async () => {
  data = (await testToolchain()).data;
  component = schema.parse({
    kind: 'influxdb',
    id: 'metrics',
    host: '127.0.0.1',
    port: await freePort(),
    backupPort: await freePort(),
    configFile: join(scratch, 'prod', 'influxdb.conf'),
    backupDir: join(scratch, 'backups'),
    restoreDir: join(scratch, 'restore'),
    restorePort: await freePort(),
    restoreBackupPort: await freePort(),
  });
  production = await startProduction();
  prod = new InfluxClient(production.url, 'production');
  activities = createInfluxdbActivities({ binaries: () => data, aws: undefined as unknown as AwsClients });
});

async function write(database: string, lines: string[]): Promise<void> {
  const response = await fetch(`${production.url}/write?db=${encodeURIComponent(database)}`, {
    method: 'POST',
    body: lines.join('\n'),
  });
  assert.equal(response.status, 204, await response.text());
}

/** The values of `field` in `measurement` (`<rp>.<name>`, or a name in the default retention policy), sorted. */
async function values(client: InfluxClient, database: string, measurement: string, field: string) {
  const from = measurement
    .split('.')
    .map((part) => `"${part}"`)
    .join('.');
  const rows = await client.rows(`SELECT "${field}" FROM ${from} GROUP BY *`, database);
  return rows.map(({ row }) => String(row[field])).sort();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const drillContext = { mode: 'drill' as const, targetTime: 'latest', drillSuffix: DRILL_SUFFIX };

/** Runs the automated steps of a runbook in order, as the component workflow would. */
async function runSteps(mode: 'recover' | 'drill', targetTime: string) {
  const all = activities as unknown as Record<string, (input: unknown) => Promise<unknown>>;
  const results: Record<string, unknown> = {};
  for (const step of influxDbKind.steps(component, { mode, targetTime, drillSuffix: DRILL_SUFFIX })) {
    if (!step.automation || !('activity' in step.automation)) continue;
    results[step.id] = await runActivity(all[step.automation.activity]!, step.automation.input);
  }
  return results;
}

describe('influxdb: backups and restores on a real server', () => {
  let full: BackupManifest;
  let incremental: BackupManifest;

  it('takes a full backup, then an incremental on top of it, with counts and the configuration', async () => {
    await prod.query('CREATE DATABASE app');
    await prod.query('CREATE DATABASE ops');
    await prod.query('CREATE RETENTION POLICY "week" ON "app" DURATION 7d REPLICATION 1');
    await prod.query(
      'CREATE CONTINUOUS QUERY "cpu_1m" ON "app" BEGIN SELECT mean("value") INTO "cpu_1m" FROM "cpu" GROUP BY time(1m) END',
    );
    await prod.query(`CREATE USER "grafana" WITH PASSWORD 'not-in-any-result'`);
    await prod.query('GRANT READ ON "app" TO "grafana"');
    await write('app', ['cpu,host=a value=1', 'cpu,host=b value=2', 'mem,host=a used=3i,free=4i']);
    await write('ops', ['deploys,app=agama count=1i']);
    // A database without points: a portable restore cannot bring it back, the manifest can.
    await prod.query('CREATE DATABASE "empty db"');
    await prod.query('CREATE RETENTION POLICY "year" ON "empty db" DURATION 52w REPLICATION 1 SHARD DURATION 1d');
    const week = await fetch(`${production.url}/write?db=app&rp=week`, { method: 'POST', body: 'disk,host=a used=7i' });
    assert.equal(week.status, 204);

    full = await runActivity(activities.backupInfluxdb, {
      component,
      type: 'full',
      backupId: backupIdOf('full', new Date()),
    });
    const details = full.details as unknown as InfluxBackupDetails;
    assert.deepEqual(
      details.databases.map((db) => db.name),
      ['app', 'ops', 'empty db'],
    );
    assert.equal(details.databases.find((db) => db.name === 'empty db')!.shards, 0);
    const app = details.databases.find((db) => db.name === 'app')!;
    assert.deepEqual(app.values, { 'autogen.cpu': 2, 'autogen.mem': 2, 'week.disk': 1 });
    assert.equal(app.series, 4);
    assert.deepEqual(
      app.continuousQueries.map((cq) => cq.name),
      ['cpu_1m'],
    );
    assert.deepEqual(details.users, [{ name: 'grafana', admin: false, grants: ['app: READ'] }]);
    assert.ok(full.files.some((f) => f.path === 'config/influxdb.conf'));
    assert.ok(full.files.some((f) => f.path.startsWith('data/app/') && f.path.endsWith('.tar.gz')));
    assert.doesNotMatch(JSON.stringify(full), /not-in-any-result/);

    await sleep(1_100); // the restore-between target needs a moment between the two recovery points
    await write('app', ['cpu,host=a value=10', 'cpu,host=c value=20']);
    // A retention policy created after the full backup: the incremental's copy must create it.
    await prod.query('CREATE RETENTION POLICY "month" ON "app" DURATION 30d REPLICATION 1');
    const month = await fetch(`${production.url}/write?db=app&rp=month`, { method: 'POST', body: 'net,host=a rx=5i' });
    assert.equal(month.status, 204);
    await prod.query('CREATE DATABASE new_after_full');
    await write('new_after_full', ['events,kind=x n=1i']);
    incremental = await runActivity(activities.backupInfluxdb, {
      component,
      type: 'incremental',
      backupId: backupIdOf('incremental', new Date()),
    });
    assert.equal(incremental.base, full.id);
    const inc = incremental.details as unknown as InfluxBackupDetails;
    assert.ok(inc.since && inc.since < full.recoveryPoint, 'since = the full backup time minus the margin');
    assert.deepEqual(inc.databases.find((db) => db.name === 'app')!.values, {
      'autogen.cpu': 4,
      'autogen.mem': 2,
      'month.net': 1,
      'week.disk': 1,
    });
  });

  it('backs up once per id: a retried backup returns the committed manifest', async () => {
    const again = await runActivity(activities.backupInfluxdb, { component, type: 'full', backupId: full.id });
    assert.deepEqual(again, full);
    assert.equal((await new LocalBackupStore(component.backupDir).list()).length, 2);
  });

  it('recovers after the database is dropped: every point is back and the counts match the manifest', async () => {
    await prod.query('DROP DATABASE app'); // the disaster

    const results = await runSteps('recover', 'latest');
    const plan = results['choose-backup'] as { chain: { id: string }[]; short: boolean };
    assert.deepEqual(
      plan.chain.map((l) => l.id),
      [full.id, incremental.id],
    );
    const restored = results.restore as { appliedNow: string[]; usersNotRestored: string[]; savedConfig: string };
    assert.deepEqual(restored.appliedNow, [full.id, incremental.id]);
    assert.deepEqual(restored.usersNotRestored, ['grafana']);
    assert.equal(readFileSync(restored.savedConfig, 'utf8'), readFileSync(component.configFile, 'utf8'));
    const validation = results.validate as { problems: string[]; notes: string[]; databases: unknown[] };
    assert.deepEqual(validation.problems, []);
    for (const db of validation.databases as { name: string; values: { expected: number; restored: number } }[])
      assert.equal(db.values.restored, db.values.expected, db.name);
    assert.ok(validation.notes.some((n) => n.includes('grafana [app: READ]')));
    assert.ok(!('cutover' in results), 'without cutover.command the cut-over is manual');

    // The manual cut-over, as the runbook gives it: the restored meta/data/wal replace production's.
    await production.stop();
    for (const sub of ['meta', 'data', 'wal']) {
      await rm(join(scratch, 'prod', sub), { recursive: true, force: true });
      await cp(join(component.restoreDir!, sub), join(scratch, 'prod', sub), { recursive: true });
    }
    production = await startProduction();
    prod = new InfluxClient(production.url, 'production');
    assert.deepEqual(await values(prod, 'app', 'cpu', 'value'), ['1', '10', '2', '20']);
    assert.deepEqual(await values(prod, 'new_after_full', 'events', 'n'), ['1']);
    assert.deepEqual(await values(prod, 'app', 'month.net', 'rx'), ['5']);
    const policies = await prod.rows('SHOW RETENTION POLICIES ON "empty db"');
    assert.deepEqual(
      policies.map(({ row }) => [row.name, row.duration, row.shardGroupDuration]),
      [
        ['autogen', '0s', '168h0m0s'],
        ['year', '8736h0m0s', '24h0m0s'],
      ],
    );
    const cqs = await prod.rows('SHOW CONTINUOUS QUERIES');
    assert.ok(cqs.some(({ row }) => row.name === 'cpu_1m'));
    const inc = incremental.details as unknown as InfluxBackupDetails;
    const app = inc.databases.find((db) => db.name === 'app')!;
    const counted = await prod.query('SELECT count(*) FROM "app"."week"./.*/', 'app');
    assert.equal(counted[0]?.values?.[0]?.[1], app.values['week.disk']);
  });

  it('re-running the restore changes nothing; a link cut short is applied again without doubling', async () => {
    const dir = component.restoreDir!;
    const again = await runActivity(activities.restoreInfluxdbChain, { component, targetTime: 'latest', dir });
    assert.deepEqual(again.appliedNow, []);

    // A worker died while the incremental was being copied in.
    const state = (await readState(dir))!;
    writeFileSync(
      join(dir, STATE_NAME),
      JSON.stringify({ ...state, applied: [full.id], inProgress: incremental.id, finishedAt: undefined }),
    );
    const resumed = await runActivity(activities.restoreInfluxdbChain, { component, targetTime: 'latest', dir });
    assert.deepEqual(resumed.appliedNow, [incremental.id]);
    const validation = await runActivity(activities.validateInfluxdbRestore, { component, dir });
    assert.deepEqual(validation.problems, []);
    const app = validation.databases.find((db) => db.name === 'app')!;
    assert.equal(app.values.restored, app.values.expected);
  });

  it('a drill restores to a time between the full and the incremental: only the full’s points, then tears down', async () => {
    const between = new Date(Date.parse(full.recoveryPoint) + 500).toISOString();
    assert.ok(between < incremental.recoveryPoint);
    const results = await runSteps('drill', between);
    const drillDir = `${component.restoreDir}_drill`;
    assert.deepEqual((results.restore as { chain: string[] }).chain, [full.id]);
    assert.equal((results['compare-config'] as { current: string }).current, 'same');
    const validation = results.validate as { backupId: string; databases: { name: string; values: unknown }[] };
    assert.equal(validation.backupId, full.id);
    assert.deepEqual(
      validation.databases.map((db) => db.name),
      ['app', 'ops', 'empty db'],
    );
    assert.ok(!('tear-down' in results), 'the drill runbook ends with its validation');
    const teardown = await runTeardown(component, drillContext, activities, (a, i) => runActivity(a, i));
    assert.deepEqual(teardown['tear-down'], { dir: drillDir, removed: true, stopped: false });
    assertNothingLeft([drillDir]);
    assert.equal(await isPortFree(component.restorePort), true, 'never the port a recovery restores on');

    // The same restore kept: the points written after the full backup are not there.
    const dir = join(scratch, 'between');
    await runActivity(activities.restoreInfluxdbChain, { component, targetTime: between, dir });
    const instance = await startInfluxd({
      influxd: data.influxd,
      dir,
      httpPort: component.restorePort,
      rpcPort: component.restoreBackupPort,
    });
    try {
      const client = new InfluxClient(instance.url, 'between');
      assert.deepEqual(await values(client, 'app', 'cpu', 'value'), ['1', '2']);
      assert.deepEqual(
        (await client.rows('SHOW DATABASES')).map(({ row }) => row.name),
        ['app', 'ops', 'empty db'],
      );
    } finally {
      await instance.stop();
    }
  });

  it('a drill cut short while its scratch influxd runs: the teardown stops it and removes it, twice safely', async () => {
    const drillDir = `${component.restoreDir}_drill`;
    const restore = influxDbKind.steps(component, drillContext).find((s) => s.id === 'restore')!.automation;
    assert.ok(restore && 'activity' in restore);
    await runActivity(activities.restoreInfluxdbChain, restore.input as never);
    // The worker dies while the validation's instance runs.
    await startInfluxd({ influxd: data.influxd, dir: drillDir, httpPort: await freePort(), rpcPort: await freePort() });
    assert.ok(processesOn(drillDir).length > 0);
    const first = await runTeardown(component, drillContext, activities, (a, i) => runActivity(a, i));
    assert.deepEqual(first['tear-down'], { dir: drillDir, removed: true, stopped: true });
    assertNothingLeft([drillDir]);
    const again = await runTeardown(component, drillContext, activities, (a, i) => runActivity(a, i));
    assert.deepEqual(again['tear-down'], { dir: drillDir, removed: false });
  });

  it('the drill guard sees a drill step writing where another component keeps its data', () => {
    const drillDir = `${component.restoreDir}_drill`;
    const other = schema.parse({ ...component, id: 'other-influx', dataDir: drillDir, restoreDir: join(scratch, 'x') });
    assertGuardSeesDrillDir(component, other, drillDir);
  });

  it('a % in backupDir is refused by the plan schema, naming the field', () => {
    const parsed = schema.safeParse({ ...component, backupDir: '/srv/backups/influx-%Y' });
    assert.equal(parsed.success, false);
    assert.deepEqual(
      parsed.error?.issues.map((i) => [i.path.join('.'), i.message]),
      [['backupDir', 'no % in backupDir: influxd backup formats the path and mangles it']],
    );
  });

  it('a scheduled verification restores the chain into a scratch instance and removes it', async () => {
    // A verification cut short by a crash left its instance running in the backup's verify directory.
    const verifyDir = join(component.backupDir, `.verify-${incremental.id}`);
    await startInfluxd({
      influxd: data.influxd,
      dir: verifyDir,
      httpPort: await freePort(),
      rpcPort: await freePort(),
    });
    const result = await runActivity(activities.verifyInfluxdbRestore, { component, backupId: incremental.id });
    assert.deepEqual(result.chain, [full.id, incremental.id]);
    assert.deepEqual(result.problems, []);
    const left = (await readdir(component.backupDir)).filter((n) => n.startsWith('.verify-'));
    assert.deepEqual(left, []);
    assertNothingLeft([verifyDir]);
  });

  it('a broken chain fails before anything is touched, naming the missing link', async () => {
    const store = new LocalBackupStore(component.backupDir);
    const aside = join(scratch, 'full-aside');
    renameSync(store.dirOf(full.id), aside);
    const dir = join(scratch, 'never-created');
    try {
      await assert.rejects(
        runActivity(activities.planInfluxdbRestore, { component, targetTime: 'latest' }),
        nonRetryable('BrokenChain', full.id, incremental.id),
      );
      await assert.rejects(
        runActivity(activities.restoreInfluxdbChain, { component, targetTime: 'latest', dir }),
        nonRetryable('BrokenChain', full.id),
      );
      assert.equal(existsSync(dir), false);
      await assert.rejects(
        runActivity(activities.backupInfluxdb, {
          component,
          type: 'incremental',
          backupId: backupIdOf('incremental', new Date(Date.now() + 3_600_000)),
        }),
        nonRetryable('NoFullBackup', full.id),
      );
    } finally {
      renameSync(aside, store.dirOf(full.id));
    }
  });

  it('a corrupted backup file is caught by the checksums, by the restore and by the verification', async () => {
    const store = new LocalBackupStore(component.backupDir);
    const shard = incremental.files.find((f) => f.path.startsWith('data/app/') && f.path.endsWith('.tar.gz'))!;
    const path = join(store.dirOf(incremental.id), shard.path);
    const original = readFileSync(path);
    const corrupt = Buffer.from(original);
    corrupt[20] = corrupt[20]! ^ 0xff;
    writeFileSync(path, corrupt);
    try {
      assert.deepEqual(await store.verify(incremental), [
        `${incremental.id}/${shard.path}: checksum differs from the manifest (altered or corrupt)`,
      ]);
      await assert.rejects(
        runActivity(activities.planInfluxdbRestore, { component, targetTime: 'latest' }),
        nonRetryable('BackupCorrupt', shard.path),
      );
      await assert.rejects(
        runActivity(activities.verifyInfluxdbRestore, { component, backupId: incremental.id }),
        nonRetryable('BackupCorrupt', shard.path),
      );
    } finally {
      writeFileSync(path, original);
    }
  });

  it('never restores into a directory that is not a restore of this component', async () => {
    const dir = join(scratch, 'someone-elses');
    writeFileSync(join(scratch, 'keep.txt'), 'x');
    await cp(join(scratch, 'keep.txt'), join(dir, 'keep.txt'));
    await assert.rejects(
      runActivity(activities.restoreInfluxdbChain, { component, targetTime: 'latest', dir }),
      nonRetryable('RestoreDirNotOurs', dir),
    );
    assert.deepEqual(await readdir(dir), ['keep.txt']);
    // Nor into the server's own data directory, which a restore that starts over would wipe.
    const server = schema.parse({ ...component, dataDir: join(scratch, 'prod') });
    await assert.rejects(
      runActivity(activities.restoreInfluxdbChain, {
        component: server,
        targetTime: 'latest',
        dir: join(scratch, 'prod', 'data'),
      }),
      nonRetryable('RestoreDirIsDataDir', join(scratch, 'prod')),
    );
  });
});

describe('influxdb: credentials', () => {
  it('reads the user and password from the environment, never returning them; refusals are named', async () => {
    const dir = join(scratch, 'secured');
    const secured = await startInfluxd({
      influxd: data.influxd,
      dir,
      httpPort: await freePort(),
      rpcPort: await freePort(),
      authEnabled: true,
    });
    onCleanup(() => secured.stop());
    try {
      // With authentication on and no user yet, InfluxDB accepts the first admin user unauthenticated.
      await new InfluxClient(secured.url, 'secured').query(
        `CREATE USER "backup" WITH PASSWORD 's3cret-influx' WITH ALL PRIVILEGES`,
      );
      process.env.TEST_INFLUX_USER = 'backup';
      process.env.TEST_INFLUX_PASSWORD = 's3cret-influx';
      const secure = schema.parse({
        kind: 'influxdb',
        id: 'secured',
        port: secured.httpPort,
        backupPort: secured.rpcPort,
        usernameEnv: 'TEST_INFLUX_USER',
        passwordEnv: 'TEST_INFLUX_PASSWORD',
        configFile: secured.configFile,
        backupDir: join(scratch, 'secured-backups'),
      });
      const manifest = await runActivity(activities.backupInfluxdb, {
        component: secure,
        type: 'full',
        backupId: backupIdOf('full', new Date()),
      });
      assert.doesNotMatch(JSON.stringify(manifest), /s3cret-influx/);
      assert.deepEqual((manifest.details as unknown as InfluxBackupDetails).users, [
        { name: 'backup', admin: true, grants: [] },
      ]);

      process.env.TEST_INFLUX_PASSWORD = 'wrong';
      const refused = nonRetryable('InfluxdbAuthFailed', 'secured', 'passwordEnv');
      await assert.rejects(
        runActivity(activities.backupInfluxdb, {
          component: secure,
          type: 'full',
          backupId: backupIdOf('full', new Date(0)),
        }),
        (error: unknown) => refused(error) && !String((error as Error).message).includes('wrong'),
      );
      delete process.env.TEST_INFLUX_PASSWORD;
      await assert.rejects(
        runActivity(activities.backupInfluxdb, {
          component: secure,
          type: 'full',
          backupId: backupIdOf('full', new Date(0)),
        }),
        nonRetryable('MissingSecret', 'TEST_INFLUX_PASSWORD'),
      );
    } finally {
      delete process.env.TEST_INFLUX_USER;
      delete process.env.TEST_INFLUX_PASSWORD;
      await secured.stop();
    }
  });
});
