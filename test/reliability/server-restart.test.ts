/**
 * The Temporal dev server, its state in SQLite on disk, SIGKILLed in the middle of a recovery and
 * started again on the same file and ports: the worker process (never restarted) reconnects, the
 * recovery resumes where the server's last write left it and succeeds, and every external side
 * effect happened exactly once (DynamoDB tables and S3 object versions in moto, a SQLite ledger).
 *
 *   npm run test:unit -- test/reliability/server-restart.test.ts         1 server kill
 *   RELIABILITY_FULL=1 … (npm run test:reliability)                      3 server kills
 *   RELIABILITY_SEED=<seed printed by a run> …                           the same kill moments
 */
import { Client, Connection } from '@temporalio/client';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../../activities/aws-clients';
import { stageOrdersIncident } from '../../demo/orders-incident';
import { startDevServer, type DevServer } from '../../toolchain/dev-server';
import type { MotoServer } from '../../toolchain/moto-server';
import { freePort, isPortFree } from '../../toolchain/net';
import { registerSearchAttributes } from '../../workers/search-attributes';
import { recoveryWorkflow } from '../../workflows';
import { approveUpdate } from '../../workflows/messages';
import { once, onCleanup } from '../helpers/cleanup';
import { progressWhen } from '../helpers/engine';
import { assertHistoriesFreeOf } from '../helpers/history-secrets';
import { bundleWorkflows, startMoto, testToolchain } from '../helpers/servers';
import {
  assertAwsEffectsOnce,
  crashPlan,
  createLedger,
  devServerPid,
  LEDGER_TOKEN_ENV,
  moment,
  newSecret,
  progressNow,
  readLedger,
  RELIABILITY_FULL,
  seededRandom,
  stageAssetsIncident,
  startWorkerProcess,
  type WorkerProcess,
} from './crash-harness';

const TASK_QUEUE = 'server-restart';
const SERVER_KILLS = RELIABILITY_FULL ? 3 : 1;
const STEPS_PER_BRANCH = 2 + 2 * SERVER_KILLS;
const PAUSE = '2s';
/** After the recovery's start (or the server's restart) and before the kill; then the server stays down for DOWN_MS. */
const KILL_AFTER_MS = [1_000, 6_000] as const;
const DOWN_MS = [500, 5_000] as const;

