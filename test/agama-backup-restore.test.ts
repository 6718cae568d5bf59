/**
 * examples/agama-compliant.yaml end to end through the engine, on real MariaDB, InfluxDB and git:
 * backed up on its calendar (backupWorkflow on the dev server, in the calendar's order, with writes
 * between the backups), watched by the RPO watchdog, then everything is lost and the full-restore
 * scenario brings it back to a chosen moment between two writes, through the real worker, with an
 * on-call operator. Only environment-specific values of the example change (see
 * localizeAgamaCompliant); the MariaDB cut-over is automated by a cutover.command that points the
 * application's client configuration at the restored server, the InfluxDB one stays manual.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { createAwsClients } from '../activities/aws-clients';
import { InfluxClient } from '../activities/influxdb/client';
import { startInfluxd } from '../activities/influxdb/server';
import type { BackupType } from '../backups/manifest';
import { loadPlan } from '../plan/load';
import type { RecoveryPlan } from '../plan/schema/plan';
import type { DataServerBinaries } from '../toolchain/data-servers';
import { freePort } from '../toolchain/net';
import { backupWorkflow, recoveryWorkflow, rpoWatchdogWorkflow } from '../workflows';
import type { BackupReport } from '../workflows/backup';
import type { ComponentProgress } from '../workflows/progress';
import {
  appMysqlConfigOf,
  appTracesOf,
  localizeAgamaCompliant,
  startAgamaProduction,
  type AgamaProduction,
} from './helpers/agama-fixtures';
import { once, onCleanup } from './helpers/cleanup';
import { engineWorker } from './helpers/engine';
import { mysqlAt } from './helpers/mysql-fixtures';
import { actAsOnCall } from './helpers/on-call';
import { bundleWorkflows, startDevServerEnv, testToolchain } from './helpers/servers';

const EXAMPLE = readFileSync('examples/agama-compliant.yaml', 'utf8');
const PLAN = 'agama-compliant';
const TASK_QUEUE = 'agama';
const scratch = mkdtempSync(join(tmpdir(), 'recovery-agama-'));

let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let binaries: DataServerBinaries;
let prod: AgamaProduction;
let restorePorts: { mysql: number; influx: number; influxRpc: number };
let worker: Worker;
let running: Promise<void> | undefined;

const cleanup = once(async () => {
  if (running) {
    worker.shutdown();
    await running.catch(() => undefined);
  }
  await env?.teardown();
  await prod?.stop();
  rmSync(scratch, { recursive: true, force: true });
});
onCleanup(cleanup);
after(cleanup);

before(async () => {
  binaries = (await testToolchain()).data;
  [env, bundle, prod] = await Promise.all([
    startDevServerEnv(),
    bundleWorkflows(),
    startAgamaProduction(binaries, scratch),
  ]);
  restorePorts = { mysql: await freePort(), influx: await freePort(), influxRpc: await freePort() };
  const yaml = localizeAgamaCompliant(EXAMPLE, prod, {
    mysqlRestorePort: restorePorts.mysql,
    influxRestorePort: restorePorts.influx,
    influxRestoreBackupPort: restorePorts.influxRpc,
    mariadb: binaries.mariadb,
  });
  const loaded = loadPlan(yaml);
  assert.ok(loaded.plan, `the localized example loads: ${JSON.stringify(loaded.errors)}`);
  // Localized, not rewritten: the calendar, objectives, people, dependencies and scenarios are the shipped ones.
  const shipped = loadPlan(EXAMPLE).plan!;
  const kept = (plan: RecoveryPlan) => ({
    ...pick(plan, 'name', 'objectives', 'contacts', 'scenarios', 'triggers'),
    components: plan.components.map((c) =>
      pick(c, 'id', 'kind', 'dependsOn', 'estimate', 'backup', 'paths', 'passwordEnv'),
    ),
  });
  assert.deepEqual(kept(loaded.plan), kept(shipped));
  const plansDir = join(scratch, 'plans');
  mkdirSync(plansDir);
  writeFileSync(join(plansDir, `${PLAN}.yaml`), yaml);
  // The real worker (every activity, data programs found as production finds them); AWS is never called.
  const aws = createAwsClients({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1' });
  worker = await engineWorker(env, bundle, TASK_QUEUE, aws, { plansDir });
  running = worker.run();
});

/** When each component's last backup of a type started: ids are the start time to the second. */
const lastStart = new Map<string, number>();
let runs = 0;

