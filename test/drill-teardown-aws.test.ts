/**
 * Drills of the AWS kinds against moto, as the engine runs them: the drill steps' activities in
 * order, then the kind's teardown; then moto is listed: nothing drill-named is left and production is
 * as it was. The teardown runs again (nothing there: it succeeds), and a drill that stops right after
 * its restore or create (as if validation failed) is torn down as completely. Kinds whose drills only
 * read (Auto Scaling, Route 53, generic kinds) are checked to write nothing and need no teardown.
 */
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { ListStacksCommand } from '@aws-sdk/client-cloudformation';
import {
  DeleteTableCommand,
  DescribeTableCommand,
  ListTablesCommand,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { CreateServiceCommand, DescribeServicesCommand, ListServicesCommand } from '@aws-sdk/client-ecs';
import {
  DBInstanceNotFoundFault,
  DeleteDBInstanceCommand,
  DescribeDBInstancesCommand,
  InvalidDBInstanceStateFault,
} from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import {
  DeleteObjectCommand,
  ListBucketsCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { mockClient } from 'aws-sdk-client-mock';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { createAutoScalingActivities } from '../activities/autoscaling';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { createCloudFormationActivities } from '../activities/cloudformation';
import { createDynamoDbPitrActivities } from '../activities/dynamodb-pitr';
import { createDynamoDbRestoreActivities } from '../activities/dynamodb-restore';
import { createEcsActivities } from '../activities/ecs';
import { createRdsActivities, RDS_TAGS } from '../activities/rds';
import { createRoute53Activities } from '../activities/route53';
import { createS3RestoreActivities } from '../activities/s3-restore';
import { overlaps } from '../plan/drill-guard';
import {
  componentSchema,
  productionResourcesOf,
  runbookOf,
  teardownOf,
  type Component,
  type RunbookStep,
  type StepContext,
} from '../plan/kinds';
import type { MotoServer } from '../toolchain/moto-server';
import { runActivity } from './helpers/activity';
import {
  createAutoScalingGroup,
  createEcsService,
  createFailoverRecords,
  createPitrTable,
  createRdsInstance,
  createStack,
  createVersionedBucket,
} from './helpers/aws-fixtures';
import { nonRetryable } from './helpers/assertions';
import { startMoto } from './helpers/servers';

const REGION = 'us-east-1';
const drill: StepContext = { mode: 'drill', targetTime: 'latest', drillSuffix: '-drill' };

/** Expected failures are asserted, not logged. */
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const envOf = (component: string) =>
  new MockActivityEnvironment(
    {
      workflowExecution: {
        workflowId: `drill-1/${component}/1`,
        runId: '00000000-0000-0000-0000-000000000001',
      },
    },
    { logger: quiet },
  );

const parse = (component: Record<string, unknown>) => componentSchema.parse(component);

const COMPONENTS = {
  rds: parse({ kind: 'rds-instance', id: 'orders-db', instanceId: 'orders-prod', region: REGION }),
  dynamodb: parse({ kind: 'dynamodb-table', id: 'sessions', tableName: 'sessions', region: REGION }),
  s3: parse({ kind: 's3-bucket', id: 'assets', bucket: 'shop-assets', region: REGION }),
  ecs: parse({ kind: 'ecs-service', id: 'api', cluster: 'prod', service: 'orders-api', region: REGION }),
  cloudformation: parse({
    kind: 'cloudformation-stack',
    id: 'network',
    stackName: 'shop-network',
    region: REGION,
    parameters: { Environment: 'drill' },
  }),
  autoscaling: parse({
    kind: 'autoscaling-group',
    id: 'web',
    groupName: 'shop-web',
    region: REGION,
    desiredCapacity: 3,
  }),
};

const automationOf = (step: RunbookStep) =>
  step.automation && 'activity' in step.automation ? step.automation : undefined;

describe('drills of the AWS kinds: teardown leaves nothing (moto)', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let activities: Record<string, (input: unknown) => Promise<unknown>>;

  before(async () => {
    // ECS services run as many tasks as moto is told: the drill copy (one task) becomes stable.
    moto = await startMoto({ MOTO_ECS_SERVICE_RUNNING: '1' });
    aws = createAwsClients({ endpoint: moto.endpoint, region: REGION });
    const fast = { pollIntervalMs: 20 };
    activities = {
      ...createRdsActivities(aws, fast),
      ...createDynamoDbRestoreActivities(aws),
      ...createDynamoDbPitrActivities(aws, fast),
      ...createS3RestoreActivities(aws),
      ...createEcsActivities(aws, fast),
      ...createCloudFormationActivities(aws, fast),
      ...createAutoScalingActivities(aws, { pollIntervalMs: 20, maxWaitMs: 2_000 }),
      ...createRoute53Activities(aws, { pollIntervalMs: 10 }),
    } as unknown as typeof activities;
  });
  after(() => moto?.stop());
  beforeEach(async () => {
    await moto.reset();
    await Promise.all([
      createRdsInstance(aws, 'orders-prod'),
      createPitrTable(aws, 'sessions', 12),
      createVersionedBucket(aws, 'shop-assets', { 'logo.png': 'logo v1', 'css/site.css': 'body {}' }),
      createEcsService(aws),
      createStack(aws, 'shop-network'),
    ]);
    await aws.s3().send(new PutObjectCommand({ Bucket: 'shop-assets', Key: 'logo.png', Body: 'logo v2' }));
  });

  /** Runs one step's activity as the engine would; its declared writes must be drill resources. */
  async function runStep(component: Component, step: RunbookStep) {
    const automation = automationOf(step);
    if (!automation) return undefined;
    assert.ok(Array.isArray(automation.writes), `${component.id}/${step.id} declares what it writes`);
    for (const written of automation.writes)
      for (const production of productionResourcesOf(component))
        assert.ok(!overlaps(written, production), `${component.id}/${step.id} writes ${written}, production`);
    return runActivity((input) => activities[automation.activity]!(input), automation.input, envOf(component.id));
  }

  /** The drill's steps in order, up to and including `stopAfter` (as if the next one failed). */
  async function runDrill(component: Component, stopAfter?: string) {
    for (const step of runbookOf(component, drill)) {
      await runStep(component, step);
      if (step.id === stopAfter) return;
    }
  }

  async function runTeardown(component: Component) {
    const steps = teardownOf(component, drill);
    assert.ok(steps.length > 0, `${component.id} has a teardown`);
    return Promise.all(steps.map((step) => runStep(component, step)));
  }

  /** Everything in moto, by service, for the before/after comparisons. */
  async function inventory() {
    const instances = (await aws.rds().send(new DescribeDBInstancesCommand({}))).DBInstances ?? [];
    const tables = (await aws.dynamodb().send(new ListTablesCommand({}))).TableNames ?? [];
    const buckets = (await aws.s3().send(new ListBucketsCommand({}))).Buckets ?? [];
    const serviceArns = (await aws.ecs().send(new ListServicesCommand({ cluster: 'prod' }))).serviceArns ?? [];
    const services = serviceArns.length
      ? ((await aws.ecs().send(new DescribeServicesCommand({ cluster: 'prod', services: serviceArns }))).services ?? [])
      : [];
    const stacks = (await aws.cloudformation().send(new ListStacksCommand({}))).StackSummaries ?? [];
    return {
      rds: instances.map((i) => `${i.DBInstanceIdentifier} ${i.DBInstanceStatus}`).sort(),
      dynamodb: [...tables].sort(),
      s3: buckets.map((b) => b.Name!).sort(),
      ecs: services
        .filter((s) => s.status !== 'INACTIVE')
        .map((s) => `${s.serviceName} ${s.status} ${s.taskDefinition?.split('/').pop()} ${s.desiredCount}`)
        .sort(),
      cloudformation: stacks
        .filter((s) => s.StackStatus !== 'DELETE_COMPLETE')
        .map((s) => `${s.StackName} ${s.StackStatus}`)
        .sort(),
    };
  }

  const versionsOf = async (bucket: string) => {
    const listed = await aws.s3().send(new ListObjectVersionsCommand({ Bucket: bucket }));
    return [...(listed.Versions ?? []), ...(listed.DeleteMarkers ?? [])].map((v) => `${v.Key} ${v.VersionId}`).sort();
  };

  /** What a drill must leave exactly as it found it: the production listing and the source's object versions. */
  const production = async () => ({ ...(await inventory()), versions: await versionsOf('shop-assets') });

  const drillNamed = (listing: Awaited<ReturnType<typeof inventory>>) =>
    Object.values(listing)
      .flat()
      .filter((entry) => /-drill\b/.test(entry));

  const CREATED_BY = {
    rds: 'restore',
    dynamodb: 'restore',
    s3: 'copy',
    ecs: 'create-drill-service',
    cloudformation: 'deploy',
  };

  for (const [name, creates] of Object.entries(CREATED_BY) as [keyof typeof CREATED_BY, string][]) {
    describe(name, () => {
      const component = COMPONENTS[name];

      it('a full drill, then its teardown: nothing drill-named left, production untouched; a second teardown succeeds', async () => {
        const before = await production();
        await runDrill(component);
        const during = await inventory();
        assert.equal(drillNamed(during).length, 1, `the drill created one copy: ${JSON.stringify(during)}`);

        const [torn] = (await runTeardown(component)) as { deletedNow: boolean }[];
        assert.equal(torn!.deletedNow, true);
        assert.deepEqual(drillNamed(await inventory()), []);
        assert.deepEqual(await production(), before);

        const [again] = (await runTeardown(component)) as { deletedNow: boolean }[];
        assert.equal(again!.deletedNow, false, 'nothing left to delete');
        assert.deepEqual(await production(), before);
      });

      it(`a drill that stops after ${creates} (validation failed) is torn down as completely`, async () => {
        const before = await production();
        await runDrill(component, creates);
        if (name === 's3') {
          // Whatever else happened to the drill bucket meanwhile: another version, a delete marker.
          await aws.s3().send(new PutObjectCommand({ Bucket: 'shop-assets-drill', Key: 'extra.txt', Body: 'x' }));
          await aws.s3().send(new DeleteObjectCommand({ Bucket: 'shop-assets-drill', Key: 'logo.png' }));
        }
        assert.equal(drillNamed(await inventory()).length, 1);
        await runTeardown(component);
        assert.deepEqual(drillNamed(await inventory()), []);
        assert.deepEqual(await production(), before);
      });

      it('a drill that failed before creating anything: the teardown succeeds with nothing to do', async () => {
        const before = await production();
        const results = (await runTeardown(component)) as { deletedNow: boolean }[];
        assert.deepEqual(
          results.map((r) => r.deletedNow),
          [false],
        );
        assert.deepEqual(await production(), before);
      });
    });
  }

  it('teardown steps name the resource and its region, give the manual command, write only the drill copy', () => {
    for (const [name, component] of Object.entries(COMPONENTS)) {
      for (const step of teardownOf(component, drill)) {
        assert.match(step.title, /-drill\b.* in us-east-1$/, `${name}: ${step.title}`);
        assert.match(step.command, /^aws /m, `${name}: ${step.command}`);
        assert.ok(step.command.includes('-drill'), `${name}: ${step.command}`);
        const automation = automationOf(step)!;
        assert.ok(automation.writes!.length > 0 && automation.writes!.every((w) => w.includes('-drill')));
      }
    }
  });

  it('a teardown refuses to delete a service of the drill name that no drill created: it stays ACTIVE', async () => {
    await aws.ecs().send(
      new CreateServiceCommand({
        cluster: 'prod',
        serviceName: 'orders-api-drill',
        taskDefinition: 'orders-api:1',
        desiredCount: 1,
        launchType: 'EC2',
      }),
    );
    await assert.rejects(
      runTeardown(COMPONENTS.ecs),
      nonRetryable('NotADrillService', 'orders-api-drill', 'orders-api', 'prod'),
    );
    const { services } = await aws
      .ecs()
      .send(new DescribeServicesCommand({ cluster: 'prod', services: ['orders-api-drill'] }));
    assert.equal(services![0]!.status, 'ACTIVE');
  });

  it('autoscaling-group: the drill only reads, the group keeps its capacity, nothing to tear down', async () => {
    await createAutoScalingGroup(aws, 'shop-web', 1);
    const group = async () =>
      (await aws.autoscaling().send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['shop-web'] })))
        .AutoScalingGroups![0]!;
    const before = await group();
    for (const step of runbookOf(COMPONENTS.autoscaling, drill)) {
      assert.deepEqual(automationOf(step)?.writes, [], step.id);
      await runStep(COMPONENTS.autoscaling, step);
    }
    const afterwards = await group();
    assert.deepEqual(
      [afterwards.MinSize, afterwards.MaxSize, afterwards.DesiredCapacity],
      [before.MinSize, before.MaxSize, before.DesiredCapacity],
    );
    assert.deepEqual(teardownOf(COMPONENTS.autoscaling, drill), []);
  });

  it('route53-failover: the drill sends no change, the records are as they were, nothing to tear down', async () => {
    const dns = await createFailoverRecords(aws);
    const records = async () =>
      (await aws.route53().send(new ListResourceRecordSetsCommand({ HostedZoneId: dns.hostedZoneId })))
        .ResourceRecordSets;
    const before = await records();
    for (const step of runbookOf(dns, drill)) {
      const automation = automationOf(step);
      if (automation) assert.deepEqual(automation.writes, [], step.id);
      await runStep(dns, step);
    }
    assert.deepEqual(await records(), before);
    assert.deepEqual(teardownOf(dns, drill), []);
    assert.deepEqual(productionResourcesOf(dns), [`route53:${dns.hostedZoneId}/shop.example.com/A`]);
  });
});

