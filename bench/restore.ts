/**
 * A data restore by the engine against the same commands run by hand: a real MariaDB on loopback
 * filled with about `--size-mb` of rows and backed up by the engine's activities as a chain (full,
 * incremental, binlog archive: bench/restore-data.ts), then restored twice from that chain:
 *
 * - engine: the `database-restore` scenario of a one-component plan, a recoveryWorkflow on a
 *   Temporal dev server with the real worker in this process (choose-chain with every file checked
 *   against its manifest, prepare, copy-back and start, binlog replay, validation, cut-over);
 * - by hand: the runbook's commands in one bash script with no pause (bench/restore-by-hand.ts).
 *
 * Both must give back the source's row count and table checksum. Figures: each total and the ratio
 * engine / by hand, the same without choose-chain (the manifest check has no manual counterpart in
 * the runbook), and each phase. The first restore is removed before the second runs; both read the
 * backups from the page cache (they were just written).
 *
 *   npm run bench -- restore [--size-mb 1024] [--max-seconds 1800]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import { runDirOf, stopMysqlServer } from '../activities/mysql/server';
import { mysqlAt } from '../demo/local-mysql';
import { restoreWorkRootOf, schema } from '../plan/kinds/mysql';
import { freePort } from '../toolchain/net';
import { progressQuery } from '../workflows/messages';
import type { RecoveryProgress } from '../workflows/progress';
import { RECOVERY_WORKFLOW_TYPE } from '../cli/recoveries';
import { onCleanup } from '../test/helpers/cleanup';
import { mysqlComponent, startSourceMysql } from '../test/helpers/mysql-fixtures';
import { startDevServerEnv, testToolchain } from '../test/helpers/servers';
import { compared, type Benchmark, type Figure } from './figures';
import { inProcessWorker } from './in-process-worker';
import { HAND_PHASES, restoreByHand } from './restore-by-hand';
import { buildChain, factsOf, handInputs } from './restore-data';

const PASSWORD_ENV = 'RECOVERY_BENCH_MYSQL_PASSWORD';
const COMPONENT = 'bench-mysql';
const SCENARIO = 'database-restore';
const TASK_QUEUE = 'restore-bench';
const SCRATCH_PREFIX = 'recovery-bench-restore-';

/** Rejects after `ms` naming the phase, so a stuck run ends instead of hanging. */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`restore bench: over the time budget during ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Rejects as soon as the recovery waits for an operator (a step failed for good), with that step's
 * error; stops asking once `settled` says the result is in.
 */
async function failWhenStuck(handle: WorkflowHandle, settled: () => boolean): Promise<never> {
  while (!settled()) {
    await sleep(1_000);
    if (settled()) break;
    const progress = await handle.query(progressQuery).catch(() => undefined);
    const stuck = progress?.pendingDecisions[0];
    if (stuck) throw new Error(`the engine restore stopped at ${stuck.component}/${stuck.step}: ${stuck.error}`);
  }
  return new Promise<never>(() => undefined);
}

/**
 * Servers and folders a killed earlier run left (its owner.pid names a process that is gone): the
 * Temporal SDK ends the process on SIGINT/SIGTERM before every cleanup has run.
 */
async function removeLeftovers(): Promise<void> {
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(SCRATCH_PREFIX))) {
    const dir = join(tmpdir(), name);
    const owner = Number(readFileSafe(join(dir, 'owner.pid')));
    if (owner && isAlive(owner)) continue;
    for (const server of ['source', 'engine', 'hand']) await stopMysqlServer(join(dir, server, 'data'));
    rmSync(dir, { recursive: true, force: true });
  }
}

const readFileSafe = (file: string) => {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
};

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const seconds = (from?: string, to?: string) => (from && to ? (Date.parse(to) - Date.parse(from)) / 1000 : NaN);
const round = (v: number, digits = 2) => Math.round(v * 10 ** digits) / 10 ** digits;

export const run: Benchmark = async (args) => {
  const { values } = parseArgs({
    args,
    options: {
      'size-mb': { type: 'string', default: '1024' },
      'max-seconds': { type: 'string', default: '1800' },
    },
  });
  const sizeMb = Number(values['size-mb']);
  const budgetMs = Number(values['max-seconds']) * 1000;
  if (!(sizeMb >= 1) || !(budgetMs > 0)) throw new Error('restore bench: --size-mb and --max-seconds must be ≥ 1');
  const began = performance.now();
  const left = () => Math.max(1, budgetMs - (performance.now() - began));

  const binaries = (await testToolchain()).data;
  await removeLeftovers();
  const scratch = mkdtempSync(join(tmpdir(), SCRATCH_PREFIX));
  writeFileSync(join(scratch, 'owner.pid'), String(process.pid));
  const sourceDir = join(scratch, 'source', 'data');
  const engineDir = join(scratch, 'engine', 'data');
  const handDir = join(scratch, 'hand', 'data');
  const servers = [sourceDir, engineDir, handDir];
  const stopAll = async () => {
    for (const dir of servers) await stopMysqlServer(dir);
    rmSync(scratch, { recursive: true, force: true });
  };
  onCleanup(stopAll);
  let env: Awaited<ReturnType<typeof startDevServerEnv>> | undefined;
  try {
    const source = await startSourceMysql(binaries, scratch, PASSWORD_ENV);
    const raw = mysqlComponent(
      source,
      { id: COMPONENT, passwordEnv: PASSWORD_ENV, backupDir: join(scratch, 'backups'), cutover: 'true', logs: true },
      { description: 'The bench database', restoreDataDir: engineDir, restorePort: await freePort(), estimate: '1h' },
    );
    const component = schema.parse(raw);
    console.log(`Filling MariaDB with ~${sizeMb} MB and taking the chain (full, incremental, binlogs) ...`);
    const chain = await within(buildChain(binaries, source, component, sizeMb), left(), 'the fill and backups');
    const chainMiB = chain.chainBytes / 2 ** 20;
    console.log(
      `  ${chain.rows} rows; chain of ${chainMiB.toFixed(0)} MiB; fill ${chain.fillSeconds.toFixed(0)} s, backups ${chain.backupSeconds.toFixed(0)} s`,
    );
    // The source is not needed any more: its memory and CPU are not the restores'.
    await source.stop();

    // Engine: the scenario on the dev server, the real worker in this process.
    env = await startDevServerEnv();
    const worker = await inProcessWorker(env, TASK_QUEUE, {
      plansDir: scratch,
      reportsDir: join(scratch, 'reports'),
      dataBinaries: binaries,
    });
    const plan = {
      name: 'restore-bench',
      objectives: { rpo: '1h', rto: '4h' },
      contacts: [{ name: 'Bench (on call)', role: 'primary', phone: '+1 555 0100' }],
      components: [raw],
      scenarios: [{ name: SCENARIO, components: [COMPONENT] }],
    };
    console.log('Restoring with the engine ...');
    const engineStart = performance.now();
    const handle = await env.client.workflow.start(RECOVERY_WORKFLOW_TYPE, {
      taskQueue: TASK_QUEUE,
      workflowId: `restore-bench-${Date.now()}`,
      args: [{ plan, scenario: SCENARIO, requestedBy: 'bench restore' }],
    });
    let settled = false;
    const result = (handle.result() as Promise<RecoveryProgress>).finally(() => (settled = true));
    const running = worker.runUntil(Promise.race([result, failWhenStuck(handle, () => settled)]));
    const report = await within(running, left(), 'the engine restore').catch(async (error: unknown) => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      throw error;
    });
    const engineSeconds = (performance.now() - engineStart) / 1000;
    const steps = report.components[0]?.steps ?? [];
    if (report.status !== 'succeeded')
      throw new Error(
        `the engine restore ended ${report.status}: ${steps.map((s) => `${s.id} ${s.status} ${s.error ?? ''}`).join('; ')}`,
      );
    const stepSeconds = Object.fromEntries(steps.map((s) => [s.id, seconds(s.startedAt, s.finishedAt)]));
    const engineFacts = factsOf((statement) =>
      mysqlAt(binaries, join(runDirOf(engineDir), 'mysqld.sock'), source.password, statement),
    );
    // Removed before the run by hand, which then has the same disk and memory to itself.
    await stopMysqlServer(engineDir);
    for (const dir of [engineDir, runDirOf(engineDir), restoreWorkRootOf(component)])
      rmSync(dir, { recursive: true, force: true });

    console.log('Restoring by hand (the runbook commands in a script) ...');
    const hand = await within(
      restoreByHand(binaries, {
        backupDir: component.backupDir,
        workDir: join(scratch, 'hand', 'work'),
        dataDir: handDir,
        runDir: runDirOf(handDir),
        port: await freePort(),
        archive: chain.archive.id,
        passwordEnv: PASSWORD_ENV,
        ...handInputs(chain),
      }),
      left(),
      'the restore by hand',
    );

    const expected = { rows: chain.rows, checksum: chain.checksum };
    for (const [who, got] of [
      ['engine', engineFacts],
      ['by hand', { rows: hand.rows, checksum: hand.checksum }],
    ] as const)
      if (got.rows !== expected.rows || got.checksum !== expected.checksum)
        throw new Error(
          `restore bench: the ${who} restore has ${got.rows} rows (checksum ${got.checksum}), the source ${expected.rows} (${expected.checksum})`,
        );

    const chooseChain = stepSeconds['choose-chain'] ?? 0;
    const handWithout = hand.totalSeconds - (hand.phases['choose-chain'] ?? 0);
    const figures: Figure[] = [
      compared({
        bench: 'restore',
        figure: `restore of a ${chainMiB.toFixed(0)} MiB MariaDB chain, engine (workflow start → report)`,
        value: round(engineSeconds),
        unit: 's',
        baseline: { what: 'the runbook commands by hand', value: round(hand.totalSeconds) },
        note: `${chain.rows} rows and checksum equal in both`,
      }),
      compared({
        bench: 'restore',
        figure: 'the same without choose-chain (manifest check of every backup file)',
        value: round(engineSeconds - chooseChain),
        unit: 's',
        baseline: { what: 'by hand without its ls/grep', value: round(handWithout) },
      }),
      ...HAND_PHASES.map((phase) =>
        compared({
          bench: 'restore',
          figure: `step ${phase}`,
          value: round(stepSeconds[phase] ?? NaN),
          unit: 's',
          baseline: { what: 'by hand', value: round(hand.phases[phase] ?? NaN) },
        }),
      ),
    ];
    return {
      bench: 'restore',
      settings: {
        sizeMb,
        rows: chain.rows,
        chainMiB: round(chainMiB, 0),
        linkMiB: chain.linkMiB,
        chain: [chain.full.id, chain.incremental.id, chain.archive.id],
        binlogsReplayed: handInputs(chain).binlogs,
        fillSeconds: round(chain.fillSeconds, 1),
        backupSeconds: round(chain.backupSeconds, 1),
        engineSteps: stepSeconds,
        handPhases: hand.phases,
        worker: 'in the bench process, SDK default limits',
        restoredServers: 'MariaDB defaults (innodb_buffer_pool_size 128 MiB), the backup-my.cnf of the chain',
      },
      figures,
    };
  } finally {
    await env?.teardown();
    await stopAll();
    delete process.env[PASSWORD_ENV];
  }
};
