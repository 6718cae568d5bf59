/**
 * The mysql kind on real MariaDB: full and incremental backups with mariadb-backup, binlog archives,
 * and restores to a point in time between two writes, through the kind's own runbook steps.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { createMysqlActivities } from '../activities/mysql';
import { stateFileOf } from '../activities/mysql/prepare';
import { initMysqlDataDir, runDirOf, startMysqlServer, stopMysqlServer } from '../activities/mysql/server';
import { LocalBackupStore } from '../backups/local-store';
import { backupIdOf, type BackupManifest, type BackupType } from '../backups/manifest';
import { DRILL_SUFFIX } from '../plan/kinds/define';
import { mysqlKind, schema, type MysqlComponent } from '../plan/kinds/mysql';
import type { DataServerBinaries } from '../toolchain/data-servers';
import { freePort, isPortFree } from '../toolchain/net';
import { runActivity } from './helpers/activity';
import { nonRetryable } from './helpers/assertions';
import { onCleanup } from './helpers/cleanup';
import { mysqlAt, mysqlComponent, startSourceMysql, type SourceMysql } from './helpers/mysql-fixtures';
import { assertGuardSeesDrillDir, assertNothingLeft, processesOn, runTeardown } from './helpers/self-hosted-drill';
import { testToolchain } from './helpers/servers';

const PASSWORD_ENV = 'RECOVERY_TEST_MYSQL_PASSWORD';
const scratch = mkdtempSync(join(tmpdir(), 'recovery-mysql-'));

let binaries: DataServerBinaries;
let source: SourceMysql;
let component: MysqlComponent;
let activities: ReturnType<typeof createMysqlActivities>;
/** Every activity result and error message, to prove the password is in none of them. */
const seen: string[] = [];
/** Servers the restores start, stopped whatever happens. */
const restoredDirs: string[] = [];

async function call<I, R>(activity: (input: I) => Promise<R>, input: I): Promise<R> {
  try {
    const result = await runActivity(activity, input);
    seen.push(JSON.stringify(result));
    return result;
  } catch (error) {
    seen.push(String((error as Error).message));
    throw error;
  }
}

/** A backup of `type` whose id is due now (second resolution: callers never take two of a type in one second). */
const take = (c: MysqlComponent, type: BackupType) =>
  call(type === 'log' ? activities.archiveMysqlBinlogs : activities.backupMysql, {
    component: c,
    type,
    backupId: backupIdOf(type, new Date()),
  });

const write = (note: string) => source.sql(`INSERT INTO agama.orders (note) VALUES ('${note}-a'), ('${note}-b')`);
const notesAt = (socket: string) =>
  mysqlAt(binaries, socket, source.password, 'SELECT note FROM agama.orders ORDER BY id').map(([note]) => note);

/** Runs the automated steps of a runbook in order, as the component workflow would; results by step id. */
async function runSteps(c: MysqlComponent, mode: 'recover' | 'drill', targetTime: string, until?: string) {
  const results: Record<string, unknown> = {};
  for (const step of mysqlKind.steps(c, { mode, targetTime, drillSuffix: DRILL_SUFFIX })) {
    const automation = step.automation;
    assert.ok(automation && 'activity' in automation, `${step.id} is automated`);
    const activity = activities[automation.activity as keyof typeof activities] as (input: unknown) => Promise<unknown>;
    results[step.id] = await call(activity, automation.input);
    if (step.id === until) break;
  }
  return results;
}

const drillContext = () => ({ mode: 'drill' as const, targetTime: target, drillSuffix: DRILL_SUFFIX });

const backups = {} as Record<'full' | 'incremental1' | 'incremental2' | 'archive1' | 'archive2', BackupManifest>;
let target: string;

