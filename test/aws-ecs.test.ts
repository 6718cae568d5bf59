/**
 * The ecs-service automation for real against moto (deploy once, wait, drill copy, missing
 * resources), then what moto cannot show mocked, saying so: a rollout that takes several polls, a
 * FAILED rollout, access denied, cancellation, services without a rollout state, network settings.
 *
 * moto: a service's runningCount is the server's MOTO_ECS_SERVICE_RUNNING when the service is
 * created (its PRIMARY deployment is COMPLETED when that reaches desiredCount, else IN_PROGRESS for
 * ever), and desiredCount after an UpdateService that sets one; forceNewDeployment gives the one
 * deployment moto keeps a new id and createdAt, never a second deployment.
 */
import {
  AccessDeniedException,
  CreateServiceCommand,
  DescribeServicesCommand,
  ListServicesCommand,
  ListTagsForResourceCommand,
  TagResourceCommand,
  UpdateServiceCommand,
  type Deployment,
  type Service,
} from '@aws-sdk/client-ecs';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { mockClient } from 'aws-sdk-client-mock';
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { createEcsActivities, ECS_TAGS } from '../activities/ecs';
import type { StepAutomation, StepContext } from '../plan/kinds/define';
import { ecsServiceKind, schema as ecsSchema, type EcsServiceComponent } from '../plan/kinds/ecs-service';
import type { MotoServer } from '../toolchain/moto-server';
import { runActivity } from './helpers/activity';
import { startMoto } from './helpers/servers';
import { nonRetryable } from './helpers/assertions';
import { createEcsService } from './helpers/aws-fixtures';

type Ecs = ReturnType<typeof createEcsActivities>;

const recover: StepContext = { mode: 'recover', targetTime: 'latest', drillSuffix: '-drill' };
const drill: StepContext = { ...recover, mode: 'drill' };
const REGION = 'us-east-1';
const service = { cluster: 'prod', service: 'orders-api', region: REGION };

/** Expected failures are asserted, not logged. */
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };

/** An activity environment whose workflow is the component run `<recovery>/api/<run>`. */
const envOf = (recovery = 'rec-1', run = 1) =>
  new MockActivityEnvironment(
    { workflowExecution: { workflowId: `${recovery}/api/${run}`, runId: '00000000-0000-0000-0000-000000000001' } },
    { logger: quiet },
  );

const run = <I, R>(activity: (input: I) => Promise<R>, input: I, env = envOf()) => runActivity(activity, input, env);

const component = (settings: Partial<EcsServiceComponent> = {}) =>
  ecsSchema.parse({
    kind: 'ecs-service',
    id: 'api',
    cluster: 'prod',
    service: 'orders-api',
    region: REGION,
    ...settings,
  });

/** Runs the automated steps of the kind's runbook in order, as the engine would, with their inputs. */
async function runSteps(ecs: Ecs, c: EcsServiceComponent, context: StepContext, env = envOf()) {
  const results: Record<string, unknown> = {};
  const activities = ecs as unknown as Record<string, (input: unknown) => Promise<unknown>>;
  for (const step of ecsServiceKind.steps(c, context)) {
    const automation = step.automation as StepAutomation;
    assert.ok(automation && 'activity' in automation, `${step.id} is automated`);
    results[step.id] = await run((input) => activities[automation.activity]!(input), automation.input, env);
  }
  return results;
}

