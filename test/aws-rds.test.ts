/**
 * The rds-instance automation for real against moto (restore, wait, validate, renames, Multi-AZ),
 * then one recovery through the engine on the dev server. States moto cannot produce (an instance
 * that stays `creating`, access denied, throttling, replicated backups) are mocked, and say so.
 */
import {
  DBInstanceNotFoundFault,
  DescribeDBInstanceAutomatedBackupsCommand,
  DescribeDBInstancesCommand,
  ModifyDBInstanceCommand,
  RDSServiceException,
  RestoreDBInstanceToPointInTimeCommand,
  type DBInstance,
} from '@aws-sdk/client-rds';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { mockClient } from 'aws-sdk-client-mock';
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { createRdsActivities, RDS_TAGS, type RdsRestoreInput } from '../activities/rds';
import type { StepAutomation, StepContext } from '../plan/kinds/define';
import { rdsInstanceKind, schema as rdsSchema } from '../plan/kinds/rds-instance';
import type { MotoServer } from '../toolchain/moto-server';
import { recoveryWorkflow } from '../workflows';
import { runActivity } from './helpers/activity';
import { createRdsInstance } from './helpers/aws-fixtures';
import { engineWorker } from './helpers/engine';
import { bundleWorkflows, startDevServerEnv, startMoto } from './helpers/servers';
import { nonRetryable } from './helpers/assertions';

type Rds = ReturnType<typeof createRdsActivities>;

/** Expected failures are asserted, not logged. */
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** An activity environment whose workflow is the component run `<recovery>/orders-db/<run>`. */
const envOf = (recovery = 'rec-1', run = 1) =>
  new MockActivityEnvironment(
    {
      workflowExecution: { workflowId: `${recovery}/orders-db/${run}`, runId: '00000000-0000-0000-0000-000000000001' },
    },
    { logger: quiet },
  );

/** Runs an activity in a (quiet) activity context, as the worker would. */
const run = <I, R>(activity: (input: I) => Promise<R>, input: I, env = envOf()) => runActivity(activity, input, env);

const restoreInput: RdsRestoreInput = {
  sourceInstanceId: 'orders-prod',
  region: 'us-east-1',
  targetInstanceId: 'orders-prod-restored',
  targetTime: 'latest',
};
const source = { sourceInstanceId: 'orders-prod', region: 'us-east-1' };