before(async () => {
  binaries = (await testToolchain()).data;
  activities = createMysqlActivities({ binaries: () => binaries, aws: undefined as never });
  onCleanup(async () => {
    for (const dir of restoredDirs) await stopMysqlServer(dir);
  });
  source = await startSourceMysql(binaries, scratch, PASSWORD_ENV);
  component = schema.parse(
    mysqlComponent(
      source,
      {
        id: 'agama-mysql',
        passwordEnv: PASSWORD_ENV,
        backupDir: join(scratch, 'backups'),
        cutover: `echo "$RESTORED_MYSQL_PORT $RESTORED_MYSQL_DATADIR" > ${join(scratch, 'cutover.txt')}`,
        logs: true,
      },
      { restorePort: await freePort() },
    ),
  );
  restoredDirs.push(`${source.dataDir}-restored`, `${source.dataDir}${DRILL_SUFFIX}`);

  // w1 → full → w2 → incremental → w3 → incremental → archive → w4 → [target] → w5 → DROP → archive
  source.sql(
    'CREATE DATABASE agama; CREATE TABLE agama.orders (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(40) NOT NULL, written_at DATETIME(6) NOT NULL DEFAULT NOW(6)) ENGINE=InnoDB',
  );
  write('w1');
  backups.full = await take(component, 'full');
  write('w2');
  backups.incremental1 = await take(component, 'incremental');
  write('w3');
  await sleep(1_000); // a second incremental in another second: distinct ids
  backups.incremental2 = await take(component, 'incremental');
  backups.archive1 = await take(component, 'log');
  write('w4');
  await sleep(1_100); // binlog event times have a resolution of one second
  target = new Date().toISOString();
  await sleep(1_100);
  write('w5');
  source.sql('DROP TABLE agama.orders'); // the disaster
  await sleep(1_000);
  backups.archive2 = await take(component, 'log');
});

