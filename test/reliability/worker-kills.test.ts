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
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { startDevServerEnv } from '../helpers/servers';
import {
  crashTest,
  moment,
  progressNow,
  readLedger,
  RELIABILITY_FULL,
  seededRandom,
  startWorkerProcess,
  untilLedgerAttempt,
  type WorkerProcess,
} from './crash-harness';

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
  const crash = crashTest('worker-kills', { steps: STEPS_PER_BRANCH, pause: PAUSE });
  const { ledgerFile, random } = crash;

  before(async () => {
    [env] = await Promise.all([startDevServerEnv(), crash.setUp()]);
  });
  after(async () => {
    await env?.teardown();
    await crash.tearDown();
  });

  const workerEnv = () => crash.workerEnv(env.address, env.namespace);

  it(`completes a recovery through ${KILLS} worker kills, every side effect done exactly once`, async () => {
    await crash.stage();
    let worker: WorkerProcess = await startWorkerProcess(workerEnv());
    const outputs: string[] = [];
    const handle = await crash.start(env.client);

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

    const report = await crash.approveAtGate(handle, 'after the kills');
    await worker.kill();
    outputs.push(worker.output());
    console.log(`# recovery done in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    // The runs a kill caused show in the ledger's attempts.
    const attempts = await crash.assertDoneOnce(report, outputs, env.client);
    for (const steps of interrupted)
      assert.ok(
        steps.some((step) => attempts[step]! >= 2),
        `a ledger command cut short by a kill (${steps.join(' or ')}) was run again`,
      );
  });
});