describe('rds-instance activities (moto)', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let rds: Rds;

  before(async () => {
    moto = await startMoto();
    aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
    rds = createRdsActivities(aws, { pollIntervalMs: 20 });
  });
  after(() => moto?.stop());
  beforeEach(async () => {
    await moto.reset();
    await createSource(aws);
  });

  const instances = () => listInstances(aws);
  const instance = (id: string) => describeInstance(aws, id);
  const restore = (input: RdsRestoreInput = restoreInput, env = envOf()) =>
    run((i: RdsRestoreInput) => rds.restoreRdsInstanceToPointInTime(i), input, env);

  it('checks the source: latest restorable time reported; a missing source is named', async () => {
    const checked = await run((i) => rds.checkRdsRestoreSource(i), { ...source, targetTime: 'latest' });
    assert.equal(checked.status, 'available');
    assert.ok(checked.latestRestorableTime && Date.parse(checked.latestRestorableTime) <= Date.now());

    await assert.rejects(
      run((i) => rds.checkRdsRestoreSource(i), {
        ...source,
        sourceInstanceId: 'billing-prod',
        targetTime: 'latest',
      }),
      nonRetryable('SourceInstanceNotFound', 'billing-prod', 'us-east-1'),
    );
    // A time after the latest restorable one becomes restorable later: retryable.
    const inAnHour = new Date(Date.now() + 3600_000).toISOString();
    await assert.rejects(
      run((i) => rds.checkRdsRestoreSource(i), { ...source, targetTime: inAnHour }),
      (error) => {
        assert.ok(error instanceof ApplicationFailure && error.type === 'TargetTimeTooLate' && !error.nonRetryable);
        return true;
      },
    );
  });

  it('restores into a new tagged instance once, however often it runs', async () => {
    const first = await restore();
    const second = await restore();
    const third = await restore(restoreInput, envOf('rec-1', 2)); // an operator's retry is a new run of the same recovery

    assert.equal(first.restoredNow, true);
    assert.equal(second.restoredNow, false, 'the second run found the instance it restored');
    assert.equal(third.restoredNow, false);
    assert.deepEqual(await instances(), ['orders-prod', 'orders-prod-restored']);
    const tags = tagsOf(await instance('orders-prod-restored'));
    assert.equal(tags[RDS_TAGS.source], 'orders-prod');
    assert.equal(tags[RDS_TAGS.sourceRegion], 'us-east-1');
    assert.equal(tags[RDS_TAGS.recovery], 'rec-1/orders-db');
    assert.ok(Date.parse(tags[RDS_TAGS.restoreTime]!) <= Date.now(), 'the latest restorable time, read before');
    assert.equal(first.restoreTime, tags[RDS_TAGS.restoreTime]);
  });

  it('restores to the requested time, which becomes the recovery point', async () => {
    const targetTime = new Date(Date.now() - 10 * 60_000).toISOString();
    await restore({ ...restoreInput, targetTime });
    await run((i) => rds.waitForRdsInstanceAvailable(i), {
      instanceId: 'orders-prod-restored',
      region: 'us-east-1',
    });
    const validated = await run(
      (i) => rds.validateRdsInstance(i),
      { ...source, instanceId: 'orders-prod-restored' },
      envOf(),
    );
    assert.deepEqual(
      { ...validated, endpoint: validated.endpoint.replace(/\.[a-z0-9]+\.us-east-1\./, '.<id>.us-east-1.') },
      {
        instanceId: 'orders-prod-restored',
        status: 'available',
        endpoint: 'orders-prod-restored.<id>.us-east-1.rds.amazonaws.com:5432',
        engine: 'postgres',
        engineVersion: validated.engineVersion,
        instanceClass: 'db.t3.micro',
        multiAZ: false,
        restoredByThisRecovery: true,
        recoveryPoint: targetTime,
      },
    );
  });

  it('never touches an instance it did not restore, nor one another recovery left behind', async () => {
    await createRdsInstance(aws, 'orders-prod-restored');
    await assert.rejects(
      restore(),
      nonRetryable('TargetInstanceExists', 'orders-prod-restored', 'was not restored from orders-prod'),
    );
    assert.deepEqual(tagsOf(await instance('orders-prod-restored')), {}, 'left as it was');

    await moto.reset();
    await createSource(aws);
    await restore(restoreInput, envOf('rec-1'));
    await assert.rejects(
      restore(restoreInput, envOf('rec-2')),
      nonRetryable('TargetInstanceExists', 'orders-prod-restored', 'another recovery (rec-1/orders-db)'),
    );
  });

  it('stops at once, naming the source, when the source does not exist', async () => {
    await assert.rejects(
      restore({ ...restoreInput, sourceInstanceId: 'billing-prod', targetInstanceId: 'billing-prod-restored' }),
      nonRetryable('SourceInstanceNotFound', 'billing-prod', 'us-east-1'),
    );
    assert.deepEqual(await instances(), ['orders-prod']);
  });

  it('cuts over by renames, each step idempotent, the old instance kept aside', async () => {
    await restore();
    const renameAside = () =>
      run(
        (i) => rds.renameRdsInstanceAside(i),
        { ...source, asideInstanceId: 'orders-prod-before-restore', restoredInstanceId: 'orders-prod-restored' },
        envOf(),
      );
    const renameRestored = () =>
      run((i) => rds.renameRestoredRdsInstance(i), { ...source, restoredInstanceId: 'orders-prod-restored' }, envOf());

    assert.equal((await renameAside()).renamedNow, true);
    assert.equal((await renameAside()).renamedNow, false);
    assert.deepEqual(await instances(), ['orders-prod-before-restore', 'orders-prod-restored']);
    const renamed = await renameRestored();
    assert.equal(renamed.renamedNow, true);
    assert.match(renamed.endpoint ?? '', /^orders-prod\./, 'the old endpoint name');
    assert.equal((await renameRestored()).renamedNow, false);
    assert.equal((await renameAside()).renamedNow, false, 'the restored instance already holds the identifier');

    assert.deepEqual(await instances(), ['orders-prod', 'orders-prod-before-restore']);
    assert.equal(tagsOf(await instance('orders-prod'))[RDS_TAGS.recovery], 'rec-1/orders-db');
    assert.deepEqual(tagsOf(await instance('orders-prod-before-restore')), { team: 'shop' }, 'the old instance, aside');
  });

  it('never takes production out of service without a restored instance to replace it', async () => {
    await assert.rejects(
      run(
        (i) => rds.renameRdsInstanceAside(i),
        { ...source, asideInstanceId: 'orders-prod-before-restore', restoredInstanceId: 'orders-prod-restored' },
        envOf(),
      ),
      nonRetryable('RestoredInstanceNotReady', 'orders-prod-restored', 'does not exist'),
    );
    await assert.rejects(
      run((i) => rds.renameRestoredRdsInstance(i), { ...source, restoredInstanceId: 'orders-prod-restored' }, envOf()),
      nonRetryable('IdentifierTaken', 'orders-prod is still another instance'),
    );
    assert.deepEqual(await instances(), ['orders-prod']);
  });

  it('makes the restored instance Multi-AZ like its source, and modifies nothing else', async () => {
    await restore();
    await aws
      .rds()
      .send(
        new ModifyDBInstanceCommand({ DBInstanceIdentifier: 'orders-prod', MultiAZ: true, ApplyImmediately: true }),
      );
    const match = (instanceId: string) =>
      run((i) => rds.matchRdsMultiAz(i), { ...source, instanceId, referenceInstanceId: 'orders-prod' }, envOf());

    assert.equal((await match('orders-prod-restored')).changedNow, true);
    assert.equal((await match('orders-prod-restored')).changedNow, false);
    assert.equal((await instance('orders-prod-restored')).MultiAZ, true);
    await assert.rejects(
      match('orders-prod'),
      nonRetryable('NotRestoredByThisRecovery', 'refusing to modify orders-prod'),
    );
  });

  it('a drill restores orders-prod-drill and writes nothing to orders-prod', async () => {
    const before = await instance('orders-prod');
    const component = rdsSchema.parse({
      kind: 'rds-instance',
      id: 'orders-db',
      instanceId: 'orders-prod',
      region: 'us-east-1',
      cutover: 'rename',
    });
    const drill: StepContext = { mode: 'drill', targetTime: 'latest', drillSuffix: '-drill' };
    const steps = rdsInstanceKind.steps(component, drill);
    for (const step of steps) {
      const automation = step.automation as StepAutomation;
      assert.ok(automation && 'activity' in automation, `${step.id} is automated`);
      const activities = rds as unknown as Record<string, (input: unknown) => Promise<unknown>>;
      await run((input) => activities[automation.activity]!(input), automation.input, envOf('drill-1'));
    }
    assert.deepEqual(await instances(), ['orders-prod', 'orders-prod-drill']);
    // LatestRestorableTime moves on by itself; everything else must be as it was.
    const { LatestRestorableTime: _before, ...unchanged } = before;
    const { LatestRestorableTime: _after, ...now } = await instance('orders-prod');
    assert.deepEqual(now, unchanged, 'production unchanged');
  });
});

