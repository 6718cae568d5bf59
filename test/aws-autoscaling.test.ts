/**
 * The autoscaling-group automation for real against moto (set capacity once, wait InService, target
 * health through the group's target group, the drill only reads, missing group, sizes out of range),
 * then what moto cannot show mocked, saying so: instances that take several polls to be InService,
 * unhealthy targets, a group that never fills.
 *
 * moto: instances are InService and Healthy as soon as the group is created or resized, and are
 * registered (healthy) in the group's target groups.
 */
import {
  AutoScalingClient,
  CreateAutoScalingGroupCommand,
  CreateLaunchConfigurationCommand,
  DescribeAutoScalingGroupsCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import { CreateTargetGroupCommand, DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { mockClient } from 'aws-sdk-client-mock';
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { createAutoScalingActivities } from '../activities/autoscaling';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import {
  autoScalingGroupKind,
  schema as asgSchema,
  type AutoScalingGroupComponent,
} from '../plan/kinds/autoscaling-group';
import type { StepAutomation, StepContext } from '../plan/kinds/define';
import type { MotoServer } from '../toolchain/moto-server';
import { runActivity } from './helpers/activity';
import { startMoto } from './helpers/servers';

type Asg = ReturnType<typeof createAutoScalingActivities>;

const recover: StepContext = { mode: 'recover', targetTime: 'latest', drillSuffix: '-drill' };
const drill: StepContext = { ...recover, mode: 'drill' };
const REGION = 'us-east-1';

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const envOf = () =>
  new MockActivityEnvironment(
    { workflowExecution: { workflowId: 'rec-1/web/1', runId: '00000000-0000-0000-0000-000000000001' } },
    { logger: quiet },
  );
const run = <I, R>(activity: (input: I) => Promise<R>, input: I, env = envOf()) => runActivity(activity, input, env);

function failure(type: string, nonRetryable: boolean, ...names: string[]) {
  return (error: unknown) => {
    assert.ok(error instanceof ApplicationFailure, String(error));
    assert.equal(error.type, type, error.message);
    assert.equal(error.nonRetryable, nonRetryable, error.message);
    for (const name of names) assert.ok(error.message.includes(name), `"${error.message}" names ${name}`);
    return true;
  };
}

async function runSteps(asg: Asg, c: AutoScalingGroupComponent, context: StepContext) {
  const results: Record<string, unknown> = {};
  const activities = asg as unknown as Record<string, (input: unknown) => Promise<unknown>>;
  for (const step of autoScalingGroupKind.steps(c, context)) {
    const automation = step.automation as StepAutomation;
    assert.ok(automation && 'activity' in automation, `${step.id} is automated`);
    results[step.id] = await run((input) => activities[automation.activity]!(input), automation.input);
  }
  return results;
}

describe('autoscaling-group activities (moto)', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let asg: Asg;
  let targetGroupArn: string;
  const sent: string[] = [];

  before(async () => {
    moto = await startMoto();
    aws = createAwsClients({ endpoint: moto.endpoint, region: REGION });
    aws.autoscaling().middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName ?? '');
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    asg = createAutoScalingActivities(aws, { pollIntervalMs: 20, maxWaitMs: 200 });
  });
  after(() => moto?.stop());
  beforeEach(async () => {
    await moto.reset();
    const { TargetGroups } = await aws
      .elbv2()
      .send(new CreateTargetGroupCommand({ Name: 'shop-web', Protocol: 'HTTP', Port: 80, VpcId: await defaultVpc() }));
    targetGroupArn = TargetGroups![0]!.TargetGroupArn!;
    const autoscaling: AutoScalingClient = aws.autoscaling();
    await autoscaling.send(
      new CreateLaunchConfigurationCommand({
        LaunchConfigurationName: 'shop-web',
        ImageId: 'ami-12c6146b',
        InstanceType: 't3.micro',
      }),
    );
    await autoscaling.send(
      new CreateAutoScalingGroupCommand({
        AutoScalingGroupName: 'shop-web',
        LaunchConfigurationName: 'shop-web',
        MinSize: 1,
        MaxSize: 4,
        DesiredCapacity: 1,
        AvailabilityZones: ['us-east-1a'],
        TargetGroupARNs: [targetGroupArn],
      }),
    );
    sent.length = 0;
  });

  /** moto's default VPC, read with a bare EC2 Query call: the project has no EC2 client. */
  async function defaultVpc(): Promise<string> {
    const response = await fetch(moto.endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `AWS4-HMAC-SHA256 Credential=testing/20260101/${REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0`,
      },
      body: 'Action=DescribeVpcs&Version=2016-11-15',
    });
    const vpcId = /<vpcId>(vpc-[0-9a-f]+)<\/vpcId>/.exec(await response.text())?.[1];
    assert.ok(vpcId, 'moto has a default VPC');
    return vpcId;
  }
  const component = (settings: Partial<AutoScalingGroupComponent> = {}) =>
    asgSchema.parse({
      kind: 'autoscaling-group',
      id: 'web',
      groupName: 'shop-web',
      region: REGION,
      maxSize: 6,
      desiredCapacity: 3,
      targetGroupArns: [targetGroupArn],
      ...settings,
    });
  const groupNow = async () =>
    (await aws.autoscaling().send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: ['shop-web'] })))
      .AutoScalingGroups![0]!;
  const count = (command: string) => sent.filter((name) => name === command).length;

  it('recovers: records the sizes, sets the capacity once, waits InService, checks the targets; a second run changes nothing', async () => {
    const results = await runSteps(asg, component(), recover);
    assert.deepEqual(Object.keys(results), ['record-current', 'set-capacity', 'wait-in-service', 'check-targets']);
    assert.equal((results['record-current'] as { desiredCapacity: number }).desiredCapacity, 1);
    const set = results['set-capacity'] as { changedNow: boolean; before: unknown; maxSize: number };
    assert.deepEqual(
      [set.changedNow, set.before, set.maxSize],
      [true, { minSize: 1, maxSize: 4, desiredCapacity: 1 }, 6],
    );
    assert.equal((results['wait-in-service'] as { inService: number }).inService, 3);
    const targets = results['check-targets'] as { targetGroups: { healthy: number }[] };
    assert.equal(targets.targetGroups[0]!.healthy, 3);
    assert.equal(count('UpdateAutoScalingGroupCommand'), 1);
    const group = await groupNow();
    assert.deepEqual([group.MinSize, group.MaxSize, group.DesiredCapacity, group.Instances?.length], [1, 6, 3, 3]);

    const again = await runSteps(asg, component(), recover);
    assert.equal((again['set-capacity'] as { changedNow: boolean }).changedNow, false);
    assert.equal(count('UpdateAutoScalingGroupCommand'), 1, 'no second update');
  });

  it('drill: only reads, never changes the production capacity', async () => {
    const results = await runSteps(asg, component(), drill);
    assert.deepEqual(Object.keys(results), ['describe-group', 'check-in-service', 'check-targets']);
    assert.equal((results['check-in-service'] as { wanted: number }).wanted, 1, "the group's own desired capacity");
    assert.equal(count('UpdateAutoScalingGroupCommand'), 0);
    assert.equal((await groupNow()).DesiredCapacity, 1);
  });

  it('a capacity outside the sizes fails non-retryably, sending nothing', async () => {
    await assert.rejects(
      run((i) => asg.setAutoScalingCapacity(i), { groupName: 'shop-web', region: REGION, desiredCapacity: 9 }),
      failure('CapacityOutOfRange', true, 'shop-web', '1–4', 'maxSize'),
    );
    assert.equal(count('UpdateAutoScalingGroupCommand'), 0);
  });

  it('a missing group fails non-retryably', async () => {
    await assert.rejects(
      run((i) => asg.waitForAutoScalingInService(i), { groupName: 'ghost', region: REGION }),
      failure('GroupNotFound', true, 'ghost', REGION),
    );
  });

  it('a target group that does not exist fails non-retryably', async () => {
    await assert.rejects(
      run((i) => asg.checkTargetHealth(i), {
        region: REGION,
        targetGroupArns: [`${targetGroupArn.slice(0, -4)}ffff`],
      }),
      failure('TargetGroupNotFoundException', true, 'ffff'),
    );
  });
});