describe('drills of the AWS and generic kinds: what they declare', () => {
  const generic = [
    parse({ kind: 'terraform', id: 'infra', workingDir: '/srv/infra/./network', workspace: 'prod' }),
    parse({ kind: 'command', id: 'app', run: 'systemctl restart app', validate: 'curl -f http://localhost/' }),
    parse({ kind: 'http-check', id: 'health', url: 'https://shop.example.com/health' }),
    parse({ kind: 'wait', id: 'settle', duration: '5m' }),
  ];

  it('every drill activity step declares its writes; none is a production resource of the component', () => {
    for (const component of [...Object.values(COMPONENTS), ...generic]) {
      for (const step of [...runbookOf(component, drill), ...teardownOf(component, drill)]) {
        const automation = automationOf(step);
        if (!automation) continue;
        assert.ok(Array.isArray(automation.writes), `${component.id}/${step.id} declares writes`);
        for (const written of automation.writes)
          for (const production of productionResourcesOf(component))
            assert.ok(!overlaps(written, production), `${component.id}/${step.id}: ${written} is ${production}`);
      }
    }
  });

  it('production resources in the guard vocabulary', () => {
    const [terraform, command, httpCheck, wait] = generic;
    assert.deepEqual(productionResourcesOf(COMPONENTS.rds), [
      'rds:us-east-1/orders-prod',
      'rds:us-east-1/orders-prod-restored',
    ]);
    assert.deepEqual(productionResourcesOf(COMPONENTS.dynamodb), [
      'dynamodb:us-east-1/sessions',
      'dynamodb:us-east-1/sessions-restored',
    ]);
    assert.deepEqual(
      productionResourcesOf(
        parse({
          kind: 's3-bucket',
          id: 'files',
          bucket: 'shop-files',
          region: REGION,
          prefix: '/invoices/',
          replica: { bucket: 'shop-files-replica', region: 'us-west-2' },
        }),
      ),
      ['s3:shop-files/invoices', 's3:shop-files-replica/invoices'],
    );
    assert.deepEqual(productionResourcesOf(COMPONENTS.ecs), ['ecs:us-east-1/prod/orders-api']);
    assert.deepEqual(productionResourcesOf(COMPONENTS.cloudformation), ['cloudformation:us-east-1/shop-network']);
    assert.deepEqual(productionResourcesOf(COMPONENTS.autoscaling), ['autoscaling:us-east-1/shop-web']);
    assert.deepEqual(productionResourcesOf(terraform!), [
      'dir:/srv/infra/network',
      'terraform:/srv/infra/network#prod',
    ]);
    for (const c of [command!, httpCheck!, wait!]) assert.deepEqual(productionResourcesOf(c), []);
    // A drill of a command runs the plan's own command: declared as an opaque resource, not as "reads only".
    assert.deepEqual(
      runbookOf(command!, drill).map((s) => automationOf(s)?.writes),
      [['command:app'], ['command:app']],
    );
    assert.deepEqual(
      teardownOf(terraform!, drill).map((s) => [s.id, automationOf(s)?.writes]),
      [['remove-drill-plan', []]],
      'a terraform drill only plans: its teardown removes the saved plan, nothing of production',
    );
  });
});

