/**
 * The redis kind on a real redis-server (the Debian package's, on loopback ports, its files in a
 * temp folder, a password from an env var): snapshots, a recovery to a time between two snapshots
 * after a FLUSHALL into a fresh server with a cutover command, a drill, the verification of a
 * snapshot by a restore, and the failures an operator must be told about.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AwsClients } from '../activities/aws-clients';
import { createRedisActivities } from '../activities/redis';
import { connectRedis, pipeline, text, type Redis } from '../activities/redis/connection';
import { readCommands, sampledFrom, type Candidate } from '../activities/redis/sample';
import { startRedis, stopRedis } from '../activities/redis/server';
import { runCommand } from '../activities/run-command';
import { sha256File } from '../backups/checksums';
import { backupIdOf, type BackupManifest } from '../backups/manifest';
import { DRILL_SUFFIX, type StepContext } from '../plan/kinds/define';
import { redisKind, schema, type RedisComponent } from '../plan/kinds/redis';
import { freePort, isPortFree, waitForPort } from '../toolchain/net';
import { runActivity } from './helpers/activity';
import { nonRetryable } from './helpers/assertions';
import { once, onCleanup } from './helpers/cleanup';
import { assertGuardSeesDrillDir, assertNothingLeft, processesOn, runTeardown } from './helpers/self-hosted-drill';
import { testToolchain } from './helpers/servers';

const PASSWORD_ENV = 'RECOVERY_TEST_REDIS_PASSWORD';
const PASSWORD = `redis-${Math.random().toString(36).slice(2)}-secret`;

const root = mkdtempSync(join(tmpdir(), 'recovery-redis-'));
const prodDir = join(root, 'prod');
const restoreDir = join(root, 'restored');
const backupDir = join(root, 'backups');
const cutoverFile = join(root, 'cutover.txt');
const id = `cache-${Math.random().toString(36).slice(2, 8)}`;
const drillDir = join('/tmp', `${id}${DRILL_SUFFIX}`);
const otherHostDir = join(root, 'other-host');
const drillContext: StepContext = { mode: 'drill', targetTime: 'latest', drillSuffix: DRILL_SUFFIX };

let redisServer: string;
let port: number;
let restorePort: number;
let activities: ReturnType<typeof createRedisActivities>;
let component: RedisComponent;
let prod: Redis;
/** Every activity result, to check that none holds the password. */
const results: unknown[] = [];

/** Expected failures are asserted, not logged. */
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

async function call<I, R>(activity: (input: I) => Promise<R>, input: I): Promise<R> {
  const result = await runActivity(activity, input, new MockActivityEnvironment({}, { logger: quiet }));
  results.push(result);
  return result;
}

/** The due time of backups that fail before they start: no backup of that id exists. */
const NEVER_TAKEN = new Date('2030-01-01T00:00:00Z');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every key of databases 0 and 1 with its type and a digest of its value: `db/key type digest`. */
async function contents(client: Redis): Promise<string[]> {
  const candidates: Candidate[] = [];
  for (const db of [0, 1]) {
    await client.select(db);
    for (const key of await client.keys('*')) candidates.push({ db, key, type: await client.type(key) });
  }
  const sampled = sampledFrom(candidates, await pipeline(client, readCommands(candidates)));
  return sampled.map((s) => `${s!.db}/${s!.key} ${s!.type} ${s!.digest}`).sort();
}

