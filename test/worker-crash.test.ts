/**
 * A worker process SIGKILLed in the middle of a recovery and started again: the recovery finishes,
 * and every side effect happened exactly once, counted where it happened (moto, and a SQLite
 * database the commands write to), not in the workflow.
 */
import { DescribeTableCommand, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { stageOrdersIncident } from '../demo/orders-incident';
import type { MotoServer } from '../toolchain/moto-server';
import { recoveryWorkflow } from '../workflows';
import { once, onCleanup } from './helpers/cleanup';
import { progressWhen } from './helpers/engine';
import { startDevServerEnv, startMoto } from './helpers/servers';

const ROOT = resolve(__dirname, '..');
const TASK_QUEUE = 'crash-test';

/** A command that counts its own executions in SQLite: one row per step, `runs` incremented each time. */
function recordEffect(db: string, step: string): string {
  const script = [
    'import sqlite3, sys',
    'c = sqlite3.connect(sys.argv[1])',
    'c.execute("CREATE TABLE IF NOT EXISTS effects (step TEXT PRIMARY KEY, runs INTEGER)")',
    'c.execute("INSERT INTO effects VALUES (?, 1) ON CONFLICT(step) DO UPDATE SET runs = runs + 1", (sys.argv[2],))',
    'c.commit()',
  ].join('\n');
  return `python3 -c '${script}' ${db} ${step}`;
}

function effects(db: string): Record<string, number> {
  const out = execFileSync('python3', [
    '-c',
    'import sqlite3,sys,json; print(json.dumps(dict(sqlite3.connect(sys.argv[1]).execute("SELECT step, runs FROM effects").fetchall())))',
    db,
  ]);
  return JSON.parse(out.toString()) as Record<string, number>;
}

describe('worker killed in the middle of a recovery (dev server, moto, SQLite)', () => {
  let env: TestWorkflowEnvironment;
  let moto: MotoServer;
  let aws: AwsClients;
  const scratch = mkdtempSync(join(tmpdir(), 'recovery-crash-'));
  const db = join(scratch, 'effects.db');

  before(async () => {
    [env, moto] = await Promise.all([startDevServerEnv(), startMoto()]);
    aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
  });
  after(async () => {
    await env?.teardown();
    await moto?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  /** Starts `npm run worker`'s entry point as its own process, configured only by the environment. */
  async function startWorkerProcess(): Promise<ChildProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
      cwd: ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_NAMESPACE: env.namespace ?? 'default',
        RECOVERY_TASK_QUEUE: TASK_QUEUE,
        AWS_ENDPOINT_URL: moto.endpoint,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const stop = once(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await new Promise((done) =>
        child.exitCode !== null || child.signalCode !== null ? done(undefined) : child.once('exit', done),
      );
    });
    onCleanup(stop);
    let output = '';
    await new Promise<void>((ready, fail) => {
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Recovery worker polling')) ready();
      });
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.once('exit', (code) => fail(new Error(`worker exited (${code}) before polling:\n${output}`)));
    });
    return child;
  }

  it('finishes the recovery after the worker is killed and restarted, with every side effect done once', async () => {
    const incident = await stageOrdersIncident(aws.dynamodb());
    let worker = await startWorkerProcess();
    const handle = await env.client.workflow.start(recoveryWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: 'crash-recovery',
      args: [
        {
          plan: {
            name: 'crash',
            components: [
              {
                id: 'orders-table',
                kind: 'dynamodb-table',
                tableName: 'orders',
                region: 'us-east-1',
                restoreFrom: 'backup',
                backupArn: incident.backupArn,
                targetTableName: 'orders-restored',
                cutover: 'none',
                backup: { schedules: [{ type: 'snapshot', cron: '0 3 * * *' }] },
              },
              { id: 'record-before', kind: 'command', run: recordEffect(db, 'before'), dependsOn: ['orders-table'] },
              { id: 'settle', kind: 'wait', duration: '8s', dependsOn: ['record-before'] },
              { id: 'record-after', kind: 'command', run: recordEffect(db, 'after'), dependsOn: ['settle'] },
            ],
          },
          scenario: 'full-restore',
        },
      ],
    });

    await progressWhen(handle, (p) => p.components.find((c) => c.id === 'settle')?.status === 'running', 60_000);
    worker.kill('SIGKILL');
    await new Promise((done) => worker.once('exit', done));
    assert.deepEqual(effects(db), { before: 1 }, 'the first half ran before the crash');

    worker = await startWorkerProcess();
    const report = await handle.result();
    worker.kill('SIGTERM');

    assert.equal(report.status, 'succeeded');
    assert.deepEqual(effects(db), { before: 1, after: 1 }, 'no command ran twice');
    const tables = (await aws.dynamodb().send(new ListTablesCommand({}))).TableNames ?? [];
    assert.deepEqual(tables.sort(), ['orders', 'orders-restored'], 'one restore, no leftovers');
    const restored = await aws.dynamodb().send(new DescribeTableCommand({ TableName: 'orders-restored' }));
    assert.equal(restored.Table?.RestoreSummary?.SourceBackupArn, incident.backupArn);
    assert.deepEqual(
      report.components.map((c) => [c.id, c.status, c.runs]),
      [
        ['orders-table', 'succeeded', 1],
        ['record-before', 'succeeded', 1],
        ['settle', 'succeeded', 1],
        ['record-after', 'succeeded', 1],
      ],
    );
  });
});