describe('drill teardown of resources still being created (mocked AWS: moto creates them at once)', () => {
  const aws = createAwsClients({ region: REGION });
  const rdsMock = mockClient(aws.rds(REGION));
  const dynamodbMock = mockClient(aws.dynamodb(REGION));
  afterEach(() => {
    rdsMock.reset();
    dynamodbMock.reset();
  });
  after(() => {
    rdsMock.restore();
    dynamodbMock.restore();
  });

  /** Runs `activity` and collects the statuses it heartbeats. */
  async function withHeartbeats<R>(component: string, activity: (env: MockActivityEnvironment) => Promise<R>) {
    const env = envOf(component);
    const statuses: string[] = [];
    env.on('heartbeat', (details: { status?: string }) => {
      const status = details?.status;
      if (status && status !== 'unknown' && statuses.at(-1) !== status) statuses.push(status);
    });
    return { result: await activity(env), statuses };
  }

  it('rds: an instance still creating is waited for until RDS accepts the delete, then until it is gone', async () => {
    const instance = (status: string) => ({
      DBInstances: [
        {
          DBInstanceIdentifier: 'orders-prod-drill',
          DBInstanceStatus: status,
          TagList: [{ Key: RDS_TAGS.source, Value: 'orders-prod' }],
        },
      ],
    });
    rdsMock
      .on(DescribeDBInstancesCommand)
      .resolvesOnce(instance('creating'))
      .resolvesOnce(instance('backing-up'))
      .resolvesOnce(instance('available'))
      .resolvesOnce(instance('deleting'))
      .rejects(new DBInstanceNotFoundFault({ message: 'DBInstance orders-prod-drill not found', $metadata: {} }));
    rdsMock
      .on(DeleteDBInstanceCommand)
      .rejectsOnce(new InvalidDBInstanceStateFault({ message: 'Instance is not in available state', $metadata: {} }))
      .rejectsOnce(new InvalidDBInstanceStateFault({ message: 'Instance is not in available state', $metadata: {} }))
      .resolves({});
    const [step] = teardownOf(COMPONENTS.rds, drill);
    const rds = createRdsActivities(aws, { pollIntervalMs: 5 });
    const { result, statuses } = await withHeartbeats('orders-db', (env) =>
      runActivity((i) => rds.deleteRdsDrillInstance(i), automationOf(step!)!.input as never, env),
    );
    assert.deepEqual(result, { instanceId: 'orders-prod-drill', region: REGION, deletedNow: true });
    assert.deepEqual(statuses, ['creating, not deletable yet', 'backing-up, not deletable yet', 'deleting']);
    const deletes = rdsMock.commandCalls(DeleteDBInstanceCommand).map((c) => c.args[0].input);
    assert.equal(deletes.length, 3);
    assert.deepEqual(deletes[2], {
      DBInstanceIdentifier: 'orders-prod-drill',
      SkipFinalSnapshot: true,
      DeleteAutomatedBackups: true,
    });
  });

  it('dynamodb: a table still CREATING from the restore is waited for, deleted once ACTIVE, waited until gone', async () => {
    const table = (status: string) => ({
      Table: {
        TableName: 'sessions-drill',
        TableStatus: status as 'ACTIVE',
        RestoreSummary: {
          SourceTableArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/sessions',
          RestoreDateTime: new Date(),
          RestoreInProgress: status === 'CREATING',
        },
      },
    });
    dynamodbMock
      .on(DescribeTableCommand)
      .resolvesOnce(table('CREATING'))
      .resolvesOnce(table('CREATING'))
      .resolvesOnce(table('ACTIVE'))
      .resolvesOnce(table('DELETING'))
      .rejects(new ResourceNotFoundException({ message: 'Requested resource not found', $metadata: {} }));
    dynamodbMock.on(DeleteTableCommand).resolves({});
    const [step] = teardownOf(COMPONENTS.dynamodb, drill);
    const pitr = createDynamoDbPitrActivities(aws, { pollIntervalMs: 5 });
    const { result, statuses } = await withHeartbeats('sessions', (env) =>
      runActivity((i) => pitr.deleteDynamoDbDrillTable(i), automationOf(step!)!.input as never, env),
    );
    assert.deepEqual(result, { tableName: 'sessions-drill', deletedNow: true });
    assert.deepEqual(statuses, ['CREATING', 'DELETING']);
    assert.equal(dynamodbMock.commandCalls(DeleteTableCommand).length, 1, 'deleted once, when ACTIVE');
  });

  it('dynamodb: a table of the drill name restored from something else is never deleted', async () => {
    dynamodbMock.on(DescribeTableCommand).resolves({ Table: { TableName: 'sessions-drill', TableStatus: 'ACTIVE' } });
    const [step] = teardownOf(COMPONENTS.dynamodb, drill);
    await assert.rejects(
      runActivity(
        (i) => createDynamoDbPitrActivities(aws).deleteDynamoDbDrillTable(i),
        automationOf(step!)!.input as never,
        envOf('sessions'),
      ),
      nonRetryable('NotADrillTable', 'sessions-drill', 'sessions'),
    );
    assert.equal(dynamodbMock.commandCalls(DeleteTableCommand).length, 0);
  });
});