describe('ecs-service activities (moto)', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let ecs: Ecs;
  /** Attempts of the commands the activities and the test sent to ECS (a middleware on the real clients). */
  const sent: string[] = [];
  /** The next call of this command reaches moto, but its response is lost on the way back. */
  let loseResponseOf: string | undefined;

  before(async () => {
    moto = await startMoto({ MOTO_ECS_SERVICE_RUNNING: '1' });
    aws = createAwsClients({ endpoint: moto.endpoint, region: REGION });
    // Inside the SDK's retry loop: each attempt is counted, and a lost response is one the SDK may retry.
    for (const client of [aws.ecs(), aws.ecsSingleAttempt()])
      client.middlewareStack.add(
        (next, context) => async (args) => {
          sent.push(context.commandName ?? '');
          const result = await next(args);
          if (loseResponseOf === context.commandName) {
            loseResponseOf = undefined;
            throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
          }
          return result;
        },
        { step: 'deserialize', name: 'recordCommands' },
      );
    ecs = createEcsActivities(aws, { pollIntervalMs: 20 });
  });
  after(() => moto?.stop());
  beforeEach(async () => {
    await moto.reset();
    await createProduction(aws);
    sent.length = 0;
  });

  const describeService = (name = 'orders-api') => describeAt(aws, name);
  const count = (command: string) => sent.filter((name) => name === command).length;

  it('recovers: records the service, deploys the new task definition and count once, waits, reports', async () => {
    const before = await describeService();
    const results = await runSteps(ecs, component({ taskDefinition: 'orders-api:2', desiredCount: 3 }), recover);

    assert.deepEqual(Object.keys(results), ['record-current', 'check-task-definition', 'deploy', 'wait-stable']);
    const recorded = results['record-current'] as { taskDefinition: string; desiredCount: number };
    assert.deepEqual([recorded.taskDefinition, recorded.desiredCount], [before.taskDefinition, 1]);
    assert.match(recorded.taskDefinition, /:task-definition\/orders-api:1$/);
    assert.equal((results['check-task-definition'] as { status: string }).status, 'ACTIVE');
    const deployed = results.deploy as { deployedNow: boolean; deploymentId: string; replacedDeploymentId: string };
    assert.equal(deployed.deployedNow, true);
    assert.equal(deployed.replacedDeploymentId, before.deployments![0]!.id);
    assert.notEqual(deployed.deploymentId, deployed.replacedDeploymentId, 'a new deployment');

    const stable = results['wait-stable'] as Record<string, unknown>;
    assert.deepEqual(
      [stable.runningCount, stable.desiredCount, stable.deploymentId, stable.rolloutState],
      [3, 3, deployed.deploymentId, 'COMPLETED'],
    );
    // moto keeps the task definition as given; AWS answers with its ARN.
    assert.match(String(stable.taskDefinition), /orders-api:2$/);

    const now = await describeService();
    assert.deepEqual(
      [now.desiredCount, now.taskDefinition, now.deployments!.map((d) => d.id)],
      [3, 'orders-api:2', [deployed.deploymentId]],
    );
    assert.deepEqual(await tagsAt(aws, now), {
      team: 'shop',
      [ECS_TAGS.recovery]: 'rec-1/api',
      [ECS_TAGS.replaces]: deployed.replacedDeploymentId,
      [ECS_TAGS.deployment]: deployed.deploymentId,
    });
    assert.equal(count('UpdateServiceCommand'), 1);
  });

  it('is idempotent: a second run, and an operator retry, force no second deployment', async () => {
    const deploy = (env = envOf()) => run((i) => ecs.deployEcsService(i), { ...service, desiredCount: 2 }, env);
    const first = await deploy();
    const deploymentAfterFirst = (await describeService()).deployments;
    const second = await deploy();
    const third = await deploy(envOf('rec-1', 2)); // an operator's retry is a new run of the same recovery

    assert.deepEqual(
      [first.deployedNow, second.deployedNow, third.deployedNow],
      [true, false, false],
      'only the first run deployed',
    );
    assert.equal(second.deploymentId, first.deploymentId);
    assert.equal(third.deploymentId, first.deploymentId);
    assert.deepEqual((await describeService()).deployments, deploymentAfterFirst, 'moto still has that deployment');
    assert.equal(count('UpdateServiceCommand'), 1);

    // Another recovery deploys anew.
    const later = await deploy(envOf('rec-2'));
    assert.equal(later.deployedNow, true);
    assert.notEqual(later.deploymentId, first.deploymentId);
    assert.equal(count('UpdateServiceCommand'), 2);
  });

  it('a retry after a lost UpdateService response finds the deployment it made and sends nothing', async () => {
    const before = (await describeService()).deployments![0]!.id;
    loseResponseOf = 'UpdateServiceCommand';
    await assert.rejects(
      run((i) => ecs.deployEcsService(i), { ...service, taskDefinition: 'orders-api:2' }),
      (error: unknown) =>
        !(error instanceof ApplicationFailure && error.nonRetryable) && /socket hang up/.test(String(error)),
    );
    const made = (await describeService()).deployments![0]!.id;
    assert.notEqual(made, before, 'the lost call did deploy');
    assert.equal((await tagsAt(aws, await describeService()))[ECS_TAGS.deployment], 'pending');

    const retry = await run((i) => ecs.deployEcsService(i), { ...service, taskDefinition: 'orders-api:2' });

    assert.deepEqual([retry.deployedNow, retry.deploymentId, retry.replacedDeploymentId], [false, made, before]);
    assert.equal(count('UpdateServiceCommand'), 1, 'no second deployment');
    assert.equal((await describeService()).deployments![0]!.id, made);
    assert.equal((await tagsAt(aws, await describeService()))[ECS_TAGS.deployment], made);
  });

  it('drill: creates only orders-api-drill, from the production task definition, 1 task, no load balancer', async () => {
    const before = await describeService();
    const tagsBefore = await tagsAt(aws, before);
    const first = await runSteps(ecs, component(), drill);
    const again = await runSteps(ecs, component(), drill, envOf('rec-1', 2));

    assert.deepEqual(Object.keys(first), ['describe-service', 'create-drill-service', 'wait-stable']);
    assert.equal((first['describe-service'] as { service: string }).service, 'orders-api');
    const created = first['create-drill-service'] as { service: string; createdNow: boolean };
    assert.deepEqual([created.service, created.createdNow], ['orders-api-drill', true]);
    assert.equal((again['create-drill-service'] as { createdNow: boolean }).createdNow, false, 'reused');
    const stable = first['wait-stable'] as Record<string, unknown>;
    assert.deepEqual(
      [stable.service, stable.runningCount, stable.desiredCount, stable.taskDefinition, stable.rolloutState],
      ['orders-api-drill', 1, 1, before.taskDefinition, 'COMPLETED'],
    );
    assert.match(String(stable.deploymentId), /^ecs-svc\//);

    assert.deepEqual(await listServices(aws), ['orders-api', 'orders-api-drill']);
    const copy = await describeService('orders-api-drill');
    assert.deepEqual([copy.desiredCount, copy.loadBalancers, copy.launchType], [1, [], 'EC2']);
    assert.deepEqual(await tagsAt(aws, copy), {
      [ECS_TAGS.drillOf]: 'orders-api',
      [ECS_TAGS.recovery]: 'rec-1/api',
    });
    assert.deepEqual(await describeService(), before, 'production unchanged');
    assert.deepEqual(await tagsAt(aws, before), tagsBefore, 'production tags unchanged');
    assert.equal(count('UpdateServiceCommand') + count('TagResourceCommand'), 0, 'nothing written to production');
    assert.equal(count('CreateServiceCommand'), 1);
  });

  it('drill with a task definition of its own checks it and deploys it to the copy', async () => {
    const results = await runSteps(ecs, component({ taskDefinition: 'orders-api:2', desiredCount: 5 }), drill);
    assert.deepEqual(Object.keys(results), [
      'describe-service',
      'check-task-definition',
      'create-drill-service',
      'wait-stable',
    ]);
    const copy = await describeService('orders-api-drill');
    assert.match(copy.taskDefinition ?? '', /:task-definition\/orders-api:2$/);
    assert.equal(copy.desiredCount, 1, 'a drill runs one task whatever the production count');
    assert.equal((await describeService()).desiredCount, 1);
  });

  it('a missing cluster, service or task definition stops at once, not retryable, naming it', async () => {
    await assert.rejects(
      run((i) => ecs.deployEcsService(i), { ...service, cluster: 'staging' }),
      nonRetryable('ClusterNotFound', 'cluster staging', REGION),
    );
    await assert.rejects(
      run((i) => ecs.deployEcsService(i), { ...service, service: 'billing-api' }),
      nonRetryable('ServiceNotFound', 'service billing-api', 'cluster prod'),
    );
    await assert.rejects(
      run((i) => ecs.waitForEcsServiceStable(i), { ...service, service: 'billing-api' }),
      nonRetryable('ServiceNotFound', 'billing-api'),
    );
    await assert.rejects(
      run((i) => ecs.describeEcsService(i), { ...service, cluster: 'staging' }),
      nonRetryable('ClusterNotFound', 'staging'),
    );
    await assert.rejects(
      run((i) => ecs.createEcsDrillService(i), {
        cluster: 'prod',
        region: REGION,
        sourceService: 'billing-api',
        drillService: 'billing-api-drill',
      }),
      nonRetryable('ServiceNotFound', 'billing-api'),
    );
    await assert.rejects(
      run((i) => ecs.checkEcsTaskDefinition(i), { taskDefinition: 'orders-api:9', region: REGION }),
      nonRetryable('TaskDefinitionNotFound', 'orders-api:9'),
    );
    assert.deepEqual(await listServices(aws), ['orders-api'], 'nothing created');
    assert.equal(count('UpdateServiceCommand'), 0);
  });

  it('a rollout that does not finish fails the attempt retryably after the bound, heartbeating meanwhile', async () => {
    // moto keeps a service whose desired count exceeds MOTO_ECS_SERVICE_RUNNING IN_PROGRESS for ever.
    await aws.ecs().send(
      new CreateServiceCommand({
        cluster: 'prod',
        serviceName: 'slow-api',
        taskDefinition: 'orders-api:1',
        desiredCount: 2,
      }),
    );
    const env = envOf();
    const beats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => beats.push(details));
    const bounded = createEcsActivities(aws, { pollIntervalMs: 20, maxWaitMs: 150 });
    await assert.rejects(
      run((i) => bounded.waitForEcsServiceStable(i), { ...service, service: 'slow-api' }, env),
      (error: unknown) => {
        assert.ok(error instanceof ApplicationFailure, String(error));
        assert.equal(error.type, 'EcsServiceNotStable');
        assert.equal(error.nonRetryable, false);
        assert.match(error.message, /slow-api .*not stable after \d+ seconds: 1 of 2 tasks running/);
        return true;
      },
    );
    assert.ok(beats.length >= 2, `heartbeats: ${beats.length}`);
    assert.ok(beats.every((b) => (b as { rolloutState: string }).rolloutState === 'IN_PROGRESS'));
  });
});

