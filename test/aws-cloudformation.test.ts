/**
 * The cloudformation-stack automation for real against moto (create when missing, update, "no
 * updates" on a second run, drill copy, missing template, bad template), then what moto cannot show
 * mocked, saying so: an operation that stays in progress for several polls, a failed update rolled
 * back with a resource's reason, a stack left in ROLLBACK_COMPLETE recreated, an operation of this
 * recovery already in progress, the request token of a retry.
 *
 * moto: stacks reach CREATE_COMPLETE / UPDATE_COMPLETE within the call; it ignores ClientRequestToken
 * and answers "No updates are to be performed." only when the template and parameters are unchanged.
 */
import {
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  UpdateStackCommand,
  type Stack,
  type StackEvent,
} from '@aws-sdk/client-cloudformation';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { mockClient } from 'aws-sdk-client-mock';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { createCloudFormationActivities, tokenPrefix } from '../activities/cloudformation';
import {
  cloudFormationStackKind,
  schema as cfnSchema,
  type CloudFormationStackComponent,
} from '../plan/kinds/cloudformation-stack';
import type { StepAutomation, StepContext } from '../plan/kinds/define';
import type { MotoServer } from '../toolchain/moto-server';
import { runActivity } from './helpers/activity';
import { startMoto } from './helpers/servers';
import { nonRetryable } from './helpers/assertions';

type Cfn = ReturnType<typeof createCloudFormationActivities>;

const recover: StepContext = { mode: 'recover', targetTime: 'latest', drillSuffix: '-drill' };
const drill: StepContext = { ...recover, mode: 'drill' };
const REGION = 'us-east-1';

const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const envOf = (recovery = 'rec-1', run = 1) =>
  new MockActivityEnvironment(
    { workflowExecution: { workflowId: `${recovery}/network/${run}`, runId: '00000000-0000-0000-0000-000000000001' } },
    { logger: quiet },
  );
const run = <I, R>(activity: (input: I) => Promise<R>, input: I, env = envOf()) => runActivity(activity, input, env);

const TEMPLATE = JSON.stringify({
  AWSTemplateFormatVersion: '2010-09-09',
  Description: 'Recovery Engine test stack',
  Parameters: { Environment: { Type: 'String' } },
  Resources: { Topic: { Type: 'AWS::SNS::Topic', Properties: { DisplayName: { Ref: 'Environment' } } } },
  Outputs: { TopicArn: { Value: { Ref: 'Topic' } }, Environment: { Value: { Ref: 'Environment' } } },
});
const dir = mkdtempSync(join(tmpdir(), 'cfn-test-'));
const templateFile = join(dir, 'network.json');
writeFileSync(templateFile, TEMPLATE);

const component = (settings: Partial<CloudFormationStackComponent> = {}) =>
  cfnSchema.parse({
    kind: 'cloudformation-stack',
    id: 'network',
    stackName: 'shop-network',
    region: REGION,
    templateFile,
    parameters: { Environment: 'prod' },
    ...settings,
  });

async function runSteps(cfn: Cfn, c: CloudFormationStackComponent, context: StepContext, env = envOf()) {
  const results: Record<string, unknown> = {};
  const activities = cfn as unknown as Record<string, (input: unknown) => Promise<unknown>>;
  for (const step of cloudFormationStackKind.steps(c, context)) {
    const automation = step.automation as StepAutomation;
    if (!('activity' in automation)) continue;
    results[step.id] = await run((input) => activities[automation.activity]!(input), automation.input, env);
  }
  return results;
}

