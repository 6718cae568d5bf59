/**
 * The postgres kind on a real PostgreSQL (the Debian packages' server, run as the postgres user on
 * a loopback port, with its socket, data and WAL archive in a temp folder): base and log backups,
 * a point-in-time recovery of the component's own data directory after a DROP TABLE, drills and
 * their teardown (also of a drill that failed midway), the verification of backups by a restore,
 * and the failures an operator must be told about.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createPostgresActivities } from '../activities/postgres';
import {
  appendSettings,
  archivingSettings,
  giveToServerUser,
  initCluster,
  postmasterOf,
  serverDir,
  startServer,
  stopScratchServer,
  waitUntilAccepting,
} from '../activities/postgres/server';
import { backupIdOf, type BackupManifest } from '../backups/manifest';
import type { AwsClients } from '../activities/aws-clients';
import { DRILL_SUFFIX, type StepContext } from '../plan/kinds/define';
import { overlaps } from '../plan/drill-guard';
import { postgresKind, restorePlanDirOf, schema, type PostgresComponent } from '../plan/kinds/postgres';
import { isPortFree, freePort } from '../toolchain/net';
import { runActivity } from './helpers/activity';
import { nonRetryable } from './helpers/assertions';
import { once, onCleanup } from './helpers/cleanup';
import { testToolchain } from './helpers/servers';
import { serverProcessesOn } from './helpers/postgres-processes';

const PASSWORD_ENV = 'RECOVERY_TEST_PG_PASSWORD';
const PASSWORD = `pg-${Math.random().toString(36).slice(2)}-secret`;

const root = mkdtempSync(join(tmpdir(), 'recovery-postgres-'));
chmodSync(root, 0o755); // the postgres user reaches its directories inside
const dataDir = join(root, 'source', 'data');
const runDir = join(root, 'source', 'run'); // socket and log of the source server
const walArchiveDir = join(root, 'wal-archive');
const backupDir = join(root, 'backups');

let bin: string;
let port: number;
let activities: ReturnType<typeof createPostgresActivities>;
let component: PostgresComponent;
/** Every activity result, to check that none holds the password. */
const results: unknown[] = [];

/** Runs a function that needs an activity context (runProcess heartbeats) outside a worker. */
const inActivity = <R>(work: () => Promise<R>) => runActivity(work, undefined);

/** Expected failures are asserted, not logged. */
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

async function call<I, R>(activity: (input: I) => Promise<R>, input: I): Promise<R> {
  const result = await runActivity(activity, input, new MockActivityEnvironment({}, { logger: quiet }));
  results.push(result);
  return result;
}