describe('autoscaling-group activities (mocked AWS)', () => {
  const aws = createAwsClients({ region: REGION });
  const autoscaling = mockClient(aws.autoscaling(REGION));
  const elbv2 = mockClient(aws.elbv2(REGION));
  const asg = createAutoScalingActivities(aws, { pollIntervalMs: 5, maxWaitMs: 60 });
  afterEach(() => {
    autoscaling.reset();
    elbv2.reset();
  });
  after(() => {
    autoscaling.restore();
    elbv2.restore();
  });

  const TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/0123456789abcdef';
  const groupWith = (...states: string[]): { AutoScalingGroups: AutoScalingGroup[] } => ({
    AutoScalingGroups: [
      {
        AutoScalingGroupName: 'shop-web',
        MinSize: 1,
        MaxSize: 6,
        DesiredCapacity: 3,
        Instances: states.map((state, i) => ({
          InstanceId: `i-${i}`,
          LifecycleState: state as 'InService',
          HealthStatus: 'Healthy',
        })),
      } as AutoScalingGroup,
    ],
  });

  it('(mocked: moto cannot keep instances Pending) heartbeats while instances start, returns once 3 are InService', async () => {
    autoscaling
      .on(DescribeAutoScalingGroupsCommand)
      .resolvesOnce(groupWith('InService', 'Pending', 'Pending'))
      .resolvesOnce(groupWith('InService', 'InService', 'Pending:Wait'))
      .resolves(groupWith('InService', 'InService', 'InService'));
    const env = envOf();
    const beats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => beats.push(details));
    const result = await run(
      (i) => asg.waitForAutoScalingInService(i),
      { groupName: 'shop-web', region: REGION, desiredCapacity: 3 },
      env,
    );
    assert.equal(result.inService, 3);
    assert.deepEqual(
      beats.map((b) => (b as { inService: number }).inService),
      [1, 2],
    );
  });

  it('(mocked: moto cannot leave instances Pending) a group that never fills fails retryably, naming the instances', async () => {
    autoscaling.on(DescribeAutoScalingGroupsCommand).resolves(groupWith('InService', 'Pending'));
    await assert.rejects(
      run((i) => asg.waitForAutoScalingInService(i), { groupName: 'shop-web', region: REGION, desiredCapacity: 3 }),
      failure('AutoScalingNotInService', false, 'shop-web', '1 of 3', 'i-1 Pending'),
    );
  });

  it('(mocked: moto cannot make targets unhealthy) unhealthy targets fail retryably, naming them and the reason', async () => {
    elbv2.on(DescribeTargetHealthCommand).resolves({
      TargetHealthDescriptions: [
        { Target: { Id: 'i-0', Port: 80 }, TargetHealth: { State: 'healthy' } },
        {
          Target: { Id: 'i-1', Port: 80 },
          TargetHealth: {
            State: 'unhealthy',
            Reason: 'Target.ResponseCodeMismatch',
            Description: 'Health checks failed with these codes: [502]',
          },
        },
        { Target: { Id: 'i-2', Port: 80 }, TargetHealth: { State: 'initial', Reason: 'Elb.RegistrationInProgress' } },
      ],
    });
    await assert.rejects(
      run((i) => asg.checkTargetHealth(i), { region: REGION, targetGroupArns: [TG] }),
      failure(
        'TargetsUnhealthy',
        false,
        TG,
        'i-1:80 unhealthy (Target.ResponseCodeMismatch: Health checks failed with these codes: [502])',
        'i-2:80 initial',
      ),
    );
  });

  it('(mocked: moto always registers the group’s instances) a target group without targets is not healthy', async () => {
    elbv2.on(DescribeTargetHealthCommand).resolves({ TargetHealthDescriptions: [] });
    await assert.rejects(
      run((i) => asg.checkTargetHealth(i), { region: REGION, targetGroupArns: [TG] }),
      failure('TargetsUnhealthy', false, 'no targets registered'),
    );
  });
});