describe('rds-instance activities (mocked AWS)', () => {
  const aws = createAwsClients({ region: 'us-east-1' });
  const mocked = mockClient(aws.rds('us-east-1'));
  const rds = createRdsActivities(aws, { pollIntervalMs: 10 });
  afterEach(() => mocked.reset());
  after(() => mocked.restore());

  const withStatus = (status: string): { DBInstances: DBInstance[] } => ({
    DBInstances: [
      {
        DBInstanceIdentifier: 'orders-prod-restored',
        DBInstanceStatus: status,
        Endpoint: { Address: 'x', Port: 5432 },
      },
    ],
  });
  const notFound = () => new DBInstanceNotFoundFault({ message: 'DBInstance not found', $metadata: {} });

  it('(mocked: moto cannot keep an instance creating) heartbeats while it is creating, returns once available', async () => {
    mocked
      .on(DescribeDBInstancesCommand)
      .resolvesOnce(withStatus('creating'))
      .resolvesOnce(withStatus('creating'))
      .resolvesOnce(withStatus('backing-up'))
      .resolves(withStatus('available'));
    const env = envOf();
    const beats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => beats.push(details));
    const result = await run(
      (i) => rds.waitForRdsInstanceAvailable(i),
      { instanceId: 'orders-prod-restored', region: 'us-east-1' },
      env,
    );
    assert.equal(result.status, 'available');
    const statuses = beats.map((b) => (b as { status: string }).status);
    assert.deepEqual(
      statuses.filter((s) => s !== 'unknown'),
      ['creating', 'creating', 'backing-up'],
    );
  });

  it('(mocked: moto cannot keep an instance creating) stops waiting when cancelled', async () => {
    mocked.on(DescribeDBInstancesCommand).resolves(withStatus('creating'));
    const env = envOf();
    env.once('heartbeat', () => env.cancel());
    await assert.rejects(
      run((i) => rds.waitForRdsInstanceAvailable(i), { instanceId: 'orders-prod-restored', region: 'us-east-1' }, env),
      (error) => error instanceof CancelledFailure,
    );
  });

  it('(mocked: moto cannot fail a restore) an instance that will never be available stops the wait at once', async () => {
    mocked.on(DescribeDBInstancesCommand).resolves(withStatus('incompatible-restore'));
    await assert.rejects(
      run((i) => rds.waitForRdsInstanceAvailable(i), {
        instanceId: 'orders-prod-restored',
        region: 'us-east-1',
      }),
      nonRetryable('DBInstanceStuck', 'orders-prod-restored', 'incompatible-restore'),
    );
  });

  it('(mocked: moto cannot deny access) access denied names the resource and the IAM action', async () => {
    mocked
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-prod-restored' })
      .rejects(notFound())
      .on(DescribeDBInstancesCommand, { DBInstanceIdentifier: 'orders-prod' })
      .resolves({ DBInstances: [{ DBInstanceIdentifier: 'orders-prod', LatestRestorableTime: new Date() }] })
      .on(RestoreDBInstanceToPointInTimeCommand)
      .rejects(
        new RDSServiceException({
          name: 'AccessDenied',
          $fault: 'client',
          $metadata: {},
          message: 'User is not authorized to perform: rds:RestoreDBInstanceToPointInTime',
        }),
      );
    await assert.rejects(
      run((i) => rds.restoreRdsInstanceToPointInTime(i), restoreInput),
      nonRetryable(
        'AccessDenied',
        'orders-prod-restored',
        "the worker's role needs rds:RestoreDBInstanceToPointInTime",
      ),
    );
  });

  it('(mocked: moto cannot throttle) throttling is left to the retry policy, and the retry succeeds', async () => {
    mocked
      .on(DescribeDBInstancesCommand)
      .rejectsOnce(
        new RDSServiceException({ name: 'Throttling', $fault: 'client', $metadata: {}, message: 'Rate exceeded' }),
      )
      .resolves(withStatus('available'));
    const attempt = () =>
      run((i) => rds.waitForRdsInstanceAvailable(i), {
        instanceId: 'orders-prod-restored',
        region: 'us-east-1',
      });
    await assert.rejects(
      attempt(),
      (error) => !(error instanceof ApplicationFailure && error.nonRetryable) && /Rate exceeded/.test(String(error)),
    );
    assert.equal((await attempt()).status, 'available');
  });

  it('(mocked: moto cannot replicate automated backups across regions) restores the replicated backups by ARN', async () => {
    const west = mockClient(aws.rds('us-west-2'));
    try {
      const arn = 'arn:aws:rds:us-west-2:123456789012:auto-backup:ab-orders';
      const latest = new Date('2026-11-21T13:50:00Z');
      west
        .on(DescribeDBInstancesCommand)
        .rejects(notFound())
        .on(DescribeDBInstanceAutomatedBackupsCommand)
        .resolves({
          DBInstanceAutomatedBackups: [
            { DBInstanceIdentifier: 'billing-prod', DBInstanceAutomatedBackupsArn: 'arn:other' },
            {
              DBInstanceIdentifier: 'orders-prod',
              DBInstanceAutomatedBackupsArn: arn,
              RestoreWindow: { LatestTime: latest },
            },
          ],
        })
        .on(RestoreDBInstanceToPointInTimeCommand)
        .resolves({ DBInstance: { DBInstanceIdentifier: 'orders-prod-restored', DBInstanceStatus: 'creating' } });
      const input = { ...restoreInput, region: 'us-west-2', sourceRegion: 'us-east-1', subnetGroup: 'shop-dr-db' };
      const result = await run((i: RdsRestoreInput) => rds.restoreRdsInstanceToPointInTime(i), input, envOf());
      assert.equal(result.restoredNow, true);
      const [call] = west.commandCalls(RestoreDBInstanceToPointInTimeCommand);
      assert.deepEqual(call!.args[0].input, {
        SourceDBInstanceAutomatedBackupsArn: arn,
        DBSubnetGroupName: 'shop-dr-db',
        TargetDBInstanceIdentifier: 'orders-prod-restored',
        DBInstanceClass: undefined,
        UseLatestRestorableTime: true,
        Tags: [
          { Key: RDS_TAGS.source, Value: 'orders-prod' },
          { Key: RDS_TAGS.sourceRegion, Value: 'us-east-1' },
          { Key: RDS_TAGS.recovery, Value: 'rec-1/orders-db' },
          { Key: RDS_TAGS.restoreTime, Value: latest.toISOString() },
        ],
      });
    } finally {
      west.restore();
    }
  });
});