/** One backup as its schedule would start it: backupWorkflow on the dev server, through the worker. */
async function backup(component: string, type: BackupType): Promise<BackupReport> {
  const key = `${component}:${type}`;
  const wait = (lastStart.get(key) ?? 0) + 1_100 - Date.now();
  if (wait > 0) await sleep(wait);
  lastStart.set(key, Date.now());
  return env.client.workflow.execute(backupWorkflow, {
    taskQueue: TASK_QUEUE,
    workflowId: `backup-${component}-${type}-${++runs}`,
    args: [{ plan: PLAN, component, type }],
  });
}

/** What every backup report must show: taken, its files proven against the manifest, kept. */
function assertProven(report: BackupReport, component: string, type: BackupType, chain: string[]): void {
  assert.equal(report.plan, PLAN);
  assert.equal(report.component, component);
  assert.equal(report.type, type);
  assert.match(report.backupId, new RegExp(`^\\d{4}-\\d{2}-\\d{2}T\\d{6}Z-${type}$`));
  assert.equal(report.integrity.backupId, report.backupId);
  assert.ok(report.files > 0 && report.bytes > 0, `${report.backupId} holds files`);
  assert.equal(report.integrity.checksums.files, report.files, 'every file checked against its manifest');
  assert.equal(report.integrity.checksums.bytes, report.bytes);
  assert.deepEqual(report.integrity.checksums.chain, chain, `${report.backupId}: the chain it ends`);
  assert.deepEqual(report.offsite, { copied: false }, 'the example names no offsite copy');
  assert.deepEqual(report.retention.removed, [], 'nothing is past its retention');
}

// MariaDB: two tables of the agama database; each write adds two orders and one customer.
const writeMysql = (n: number) =>
  prod.mysql.sql(
    `INSERT INTO agama.orders (note) VALUES ('w${n}-a'), ('w${n}-b'); INSERT INTO agama.customers (name) VALUES ('c${n}')`,
  );
// InfluxDB: each write adds one point to each of two series.
const writeInflux = (n: number) =>
  prod.writePoints('agama', [`sensor,host=agama-1 reading=${n}`, `sensor,host=agama-2 reading=${n * 10}`]);

const reports = {} as Record<
  | 'mysqlFull'
  | 'mysqlIncremental'
  | 'mysqlLog1'
  | 'mysqlLog2'
  | 'influxFull'
  | 'influxIncremental1'
  | 'influxIncremental2'
  | 'git1'
  | 'git2'
  | 'git3',
  BackupReport
>;
const commits: string[] = [];
let targetTime: string;
let disasterAt: string;