describe('cloudformation-stack activities (moto)', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let cfn: Cfn;
  const sent: string[] = [];

  before(async () => {
    moto = await startMoto();
    aws = createAwsClients({ endpoint: moto.endpoint, region: REGION });
    aws.cloudformation().middlewareStack.add(
      (next, context) => async (args) => {
        sent.push(context.commandName ?? '');
        return next(args);
      },
      { step: 'initialize', name: 'recordCommands' },
    );
    cfn = createCloudFormationActivities(aws, { pollIntervalMs: 20 });
  });
  after(() => moto?.stop());
  beforeEach(async () => {
    await moto.reset();
    sent.length = 0;
  });

  const count = (command: string) => sent.filter((name) => name === command).length;
  const describeStack = async (name: string) =>
    (await aws.cloudformation().send(new DescribeStacksCommand({ StackName: name }))).Stacks![0]!;
  const eventsOf = async (name: string) =>
    (await aws.cloudformation().send(new DescribeStackEventsCommand({ StackName: name }))).StackEvents ?? [];

  it('creates a missing stack, waits, reports its outputs; a second run changes nothing', async () => {
    const first = await runSteps(cfn, component(), recover);
    assert.deepEqual(Object.keys(first), ['check', 'deploy', 'wait-complete']);
    assert.deepEqual(
      [
        (first.check as { exists: boolean; templateValid: boolean }).exists,
        (first.check as { templateValid: boolean }).templateValid,
      ],
      [false, true],
    );
    const deployed = first.deploy as { operation: string; sentNow: boolean };
    assert.deepEqual([deployed.operation, deployed.sentNow], ['create', true]);
    const done = first['wait-complete'] as { status: string; outputs: Record<string, string> };
    assert.equal(done.status, 'CREATE_COMPLETE');
    assert.equal(done.outputs.Environment, 'prod');
    assert.match(done.outputs.TopicArn ?? '', /^arn:aws:sns:us-east-1:/);
    assert.equal(count('CreateStackCommand'), 1);
    const events = (await eventsOf('shop-network')).length;

    const second = await runSteps(cfn, component(), recover, envOf('rec-1', 2));
    const again = second.deploy as { operation: string; sentNow: boolean };
    assert.deepEqual([again.operation, again.sentNow], ['none', false], 'already as asked');
    assert.equal((second['wait-complete'] as { status: string }).status, 'CREATE_COMPLETE');
    assert.equal(count('CreateStackCommand'), 1, 'no second create');
    assert.equal((await eventsOf('shop-network')).length, events, 'no change at moto');
  });

  it('updates an existing stack with new parameters', async () => {
    await runSteps(cfn, component(), recover);
    const results = await runSteps(cfn, component({ parameters: { Environment: 'dr' } }), recover, envOf('rec-2'));
    assert.deepEqual((results.deploy as { operation: string }).operation, 'update');
    const done = results['wait-complete'] as { status: string; outputs: Record<string, string> };
    assert.deepEqual([done.status, done.outputs.Environment], ['UPDATE_COMPLETE', 'dr']);
  });

  it('drill: creates the -drill stack from the production template, never touches production', async () => {
    await runSteps(cfn, component(), recover);
    const production = await describeStack('shop-network');
    sent.length = 0;
    const results = await runSteps(cfn, component({ templateFile: undefined }), drill);
    assert.deepEqual(Object.keys(results), ['check', 'deploy', 'wait-complete']);
    assert.equal((results['wait-complete'] as { stackName: string }).stackName, 'shop-network-drill');
    assert.equal((await describeStack('shop-network-drill')).StackStatus, 'CREATE_COMPLETE');
    assert.deepEqual(await describeStack('shop-network'), production, 'production unchanged');
    assert.equal(count('GetTemplateCommand') > 0, true, 'the production template is read');
    assert.equal(count('DeleteStackCommand'), 0);
  });

  it('a missing stack without a template cannot be created', async () => {
    await assert.rejects(
      run((i) => cfn.deployCloudFormationStack(i), { stackName: 'ghost', region: REGION, parameters: {} }),
      nonRetryable('NoTemplate', 'ghost', 'does not exist'),
    );
  });

  it('a template the service refuses fails the check, non-retryably', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ Resources: { Topic: { Type: 'AWS::SNS::Topic', Properties: { Nope: 1 } } } }));
    await assert.rejects(
      run((i) => cfn.describeCloudFormationStack(i), { stackName: 'shop-network', region: REGION, templateFile: bad }),
      nonRetryable('ValidationError', 'shop-network'),
    );
  });

  it('a template file the worker cannot read fails non-retryably', async () => {
    await assert.rejects(
      run((i) => cfn.deployCloudFormationStack(i), {
        stackName: 'shop-network',
        region: REGION,
        templateFile: join(dir, 'missing.json'),
      }),
      nonRetryable('TemplateNotReadable', 'missing.json'),
    );
  });

  it('the wait on a stack that does not exist fails non-retryably', async () => {
    await assert.rejects(
      run((i) => cfn.waitForCloudFormationStack(i), { stackName: 'ghost', region: REGION }),
      nonRetryable('CloudFormationStackNotFound', 'ghost'),
    );
  });

  it('the schema refuses parameters that look like secrets', () => {
    const result = cfnSchema.safeParse({ ...component(), parameters: { DbPassword: 'hunter2' } });
    assert.equal(result.success, false);
    assert.match(JSON.stringify(result.error?.issues), /never as a parameter/);
  });
});