describe('ecs-service activities (mocked AWS)', () => {
  const real = createAwsClients({ region: REGION });
  // One mocked client answers every ECS call, the single-attempt UpdateService included.
  const aws: AwsClients = { ...real, ecsSingleAttempt: () => real.ecs(REGION) };
  const mocked = mockClient(aws.ecs(REGION));
  const ecs = createEcsActivities(aws, { pollIntervalMs: 10 });
  afterEach(() => mocked.reset());
  after(() => mocked.restore());

  const ARN = 'arn:aws:ecs:us-east-1:123456789012:service/prod/orders-api';
  const TD = 'arn:aws:ecs:us-east-1:123456789012:task-definition/orders-api:2';
  const deployment = (id: string, status: string, rolloutState?: string, more: Deployment = {}): Deployment => ({
    id,
    status,
    taskDefinition: TD,
    desiredCount: 3,
    runningCount: 3,
    ...(rolloutState ? { rolloutState: rolloutState as Deployment['rolloutState'] } : {}),
    ...more,
  });
  const described = (deployments: Deployment[], more: Service = {}) => ({
    services: [
      {
        serviceName: 'orders-api',
        serviceArn: ARN,
        status: 'ACTIVE',
        taskDefinition: TD,
        desiredCount: 3,
        runningCount: 3,
        pendingCount: 0,
        deployments,
        ...more,
      },
    ],
    failures: [],
  });
  /** The tags a deploy by recovery rec-1 leaves: the deployment it started is ecs-svc/new. */
  const deployedByUs = {
    tags: [
      { key: ECS_TAGS.recovery, value: 'rec-1/api' },
      { key: ECS_TAGS.replaces, value: 'ecs-svc/old' },
      { key: ECS_TAGS.deployment, value: 'ecs-svc/new' },
    ],
  };
  const summary = (beat: unknown) => {
    const b = beat as { runningCount: number; desiredCount: number; rolloutState: string; deployments: unknown[] };
    return `${b.runningCount}/${b.desiredCount} ${b.rolloutState} ${b.deployments.length}`;
  };

  it('(mocked: moto cannot keep a rollout IN_PROGRESS and then complete it) heartbeats through a slow rollout, returns once COMPLETED', async () => {
    const both = (running: number) => [
      deployment('ecs-svc/new', 'PRIMARY', 'IN_PROGRESS', { runningCount: running }),
      deployment('ecs-svc/old', 'ACTIVE', 'COMPLETED', { runningCount: 3 - running }),
    ];
    mocked
      .on(ListTagsForResourceCommand)
      .resolves(deployedByUs)
      .on(DescribeServicesCommand)
      .resolvesOnce(described(both(0), { runningCount: 3 }))
      .resolvesOnce(described(both(1), { runningCount: 4 }))
      .resolvesOnce(described(both(3), { runningCount: 6 }))
      .resolvesOnce(described([deployment('ecs-svc/new', 'PRIMARY', 'IN_PROGRESS')]))
      .resolves(described([deployment('ecs-svc/new', 'PRIMARY', 'COMPLETED')]));
    const env = envOf();
    const beats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => beats.push(details));

    const result = await run((i) => ecs.waitForEcsServiceStable(i), service, env);

    assert.deepEqual(
      [result.runningCount, result.desiredCount, result.taskDefinition, result.deploymentId, result.rolloutState],
      [3, 3, TD, 'ecs-svc/new', 'COMPLETED'],
    );
    assert.deepEqual(beats.map(summary), [
      '3/3 IN_PROGRESS 2',
      '4/3 IN_PROGRESS 2',
      '6/3 IN_PROGRESS 2',
      '3/3 IN_PROGRESS 1',
    ]);
  });

  it('(mocked: moto cannot fail a rollout) rolloutState FAILED stops the wait at once, naming the service and the reason', async () => {
    const reason = 'ECS deployment circuit breaker: tasks failed to start.';
    mocked
      .on(ListTagsForResourceCommand)
      .resolves({ tags: [] })
      .on(DescribeServicesCommand)
      .resolvesOnce(described([deployment('ecs-svc/new', 'PRIMARY', 'IN_PROGRESS')]))
      .resolves(
        described([deployment('ecs-svc/new', 'PRIMARY', 'FAILED', { rolloutStateReason: reason })], {
          events: [
            { message: '(service orders-api) has started 0 tasks: (reason CannotPullContainerError).' },
            { message: '(service orders-api) has reached a steady state.' },
          ],
        }),
      );
    await assert.rejects(
      run((i) => ecs.waitForEcsServiceStable(i), service),
      nonRetryable('EcsDeploymentFailed', 'ECS service orders-api', 'cluster prod', reason, 'CannotPullContainerError'),
    );
  });

  it('(mocked: moto cannot roll back) a deployment of this recovery rolled back by the circuit breaker fails the wait', async () => {
    const reason = 'ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/old.';
    mocked
      .on(ListTagsForResourceCommand)
      .resolves(deployedByUs)
      .on(DescribeServicesCommand)
      .resolves(
        described([
          deployment('ecs-svc/rollback', 'PRIMARY', 'IN_PROGRESS'),
          deployment('ecs-svc/new', 'ACTIVE', 'FAILED', { rolloutStateReason: reason }),
        ]),
      );
    await assert.rejects(
      run((i) => ecs.waitForEcsServiceStable(i), service),
      nonRetryable('EcsDeploymentFailed', 'orders-api', 'deployment ecs-svc/new FAILED', reason),
    );

    // Once the rollback completed, the deployment is gone: still not a success.
    mocked.on(DescribeServicesCommand).resolves(described([deployment('ecs-svc/rollback', 'PRIMARY', 'COMPLETED')]));
    await assert.rejects(
      run((i) => ecs.waitForEcsServiceStable(i), service),
      nonRetryable('EcsDeploymentFailed', 'deployment ecs-svc/new was replaced by ecs-svc/rollback'),
    );
  });

  it('(mocked: moto always gives a rollout state) without one, stable once running = desired and the old deployment is gone', async () => {
    mocked
      .on(ListTagsForResourceCommand)
      .resolves({ tags: [] })
      .on(DescribeServicesCommand)
      .resolvesOnce(
        described([deployment('ecs-svc/new', 'PRIMARY'), deployment('ecs-svc/old', 'ACTIVE', undefined)], {
          runningCount: 3,
        }),
      )
      .resolvesOnce(described([deployment('ecs-svc/new', 'PRIMARY')], { runningCount: 2 }))
      .resolves(described([deployment('ecs-svc/new', 'PRIMARY')], { runningCount: 3 }));
    const result = await run((i) => ecs.waitForEcsServiceStable(i), service);
    assert.deepEqual([result.runningCount, result.desiredCount, result.rolloutState], [3, 3, undefined]);
    assert.equal(mocked.commandCalls(DescribeServicesCommand).length, 3);
  });

  it('(mocked: moto cannot deny access) access denied names the service and the IAM action', async () => {
    mocked
      .on(DescribeServicesCommand)
      .resolves(described([deployment('ecs-svc/old', 'PRIMARY', 'COMPLETED')]))
      .on(ListTagsForResourceCommand)
      .resolves({ tags: [] })
      .on(TagResourceCommand)
      .resolves({})
      .on(UpdateServiceCommand)
      .rejects(
        new AccessDeniedException({
          $metadata: {},
          message: 'User is not authorized to perform: ecs:UpdateService on resource: ' + ARN,
        }),
      );
    await assert.rejects(
      run((i) => ecs.deployEcsService(i), { ...service, desiredCount: 3 }),
      nonRetryable('AccessDeniedException', 'ECS service orders-api', "the worker's role needs ecs:UpdateService"),
    );
  });

  it('(mocked: moto cannot keep a rollout going) stops waiting when cancelled', async () => {
    mocked
      .on(ListTagsForResourceCommand)
      .resolves({ tags: [] })
      .on(DescribeServicesCommand)
      .resolves(described([deployment('ecs-svc/new', 'PRIMARY', 'IN_PROGRESS')]));
    const env = envOf();
    env.once('heartbeat', () => env.cancel());
    await assert.rejects(
      run((i) => ecs.waitForEcsServiceStable(i), service, env),
      (error) => error instanceof CancelledFailure,
    );
  });

  it('(mocked: moto cannot validate subnets without EC2 resources) the drill copy keeps the network and capacity settings', async () => {
    const network = {
      awsvpcConfiguration: {
        subnets: ['subnet-a', 'subnet-b'],
        securityGroups: ['sg-api'],
        assignPublicIp: 'DISABLED' as const,
      },
    };
    const capacity = [{ capacityProvider: 'FARGATE', weight: 1, base: 0 }];
    mocked
      .on(DescribeServicesCommand, { services: ['orders-api-drill'] })
      .resolves({ services: [], failures: [{ arn: `${ARN}-drill`, reason: 'MISSING' }] })
      .on(DescribeServicesCommand, { services: ['orders-api'] })
      .resolves(
        described([deployment('ecs-svc/old', 'PRIMARY', 'COMPLETED')], {
          capacityProviderStrategy: capacity,
          platformVersion: 'LATEST',
          networkConfiguration: network,
          loadBalancers: [{ targetGroupArn: 'arn:tg', containerName: 'api', containerPort: 8080 }],
          serviceRegistries: [{ registryArn: 'arn:registry' }],
        }),
      )
      .on(CreateServiceCommand)
      .resolves({ service: { serviceName: 'orders-api-drill', status: 'ACTIVE', desiredCount: 1, deployments: [] } });

    const result = await run((i) => ecs.createEcsDrillService(i), {
      cluster: 'prod',
      region: REGION,
      sourceService: 'orders-api',
      drillService: 'orders-api-drill',
    });

    assert.equal(result.createdNow, true);
    const [call] = mocked.commandCalls(CreateServiceCommand);
    assert.deepEqual(call!.args[0].input, {
      cluster: 'prod',
      serviceName: 'orders-api-drill',
      taskDefinition: TD,
      desiredCount: 1,
      capacityProviderStrategy: capacity,
      platformVersion: 'LATEST',
      networkConfiguration: network,
      placementConstraints: undefined,
      placementStrategy: undefined,
      tags: [
        { key: ECS_TAGS.drillOf, value: 'orders-api' },
        { key: ECS_TAGS.recovery, value: 'rec-1/api' },
      ],
    });
    assert.equal(mocked.commandCalls(UpdateServiceCommand).length, 0);
  });
});

const TARGET_GROUP = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/orders-api/0123456789abcdef';

/** The incident's production service: orders-api:1, one task behind a load balancer, tagged by its team. */
function createProduction(aws: AwsClients) {
  return createEcsService(aws, {
    loadBalancers: [{ targetGroupArn: TARGET_GROUP, containerName: 'api', containerPort: 8080 }],
    tags: [{ key: 'team', value: 'shop' }],
  });
}

async function describeAt(aws: AwsClients, name: string): Promise<Service> {
  const { services = [] } = await aws.ecs().send(new DescribeServicesCommand({ cluster: 'prod', services: [name] }));
  assert.ok(services[0], `${name} exists`);
  return services[0];
}

async function tagsAt(aws: AwsClients, service: Service): Promise<Record<string, string | undefined>> {
  const { tags = [] } = await aws.ecs().send(new ListTagsForResourceCommand({ resourceArn: service.serviceArn }));
  return Object.fromEntries(tags.map((t) => [t.key!, t.value]));
}

async function listServices(aws: AwsClients): Promise<string[]> {
  const { serviceArns = [] } = await aws.ecs().send(new ListServicesCommand({ cluster: 'prod' }));
  return serviceArns.map((arn) => arn.split('/').pop()!).sort();
}
