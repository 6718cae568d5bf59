/**
 * A recovery of three AWS components (a DynamoDB table restored from a backup, a versioned S3
 * bucket rolled back to a point in time, an ECS service redeployed after both) through the engine
 * on the dev server, with AWS calls going through a fault-injecting proxy in front of moto: 10 % and
 * 30 % of calls throttled, failed with a 500, reset, answered into the void or delayed (and 50 %,
 * several seeds, with RELIABILITY_FULL=1). Each recovery must end in one of two ways: it completes,
 * and every side effect happened exactly once — counted in a ledger of the calls moto carried out,
 * not in the workflow — or it hands a step to the operator with a reason that names what failed. The
 * on-call (the test) retries what it is handed, as a person would once the region calms down. A
 * component reported done whose effect is missing, a duplicated effect, or a workflow that fails
 * instead of asking, fails the test. This file found two defects, fixed since: S3 writes repeated by
 * the SDK after a lost response, and retryable failures handed over without the call's name.
 */
import { DescribeTableCommand, ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../../activities/aws-clients';
import { stageOrdersIncident } from '../../demo/orders-incident';
import type { MotoServer } from '../../toolchain/moto-server';
import { recoveryWorkflow } from '../../workflows';
import { resolveUpdate } from '../../workflows/messages';
import { createEcsService, createVersionedBucket } from '../helpers/aws-fixtures';
import { engineWorker, progressWhen, testPlan } from '../helpers/engine';
import { startFaultProxy, type Fault } from '../helpers/fault-proxy';
import { assertHistoriesFreeOf } from '../helpers/history-secrets';
import { actAsOnCall } from '../helpers/on-call';
import { bundleWorkflows, startDevServerEnv, startMoto } from '../helpers/servers';
import { startAwsLedger, type AwsLedger } from './faults-aws-ledger';

const FULL = process.env.RELIABILITY_FULL === '1';
/** Fault rates and seeds: one run each. */
const RUNS: { rate: number; seed: number }[] = FULL
  ? [0.1, 0.3, 0.5].flatMap((rate) => [11, 23, 37].map((seed) => ({ rate, seed })))
  : [
      { rate: 0.1, seed: 11 },
      { rate: 0.3, seed: 23 },
    ];
const FAULTS: Fault[] = ['throttle', 'error500', 'drop', 'lose-response', 'latency'];

const BUCKET = 'shop-assets';
const KEYS = Array.from({ length: 30 }, (_, i) => `k${String(i).padStart(2, '0')}`);
const OVERWRITTEN = KEYS.slice(0, 20);
const DELETED = KEYS.slice(20, 25);
const ADDED = ['n0', 'n1', 'n2', 'n3', 'n4'];
const DYNAMODB = 'DynamoDB_20120810';
const ECS = 'AmazonEC2ContainerServiceV20141113';
/** The service redeployed after its data, to the task definition and count of the plan. */
const ORDERS_API = {
  id: 'orders-api',
  kind: 'ecs-service',
  cluster: 'prod',
  service: 'orders-api',
  region: 'us-east-1',
  taskDefinition: 'orders-api:2',
  desiredCount: 2,
};
/** What every reason handed to the operator must name: the resource of the call that failed. */
const RESOURCES = ['orders-restored', BUCKET, 'orders-api'];

describe(`AWS calls failing at ${RUNS.map((r) => `${r.rate * 100} %`).join(', ')} (dev server, moto behind a fault proxy)`, () => {
  let env: TestWorkflowEnvironment;
  let moto: MotoServer;
  let bundle: WorkflowBundleWithSourceMap;
  let direct: AwsClients;
  let ledger: AwsLedger;
  // Credentials of this file's own: the secret key signs every call, the session token travels in
  // each request's headers; neither may reach a workflow history, even in an error.
  const secrets = [`reliability-${randomBytes(16).toString('hex')}`, `token-${randomBytes(24).toString('hex')}`];

  before(async () => {
    [env, moto, bundle] = await Promise.all([
      startDevServerEnv(),
      startMoto({ MOTO_ECS_SERVICE_RUNNING: '1' }),
      bundleWorkflows(),
    ]);
    process.env.AWS_SECRET_ACCESS_KEY = secrets[0];
    process.env.AWS_SESSION_TOKEN = secrets[1];
    direct = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
    ledger = await startAwsLedger(moto.endpoint);
  });
  after(async () => {
    await ledger?.stop();
    await env?.teardown();
    await moto?.stop();
  });

  /**
   * The incident: the orders table emptied (a backup exists), the bucket's objects overwritten,
   * deleted and added to after the target time, the service running an old task definition.
   */
  async function stage() {
    await moto.reset();
    const incident = await stageOrdersIncident(direct.dynamodb());
    // 30 keys; after the target time 20 are overwritten, 5 deleted and 5 new ones written: 25 copies
    // and 5 deletes to undo, enough writes for lost responses to land on some of them.
    const before = Object.fromEntries(KEYS.map((key) => [key, `${key} v1`]));
    await createVersionedBucket(direct, BUCKET, before);
    await sleep(1_100); // S3 times have a resolution of one second
    const targetTime = new Date().toISOString();
    await sleep(1_100);
    const s3 = direct.s3();
    for (const key of OVERWRITTEN)
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `${key} broken` }));
    for (const key of DELETED) await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: key }));
    for (const key of ADDED)
      await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: `${key} written after` }));
    await createEcsService(direct);
    ledger.entries.splice(0); // the ledger counts the recovery's calls only
    return { incident, before, targetTime };
  }

  const plan = (backupArn: string) =>
    testPlan(
      [
        {
          id: 'orders-table',
          kind: 'dynamodb-table',
          tableName: 'orders',
          region: 'us-east-1',
          restoreFrom: 'backup',
          backupArn,
          targetTableName: 'orders-restored',
          cutover: 'none',
          backup: { schedules: [{ type: 'snapshot', cron: '0 3 * * *' }] },
        },
        { id: 'assets', kind: 's3-bucket', bucket: BUCKET, region: 'us-east-1' },
        { ...ORDERS_API, dependsOn: ['orders-table', 'assets'] },
      ],
      { name: 'aws-faults' },
    );

  /** What moto holds and what it did, against what the recovery should have done once. */
  async function assertDoneOnce(orders: number, before: Record<string, string>): Promise<void> {
    // DynamoDB: one restore carried out, into the target table, with every item.
    assert.equal(ledger.done(`${DYNAMODB}.RestoreTableFromBackup`).length, 1, 'one restore');
    const tables = (await direct.dynamodb().send(new ListTablesCommand({}))).TableNames ?? [];
    assert.deepEqual(tables.sort(), ['orders', 'orders-restored']);
    const restored = await direct.dynamodb().send(new DescribeTableCommand({ TableName: 'orders-restored' }));
    assert.equal(restored.Table?.TableStatus, 'ACTIVE');
    const { Count } = await direct.dynamodb().send(new ScanCommand({ TableName: 'orders-restored', Select: 'COUNT' }));
    assert.equal(Count, orders, 'every item is back');

    // ECS: one deployment, with the task definition and count of the plan.
    assert.equal(ledger.done(`${ECS}.UpdateService`).length, 1, 'one deployment');
    const { services = [] } = await direct
      .ecs()
      .send(new DescribeServicesCommand({ cluster: 'prod', services: ['orders-api'] }));
    assert.deepEqual([services[0]?.desiredCount, services[0]?.taskDefinition?.endsWith('orders-api:2')], [2, true]);

    // S3: each key as it was at the target time; each changed key written back, each new one deleted.
    const s3 = direct.s3();
    for (const [key, body] of Object.entries(before)) {
      const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
      assert.equal(await object.Body?.transformToString(), body, `${key} is as it was`);
    }
    for (const key of ADDED)
      await assert.rejects(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })), /NoSuchKey|does not exist/);
    const copies = ledger.done(/^PUT \/shop-assets\//).filter((e) => e.copySource);
    const deletes = ledger.done(/^DELETE \/shop-assets\//);
    const keyOf = (operation: string) => operation.split('/').pop()!;
    assert.deepEqual(
      [...new Set(copies.map((e) => keyOf(e.operation)))].sort(),
      [...OVERWRITTEN, ...DELETED],
      'each changed key copied back',
    );
    assert.deepEqual([...new Set(deletes.map((e) => keyOf(e.operation)))].sort(), ADDED, 'each new key deleted');
    // A repeat (a lost response followed by a blind retry) would leave one more version or marker.
    assert.equal(copies.length, OVERWRITTEN.length + DELETED.length, 'no copy carried out twice');
    assert.equal(deletes.length, ADDED.length, 'no delete carried out twice');
  }

  for (const { rate, seed } of RUNS) {
    it(`${rate * 100} % of calls failing (seed ${seed}): completes with each effect once, or asks naming the call`, async () => {
      const { incident, before, targetTime } = await stage();
      const proxy = await startFaultProxy(ledger.endpoint, { rate, faults: FAULTS, latencyMs: 300, seed });
      const name = `faults-${rate * 100}-${seed}`;
      const aws = createAwsClients({ endpoint: proxy.endpoint, region: 'us-east-1' });
      const worker = await engineWorker(env, bundle, name, aws);
      const { report, decisions } = await worker.runUntil(async () => {
        const handle = await env.client.workflow.start(recoveryWorkflow, {
          taskQueue: name,
          workflowId: name,
          args: [{ plan: plan(incident.backupArn), scenario: 'full-restore', targetTime }],
        });
        // A workflow that fails instead of asking rejects here, with its reason, and fails the test.
        return actAsOnCall(handle, [], { deadlineMs: 8 * 60_000 });
      });
      await proxy.stop();
      const summary = JSON.stringify(report.components.map((c) => [c.id, c.status, c.runs, c.lastError]));
      console.log(
        `${rate * 100} % seed ${seed}: ${proxy.stats.calls} calls, faults ${JSON.stringify(proxy.stats.faults)}; ` +
          `moto carried out ${ledger.entries.filter((e) => e.status < 300).length}; operator decisions: ${JSON.stringify(decisions)}`,
      );

      for (const decision of decisions) {
        const [, step, reason] = /^(\S+) retry: (.*)$/s.exec(decision) ?? [];
        assert.ok(step && reason && reason.length > 10, `a decision with a reason: ${decision}`);
        assert.ok(
          RESOURCES.some((r) => reason.includes(r)),
          `the reason handed to the operator names the failing call's resource: ${decision}`,
        );
      }
      assert.equal(report.status, 'succeeded', summary);
      assert.ok(
        report.components.every((c) => c.status === 'succeeded'),
        summary,
      );
      assert.ok(
        Object.values(proxy.stats.faults).reduce((a, b) => a + b, 0) > 0,
        `faults were injected: ${JSON.stringify(proxy.stats)}`,
      );
      await assertDoneOnce(incident.orders.length, before);
    });
  }

  it(
    'a call that keeps failing is handed to the operator; the retry once AWS answers completes, deploying once',
    { skip: !FULL && 'RELIABILITY_FULL=1 only: 75 s of activity retries on the dev server' },
    async () => {
      await stage();
      const proxy = await startFaultProxy(ledger.endpoint, { rate: 1, faults: ['error500'] });
      const name = 'faults-outage';
      const aws = createAwsClients({ endpoint: proxy.endpoint, region: 'us-east-1' });
      const worker = await engineWorker(env, bundle, name, aws);
      const ecsOnly = testPlan([ORDERS_API], { name: 'aws-outage' });
      const { report, decision } = await worker.runUntil(async () => {
        const handle = await env.client.workflow.start(recoveryWorkflow, {
          taskQueue: name,
          workflowId: name,
          args: [{ plan: ecsOnly, scenario: 'full-restore' }],
        });
        const stuck = await progressWhen(handle, (p) => p.pendingDecisions.length > 0, 4 * 60_000);
        proxy.set({ rate: 0, faults: [] }); // the region answers again
        await handle.executeUpdate(resolveUpdate, {
          args: [{ component: 'orders-api', action: 'retry', by: 'test-operator' }],
        });
        return { report: await handle.result(), decision: stuck.pendingDecisions[0]! };
      });
      await proxy.stop();
      console.log(`handed to the operator: ${JSON.stringify(decision)}`);
      assert.equal(decision.component, 'orders-api');
      assert.equal(decision.step, 'record-current');
      // The reason names the call and the service, not only what the SDK made of a 500's body.
      assert.match(decision.error, /^describe ECS service orders-api .*: HTTP 500 (\w+): /);
      const type = /HTTP 500 (\w+): /.exec(decision.error)![1]!;
      assert.equal(decision.error.split(`${type}: `).length, 2, `the error type is said once: ${decision.error}`);
      assert.doesNotMatch(decision.error, /hidden field/, 'no SDK hint the operator cannot follow');
      assert.equal(report.status, 'succeeded');
      assert.equal(ledger.done(`${ECS}.UpdateService`).length, 1, 'one deployment');
    },
  );

  it('no workflow history holds the AWS credentials', async () => {
    const scanned = await assertHistoriesFreeOf(env.client, secrets);
    assert.ok(scanned >= RUNS.length, `histories scanned: ${scanned}`);
  });
});