describe('examples/agama-compliant.yaml on real MariaDB, InfluxDB and git, through the engine', () => {
  it('is backed up on its calendar: fulls, incrementals, binlog archives and bundles, each proven', async () => {
    prod.mysql.sql(
      'CREATE DATABASE agama; ' +
        'CREATE TABLE agama.orders (id INT AUTO_INCREMENT PRIMARY KEY, note VARCHAR(40) NOT NULL) ENGINE=InnoDB; ' +
        'CREATE TABLE agama.customers (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(40) NOT NULL) ENGINE=InnoDB',
    );
    await prod.influxClient.query('CREATE DATABASE agama');
    commits.push(
      execFileSync(binaries.git, ['-C', prod.checkoutDir, 'rev-parse', 'HEAD'], { encoding: 'utf8' }).trim(),
    );
    writeMysql(1);
    await writeInflux(1);

    // Monday: the hourly bundle at 16:00, then the weekly fulls of both databases at 16:10.
    reports.git1 = await backup('agama-ansible', 'snapshot');
    [reports.mysqlFull, reports.influxFull] = await Promise.all([
      backup('agama-mysql', 'full'),
      backup('agama-influxdb', 'full'),
    ]);
    writeMysql(2);
    await writeInflux(2);
    commits.push(
      prod.commit('Agama 2.1', { 'site.yml': '- hosts: agama\n  roles: [agama]\n  vars: { version: 2.1 }\n' }),
    );

    // Tuesday 16:10: the daily MariaDB incremental, InfluxDB's hourly one; the 17:00 bundle.
    [reports.mysqlIncremental, reports.influxIncremental1, reports.git2] = await Promise.all([
      backup('agama-mysql', 'incremental'),
      backup('agama-influxdb', 'incremental'),
      backup('agama-ansible', 'snapshot'),
    ]);
    writeMysql(3);
    reports.mysqlLog1 = await backup('agama-mysql', 'log'); // every 15 minutes

    // The moment to restore to: after w3, before w4 (binlog times have a resolution of one second).
    await sleep(1_100);
    targetTime = new Date().toISOString();
    await sleep(200);
    writeMysql(4);
    await writeInflux(4);
    commits.push(
      prod.commit('Agama 2.2', { 'ansible.cfg': '[defaults]\ninventory = inventory/production\nforks = 20\n' }),
    );
    [reports.mysqlLog2, reports.influxIncremental2, reports.git3] = await Promise.all([
      backup('agama-mysql', 'log'),
      backup('agama-influxdb', 'incremental'),
      backup('agama-ansible', 'snapshot'),
    ]);

    const { mysqlFull, mysqlIncremental, influxFull, influxIncremental1, git1, git2 } = reports;
    assertProven(mysqlFull, 'agama-mysql', 'full', [mysqlFull.backupId]);
    assertProven(mysqlIncremental, 'agama-mysql', 'incremental', [mysqlFull.backupId, mysqlIncremental.backupId]);
    // A log archive proves the chain under it.
    assertProven(reports.mysqlLog1, 'agama-mysql', 'log', [mysqlFull.backupId, mysqlIncremental.backupId]);
    assertProven(reports.mysqlLog2, 'agama-mysql', 'log', [mysqlFull.backupId, mysqlIncremental.backupId]);
    assertProven(influxFull, 'agama-influxdb', 'full', [influxFull.backupId]);
    assertProven(influxIncremental1, 'agama-influxdb', 'incremental', [
      influxFull.backupId,
      influxIncremental1.backupId,
    ]);
    assertProven(reports.influxIncremental2, 'agama-influxdb', 'incremental', [
      influxFull.backupId,
      influxIncremental1.backupId,
      reports.influxIncremental2.backupId,
    ]);
    assertProven(git1, 'agama-ansible', 'snapshot', [git1.backupId]);
    assertProven(git2, 'agama-ansible', 'snapshot', [git2.backupId]);
    assertProven(reports.git3, 'agama-ansible', 'snapshot', [reports.git3.backupId]);
    assert.ok(reports.mysqlLog1.recoveryPoint < targetTime && reports.mysqlLog2.recoveryPoint > targetTime);
    assert.ok(mysqlIncremental.recoveryPoint < targetTime, 'the target needs the binlogs after the incremental');
  });

  it('the RPO watchdog finds every component freshly backed up and restorable: no breach, nobody called', async () => {
    const watch = await env.client.workflow.execute(rpoWatchdogWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: 'agama-rpo-watchdog',
      args: [{ plan: PLAN }],
    });
    assert.deepEqual(
      watch.components.map((c) => [c.component, c.kind, c.restorable, c.breached, c.rpoMinutes, c.newestBackup]),
      [
        ['agama-mysql', 'mysql', true, false, 60, reports.mysqlLog2.backupId],
        ['agama-influxdb', 'influxdb', true, false, 60, reports.influxIncremental2.backupId],
        ['agama-ansible', 'git-repo', true, false, 60, reports.git3.backupId],
      ],
    );
    for (const c of watch.components) assert.ok(c.ageMinutes! <= 1, `${c.component} is ${c.ageMinutes} min old`);
    const { events } = await env.client.workflow.getHandle('agama-rpo-watchdog').fetchHistory();
    const called = (events ?? [])
      .map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name)
      .filter(Boolean);
    assert.deepEqual(called, ['loadNamedPlan', 'recoveryPointsOf'], 'no notify: nobody is called');
  });

  it('after losing everything, full-restore brings each store back to the target and restarts the app', async () => {
    // The disaster: the tables dropped, the InfluxDB database dropped, the git server's repository gone.
    prod.mysql.sql('DROP TABLE agama.orders, agama.customers');
    await prod.influxClient.query('DROP DATABASE agama');
    rmSync(prod.gitServer, { recursive: true, force: true });
    disasterAt = new Date().toISOString();

    const handle = await env.client.workflow.start(recoveryWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: 'agama-full-restore',
      args: [
        {
          plan: PLAN,
          scenario: 'full-restore',
          targetTime,
          incident: { id: 'INC-AGAMA-1', detectedAt: disasterAt, summary: 'agama data lost' },
        },
      ],
    });
    const { report, decisions } = await actAsOnCall(handle, [], { deadlineMs: 75_000 });
    const byId = (id: string) => report.components.find((c) => c.id === id)!;
    const summary = JSON.stringify(report.components.map((c) => [c.id, c.status, c.lastError]));
    assert.equal(report.status, 'succeeded', summary);
    assert.equal(report.targetTime, targetTime);
    assert.deepEqual(Object.fromEntries(report.components.map((c) => [c.id, c.status])), {
      'agama-mysql': 'succeeded',
      'agama-influxdb': 'succeeded',
      'agama-ansible': 'succeeded',
      'agama-app': 'succeeded',
      'agama-health': 'succeeded',
    });
    // The operator was asked only about the InfluxDB cut-over, the one step without automation.
    assert.deepEqual(
      decisions.map((d) => d.replace(/:.*/s, '')),
      ['agama-influxdb/cutover skip'],
    );

    // MariaDB: the rows written before the target, none after, on the restored server (restorePort).
    const mysql = byId('agama-mysql');
    const mysqlSteps = stepsOf(mysql);
    const chain = mysqlSteps['choose-chain'] as {
      chain: string[];
      logs: string[];
      binlogs: string[];
      stopDatetime: string;
      recoveryPoint: string;
    };
    assert.deepEqual(chain.chain, [
      `${reports.mysqlFull.backupId} (full)`,
      `${reports.mysqlIncremental.backupId} (incremental)`,
    ]);
    assert.deepEqual(chain.logs, [reports.mysqlLog1.backupId, reports.mysqlLog2.backupId]);
    assert.equal(chain.stopDatetime, `${targetTime.slice(0, 19).replace('T', ' ')} UTC`);
    const replay = mysqlSteps['replay-binlogs'] as { files: string[]; archives: string[]; stopDatetime: string };
    assert.ok(replay.files.length > 0, 'binlogs were replayed');
    assert.deepEqual(replay.files, chain.binlogs);
    assert.deepEqual(replay.archives, [reports.mysqlLog1.backupId, reports.mysqlLog2.backupId]);
    const validated = mysqlSteps.validate as { tables: number; rows: number; port: number; strict: boolean };
    assert.deepEqual([validated.tables, validated.rows, validated.port], [2, 9, restorePorts.mysql]);
    const restoredSocket = (mysqlSteps['copy-back'] as { socket: string }).socket;
    const restored = (statement: string) => mysqlAt(binaries, restoredSocket, prod.mysql.password, statement);
    assert.deepEqual(
      restored('SELECT note FROM agama.orders ORDER BY id').map(([note]) => note),
      ['w1-a', 'w1-b', 'w2-a', 'w2-b', 'w3-a', 'w3-b'],
    );
    assert.deepEqual(
      restored('SELECT name FROM agama.customers ORDER BY id').map(([name]) => name),
      ['c1', 'c2', 'c3'],
    );
    assert.deepEqual(restored('SELECT @@port'), [[String(restorePorts.mysql)]]);
    assert.deepEqual(prod.mysql.sql("SHOW TABLES FROM agama LIKE 'orders'"), [], 'the damaged server left as it was');
    // The automated cut-over pointed the application's client configuration at the restored server.
    assert.match(readFileSync(appMysqlConfigOf(prod), 'utf8'), new RegExp(`^port=${restorePorts.mysql}$`, 'm'));
    assert.equal((mysqlSteps.cutover as { port: number }).port, restorePorts.mysql);

    // InfluxDB: the chain for the target (full + first incremental), the points it holds.
    const influx = byId('agama-influxdb');
    const influxSteps = stepsOf(influx);
    const influxChain = influxSteps['choose-backup'] as { chain: { id: string }[]; recoveryPoint: string };
    assert.deepEqual(
      influxChain.chain.map((l) => l.id),
      [reports.influxFull.backupId, reports.influxIncremental1.backupId],
    );
    const influxValidation = influxSteps.validate as {
      problems: string[];
      databases: { name: string; values: { expected: number; restored: number } }[];
    };
    assert.deepEqual(influxValidation.problems, []);
    assert.deepEqual(
      influxValidation.databases.map((d) => [d.name, d.values.expected, d.values.restored]),
      [['agama', 4, 4]],
    );
    assert.equal(influx.steps.find((s) => s.id === 'cutover')?.status, 'skipped', 'cut over by hand');
    const restoreDir = join(prod.backupsDir, 'agama-influxdb', '.restore');
    const instance = await startInfluxd({
      influxd: binaries.influxd,
      dir: restoreDir,
      httpPort: restorePorts.influx,
      rpcPort: restorePorts.influxRpc,
    });
    try {
      const points = await new InfluxClient(instance.url, 'restored').rows(
        'SELECT "reading" FROM "sensor" GROUP BY "host"',
        'agama',
      );
      assert.deepEqual(
        points.map(({ row }) => row.reading).sort((a, b) => Number(a) - Number(b)),
        [1, 2, 10, 20],
      );
    } finally {
      await instance.stop();
    }

    // git: the checkout holds the bundle taken before the target, not the later commit.
    const ansible = byId('agama-ansible');
    const ansibleSteps = stepsOf(ansible);
    assert.equal((ansibleSteps['verify-bundle'] as { backupId: string }).backupId, reports.git2.backupId);
    const clone = ansibleSteps.clone as { commit: string; setAside: string; cloned: boolean };
    assert.deepEqual([clone.commit, clone.cloned], [commits[1], true]);
    assert.equal(clone.setAside, `${prod.checkoutDir}.before-restore`, 'the old checkout is kept aside');
    const checkout = (...args: string[]) =>
      execFileSync(binaries.git, ['-C', prod.checkoutDir, ...args], { encoding: 'utf8' }).trim();
    assert.equal(checkout('rev-parse', 'HEAD'), commits[1]);
    assert.equal(checkout('rev-parse', 'refs/remotes/origin/main'), commits[1]);
    assert.equal(checkout('status', '--porcelain'), '');
    assert.ok(!readFileSync(join(prod.checkoutDir, 'ansible.cfg'), 'utf8').includes('forks'), 'not the later commit');
    assert.deepEqual((ansibleSteps.validate as { problems: string[] }).problems, []);

    // agama-app ran after all three, on the restored checkout and database; then the health check.
    const app = byId('agama-app');
    for (const data of [mysql, influx, ansible])
      assert.ok(
        Date.parse(app.startedAt!) >= Date.parse(data.finishedAt!),
        `agama-app started after ${data.id} finished`,
      );
    const health = byId('agama-health');
    assert.ok(Date.parse(health.startedAt!) >= Date.parse(app.finishedAt!));
    const traces = appTracesOf(prod);
    assert.equal(readFileSync(traces.orders, 'utf8').trim(), '6', 'the app saw the restored orders');
    assert.equal(readFileSync(traces.commit, 'utf8').trim(), commits[1]);
    assert.ok(existsSync(`${prod.checkoutDir}.before-restore`));

    // The report's verdicts: each data component's recovery point, and the RPO it achieved.
    const floorSecond = new Date(Math.floor(Date.parse(targetTime) / 1000) * 1000).toISOString();
    assert.equal(chain.recoveryPoint, floorSecond);
    assert.equal(mysql.recoveryPoint, floorSecond);
    assert.equal(influx.recoveryPoint, reports.influxIncremental1.recoveryPoint);
    assert.equal(ansible.recoveryPoint, reports.git2.recoveryPoint);
    for (const c of [mysql, influx, ansible]) {
      const expected = (Date.parse(disasterAt) - Date.parse(c.recoveryPoint!)) / 60_000;
      const { objectiveMinutes, achievedMinutes, met } = c.rpo ?? {};
      assert.equal(objectiveMinutes, 60);
      assert.ok(Math.abs((achievedMinutes ?? NaN) - expected) < 1e-9, `${c.id}: RPO ${achievedMinutes}`);
      assert.equal(met, true);
      assert.equal(c.rto.met, true);
    }
    assert.equal(report.rtoMet, true);
    console.log(
      `agama full-restore to ${targetTime}: ${report.components
        .map((c) => `${c.id} ${c.status}${c.rpo ? ` (RPO ${c.rpo.achievedMinutes?.toFixed(2)} min)` : ''}`)
        .join(', ')}`,
    );
  });
});

const pick = (o: object, ...keys: string[]) =>
  Object.fromEntries(Object.entries(o).filter(([key]) => keys.includes(key)));

/** Step results by step id, as the report carries them. */
const stepsOf = (c: ComponentProgress) => Object.fromEntries(c.steps.map((s) => [s.id, s.result]));