const stopAll = once(async () => {
  prod?.destroy();
  await stopRedis({ dir: prodDir, port, password: PASSWORD }).catch(() => undefined);
  await stopRedis({ dir: restoreDir, port: restorePort, password: PASSWORD }).catch(() => undefined);
  await stopRedis({ dir: drillDir }).catch(() => undefined);
  await stopRedis({ dir: otherHostDir }).catch(() => undefined);
  rmSync(drillDir, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});
onCleanup(stopAll);
after(stopAll);

before(async () => {
  redisServer = (await testToolchain()).data.redisServer;
  activities = createRedisActivities({ binaries: () => ({ redisServer }) as never, aws: {} as AwsClients });
  [port, restorePort] = [await freePort(), await freePort()];
  process.env[PASSWORD_ENV] = PASSWORD;
  await startRedis({ redisServer, dir: prodDir, port, password: PASSWORD, persistence: 'rdb' });
  prod = await connectRedis({ host: '127.0.0.1', port, password: PASSWORD });
  component = schema.parse({
    kind: 'redis',
    id,
    host: '127.0.0.1',
    port,
    passwordEnv: PASSWORD_ENV,
    dataDir: prodDir,
    backupDir,
    restoreDir,
    restorePort,
    cutover: { command: `echo "clients now use 127.0.0.1:${restorePort}" > ${cutoverFile}` },
  });
});

/** Runs the automated steps of the runbook in order, as the component workflow does; results by step. */
async function runSteps(context: StepContext): Promise<Record<string, unknown>> {
  const all = { ...activities, runCommand };
  const out: Record<string, unknown> = {};
  for (const step of redisKind.steps(component, context)) {
    assert.ok(step.automation, `${step.id} is automated`);
    if ('coveredBy' in step.automation || 'timer' in step.automation) continue;
    const { activity, input } = step.automation;
    const run = all[activity as keyof typeof all] as (input: unknown) => Promise<unknown>;
    assert.ok(run, `${activity} is an activity of the redis kind`);
    out[step.id] = await call(run, JSON.parse(JSON.stringify(input)));
  }
  return out;
}

const saves = async () => Number(/rdb_saves:(\d+)/.exec(text(await prod.info('persistence')))![1]);

describe('redis kind on a real redis-server', () => {
  let first: BackupManifest;
  let second: BackupManifest;
  let atFirst: string[];
  let target: string;

  it('takes snapshots with key counts and a sample of keys, idempotent by backup id', async () => {
    await pipeline(prod, [
      ['SET', 'user:1', 'ann'],
      ['RPUSH', 'queue', 'a', 'b', 'c'],
      ['SADD', 'tags', 'x', 'y', 'z'],
      ['HSET', 'profile', 'name', 'ann', 'age', '42'],
      ['ZADD', 'scores', '1', 'a', '2', 'b'],
      ['XADD', 'events', '1-1', 'kind', 'login'],
      ['SET', 'session:tmp', 'soon gone', 'EX', '3600'],
      ['SET', Buffer.from([0xff, 0x00, 0x01]), Buffer.from([0x00, 0xfe])],
      ['SELECT', '1'],
      ['SET', 'other', 'db one'],
      ['SELECT', '0'],
    ]);
    atFirst = await contents(prod);
    const before = Date.now();
    const backupId = backupIdOf('snapshot', new Date());
    first = await call(activities.backupRedis, { component, type: 'snapshot', backupId });
    assert.equal(first.type, 'snapshot');
    assert.deepEqual(
      first.files.map((f) => f.path),
      ['dump.rdb'],
    );
    assert.ok(Date.parse(first.recoveryPoint) >= before - 1 && Date.parse(first.recoveryPoint) <= Date.now());
    const details = first.details as {
      databases: unknown[];
      sample: { db: number; key: string; type: string; expires?: true; encoding?: string }[];
      redisVersion: string;
    };
    assert.deepEqual(details.databases, [
      { db: 0, keys: 8, keysAfter: 8, expires: 1 },
      { db: 1, keys: 1, keysAfter: 1, expires: 0 },
    ]);
    assert.match(details.redisVersion, /^7\./);
    assert.equal(details.sample.length, 9, 'every key of this small dataset is sampled');
    assert.deepEqual(details.sample.map((s) => `${s.db}/${s.type}`).sort(), [
      '0/hash',
      '0/list',
      '0/set',
      '0/stream',
      '0/string',
      '0/string',
      '0/string',
      '0/zset',
      '1/string',
    ]);
    assert.ok(details.sample.some((s) => s.key === 'session:tmp' && s.expires));
    assert.ok(
      details.sample.some((s) => s.encoding === 'base64'),
      'a binary key name is kept exactly',
    );

    const savesBefore = await saves();
    assert.deepEqual(
      await call(activities.backupRedis, { component, type: 'snapshot', backupId }),
      first,
      'the same backup id returns the committed snapshot',
    );
    assert.equal(await saves(), savesBefore, 'and takes no second BGSAVE');

    await pipeline(prod, [
      ['SET', 'user:2', 'bob'],
      ['RPUSH', 'queue', 'd'],
      ['SELECT', '1'],
      ['SET', 'later', 'x'],
      ['SELECT', '0'],
    ]);
    await sleep(1_100);
    target = new Date().toISOString();
    await sleep(1_100);
    second = await call(activities.backupRedis, {
      component,
      type: 'snapshot',
      backupId: backupIdOf('snapshot', new Date()),
    });
    assert.ok(first.recoveryPoint < target && target < second.recoveryPoint);
  });

  it('recovers a time between the snapshots into a fresh server after a FLUSHALL, then cuts over', async () => {
    await prod.flushAll();
    const steps = await runSteps({ mode: 'recover', targetTime: target, drillSuffix: DRILL_SUFFIX });
    assert.deepEqual(Object.keys(steps), ['choose-snapshot', 'load-snapshot', 'cut-over']);
    assert.equal((steps['choose-snapshot'] as { snapshot: string }).snapshot, first.id);
    const loaded = steps['load-snapshot'] as {
      snapshot: string;
      port: number;
      dir: string;
      sampleChecked: number;
      databases: unknown[];
    };
    assert.equal(loaded.snapshot, first.id);
    assert.equal(loaded.port, restorePort);
    assert.equal(loaded.dir, restoreDir);
    assert.equal(loaded.sampleChecked, 9);
    assert.deepEqual(loaded.databases, [
      { db: 0, keys: 8, atSnapshot: 8 },
      { db: 1, keys: 1, atSnapshot: 1 },
    ]);

    const restored = await connectRedis({ host: '127.0.0.1', port: restorePort, password: PASSWORD });
    try {
      assert.deepEqual(await contents(restored), atFirst, "exactly the first snapshot's keys and values");
    } finally {
      restored.destroy();
    }
    assert.equal(readFileSync(cutoverFile, 'utf8').trim(), `clients now use 127.0.0.1:${restorePort}`);
    assert.equal(await prod.dbSize(), 0, 'production itself is left to the cutover');

    const again = await call(activities.restoreRedisSnapshot, { component, targetTime: target });
    assert.equal(again.snapshot, first.id, 'a retry finds the restored server running and checks it again');
  });

  it('drills the latest snapshot into a scratch server, then tears it down', async () => {
    const steps = await runSteps({ mode: 'drill', targetTime: 'latest', drillSuffix: DRILL_SUFFIX });
    assert.deepEqual(Object.keys(steps), ['choose-snapshot', 'validate']);
    const drill = steps.validate as { snapshot: string; dir: string; port: number; databases: unknown[] };
    assert.equal(drill.snapshot, second.id);
    assert.equal(drill.dir, drillDir);
    assert.deepEqual(drill.databases, [
      { db: 0, keys: 9, atSnapshot: 9 },
      { db: 1, keys: 2, atSnapshot: 2 },
    ]);
    assert.notEqual(drill.port, restorePort, 'never the port a recovery loads on');
    const teardown = await runTeardown(component, drillContext, activities, call);
    assert.deepEqual(teardown['tear-down'], { dir: drillDir, stopped: false, removed: false });
    assertNothingLeft([drillDir]);
    assert.ok(await isPortFree(drill.port), 'the scratch server is stopped');
  });

  it('a drill cut short by a worker crash leaves its scratch server: the teardown stops it and removes it, twice safely', async () => {
    // What a crash leaves once the scratch server has loaded: the restore record, the server on a free port.
    const scratchPort = await freePort();
    await mkdir(drillDir, { recursive: true });
    await writeFile(
      join(drillDir, 'restore.json'),
      JSON.stringify({ component: id, snapshot: second.id, mode: 'drill', port: scratchPort, recovery: 'crashed' }),
    );
    await cp(join(backupDir, second.id, 'dump.rdb'), join(drillDir, 'dump.rdb'));
    await startRedis({ redisServer, dir: drillDir, port: scratchPort, password: 'one-time', persistence: 'none' });
    assert.ok(processesOn(drillDir).length > 0);

    const first = await runTeardown(component, drillContext, activities, call);
    assert.deepEqual(first['tear-down'], { dir: drillDir, stopped: true, removed: true });
    assertNothingLeft([drillDir]);
    assert.ok(await isPortFree(scratchPort));
    const again = await runTeardown(component, drillContext, activities, call);
    assert.deepEqual(again['tear-down'], { dir: drillDir, stopped: false, removed: false });
  });

  it('a stale pid file never stops another process: the pid must be a redis-server on that directory', async () => {
    const unrelated = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      await mkdir(drillDir, { recursive: true });
      await writeFile(join(drillDir, 'restore.json'), JSON.stringify({ component: id, mode: 'drill', port: 1 }));
      await writeFile(join(drillDir, 'redis.pid'), `${unrelated.pid}\n`);
      const teardown = await runTeardown(component, drillContext, activities, call);
      assert.deepEqual(teardown['tear-down'], { dir: drillDir, stopped: false, removed: true });
      assert.equal(unrelated.exitCode, null, 'the process that reused the pid still runs');
      assert.equal(unrelated.signalCode, null);
    } finally {
      unrelated.kill();
    }
  });

  it('the drill guard sees a drill step writing where another component keeps its data', () => {
    const other = schema.parse({ ...component, id: 'other-cache', dataDir: drillDir });
    assertGuardSeesDrillDir(component, other, drillDir);
  });

  it('refuses a backup when the RDB file the server wrote is not on the worker (the worker is not on the Redis host)', async () => {
    // A server whose CONFIG is renamed away: the plan's dataDir/rdbFile names the file, which holds an
    // old dump here, as on a worker that is not the Redis host.
    const otherPort = await freePort();
    mkdirSync(otherHostDir, { recursive: true });
    execFileSync(redisServer, [
      '--port',
      String(otherPort),
      '--bind',
      '127.0.0.1',
      '--dir',
      otherHostDir,
      '--daemonize',
      'yes',
      '--pidfile',
      join(otherHostDir, 'redis.pid'),
      '--logfile',
      join(otherHostDir, 'redis.log'),
      '--dbfilename',
      'server.rdb',
      '--save',
      '',
      '--set-proc-title',
      'no',
      '--rename-command',
      'CONFIG',
      '',
    ]);
    const elsewhere = join(root, 'not-the-redis-host');
    mkdirSync(elsewhere, { recursive: true });
    writeFileSync(join(elsewhere, 'dump.rdb'), 'an old dump');
    utimesSync(join(elsewhere, 'dump.rdb'), new Date('2024-01-01T00:00:00Z'), new Date('2024-01-01T00:00:00Z'));
    const c = {
      ...component,
      port: otherPort,
      passwordEnv: undefined,
      dataDir: elsewhere,
      backupDir: join(root, 'other-backups'),
    };
    try {
      await waitForPort(otherPort, { timeoutMs: 10_000 });
      await assert.rejects(
        call(activities.backupRedis, { component: c, type: 'snapshot', backupId: backupIdOf('snapshot', new Date()) }),
        nonRetryable(
          'WorkerNotOnRedisHost',
          join(elsewhere, 'dump.rdb'),
          'the worker must run on the Redis host (127.0.0.1)',
        ),
      );
      rmSync(join(elsewhere, 'dump.rdb'));
      await assert.rejects(
        call(activities.backupRedis, { component: c, type: 'snapshot', backupId: backupIdOf('snapshot', new Date()) }),
        nonRetryable('WorkerNotOnRedisHost', `${join(elsewhere, 'dump.rdb')} on this worker`, 'does not exist'),
      );
    } finally {
      await stopRedis({ dir: otherHostDir, port: otherPort });
    }
  });

  it('verifies a snapshot by a restore, and catches a damaged RDB', async () => {
    // A verification cut short by a crash left its scratch server in the backup's verify directory.
    const verifyDir = join(backupDir, `.verify-${first.id}`);
    const leftPort = await freePort();
    await mkdir(verifyDir, { recursive: true });
    await writeFile(join(verifyDir, 'restore.json'), JSON.stringify({ component: id, mode: 'verify', port: leftPort }));
    await startRedis({ redisServer, dir: verifyDir, port: leftPort, password: 'one-time', persistence: 'none' });
    const verified = await call(activities.verifyRedisRestore, { component, type: 'snapshot', backupId: first.id });
    assert.equal(verified.sampleChecked, 9);
    assert.equal(verified.dir, verifyDir);
    assertNothingLeft([verifyDir]);
    assert.ok(await isPortFree(leftPort), 'the server the crashed verification left is stopped');

    const damaged = join(root, 'backups-damaged');
    await cp(backupDir, damaged, { recursive: true });
    const c = { ...component, backupDir: damaged };
    const rdb = join(damaged, first.id, 'dump.rdb');
    const bytes = await readFile(rdb);
    bytes.write('XXXX', 20);
    await writeFile(rdb, bytes);
    await assert.rejects(
      call(activities.verifyRedisRestore, { component: c, type: 'snapshot', backupId: first.id }),
      nonRetryable('BackupCorrupt', `${first.id}/dump.rdb`, 'checksum'),
    );

    // Damaged before it was backed up: the checksums match, redis-check-rdb does not.
    const manifestFile = join(damaged, first.id, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestFile, 'utf8')) as BackupManifest;
    manifest.files[0]!.sha256 = await sha256File(rdb);
    await writeFile(manifestFile, JSON.stringify(manifest));
    await assert.rejects(
      call(activities.chooseRedisSnapshot, { component: c, targetTime: target }),
      nonRetryable('BackupCorrupt', 'redis-check-rdb', first.id),
    );
  });

  it('fails before touching anything when no snapshot covers the target', async () => {
    await assert.rejects(
      call(activities.chooseRedisSnapshot, { component, targetTime: '2020-01-01T00:00:00Z' }),
      nonRetryable('BrokenChain', backupDir, first.id),
    );
  });

  it('reads the password from the env var the plan names, and never returns it', async () => {
    delete process.env[PASSWORD_ENV];
    try {
      await assert.rejects(
        call(activities.backupRedis, { component, type: 'snapshot', backupId: backupIdOf('snapshot', NEVER_TAKEN) }),
        nonRetryable('MissingSecret', PASSWORD_ENV),
      );
      process.env[PASSWORD_ENV] = 'not-the-password';
      await assert.rejects(
        call(activities.backupRedis, { component, type: 'snapshot', backupId: backupIdOf('snapshot', NEVER_TAKEN) }),
        nonRetryable('RedisAccessDenied', PASSWORD_ENV),
      );
    } finally {
      process.env[PASSWORD_ENV] = PASSWORD;
    }
    assert.ok(results.length >= 8);
    assert.ok(!JSON.stringify(results).includes(PASSWORD), 'no result holds the password');
  });
});
