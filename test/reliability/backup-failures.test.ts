/**
 * Backup locations that fail, through the engine's workflows on real MariaDB: a location that is
 * full (a 2 MB tmpfs) and one that cannot be written (a tmpfs remounted read-only), for backups and
 * for a restore. Each fails with an error naming the backup and the cause; nothing is recorded as a
 * backup that is not one, and no restore that did not finish is cut over. The workflows run on the
 * time-skipping server, so the backup's retries (30 s to 5 min apart) take no wall time.
 *
 * The rest of "bad backups" is covered elsewhere, at the activity level:
 * - a corrupted backup file: test/mysql-backup-restore.test.ts ("a corrupted backup file is caught…"),
 *   and the same for influxdb, git-repo, redis and postgres in their test/*-backup-restore.test.ts;
 * - a missing incremental: test/mysql-backup-restore.test.ts ("a broken chain fails before anything
 *   is touched"), test/backup-chain.test.ts, influxdb and postgres (missing base backup, WAL gap).
 * What this file adds for those two is the workflow's side: the recovery hands the decision to an
 * operator naming the file or the link, and the cutover command never runs.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { createAwsClients } from '../../activities/aws-clients';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupType } from '../../backups/manifest';
import { freePort, isPortFree } from '../../toolchain/net';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { createRecoveryWorker } from '../../workers/recovery-worker';
import { backupWorkflow, recoveryWorkflow } from '../../workflows';
import type { BackupReport } from '../../workflows/backup';
import { TEST_REPORTS_DIR, testPlan } from '../helpers/engine';
import { mysqlComponent, startSourceMysql, type SourceMysql } from '../helpers/mysql-fixtures';
import { assertHistoriesFreeOf } from '../helpers/history-secrets';
import { actAsOnCall } from '../helpers/on-call';
import { bundleWorkflows, startTimeSkippingEnv, testToolchain } from '../helpers/servers';
import { mountProblem, mountReadOnly, mountTmpfs, unmountAll } from './faults-mounts';

const PASSWORD_ENV = 'RECOVERY_RELIABILITY_MYSQL_PASSWORD';
const TASK_QUEUE = 'backup-failures';
const ROWS = 200;

describe('backup locations that fail (time-skipping server, real MariaDB)', { skip: mountProblem }, () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  let binaries: DataServerBinaries;
  let source: SourceMysql;
  const scratch = mkdtempSync(join(tmpdir(), 'recovery-backup-failures-'));
  const plansDir = join(scratch, 'plans');

  before(async () => {
    [env, bundle, { data: binaries }] = await Promise.all([startTimeSkippingEnv(), bundleWorkflows(), testToolchain()]);
    source = await startSourceMysql(binaries, scratch, PASSWORD_ENV);
    source.sql(
      'CREATE DATABASE agama; CREATE TABLE agama.orders (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(40) NOT NULL) ENGINE=InnoDB',
    );
    source.sql(`INSERT INTO agama.orders (note) SELECT CONCAT('order-', seq) FROM agama.seq_1_to_${ROWS}`);
  });
  after(async () => {
    await env?.teardown();
    await source?.stop();
    await unmountAll();
    rmSync(scratch, { recursive: true, force: true });
  });

  /** The production server's rows: what a cutover of a bad restore would have replaced. */
  const productionRows = () => Number(source.sql('SELECT COUNT(*) FROM agama.orders')[0]![0]);

  /** The mysql component of the source server, backed up into `backupDir`; its cutover leaves a marker file. */
  const component = (backupDir: string, more: Record<string, unknown> = {}) =>
    mysqlComponent(
      source,
      {
        id: 'agama-mysql',
        passwordEnv: PASSWORD_ENV,
        backupDir,
        cutover: `echo "$RESTORED_MYSQL_DATADIR" > ${join(scratch, 'cut-over')}`,
      },
      more,
    );

  /** A plan of one component in the worker's plans directory, as schedules name it. */
  function writePlan(name: string, backupDir: string): string {
    execFileSync('mkdir', ['-p', plansDir]);
    writeFileSync(join(plansDir, `${name}.yaml`), stringify(testPlan([component(backupDir)], { name })));
    return name;
  }

  async function withWorker<T>(body: () => Promise<T>): Promise<T> {
    const worker = await createRecoveryWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: TASK_QUEUE,
      workflowBundle: bundle,
      dependencies: {
        aws: createAwsClients({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1' }),
        plansDir,
        notifications: {},
        reportsDir: TEST_REPORTS_DIR,
        dataBinaries: binaries,
      },
    });
    return worker.runUntil(body());
  }

  /** Every workflow this file starts: their histories (and their children's) are scanned for the password. */
  const started: string[] = [];
  let runs = 0;
  /** One backup as its schedule starts it; the message of its failure, or its report. */
  async function backup(plan: string, type: BackupType): Promise<{ report?: BackupReport; failure?: string }> {
    const workflowId = `${plan}-${type}-${++runs}`;
    started.push(workflowId);
    return withWorker(() =>
      env.client.workflow
        .execute(backupWorkflow, {
          taskQueue: TASK_QUEUE,
          workflowId,
          args: [{ plan, component: 'agama-mysql', type }],
        })
        .then(
          (report) => ({ report }),
          (error: Error & { cause?: Error & { type?: string } }) => {
            assert.equal(error.cause?.type, 'BackupFailed', String(error.cause ?? error));
            return { failure: error.cause.message };
          },
        ),
    );
  }

  /** Nothing in `dir` looks like a backup: no backup folder, no manifest anywhere (staging included). */
  async function assertNoBackupIn(dir: string): Promise<void> {
    assert.deepEqual(await new LocalBackupStore(dir).list(), [], 'no backup is listed');
    assert.deepEqual(
      readdirSync(dir).filter((name) => name !== '.staging'),
      [],
      'no backup folder',
    );
    const manifests = execFileSync('find', [dir, '-name', 'manifest.json'], { encoding: 'utf8' }).trim();
    assert.equal(manifests, '', 'no manifest, even in staging');
  }

  it('a full location: the backup fails naming it and the cause, nothing is listed, an incremental refuses to build on it', async () => {
    const dir = mountTmpfs(join(scratch, 'full-disk'), '2m');
    const plan = writePlan('full-disk', dir);

    const { failure } = await backup(plan, 'full');
    assert.ok(failure, 'the backup failed');
    assert.match(failure, /^full backup \S+-full failed: agama-mysql: mariadb-backup --backup full /);
    assert.ok(failure.includes(dir), `names the location: ${failure}`);
    assert.match(failure, /No space left on device|errno: 28|ENOSPC/i, failure);
    await assertNoBackupIn(dir);

    // The failed full is no base: the next incremental says to take a full backup first.
    const { failure: refused } = await backup(plan, 'incremental');
    assert.ok(refused, 'the incremental failed');
    assert.ok(refused.includes('take a full backup first'), refused);
    assert.ok(refused.includes(dir), `names the location: ${refused}`);
    await assertNoBackupIn(dir);
  });

  it('a location that fills up before an incremental: it fails, and the full before it stays listed and intact', async () => {
    const dir = mountTmpfs(join(scratch, 'filling-disk'), '96m');
    const plan = writePlan('filling-disk', dir);
    const { report: full, failure } = await backup(plan, 'full');
    assert.ok(full, failure);
    // Something else on the disk takes what is left.
    execFileSync('sh', ['-c', `dd if=/dev/zero of=${join(dir, 'other-files')} bs=1M 2>/dev/null || true`]);

    const { failure: incremental } = await backup(plan, 'incremental');
    assert.ok(incremental, 'the incremental failed');
    assert.match(incremental, /^incremental backup \S+-incremental failed: /);
    assert.match(incremental, /No space left on device|errno: 28|ENOSPC/i, incremental);
    assert.ok(incremental.includes(dir), `names the location: ${incremental}`);
    const store = new LocalBackupStore(dir);
    const listed = await store.list();
    assert.deepEqual(
      listed.map((b) => b.id),
      [full.backupId],
      'only the full backup is listed',
    );
    assert.deepEqual(await store.verify(listed[0]!), [], 'and it is intact');
  });

  it('an unwritable location: the backup fails naming the path, and nothing is listed', async () => {
    // A location that was in use (its staging folder exists), then went read-only (a disk error).
    const dir = mountReadOnly(join(scratch, 'read-only'), (d) => execFileSync('mkdir', [join(d, '.staging')]));
    const plan = writePlan('read-only', dir);

    const { failure } = await backup(plan, 'full');
    assert.ok(failure, 'the backup failed');
    assert.match(failure, /^full backup \S+-full failed: /);
    assert.ok(failure.includes(join(dir, '.staging')), `names the location: ${failure}`);
    await assertNoBackupIn(dir);
    assert.deepEqual(readdirSync(join(dir, '.staging')), [], 'nothing written');
  });

  // Found by this file: Node's recursive mkdir reports ENOENT, not EROFS, on a read-only file system,
  // so the operator read "no such file or directory" for a folder that exists. The store now checks
  // access(W_OK) on the nearest existing folder first, which answers EROFS.
  it('an unwritable location: the failure says the location is read-only', async () => {
    const dir = mountReadOnly(join(scratch, 'read-only-cause'), (d) => execFileSync('mkdir', [join(d, '.staging')]));
    const { failure } = await backup(writePlan('read-only-cause', dir), 'full');
    assert.match(String(failure), /read-only file system/);
    assert.ok(String(failure).includes(dir), `names the location: ${failure}`);
  });

  /** Full, then two incrementals (a second apart: ids are per second), into `dir`. */
  async function chainIn(dir: string): Promise<BackupReport[]> {
    const plan = writePlan('good', dir);
    const reports: BackupReport[] = [];
    for (const type of ['full', 'incremental', 'incremental'] as const) {
      const { report, failure } = await backup(plan, type);
      assert.ok(report, failure);
      reports.push(report);
      await sleep(1_100);
    }
    return reports;
  }

  let chain: BackupReport[] | undefined;
  const goodDir = join(scratch, 'good-backups');

  /**
   * A recovery of the component from `backupDir` into `restoreDataDir`, the on-call aborting at the
   * first decision: the report, that decision, and what the cutover would have left.
   */
  async function recoverUntilStopped(name: string, backupDir: string, restoreDataDir: string) {
    const restorePort = await freePort();
    rmSync(join(scratch, 'cut-over'), { force: true });
    const { report, decisions } = await withWorker(async () => {
      started.push(`recover-${name}`);
      const handle = await env.client.workflow.start(recoveryWorkflow, {
        taskQueue: TASK_QUEUE,
        workflowId: `recover-${name}`,
        args: [
          {
            plan: testPlan([component(backupDir, { restoreDataDir, restorePort })], { name: `recover-${name}` }),
            scenario: 'full-restore',
          },
        ],
      });
      return actAsOnCall(handle, [], { abortOn: () => true, deadlineMs: 5 * 60_000, advance: () => env.sleep('1m') });
    });
    const steps = report.components[0]!.steps;
    assert.equal(report.status, 'aborted', JSON.stringify(steps.map((s) => [s.id, s.status])));
    assert.equal(decisions.length, 1, decisions.join('\n'));
    assert.notEqual(steps.find((s) => s.id === 'cutover')?.status, 'succeeded', 'the cutover step did not run');
    assert.ok(!existsSync(join(scratch, 'cut-over')), 'the cutover command never ran');
    assert.equal(productionRows(), ROWS, 'the production server is untouched');
    assert.ok(await isPortFree(restorePort), 'no restored server left running');
    return { report, decision: decisions[0]! };
  }

  it('a restore onto a full disk stops at the copy, names the cause, and nothing is cut over', async () => {
    chain ??= await chainIn(goodDir);
    const disk = mountTmpfs(join(scratch, 'full-restore-disk'), '2m');
    const { decision } = await recoverUntilStopped('onto-full-disk', goodDir, join(disk, 'data'));
    assert.match(decision, /^agama-mysql\/copy-back abort: /);
    assert.match(decision, /No space left on device|errno: 28|ENOSPC/i, decision);
  });

  it('a corrupted backup or a missing incremental stops the recovery before anything is touched, and nothing is cut over', async () => {
    chain ??= await chainIn(goodDir);
    const [, first, second] = chain;

    const corrupt = join(scratch, 'corrupt-backups');
    execFileSync('cp', ['-a', goodDir, corrupt]);
    const store = new LocalBackupStore(corrupt);
    const manifest = (await store.read(second!.backupId))!;
    const victim = manifest.files.reduce((a, b) => (b.bytes > a.bytes ? b : a));
    const bytes = readFileSync(join(store.dirOf(manifest.id), victim.path));
    for (let i = 0; i < 16; i++) bytes[Math.floor(bytes.length / 2) + i]! ^= 0xff;
    writeFileSync(join(store.dirOf(manifest.id), victim.path), bytes);
    const restoredCorrupt = join(scratch, 'restored-from-corrupt');
    const damaged = await recoverUntilStopped('corrupt', corrupt, restoredCorrupt);
    assert.match(damaged.decision, /^agama-mysql\/choose-chain abort: BackupCorrupt: /);
    assert.ok(damaged.decision.includes(victim.path), damaged.decision);
    assert.ok(!existsSync(restoredCorrupt), 'no restored data directory');

    const broken = join(scratch, 'broken-backups');
    execFileSync('cp', ['-a', goodDir, broken]);
    rmSync(join(broken, first!.backupId), { recursive: true });
    const restoredBroken = join(scratch, 'restored-from-broken');
    const missing = await recoverUntilStopped('missing-incremental', broken, restoredBroken);
    assert.match(missing.decision, /^agama-mysql\/choose-chain abort: BrokenChain: /);
    assert.ok(missing.decision.includes(first!.backupId), missing.decision);
    assert.ok(!existsSync(restoredBroken), 'no restored data directory');
  });

  it('no workflow history holds the database password', async () => {
    // The time-skipping server cannot list workflows (assertHistoriesFreeOf's way): the ones started, and their children.
    const scanned = await assertHistoriesFreeOf(env.client, [source.password], { workflowIds: started });
    assert.ok(scanned > started.length, `histories scanned: ${scanned} (children included)`);
  });
});