after(async () => {
  for (const dir of restoredDirs) await stopMysqlServer(dir);
  await source?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

describe('mysql backups', () => {
  it('record LSNs, binlog positions, table checksums, the server version, configuration and logs', () => {
    const { full, incremental1, incremental2, archive1, archive2 } = backups;
    assert.equal(incremental1.base, full.id);
    assert.equal(incremental2.base, incremental1.id);
    assert.equal(archive1.base, undefined);
    assert.equal(archive2.base, archive1.id);
    const details = full.details as { fromLsn: string; toLsn: string; binlog: { file: string }; tables: unknown[] };
    assert.equal(details.fromLsn, '0');
    assert.equal((incremental1.details as { fromLsn: string }).fromLsn, details.toLsn);
    assert.match(details.binlog.file, /^mysql-bin\.\d{6}$/);
    assert.deepEqual(
      (incremental2.details as { tables: { table: string; rows: number }[] }).tables.map((t) => [t.table, t.rows]),
      [['agama.orders', 6]],
    );
    assert.equal((incremental2.details as { tablesExact: boolean }).tablesExact, true);
    assert.match((full.details as { serverVersion: string }).serverVersion, /MariaDB/);
    const paths = full.files.map((f) => f.path);
    assert.ok(paths.includes('data/xtrabackup_checkpoints'));
    assert.ok(paths.includes('config/my.cnf'));
    assert.ok(paths.includes('logs/error.log'));
    assert.ok(!paths.some((p) => p.endsWith('.sock')), 'sockets in the log dir are not copied');
    // Archives continue each other file by file, with event times.
    const [first, second] = [archive1, archive2].map(
      (a) => a.details as { files: { name: string; lastEvent: string }[]; firstFile: string; lastFile: string },
    );
    assert.equal(first!.firstFile, details.binlog.file);
    assert.ok(first!.files.every((f) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(f.lastEvent)));
    const seq = (name: string) => Number(name.split('.').at(-1));
    assert.equal(seq(second!.firstFile), seq(first!.lastFile) + 1);
    // The password reached mariadb-backup through an option file, not its command line.
    const info = readFileSync(join(component.backupDir, full.id, 'data', 'xtrabackup_info'), 'utf8');
    assert.ok(!info.includes(source.password));
  });

  it('takes a backup once per id, and refuses an incremental without a full backup', async () => {
    // The password from a file this time (passwordFile), 0600 like a real one.
    const passwordFile = join(scratch, 'mysql-password');
    writeFileSync(passwordFile, `${source.password}\n`, { mode: 0o600 });
    const fresh = { ...component, passwordEnv: undefined, passwordFile, backupDir: join(scratch, 'idempotent') };
    const id = backupIdOf('full', new Date('2026-01-05T16:10:00Z'));
    const first = await call(activities.backupMysql, { component: fresh, type: 'full', backupId: id });
    const again = await call(activities.backupMysql, { component: fresh, type: 'full', backupId: id });
    assert.deepEqual(again, first);
    assert.deepEqual(readdirSync(fresh.backupDir).sort(), ['.staging', id]);
    assert.deepEqual(readdirSync(join(fresh.backupDir, '.staging')), []);

    const empty = { ...component, backupDir: join(scratch, 'no-full') };
    await assert.rejects(
      call(activities.backupMysql, { component: empty, type: 'incremental', backupId: 'x' }),
      nonRetryable('NoFullBackup', empty.backupDir, 'take a full backup first'),
    );
  });
});

describe('mysql restores', () => {
  it('recovers to a time between two writes: the rows written before it, none after, the dropped table back', async () => {
    const first = await runSteps(component, 'recover', target, 'replay-binlogs');
    const started = first['copy-back'] as { port: number; socket: string; dataDir: string };
    // A worker crash mid-replay: the record says started, the server holds part of the changes.
    const markerFile = join(runDirOf(started.dataDir), 'restore.json');
    const marker = JSON.parse(readFileSync(markerFile, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      markerFile,
      JSON.stringify({ ...marker, replay: { status: 'started', at: new Date().toISOString() } }),
    );
    mysqlAt(binaries, started.socket, source.password, "INSERT INTO agama.orders (note) VALUES ('half-replayed')");

    const results = await runSteps(component, 'recover', target);
    assert.match((results['replay-binlogs'] as { rebuilt: string }).rebuilt, /never finished: .* copied back afresh/);
    const chain = results['choose-chain'] as { chain: string[]; binlogs: string[]; stopDatetime: string };
    assert.deepEqual(chain.chain, [
      `${backups.full.id} (full)`,
      `${backups.incremental1.id} (incremental)`,
      `${backups.incremental2.id} (incremental)`,
    ]);
    assert.equal(chain.stopDatetime, `${target.slice(0, 19).replace('T', ' ')} UTC`);
    const prepare = first.prepare as { ran: string[] };
    assert.deepEqual((results.prepare as { ran: string[] }).ran, [], 'prepared once');
    assert.deepEqual(prepare.ran, [
      `copy:${backups.full.id}`,
      `prepare:${backups.full.id}`,
      `copy:${backups.incremental1.id}`,
      `apply:${backups.incremental1.id}`,
      `copy:${backups.incremental2.id}`,
      `apply:${backups.incremental2.id}`,
    ]);
    assert.equal(started.port, component.restorePort);
    assert.deepEqual(notesAt(started.socket), ['w1-a', 'w1-b', 'w2-a', 'w2-b', 'w3-a', 'w3-b', 'w4-a', 'w4-b']);
    const validation = results.validate as { tables: number; rows: number; missing: string[] };
    assert.equal(validation.tables, 1);
    assert.equal(validation.rows, 8);
    assert.equal(
      readFileSync(join(scratch, 'cutover.txt'), 'utf8').trim(),
      `${component.restorePort} ${started.dataDir}`,
    );

    // Every step again (a retry after a crash) changes nothing: the binlogs are not replayed twice.
    const again = await runSteps(component, 'recover', target);
    assert.equal((again['copy-back'] as { reused: boolean }).reused, true);
    assert.equal((again['replay-binlogs'] as { alreadyDone: boolean }).alreadyDone, true);
    assert.equal((again.cutover as { alreadyDone: boolean }).alreadyDone, true);
    assert.equal(notesAt(started.socket).length, 8);
    // The source server was not touched: its table is still dropped.
    assert.deepEqual(source.sql("SHOW TABLES FROM agama LIKE 'orders'"), []);
  });

  it('drill: resumes a prepare interrupted mid-step by rebuilding the copy, restores, then tears down', async () => {
    const drillDir = `${component.dataDir}${DRILL_SUFFIX}`;
    const workDir = join(component.backupDir, '.restore-work', 'drill');
    await runSteps(component, 'drill', target, 'prepare');
    // A worker crash while applying the second incremental: started, never recorded as done.
    const state = JSON.parse(readFileSync(stateFileOf(workDir), 'utf8')) as { steps: Record<string, string> };
    state.steps[`apply:${backups.incremental2.id}`] = 'started';
    writeFileSync(stateFileOf(workDir), JSON.stringify(state));
    rmSync(join(workDir, 'prepared', 'ibdata1')); // whatever the crash left is not trusted

    const results = await runSteps(component, 'drill', target);
    const prepare = results.prepare as { rebuilt: string; ran: string[]; alreadyDone: string[] };
    assert.match(
      prepare.rebuilt,
      new RegExp(`apply:${backups.incremental2.id} was started but never recorded as done`),
    );
    assert.equal(prepare.ran.length, 6);
    assert.deepEqual(prepare.alreadyDone, []);
    const validation = results.validate as { rows: number; port: number };
    assert.equal(validation.rows, 8);
    assert.ok(!('teardown' in results), 'the drill runbook ends with its validation');
    // The engine tears the drill down afterwards, as compensation.
    const { teardown } = (await runTeardown(component, drillContext(), activities, call)) as {
      teardown: { stopped: boolean; removed: string[] };
    };
    assert.equal(teardown.stopped, true);
    assert.deepEqual(teardown.removed, [drillDir, runDirOf(drillDir), workDir]);
    assertNothingLeft([drillDir, runDirOf(drillDir), workDir]);
    assert.ok(await isPortFree(validation.port));

    // The backups themselves were only ever read.
    const store = new LocalBackupStore(component.backupDir);
    for (const manifest of await store.list()) assert.deepEqual(await store.verify(manifest), [], manifest.id);
  });

  it('drill cut short once its scratch server runs: the teardown leaves nothing, and finds nothing the second time', async () => {
    const drillDir = `${component.dataDir}${DRILL_SUFFIX}`;
    const workDir = join(component.backupDir, '.restore-work', 'drill');
    const results = await runSteps(component, 'drill', target, 'copy-back');
    const started = results['copy-back'] as { port: number; socket: string };
    assert.ok(!(await isPortFree(started.port)), 'the scratch server runs');
    assert.ok(processesOn(drillDir).length > 0);
    // The validation fails (a table missing), and the drill stops there.
    const validate = mysqlKind.steps(component, drillContext()).find((s) => s.id === 'validate')!.automation;
    assert.ok(validate && 'activity' in validate);
    mysqlAt(binaries, started.socket, source.password, 'DROP DATABASE agama');
    await assert.rejects(call(activities.validateMysqlRestore, validate.input as never), /agama/);

    const first = (await runTeardown(component, drillContext(), activities, call)) as {
      teardown: { stopped: boolean; removed: string[] };
    };
    assert.equal(first.teardown.stopped, true);
    assertNothingLeft([drillDir, runDirOf(drillDir), workDir]);
    assert.ok(await isPortFree(started.port));
    const second = (await runTeardown(component, drillContext(), activities, call)) as {
      teardown: { stopped: boolean; removed: string[] };
    };
    assert.deepEqual(second.teardown, { stopped: false, removed: [] });
  });

  it('a server start that times out is stopped, its log tail in the error', async () => {
    const dataDir = join(scratch, 'slow-start');
    await runActivity(() => initMysqlDataDir(binaries, dataDir), undefined);
    await assert.rejects(
      runActivity(() => startMysqlServer(binaries, { dataDir, port: 0, timeoutMs: 1 }), undefined),
      (error: Error) => {
        assert.match(
          error.message,
          new RegExp(`mariadbd on ${dataDir} .* within 0.001 s; its log \\(${runDirOf(dataDir)}/error.log\\) ends:`),
        );
        return true;
      },
    );
    assert.deepEqual(processesOn(dataDir), [], 'no mariadbd is left on the data dir');
    assert.equal(await stopMysqlServer(dataDir), false);
  });

  it('the drill guard sees a drill step writing where another component keeps its data', () => {
    const other = schema.parse({ ...component, id: 'other-mysql', dataDir: `${component.dataDir}${DRILL_SUFFIX}` });
    assertGuardSeesDrillDir(component, other, `${component.dataDir}${DRILL_SUFFIX}`);
  });

  it('a broken chain fails before anything is touched, naming the missing link', async () => {
    const broken = {
      ...component,
      backupDir: join(scratch, 'broken'),
      restoreDataDir: join(scratch, 'broken-restore'),
    };
    execFileSync('cp', ['-a', component.backupDir, broken.backupDir]);
    rmSync(join(broken.backupDir, '.restore-work'), { recursive: true, force: true });
    rmSync(join(broken.backupDir, backups.incremental1.id), { recursive: true });
    const steps = mysqlKind.steps(broken, { mode: 'recover', targetTime: target, drillSuffix: DRILL_SUFFIX });
    const input = (steps[0]!.automation as { input: unknown }).input as Parameters<
      typeof activities.planMysqlRestore
    >[0];
    await assert.rejects(
      call(activities.planMysqlRestore, input),
      nonRetryable('BrokenChain', backups.incremental2.id, backups.incremental1.id, 'missing'),
    );
    await assert.rejects(call(activities.prepareMysqlChain, input), nonRetryable('NotPlanned', 'choose-chain'));
    assert.ok(!existsSync(join(broken.backupDir, '.restore-work')), 'no work dir');
    assert.ok(!existsSync(broken.restoreDataDir), 'no restored data dir');
  });

  it('a corrupted backup file is caught by the store, the restore plan and the verify activity', async () => {
    const corrupt = { ...component, backupDir: join(scratch, 'corrupt') };
    execFileSync('cp', ['-a', component.backupDir, corrupt.backupDir]);
    const store = new LocalBackupStore(corrupt.backupDir);
    const manifest = (await store.read(backups.incremental1.id))!;
    const victim = manifest.files.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    const path = join(store.dirOf(manifest.id), victim.path);
    const bytes = readFileSync(path);
    for (let i = 0; i < 16; i++) bytes[Math.floor(bytes.length / 2) + i]! ^= 0xff;
    writeFileSync(path, bytes);

    assert.deepEqual(await store.verify(manifest), [
      `${manifest.id}/${victim.path}: checksum differs from the manifest (altered or corrupt)`,
    ]);
    const steps = mysqlKind.steps(corrupt, { mode: 'drill', targetTime: target, drillSuffix: '-corrupt' });
    const input = (steps[0]!.automation as { input: unknown }).input as Parameters<
      typeof activities.planMysqlRestore
    >[0];
    await assert.rejects(call(activities.planMysqlRestore, input), nonRetryable('BackupCorrupt', victim.path));
    await assert.rejects(
      call(activities.verifyMysqlRestore, { component: corrupt, type: 'full', backupId: backups.incremental2.id }),
      nonRetryable('BackupCorrupt', manifest.id, victim.path),
    );
  });

  it('verify: restores a chain into a scratch server, checks it against the manifest, leaves nothing behind', async () => {
    const incremental = await call(activities.verifyMysqlRestore, {
      component,
      type: 'full',
      backupId: backups.incremental2.id,
    });
    assert.deepEqual(incremental.chain, [backups.full.id, backups.incremental1.id, backups.incremental2.id]);
    assert.deepEqual([incremental.tables, incremental.rows, incremental.strict], [1, 6, true]);
    assert.equal(incremental.checksumsEqualBackup, true);

    // A log archive: the chain under it, then its binlogs to their end (w4 is after the archive).
    const log = await call(activities.verifyMysqlRestore, { component, type: 'log', backupId: backups.archive1.id });
    assert.deepEqual(log.logs, [backups.archive1.id]);
    assert.ok(log.binlogsReplayed.length > 0);
    assert.equal(log.rows, 6);
    assert.deepEqual(
      readdirSync(join(component.backupDir, '.restore-work')).filter((d) => d.startsWith('verify-')),
      [],
    );
  });

  it('an archive fails, naming the binlog, when the server purged one that was never archived', async () => {
    const gap = { ...component, backupDir: join(scratch, 'gap') };
    execFileSync('cp', ['-a', component.backupDir, gap.backupDir]);
    const expected = (backups.archive2.details as { lastFile: string }).lastFile.replace(/\d+$/, (n) =>
      String(Number(n) + 1).padStart(n.length, '0'),
    );
    source.sql('CREATE TABLE agama.late (id INT PRIMARY KEY); FLUSH BINARY LOGS; FLUSH BINARY LOGS');
    const [current] = source.sql('SHOW MASTER STATUS')[0]!;
    source.sql(`PURGE BINARY LOGS TO '${current}'`);
    await assert.rejects(take(gap, 'log'), nonRetryable('BinlogGap', expected, 'purged', 'take a full backup'));

    // As the message says: a full backup, and the next archive starts a new sequence after it.
    const full = await take(gap, 'full');
    await sleep(1_000);
    const archive = await take(gap, 'log');
    const details = archive.details as { firstFile: string; restarted: { missing: string; backup: string } };
    assert.equal(archive.base, backups.archive2.id);
    assert.deepEqual([details.restarted.missing, details.restarted.backup], [expected, full.id]);
    assert.equal(details.firstFile, (full.details as { binlog: { file: string } }).binlog.file);
  });

  it('replays a transaction larger than the default max_allowed_packet (16 MiB): 20,000 rows of 1 kB in one INSERT', async () => {
    // A chain of its own, restored into a place of its own.
    const big = {
      ...component,
      backupDir: join(scratch, 'big'),
      restoreDataDir: join(scratch, 'big-restored'),
      restorePort: await freePort(),
    };
    restoredDirs.push(big.restoreDataDir);
    source.sql('CREATE TABLE agama.attachments (id INT PRIMARY KEY, body VARCHAR(1000) NOT NULL) ENGINE=InnoDB');
    await take(big, 'full');
    // One statement, one transaction: mysqlbinlog writes it as one BINLOG statement of about 27 MB.
    source.sql("INSERT INTO agama.attachments SELECT seq, REPEAT('x', 1000) FROM agama.seq_1_to_20000");
    await sleep(1_100);
    const targetTime = new Date().toISOString();
    await sleep(1_000);
    await take(big, 'log');

    const results = await runSteps(big, 'recover', targetTime);
    const { socket } = results['copy-back'] as { socket: string };
    const [[rows, bytes]] = mysqlAt(
      binaries,
      socket,
      source.password,
      'SELECT COUNT(*), SUM(LENGTH(body)) FROM agama.attachments',
    ) as [[string, string]];
    assert.deepEqual([rows, bytes], ['20000', '20000000']);
  });

  it('never puts the password in a result or an error', () => {
    assert.ok(seen.length > 20);
    for (const text of seen) assert.ok(!text.includes(source.password), text.slice(0, 200));
  });
});
