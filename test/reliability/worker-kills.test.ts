/**
 * The real worker process SIGKILLed at random moments of a recovery, again and again, and started
 * again each time: the recovery completes, and every external side effect happened exactly once,
 * counted where it happened (DynamoDB tables and S3 object versions in moto, rows of a SQLite
 * ledger the plan's commands write to). A kill in the middle of an activity costs its heartbeat
 * timeout (1 min for commands, 2 min for restores) before the retry: that is the engine's design,
 * and why the CI size is small.
 *
 *   npm run test:unit -- test/reliability/worker-kills.test.ts           3 kills
 *   RELIABILITY_FULL=1 … (npm run test:reliability)                      10 kills
 *   RELIABILITY_SEED=<seed printed by a run> …                           the same kill moments
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../../activities/aws-clients';
import { stageOrdersIncident } from '../../demo/orders-incident';
import type { MotoServer } from '../../toolchain/moto-server';
import { recoveryWorkflow } from '../../workflows';
import { approveUpdate } from '../../workflows/messages';
import { progressWhen } from '../helpers/engine';
import { assertHistoriesFreeOf } from '../helpers/history-secrets';
import { bundleWorkflows, startDevServerEnv, startMoto } from '../helpers/servers';
import {
  assertAwsEffectsOnce,
  crashPlan,
  createLedger,
  LEDGER_TOKEN_ENV,
  moment,
  newSecret,
  progressNow,
  untilLedgerAttempt,
  readLedger,
  RELIABILITY_FULL,
  seededRandom,
  stageAssetsIncident,
  startWorkerProcess,
  type WorkerProcess,
} from './crash-harness';

const TASK_QUEUE = 'worker-kills';
const KILLS = RELIABILITY_FULL ? 10 : 3;
/** Enough steps that the recovery is still at work when the last kill comes. */
const STEPS_PER_BRANCH = KILLS + 2;
const PAUSE = RELIABILITY_FULL ? '4s' : '2s';
/** Between a worker's start (or the recovery's) and an `anytime` kill. */
const KILL_AFTER_MS = [300, 6_000] as const;
const AT_START_MS = [300, 1_500] as const;

/**
 * The kills, in a random order: most at any moment (which mostly finds the worker between activities,
 * as they are short), some as soon as a ledger command has done its effect (seen in the ledger),
 * before its completion reaches the server, and in the full run the first right after the start, when the
 * restores run. A kill in an activity costs its heartbeat timeout, so their number is fixed: 1 in CI.
 */
type KillMoment = 'anytime' | 'at-start' | 'in-command';
function killMoments(random: ReturnType<typeof seededRandom>): KillMoment[] {
  const inActivity: KillMoment[] = RELIABILITY_FULL ? ['in-command', 'in-command', 'in-command'] : ['in-command'];
  const moments: KillMoment[] = Array.from(
    { length: KILLS - inActivity.length - (RELIABILITY_FULL ? 1 : 0) },
    () => 'anytime',
  );
  for (const kill of inActivity) moments.splice(Math.floor(random.next() * (moments.length + 1)), 0, kill);
  // The restores run first, once: only the first kill can find them.
  return RELIABILITY_FULL ? ['at-start', ...moments] : moments;
}