describe('cloudformation-stack activities (mocked AWS)', () => {
  const aws = createAwsClients({ region: REGION });
  const mocked = mockClient(aws.cloudformation(REGION));
  const cfn = createCloudFormationActivities(aws, { pollIntervalMs: 5 });
  afterEach(() => mocked.reset());
  after(() => mocked.restore());

  const ID = 'arn:aws:cloudformation:us-east-1:123456789012:stack/shop-network/1';
  const stack = (StackStatus: string, more: Partial<Stack> = {}) => ({
    Stacks: [
      {
        StackName: 'shop-network',
        StackId: ID,
        StackStatus,
        CreationTime: new Date('2026-01-01T00:00:00Z'),
        ...more,
      } as Stack,
    ],
  });
  const ref = { stackName: 'shop-network', region: REGION };
  const event = (LogicalResourceId: string, ResourceStatus: string, reason?: string, more: Partial<StackEvent> = {}) =>
    ({
      StackName: 'shop-network',
      StackId: ID,
      EventId: `${LogicalResourceId}-${ResourceStatus}`,
      Timestamp: new Date(),
      LogicalResourceId,
      ResourceType: LogicalResourceId === 'shop-network' ? 'AWS::CloudFormation::Stack' : 'AWS::EC2::Subnet',
      ResourceStatus,
      ...(reason ? { ResourceStatusReason: reason } : {}),
      ...more,
    }) as StackEvent;

  it('(mocked: moto cannot keep a stack UPDATE_IN_PROGRESS) heartbeats through a slow update, returns once UPDATE_COMPLETE', async () => {
    mocked
      .on(DescribeStacksCommand)
      .resolvesOnce(stack('UPDATE_IN_PROGRESS'))
      .resolvesOnce(stack('UPDATE_IN_PROGRESS'))
      .resolvesOnce(stack('UPDATE_COMPLETE_CLEANUP_IN_PROGRESS'))
      .resolves(stack('UPDATE_COMPLETE', { Outputs: [{ OutputKey: 'VpcId', OutputValue: 'vpc-1' }] }));
    const env = envOf();
    const beats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => beats.push(details));
    const result = await run((i) => cfn.waitForCloudFormationStack(i), ref, env);
    assert.deepEqual([result.status, result.outputs], ['UPDATE_COMPLETE', { VpcId: 'vpc-1' }]);
    assert.deepEqual(
      beats.map((b) => (b as { status: string }).status),
      ['UPDATE_IN_PROGRESS', 'UPDATE_IN_PROGRESS', 'UPDATE_COMPLETE_CLEANUP_IN_PROGRESS'],
    );
  });

  it('(mocked: moto cannot fail an update) UPDATE_ROLLBACK_COMPLETE fails the wait, naming the stack and the first failed resource', async () => {
    mocked
      .on(DescribeStacksCommand)
      .resolvesOnce(stack('UPDATE_ROLLBACK_IN_PROGRESS'))
      .resolves(stack('UPDATE_ROLLBACK_COMPLETE'))
      .on(DescribeStackEventsCommand)
      .resolves({
        StackEvents: [
          event('shop-network', 'UPDATE_ROLLBACK_COMPLETE'),
          event('PrivateSubnetB', 'UPDATE_FAILED', 'Resource update cancelled'),
          event('PrivateSubnetA', 'UPDATE_FAILED', 'The CIDR 10.0.9.0/24 conflicts with another subnet'),
          event('shop-network', 'UPDATE_IN_PROGRESS', 'User Initiated'),
          event('OldSubnet', 'CREATE_FAILED', 'an older failure'),
        ],
      });
    await assert.rejects(
      run((i) => cfn.waitForCloudFormationStack(i), ref),
      nonRetryable(
        'CloudFormationStackFailed',
        'shop-network',
        'UPDATE_ROLLBACK_COMPLETE',
        'PrivateSubnetA',
        'conflicts with another subnet',
      ),
    );
  });

  it('(mocked: moto cannot leave a stack in ROLLBACK_COMPLETE) update refuses it; recreate deletes it and creates it again', async () => {
    const events = {
      StackEvents: [
        event('shop-network', 'ROLLBACK_COMPLETE'),
        event('Vpc', 'CREATE_FAILED', 'limit exceeded'),
        event('shop-network', 'CREATE_IN_PROGRESS', 'User Initiated'),
      ],
    };
    mocked
      .on(DescribeStacksCommand)
      .resolves(stack('ROLLBACK_COMPLETE'))
      .on(DescribeStackEventsCommand)
      .resolves(events);
    await assert.rejects(
      run((i) => cfn.deployCloudFormationStack(i), { ...ref, templateFile, parameters: { Environment: 'prod' } }),
      nonRetryable('CloudFormationStackNotUpdatable', 'shop-network', 'ROLLBACK_COMPLETE', 'action: recreate'),
    );
    assert.equal(mocked.commandCalls(DeleteStackCommand).length, 0, 'update never deletes');

    mocked.reset();
    const gone = Object.assign(new Error('Stack with id shop-network does not exist'), { name: 'ValidationError' });
    mocked
      .on(DescribeStacksCommand)
      .resolvesOnce(stack('ROLLBACK_COMPLETE'))
      .resolvesOnce(stack('DELETE_IN_PROGRESS'))
      .rejectsOnce(gone)
      .resolves(stack('CREATE_IN_PROGRESS'))
      .on(DescribeStackEventsCommand)
      .resolves(events)
      .on(DeleteStackCommand)
      .resolves({})
      .on(CreateStackCommand)
      .resolves({ StackId: ID });
    const result = await run((i) => cfn.deployCloudFormationStack(i), {
      ...ref,
      templateFile,
      parameters: { Environment: 'prod' },
      action: 'recreate' as const,
    });
    assert.deepEqual([result.operation, result.sentNow, result.status], ['create', true, 'CREATE_IN_PROGRESS']);
    const deleted = mocked.commandCalls(DeleteStackCommand)[0]!.args[0].input;
    assert.equal(deleted.StackName, ID);
    assert.match(deleted.ClientRequestToken ?? '', /^re-[0-9a-f]{16}-delete-[0-9a-f]{12}$/);
    const created = mocked.commandCalls(CreateStackCommand)[0]!.args[0].input;
    assert.deepEqual(created.Parameters, [{ ParameterKey: 'Environment', ParameterValue: 'prod' }]);
    assert.equal(created.TemplateBody, TEMPLATE);
  });

  it('(mocked: moto cannot keep a stack in progress) an operation of this recovery in progress is not started again', async () => {
    const env = envOf();
    const prefix = await run(() => Promise.resolve(tokenPrefix('shop-network')), undefined, env);
    mocked
      .on(DescribeStacksCommand)
      .resolves(stack('UPDATE_IN_PROGRESS'))
      .on(DescribeStackEventsCommand)
      .resolves({
        StackEvents: [
          event('shop-network', 'UPDATE_IN_PROGRESS', 'User Initiated', { ClientRequestToken: `${prefix}update-abc` }),
        ],
      });
    const result = await run((i) => cfn.deployCloudFormationStack(i), { ...ref, templateFile }, env);
    assert.deepEqual([result.operation, result.sentNow], ['in-progress', false]);
    assert.equal(mocked.commandCalls(UpdateStackCommand).length, 0);

    // Someone else's operation: retry later.
    await assert.rejects(
      run((i) => cfn.deployCloudFormationStack(i), { ...ref, templateFile }, envOf('rec-other')),
      (error: unknown) =>
        error instanceof ApplicationFailure && error.type === 'CloudFormationStackBusy' && !error.nonRetryable,
    );
  });

  it('(mocked: moto ignores ClientRequestToken) a retried update before the stack moved sends the same token', async () => {
    mocked
      .on(DescribeStacksCommand)
      .resolves(stack('UPDATE_COMPLETE', { LastUpdatedTime: new Date('2026-02-01T00:00:00Z') }))
      .on(UpdateStackCommand)
      .rejectsOnce(Object.assign(new Error('socket hang up'), { name: 'TimeoutError' }))
      .resolves({ StackId: ID });
    const input = { ...ref, templateFile, parameters: { Environment: 'prod' } };
    await assert.rejects(run((i) => cfn.deployCloudFormationStack(i), input));
    await run((i) => cfn.deployCloudFormationStack(i), input, envOf('rec-1', 2));
    const tokens = mocked.commandCalls(UpdateStackCommand).map((c) => c.args[0].input.ClientRequestToken);
    assert.equal(tokens.length, 2);
    assert.equal(tokens[0], tokens[1]);
    const other = await run(() => Promise.resolve(tokenPrefix('shop-network')), undefined, envOf('rec-2'));
    assert.ok(!tokens[0]!.startsWith(other), 'another recovery sends another token');
  });
});