describe('Temporal dev server (SQLite on disk) SIGKILLed and restarted in the middle of a recovery', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let server: DevServer;
  let connection: Connection;
  let client: Client;
  let worker: WorkerProcess | undefined;
  const scratch = mkdtempSync(join(tmpdir(), 'recovery-server-restart-'));
  const dbFile = join(scratch, 'temporal.db');
  const ledgerFile = join(scratch, 'ledger.db');
  const bundleFile = join(scratch, 'workflow-bundle.js');
  const ports = { port: 0, uiPort: 0 };
  const awsSecret = newSecret('aws-secret');
  const ledgerToken = newSecret('ledger-token');
  const random = seededRandom('server-restart');

  /** The dev server on the same SQLite file and ports every time; stopped gracefully on cleanup. */
  async function startServer(): Promise<DevServer> {
    const { temporalCli } = await testToolchain();
    // A killed server's ports are free once the kernel has closed its sockets.
    for (let i = 0; i < 100 && !((await isPortFree(ports.port)) && (await isPortFree(ports.uiPort))); i++)
      await sleep(100);
    const started = await startDevServer(temporalCli, { ...ports, dbFile, logFile: join(scratch, 'temporal.log') });
    const stop = once(() => started.stop());
    onCleanup(stop);
    return { ...started, stop };
  }

  before(async () => {
    let bundle: Awaited<ReturnType<typeof bundleWorkflows>>;
    [ports.port, ports.uiPort] = [await freePort(), await freePort()];
    [server, moto, bundle] = await Promise.all([startServer(), startMoto(), bundleWorkflows()]);
    writeFileSync(bundleFile, bundle.code);
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection, namespace: 'default' });
    await registerSearchAttributes(connection, 'default');
    aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
    createLedger(ledgerFile, ledgerToken);
  });
  after(async () => {
    await worker?.kill();
    await connection?.close();
    await server?.stop();
    await moto?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it(`resumes a recovery after ${SERVER_KILLS} server kill(s), every side effect done exactly once`, async () => {
    const orders = await stageOrdersIncident(aws.dynamodb());
    const assets = await stageAssetsIncident(aws.s3(), 'restart-assets');
    const { plan, ledgerSteps, gate } = crashPlan({
      name: 'server-restart',
      ledgerFile,
      orders,
      assets,
      branches: { x: 'orders-table', y: 'assets' },
      steps: STEPS_PER_BRANCH,
      pause: PAUSE,
    });
    const runningWorker = await startWorkerProcess({
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_CONFIG_FILE: join(scratch, 'no-temporal.toml'),
      RECOVERY_TASK_QUEUE: TASK_QUEUE,
      RECOVERY_WORKFLOW_BUNDLE: bundleFile,
      RECOVERY_REPORTS_DIR: join(scratch, 'reports'),
      AWS_ENDPOINT_URL: moto.endpoint,
      AWS_SECRET_ACCESS_KEY: awsSecret,
      [LEDGER_TOKEN_ENV]: ledgerToken,
    });
    worker = runningWorker;
    const handle = await client.workflow.start(recoveryWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: 'server-restart',
      args: [{ plan, scenario: 'full-restore', targetTime: assets.targetTime }],
    });

    const started = Date.now();
    const kills: string[] = [];
    for (let kill = 1; kill <= SERVER_KILLS; kill++) {
      await sleep(random.between(...KILL_AFTER_MS));
      const progress = await progressNow(handle);
      process.kill(devServerPid(dbFile), 'SIGKILL');
      const at = (Date.now() - started) / 1000;
      const down = random.between(...DOWN_MS);
      await sleep(down);
      const { effects } = readLedger(ledgerFile);
      for (const [step, count] of Object.entries(effects))
        assert.equal(count, 1, `ledger step ${step} happened ${count} times by server kill ${kill}`);
      server = await startServer();
      kills.push(`server kill ${kill} at +${at.toFixed(1)} s, down ${(down / 1000).toFixed(1)} s: ${moment(progress)}`);
    }
    console.log(`# ${kills.join('\n# ')}`);

    const atGate = await progressWhen(
      handle,
      (p) => p.pendingDecisions.length > 0 || p.gates.some((g) => g.gate === gate && g.status === 'waiting'),
      10 * 60_000,
    );
    assert.deepEqual(atGate.pendingDecisions, [], 'no step ran out of retries');
    await handle.executeUpdate(approveUpdate, { args: [{ gate, by: 'sre', comment: 'after the restarts' }] });
    const report = await handle.result();
    console.log(`# recovery done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(runningWorker.child.exitCode, null, 'the same worker process carried the recovery through');
    assert.equal(runningWorker.child.signalCode, null);
    await runningWorker.kill();
    const output = runningWorker.output();

    assert.equal(report.status, 'succeeded');
    assert.deepEqual(
      report.components.filter((c) => c.status !== 'succeeded' || c.runs !== 1).map((c) => [c.id, c.status, c.runs]),
      [],
      'every component succeeded in one run: no operator was needed',
    );
    const { effects, attempts } = readLedger(ledgerFile);
    assert.deepEqual(effects, Object.fromEntries(ledgerSteps.map((s) => [s, 1])), 'every ledger effect exactly once');
    const reruns = Object.entries(attempts).filter(([, n]) => n > 1);
    console.log(`# commands run again: ${reruns.map(([s, n]) => `${s} ×${n}`).join(', ') || 'none'}`);
    await assertAwsEffectsOnce(aws, orders, assets);

    assert.ok(!output.includes(awsSecret) && !output.includes(ledgerToken), 'no secret in the worker output');
    const scanned = await assertHistoriesFreeOf(client, [awsSecret, ledgerToken]);
    assert.ok(scanned > 2 * STEPS_PER_BRANCH, `every history scanned (${scanned})`);
  });
});