describe('worker SIGKILLed at random moments of a recovery (dev server, moto, SQLite)', () => {
  let env: TestWorkflowEnvironment;
  let moto: MotoServer;
  let aws: AwsClients;
  const scratch = mkdtempSync(join(tmpdir(), 'recovery-worker-kills-'));
  const ledgerFile = join(scratch, 'ledger.db');
  const bundleFile = join(scratch, 'workflow-bundle.js');
  // Both reach the worker through its environment only: the AWS key signs every AWS call of the
  // recovery, the token opens the ledger.
  const awsSecret = newSecret('aws-secret');
  const ledgerToken = newSecret('ledger-token');
  const random = seededRandom('worker-kills');

  before(async () => {
    let bundle: Awaited<ReturnType<typeof bundleWorkflows>>;
    [env, moto, bundle] = await Promise.all([startDevServerEnv(), startMoto(), bundleWorkflows()]);
    writeFileSync(bundleFile, bundle.code);
    aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
    createLedger(ledgerFile, ledgerToken);
  });
  after(async () => {
    await env?.teardown();
    await moto?.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  const workerEnv = (): NodeJS.ProcessEnv => ({
    TEMPORAL_ADDRESS: env.address,
    TEMPORAL_NAMESPACE: env.namespace ?? 'default',
    TEMPORAL_CONFIG_FILE: join(scratch, 'no-temporal.toml'),
    RECOVERY_TASK_QUEUE: TASK_QUEUE,
    RECOVERY_WORKFLOW_BUNDLE: bundleFile,
    RECOVERY_REPORTS_DIR: join(scratch, 'reports'),
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_SECRET_ACCESS_KEY: awsSecret,
    [LEDGER_TOKEN_ENV]: ledgerToken,
  });

  it(`completes a recovery through ${KILLS} worker kills, every side effect done exactly once`, async () => {
    const orders = await stageOrdersIncident(aws.dynamodb());
    const assets = await stageAssetsIncident(aws.s3(), 'crash-assets');

    const { plan, ledgerSteps, gate } = crashPlan({
      name: 'worker-kills',
      ledgerFile,
      orders,
      assets,
      branches: { x: 'orders-table', y: 'assets' },
      steps: STEPS_PER_BRANCH,
      pause: PAUSE,
    });
    let worker: WorkerProcess = await startWorkerProcess(workerEnv());
    const outputs: string[] = [];
    const handle = await env.client.workflow.start(recoveryWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: 'worker-kills',
      args: [
        {
          plan,
          scenario: 'full-restore',
          targetTime: assets.targetTime,
        },
      ],
    });

    const started = Date.now();
    const kills: string[] = [];
    const plannedKills = killMoments(random);
    /** Per in-command kill, the ledger steps whose command it found after the effect: one at least must run again. */
    const interrupted: string[][] = [];
    for (const [i, planned] of plannedKills.entries()) {
      let what: string;
      if (planned === 'in-command') {
        const attempts = Object.values(readLedger(ledgerFile).attempts).reduce((a, b) => a + b, 0);
        // Another command each time: the same one cut short again and again would run out of retries.
        const running = await untilLedgerAttempt(ledgerFile, attempts, interrupted.flat());
        // Well within the two seconds a ledger command takes after its effect, even on a loaded machine.
        await sleep(random.between(0, 600));
        what = running ? `ledger ${running.join(', ')} done, its command still running` : 'no command ran';
        if (running) interrupted.push(running);
      } else {
        // The restores start within a second or so of the recovery, and take about as long in moto.
        const [min, max] = planned === 'at-start' ? AT_START_MS : KILL_AFTER_MS;
        await sleep(random.between(min, max));
        what = moment(await progressNow(handle, 500));
      }
      await worker.kill();
      outputs.push(worker.output());
      kills.push(`kill ${i + 1} (${planned}) at +${((Date.now() - started) / 1000).toFixed(1)} s: ${what}`);
      const { effects } = readLedger(ledgerFile);
      for (const [step, count] of Object.entries(effects))
        assert.equal(count, 1, `ledger step ${step} happened ${count} times by kill ${i + 1}`);
      worker = await startWorkerProcess(workerEnv());
    }
    console.log(`# ${kills.join('\n# ')}`);

    // Restores and commands cut short by a kill are retried after their heartbeat timeout.
    const atGate = await progressWhen(
      handle,
      (p) => p.pendingDecisions.length > 0 || p.gates.some((g) => g.gate === gate && g.status === 'waiting'),
      10 * 60_000,
    );
    assert.deepEqual(atGate.pendingDecisions, [], 'no step ran out of retries');
    await handle.executeUpdate(approveUpdate, { args: [{ gate, by: 'sre', comment: 'after the kills' }] });
    const report = await handle.result();
    await worker.kill();
    outputs.push(worker.output());
    console.log(`# recovery done in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    assert.equal(report.status, 'succeeded');
    assert.deepEqual(
      report.components.filter((c) => c.status !== 'succeeded' || c.runs !== 1).map((c) => [c.id, c.status, c.runs]),
      [],
      'every component succeeded in one run: no operator was needed',
    );

    // The ledger: each effect once; the runs a kill caused show in the attempts.
    const { effects, attempts } = readLedger(ledgerFile);
    assert.deepEqual(effects, Object.fromEntries(ledgerSteps.map((s) => [s, 1])), 'every ledger effect exactly once');
    for (const steps of interrupted)
      assert.ok(
        steps.some((step) => attempts[step]! >= 2),
        `a ledger command cut short by a kill (${steps.join(' or ')}) was run again`,
      );
    const reruns = Object.entries(attempts).filter(([, n]) => n > 1);
    console.log(`# commands run again after a kill: ${reruns.map(([s, n]) => `${s} ×${n}`).join(', ') || 'none'}`);

    await assertAwsEffectsOnce(aws, orders, assets);

    for (const output of outputs)
      assert.ok(!output.includes(awsSecret) && !output.includes(ledgerToken), 'no secret in the worker output');
    const scanned = await assertHistoriesFreeOf(env.client, [awsSecret, ledgerToken]);
    assert.ok(scanned > 2 * STEPS_PER_BRANCH, `every history scanned (${scanned})`);
  });
});