/** SQL on the component's server through its socket (trusted locally). */
function sql(statement: string, database = 'postgres'): string {
  const run = spawnSync(
    join(bin, 'psql'),
    ['-X', '-A', '-t', '-h', runDir, '-p', String(port), '-U', 'postgres', '-d', database, '-c', statement],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(run.status, 0, run.stderr);
  return run.stdout.trim();
}

/** The due time of backups that fail before they start: no backup of that id exists. */
const NEVER_TAKEN = new Date('2030-01-01T00:00:00Z');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ids = (table = 'orders') => sql(`select string_agg(id::text, ',' order by id) from ${table}`, 'shop');

const stopAll = once(async () => {
  await inActivity(async () => {
    await stopScratchServer(bin, dataDir);
    await stopScratchServer(bin, `${dataDir}${DRILL_SUFFIX}`);
  });
  rmSync(root, { recursive: true, force: true });
});
onCleanup(stopAll);
after(stopAll);

before(async () => {
  bin = (await testToolchain()).data.postgresBin;
  activities = createPostgresActivities({ binaries: () => ({ postgresBin: bin }) as never, aws: {} as AwsClients });
  port = await freePort();
  process.env[PASSWORD_ENV] = PASSWORD;
  await inActivity(async () => {
    const passwordFile = join(root, 'pwfile');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    await giveToServerUser(passwordFile);
    await initCluster({ bin, dataDir, superuser: 'postgres', passwordFile, walSegmentMb: 1 });
    rmSync(passwordFile);
    await serverDir(runDir);
    await serverDir(walArchiveDir);
    await appendSettings(join(dataDir, 'postgresql.conf'), {
      port,
      listen_addresses: '127.0.0.1',
      unix_socket_directories: runDir,
      ...archivingSettings(walArchiveDir, '1s'),
    });
    await startServer({ bin, dataDir, logFile: join(runDir, 'server.log') });
    await waitUntilAccepting(bin, dataDir, { host: runDir, port, user: 'postgres' });
  });
  component = schema.parse({
    kind: 'postgres',
    id: 'agama-pg',
    host: '127.0.0.1',
    port,
    user: 'postgres',
    passwordEnv: PASSWORD_ENV,
    dataDir,
    backupDir,
    walArchiveDir,
    managedBy: 'pg_ctl',
  });
  sql('create database shop');
  sql('create table orders (id int primary key, note text)', 'shop');
});

const DRILL: StepContext = { mode: 'drill', targetTime: 'latest', drillSuffix: DRILL_SUFFIX };
const drillDir = () => `${dataDir}${DRILL_SUFFIX}`;

/** Runs steps' automations in order, as the component workflow does; results by step. */
async function runAutomations(steps: ReturnType<typeof postgresKind.steps>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const step of steps) {
    assert.ok(step.automation, `${step.id} is automated`);
    if ('coveredBy' in step.automation || 'timer' in step.automation) continue;
    const { activity, input } = step.automation;
    const run = activities[activity as keyof typeof activities] as (input: unknown) => Promise<unknown>;
    assert.ok(run, `${activity} is a postgres activity`);
    out[step.id] = await call(run, JSON.parse(JSON.stringify(input)));
  }
  return out;
}

/** The runbook's automated steps, in order. */
const runSteps = (context: StepContext, c = component) => runAutomations(postgresKind.steps(c, context));

/** The drill's teardown, as the engine runs it once a drill is over. */
const runTeardown = (c = component, context = DRILL) => runAutomations(postgresKind.teardown!(c, context));

/** What a drill leaves on the machine: server processes on its data directory, and its directories. */
function drillLeftovers(c = component) {
  return {
    processes: serverProcessesOn(drillDir()),
    dirs: [drillDir(), `${drillDir()}.restore`, restorePlanDirOf(c, 'drill')].filter((dir) => existsSync(dir)),
  };
}

