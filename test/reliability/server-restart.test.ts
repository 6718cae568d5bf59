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
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startDevServer, type DevServer } from '../../toolchain/dev-server';
import { freePort, isPortFree } from '../../toolchain/net';
import { registerSearchAttributes } from '../../workers/search-attributes';
import { once, onCleanup } from '../helpers/cleanup';
import { testToolchain } from '../helpers/servers';
import {
  crashTest,
  devServerPid,
  moment,
  progressNow,
  readLedger,
  RELIABILITY_FULL,
  startWorkerProcess,
  type WorkerProcess,
} from './crash-harness';

const SERVER_KILLS = RELIABILITY_FULL ? 3 : 1;
const PAUSE = '2s';
/** After the recovery's start (or the server's restart) and before the kill; then the server stays down for DOWN_MS. */
const KILL_AFTER_MS = [1_000, 6_000] as const;
const DOWN_MS = [500, 5_000] as const;

describe('Temporal dev server (SQLite on disk) SIGKILLed and restarted in the middle of a recovery', () => {
  let server: DevServer;
  let connection: Connection;
  let client: Client;
  let worker: WorkerProcess | undefined;
  const crash = crashTest('server-restart', { steps: 2 + 2 * SERVER_KILLS, pause: PAUSE });
  const { scratch, ledgerFile, random } = crash;
  const dbFile = join(scratch, 'temporal.db');
  const ports = { port: 0, uiPort: 0 };

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
    [ports.port, ports.uiPort] = [await freePort(), await freePort()];
    [server] = await Promise.all([startServer(), crash.setUp()]);
    connection = await Connection.connect({ address: server.address });
    client = new Client({ connection, namespace: 'default' });
    await registerSearchAttributes(connection, 'default');
  });
  after(async () => {
    await worker?.kill();
    await connection?.close();
    await server?.stop();
    await crash.tearDown();
  });

  it(`resumes a recovery after ${SERVER_KILLS} server kill(s), every side effect done exactly once`, async () => {
    await crash.stage();
    const runningWorker = await startWorkerProcess(crash.workerEnv(server.address));
    worker = runningWorker;
    const handle = await crash.start(client);

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

    const report = await crash.approveAtGate(handle, 'after the restarts');
    console.log(`# recovery done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(runningWorker.child.exitCode, null, 'the same worker process carried the recovery through');
    assert.equal(runningWorker.child.signalCode, null);
    await runningWorker.kill();
    await crash.assertDoneOnce(report, [runningWorker.output()], client);
  });
});