describe('rds-instance recovery through the engine (dev server + moto)', () => {
  let env: TestWorkflowEnvironment;
  let moto: MotoServer;
  let bundle: WorkflowBundleWithSourceMap;
  let aws: AwsClients;

  before(async () => {
    [env, moto, bundle] = await Promise.all([startDevServerEnv(), startMoto(), bundleWorkflows()]);
    aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
    await createSource(aws, { MultiAZ: true });
  });
  after(async () => {
    await env?.teardown();
    await moto?.stop();
  });

  it('restores, cuts over by renames and reports the recovery point', async () => {
    const worker = await engineWorker(env, bundle, 'rds', aws);
    const detectedAt = new Date().toISOString();
    const report = await worker.runUntil(
      env.client.workflow.execute(recoveryWorkflow, {
        taskQueue: 'rds',
        workflowId: 'rds-recovery',
        args: [
          {
            plan: {
              name: 'orders',
              components: [
                {
                  id: 'orders-db',
                  kind: 'rds-instance',
                  instanceId: 'orders-prod',
                  region: 'us-east-1',
                  cutover: 'rename',
                  approval: 'required',
                  backup: { schedules: [{ type: 'log', every: '5m' }] },
                },
              ],
            },
            scenario: 'full-restore',
            incident: { id: 'INC-1', detectedAt },
            approvals: { auto: true },
          },
        ],
      }),
    );

    assert.equal(report.status, 'succeeded');
    const db = report.components[0]!;
    assert.equal(db.status, 'succeeded');
    assert.deepEqual(
      db.steps.map((s) => [s.id, s.status]),
      ['check-source', 'restore', 'wait-available', 'validate', 'rename-old', 'rename-restored', 'multi-az'].map(
        (id) => [id, 'succeeded'],
      ),
    );
    assert.ok(db.recoveryPoint && Date.parse(db.recoveryPoint) <= Date.parse(detectedAt) + 60_000, db.recoveryPoint);
    assert.equal(typeof db.rpo?.achievedMinutes, 'number');

    assert.deepEqual(await listInstances(aws), ['orders-prod', 'orders-prod-before-restore']);
    const restored = await describeInstance(aws, 'orders-prod');
    assert.equal(
      tagsOf(restored)[RDS_TAGS.recovery],
      'rds-recovery/orders-db',
      'the restored instance holds the identifier',
    );
    assert.equal(tagsOf(restored)[RDS_TAGS.restoreTime], db.recoveryPoint);
    assert.equal(restored.MultiAZ, true);
    assert.deepEqual(tagsOf(await describeInstance(aws, 'orders-prod-before-restore')), { team: 'shop' });
  });
});

/** The production instance of the incident: PostgreSQL with automated backups kept 7 days. */
function createSource(aws: AwsClients, extra: { MultiAZ?: boolean } = {}) {
  return createRdsInstance(aws, 'orders-prod', [{ Key: 'team', Value: 'shop' }], extra);
}

async function listInstances(aws: AwsClients): Promise<string[]> {
  const { DBInstances = [] } = await aws.rds().send(new DescribeDBInstancesCommand({}));
  return DBInstances.map((i) => i.DBInstanceIdentifier!).sort();
}

async function describeInstance(aws: AwsClients, id: string): Promise<DBInstance> {
  const { DBInstances = [] } = await aws.rds().send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: id }));
  return DBInstances[0]!;
}

const tagsOf = (instance: DBInstance): Record<string, string | undefined> =>
  Object.fromEntries((instance.TagList ?? []).map((t) => [t.Key!, t.Value]));