describe('postgres kind on a real PostgreSQL', () => {
  let full: BackupManifest;
  let log1: BackupManifest;
  let log2: BackupManifest;
  let target: string;

  it('takes a base backup and two log backups, idempotent by backup id', async () => {
    sql("insert into orders select g, 'before the base backup' from generate_series(1, 3) g", 'shop');
    const fullId = backupIdOf('full', new Date());
    full = await call(activities.backupPostgres, { component, type: 'full', backupId: fullId });
    assert.equal(full.type, 'full');
    assert.deepEqual(
      full.files.map((f) => f.path),
      ['backup_manifest', 'base.tar.gz', 'pg_wal.tar.gz'],
    );
    const details = full.details as {
      tables: { database: string; table: string; rows: number }[];
      timeline: number;
      startLsn: string;
      serverVersion: string;
    };
    assert.deepEqual(details.tables, [{ database: 'shop', table: 'public.orders', rows: 3 }]);
    assert.equal(details.timeline, 1);
    assert.match(details.startLsn, /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.match(details.serverVersion, /^15\./);
    const again = await call(activities.backupPostgres, { component, type: 'full', backupId: fullId });
    assert.deepEqual(again, full, 'the same backup id returns the committed backup');

    sql("insert into orders select g, 'after the base backup' from generate_series(4, 6) g", 'shop');
    await sleep(1_100);
    target = new Date().toISOString();
    await sleep(1_100);
    log1 = await call(activities.archivePostgresWal, {
      component,
      type: 'log',
      backupId: backupIdOf('log', new Date()),
    });
    sql("insert into orders select g, 'after the target' from generate_series(7, 9) g", 'shop');
    await sleep(1_100);
    log2 = await call(activities.archivePostgresWal, {
      component,
      type: 'log',
      backupId: backupIdOf('log', new Date()),
    });

    assert.equal(log1.base, undefined, 'the first log backup follows nothing');
    assert.equal(log2.base, log1.id, 'the second follows the first');
    assert.ok(log1.recoveryPoint > target && log2.recoveryPoint > log1.recoveryPoint);
    assert.deepEqual(
      log1.files.map((f) => f.path),
      ['wal.tar.gz'],
    );
    const [d1, d2] = [log1.details, log2.details] as { firstWal: string; lastWal: string; baseBackup: string }[];
    assert.equal(d1!.baseBackup, full.id);
    assert.ok(
      d1!.firstWal <= (full.details as { startWalFile: string }).startWalFile,
      'the first log starts at the base backup',
    );
    assert.ok(d2!.firstWal > d1!.lastWal, 'the second log starts after the first');
  });

  it('recovers its own data directory to a time between two writes, after a DROP TABLE', async () => {
    sql('drop table orders', 'shop');
    const steps = await runSteps({ mode: 'recover', targetTime: target, drillSuffix: DRILL_SUFFIX });
    assert.deepEqual(Object.keys(steps), ['choose-backup', 'set-aside', 'restore-base', 'start', 'validate']);
    assert.deepEqual(steps['choose-backup'], {
      base: full.id,
      baseRecoveryPoint: full.recoveryPoint,
      logs: [log1.id],
      targetTime: target,
      reaches: target,
      short: false,
      filesVerified: 4,
    });
    assert.equal((steps['set-aside'] as { stopped: boolean }).stopped, true);
    assert.ok(existsSync(`${dataDir}.before-restore`), 'the broken data directory is kept');

    assert.equal(ids(), '1,2,3,4,5,6', 'the rows written before the target, none after');
    const validate = steps.validate as {
      tablesFound: number;
      rows: number;
      rowsAtBackup: number;
      lastReplayedCommit: string;
      timeline: number;
      short: boolean;
      recoveryTargetTime: string;
    };
    assert.equal(validate.tablesFound, 1);
    assert.equal(validate.rows, 6);
    assert.equal(validate.rowsAtBackup, 3);
    assert.equal(validate.timeline, 2, 'the restored server forked a new timeline');
    assert.equal(validate.short, false);
    assert.equal(validate.recoveryTargetTime, target.replace('Z', '+00:00'));
    assert.ok(validate.lastReplayedCommit < target, `last commit ${validate.lastReplayedCommit} precedes ${target}`);
    assert.equal(sql('select pg_is_in_recovery()'), 'f');
    const autoConf = await readFile(join(dataDir, 'postgresql.auto.conf'), 'utf8');
    assert.doesNotMatch(autoConf, /recovery_target_time|restore_command/, 'the recovery settings are gone');

    // A retried step finds the work done.
    const again = await call(activities.startRestoredPostgres, { component });
    assert.equal((again as { timeline: number }).timeline, 2);
    await assert.rejects(
      call(activities.restorePostgresBase, { component, targetTime: target }),
      nonRetryable('RestoreAlreadyPromoted', dataDir),
    );
  });

  it('drills the latest point the backups hold beside production; its teardown removes the copy', async () => {
    // The drill guard's check: no drill write (runbook or teardown) meets a production resource.
    const production = postgresKind.productionResources!(component);
    assert.ok(production.includes(`dir:${dataDir}`) && production.includes(`tcp:127.0.0.1:${port}`));
    for (const step of [...postgresKind.steps(component, DRILL), ...postgresKind.teardown!(component, DRILL)]) {
      if (!step.automation || !('activity' in step.automation)) continue;
      assert.ok(step.automation.writes, `drill step ${step.id} declares what it writes`);
      for (const written of step.automation.writes)
        assert.deepEqual(
          production.filter((p) => overlaps(written, p)),
          [],
          `${step.id} writes ${written}`,
        );
    }

    const steps = await runSteps(DRILL);
    assert.deepEqual(Object.keys(steps), ['choose-backup', 'validate']);
    const drill = steps.validate as {
      base: string;
      logs: string[];
      rows: number;
      short: boolean;
      dataDir: string;
      port: number;
    };
    assert.equal(drill.base, full.id);
    assert.deepEqual(drill.logs, [log1.id, log2.id]);
    assert.equal(drill.rows, 9, 'everything up to the last log backup');
    assert.equal(drill.dataDir, drillDir());
    assert.equal(ids(), '1,2,3,4,5,6', 'production untouched');
    assert.equal(serverProcessesOn(drillDir()).length, 1, 'the drill copy runs until the teardown');

    const teardown = (await runTeardown())['remove-drill-copy'] as { stopped: boolean; removed: string[] };
    assert.equal(teardown.stopped, true);
    assert.deepEqual(drillLeftovers(), { processes: [], dirs: [] }, 'no server and no directory of the drill left');
    assert.ok(await isPortFree(drill.port), 'the drill port is free again');
    const again = (await runTeardown())['remove-drill-copy'] as { stopped: boolean; removed: string[] };
    assert.deepEqual([again.stopped, again.removed], [false, []], 'a second teardown finds nothing to do');
    assert.equal(serverProcessesOn(dataDir).length, 1, 'production still runs');
  });

  it('drills a time past the last log backup: restores all the backups hold and says it fell short', async () => {
    const past = new Date().toISOString();
    await call(activities.choosePostgresBackup, { component, targetTime: past, mode: 'drill' });
    const drill = await call(activities.drillPostgresRestore, {
      component,
      targetTime: past,
      drillSuffix: DRILL_SUFFIX,
    });
    await runTeardown();
    assert.equal(drill.short, true);
    assert.equal(drill.rows, 9);
    assert.equal(drill.recoveryTargetTime, undefined, 'replayed without a target after PostgreSQL refused to open');
    assert.match(drill.note ?? '', /ends before/);
    assert.ok(drill.lastReplayedCommit! < past);
  });

  it('restores the backups choose-backup verified, even when a backup is taken between the steps', async () => {
    const chosen = await call(activities.choosePostgresBackup, { component, targetTime: 'latest', mode: 'drill' });
    assert.deepEqual(chosen.logs, [log1.id, log2.id]);
    const newer = await call(activities.archivePostgresWal, {
      component,
      type: 'log',
      backupId: backupIdOf('log', new Date()),
    });
    await assert.rejects(
      call(activities.drillPostgresRestore, { component, targetTime: target, drillSuffix: DRILL_SUFFIX }),
      nonRetryable('NotPlanned', 'latest', 'choose-backup'),
      'a plan for another time is not used',
    );
    const drill = await call(activities.drillPostgresRestore, {
      component,
      targetTime: 'latest',
      drillSuffix: DRILL_SUFFIX,
    });
    assert.deepEqual(drill.logs, [log1.id, log2.id], `not ${newer.id}, taken after choose-backup`);
    // A retry of the step finds the copy restored and running, and validates it again.
    const retried = await call(activities.drillPostgresRestore, {
      component,
      targetTime: 'latest',
      drillSuffix: DRILL_SUFFIX,
    });
    assert.deepEqual([retried.port, retried.rows, retried.logs], [drill.port, drill.rows, drill.logs]);

    await runTeardown();
    await assert.rejects(
      call(activities.drillPostgresRestore, { component, targetTime: 'latest', drillSuffix: DRILL_SUFFIX }),
      nonRetryable('NotPlanned', 'the choose-backup step must run first'),
    );
    assert.deepEqual(drillLeftovers(), { processes: [], dirs: [] });
  });

  it('cleans up a drill that failed after its scratch server started', async () => {
    // The base backup's manifest names a table the restore cannot have: validation fails, late.
    const failing = join(root, 'backups-failing-validation');
    cpSync(backupDir, failing, { recursive: true });
    const manifestFile = join(failing, full.id, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as BackupManifest;
    (manifest.details.tables as unknown[]).push({ database: 'shop', table: 'public.never_there', rows: 1 });
    writeFileSync(manifestFile, JSON.stringify(manifest));
    const c = { ...component, backupDir: failing };
    const context = { ...DRILL, targetTime: target };

    await assert.rejects(runSteps(context, c), nonRetryable('RestoreValidationFailed', 'shop/public.never_there'));
    assert.ok((await inActivity(() => postmasterOf(drillDir()))) !== undefined, 'the scratch server had started');
    assert.equal(drillLeftovers(c).processes.length, 1);

    await runTeardown(c, context);
    assert.deepEqual(drillLeftovers(c), { processes: [], dirs: [] }, 'the failed drill left nothing behind');
    await runTeardown(c, context);
    assert.deepEqual(drillLeftovers(c), { processes: [], dirs: [] });
  });

  it('verifies a base backup and a log backup by restoring them into a scratch server', async () => {
    const base = await call(activities.verifyPostgresRestore, { component, type: 'full', backupId: full.id });
    assert.equal(base.rows, 3);
    assert.deepEqual(base.changedSinceBackup, []);
    assert.deepEqual(base.logs, []);
    const logs = await call(activities.verifyPostgresRestore, { component, type: 'log', backupId: log2.id });
    assert.deepEqual(logs.logs, [log1.id, log2.id]);
    assert.equal(logs.rows, 9);
  });

  it('fails before touching anything when the base backup is missing, naming it', async () => {
    const broken = join(root, 'backups-without-base');
    cpSync(backupDir, broken, { recursive: true });
    rmSync(join(broken, full.id), { recursive: true });
    const c = { ...component, backupDir: broken };
    await assert.rejects(
      call(activities.choosePostgresBackup, { component: c, targetTime: target }),
      nonRetryable('BrokenChain', full.id, broken),
    );
    await assert.rejects(
      call(activities.choosePostgresBackup, { component: c, targetTime: target, mode: 'drill' }),
      nonRetryable('BrokenChain', full.id, broken),
    );
    await assert.rejects(
      call(activities.drillPostgresRestore, { component: c, targetTime: target, drillSuffix: DRILL_SUFFIX }),
      nonRetryable('NotPlanned', 'choose-backup'),
    );
    assert.ok(!existsSync(drillDir()), 'nothing was extracted');
  });

  it('catches a corrupted backup file when verifying', async () => {
    const corrupt = join(root, 'backups-corrupt');
    cpSync(backupDir, corrupt, { recursive: true });
    const file = join(corrupt, full.id, 'base.tar.gz');
    const bytes = await readFile(file);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(file, bytes);
    const c = { ...component, backupDir: corrupt };
    await assert.rejects(
      call(activities.verifyPostgresRestore, { component: c, type: 'full', backupId: full.id }),
      nonRetryable('BackupCorrupt', `${full.id}/base.tar.gz`),
    );
    await assert.rejects(
      call(activities.choosePostgresBackup, { component: c, targetTime: 'latest' }),
      nonRetryable('BackupCorrupt', `${full.id}/base.tar.gz`),
    );
    // The log backups' files are checked too.
    const log = join(corrupt, log1.id, 'wal.tar.gz');
    await writeFile(log, Buffer.concat([await readFile(log), Buffer.from('rot')]));
    await assert.rejects(
      call(activities.choosePostgresBackup, { component: { ...component, backupDir: corrupt }, targetTime: target }),
      nonRetryable('BackupCorrupt', `${log1.id}/wal.tar.gz`),
    );
  });

  it('refuses a log backup when a WAL segment is missing from the archive, naming it', async () => {
    // The recovered server (timeline 2) archives on: a log backup, then a segment that goes missing.
    await call(activities.archivePostgresWal, { component, type: 'log', backupId: backupIdOf('log', new Date()) });
    sql('create table gap_probe (x int)', 'shop');
    const lost = sql('select pg_walfile_name(pg_switch_wal())');
    const archived = join(walArchiveDir, lost);
    for (let i = 0; i < 100 && !existsSync(archived); i++) await sleep(100);
    rmSync(archived);
    await sleep(1_100);
    await assert.rejects(
      call(activities.archivePostgresWal, { component, type: 'log', backupId: backupIdOf('log', new Date()) }),
      nonRetryable('WalGap', lost, walArchiveDir),
    );
  });

  it('takes log backups again after a new base backup, whatever the archive lost before it', async () => {
    // What the WalGap message advises: a new base backup, newer than the last log backup.
    const base = await call(activities.backupPostgres, {
      component,
      type: 'full',
      backupId: backupIdOf('full', new Date()),
    });
    sql("insert into orders select g, 'after the new base backup' from generate_series(10, 12) g", 'shop');
    await sleep(1_100);
    const log = await call(activities.archivePostgresWal, {
      component,
      type: 'log',
      backupId: backupIdOf('log', new Date()),
    });
    assert.equal((log.details as { baseBackup: string }).baseBackup, base.id);
    const verified = await call(activities.verifyPostgresRestore, { component, type: 'log', backupId: log.id });
    assert.equal(verified.base, base.id);
    assert.deepEqual(verified.logs, [log.id]);
    assert.ok(
      verified.changedSinceBackup.some((t) => t.table === 'shop/public.orders' && t.rows === t.atBackup + 3),
      'the rows written after the base backup are replayed from the log backup',
    );
  });

  it('reads the password from the env var the plan names, and never returns it', async () => {
    delete process.env[PASSWORD_ENV];
    try {
      await assert.rejects(
        call(activities.backupPostgres, { component, type: 'full', backupId: backupIdOf('full', NEVER_TAKEN) }),
        nonRetryable('MissingSecret', PASSWORD_ENV),
      );
      process.env[PASSWORD_ENV] = 'not-the-password';
      await assert.rejects(
        call(activities.archivePostgresWal, { component, type: 'log', backupId: backupIdOf('log', NEVER_TAKEN) }),
        nonRetryable('PostgresAccessDenied', 'password authentication failed'),
      );
    } finally {
      process.env[PASSWORD_ENV] = PASSWORD;
    }
  });

  it('reads the password from the file the plan names instead, and never returns it', async () => {
    const passwordFile = join(root, 'agama-pg.password');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    const c = schema.parse({ ...component, passwordEnv: undefined, passwordFile });
    const log = await call(activities.archivePostgresWal, {
      component: c,
      type: 'log',
      backupId: backupIdOf('log', new Date()),
    });
    assert.equal(log.type, 'log');
    const validate = postgresKind
      .steps(c, { mode: 'recover', targetTime: 'latest', drillSuffix: DRILL_SUFFIX })
      .at(-1)!;
    assert.ok(validate.command.includes(`PGPASSWORD="$(cat ${passwordFile})" psql`), validate.command);
    await assert.rejects(
      call(activities.archivePostgresWal, {
        component: { ...c, passwordFile: join(root, 'no-such-file') },
        type: 'log',
        backupId: backupIdOf('log', NEVER_TAKEN),
      }),
      nonRetryable('MissingSecret', join(root, 'no-such-file')),
    );
    await assert.rejects(
      call(activities.archivePostgresWal, {
        component: { ...c, passwordEnv: PASSWORD_ENV },
        type: 'log',
        backupId: backupIdOf('log', NEVER_TAKEN),
      }),
      nonRetryable('InvalidConfiguration', 'passwordEnv or passwordFile'),
    );
    assert.ok(results.length > 10);
    assert.ok(!JSON.stringify(results).includes(PASSWORD), 'no result holds the password');
  });
});
