/**
 * DynamoDB point-in-time recovery for real against moto, as the dynamodb-table kind calls it. moto
 * ignores the restore time and answers ACTIVE at once: a table that stays CREATING, access denied
 * and point-in-time recovery switched off are mocked, and say so.
 */
import {
  DescribeTableCommand,
  DynamoDBServiceException,
  ListTablesCommand,
  PointInTimeRecoveryUnavailableException,
  ResourceNotFoundException,
  RestoreTableToPointInTimeCommand,
  ScanCommand,
  UpdateContinuousBackupsCommand,
  type TableStatus,
} from '@aws-sdk/client-dynamodb';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { mockClient } from 'aws-sdk-client-mock';
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { createDynamoDbPitrActivities, type RestoreTableToPointInTimeInput } from '../activities/dynamodb-pitr';
import type { StepAutomation, StepContext } from '../plan/kinds/define';
import { dynamoDbTableKind, schema as dynamoDbSchema } from '../plan/kinds/dynamodb-table';
import type { MotoServer } from '../toolchain/moto-server';
import { runActivity } from './helpers/activity';
import { createTable } from './helpers/aws-fixtures';
import { startMoto } from './helpers/servers';
import { nonRetryable } from './helpers/assertions';

/** Expected failures are asserted, not logged. */
const quiet = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} };
const envOf = () => new MockActivityEnvironment({}, { logger: quiet });

const input: RestoreTableToPointInTimeInput = {
  sourceTableName: 'sessions',
  targetTableName: 'sessions-restored',
  region: 'us-east-1',
  targetTime: 'latest',
};

describe('DynamoDB point-in-time restore (moto)', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  const restore = (i: RestoreTableToPointInTimeInput) =>
    runActivity((x) => createDynamoDbPitrActivities(aws).restoreDynamoDbTableToPointInTime(x), i, envOf());

  before(async () => {
    moto = await startMoto();
    aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
  });
  after(() => moto?.stop());
  beforeEach(async () => {
    await moto.reset();
    await createTable(aws, 'sessions', 25);
    await aws.dynamodb().send(
      new UpdateContinuousBackupsCommand({
        TableName: 'sessions',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      }),
    );
  });

  const tableNames = async () => ((await aws.dynamodb().send(new ListTablesCommand({}))).TableNames ?? []).sort();
  const describeTable = async (name: string) =>
    (await aws.dynamodb().send(new DescribeTableCommand({ TableName: name }))).Table!;

  it('restores into a new table once, counts its items and reports the recovery point', async () => {
    const first = await restore(input);
    const second = await restore(input);

    assert.deepEqual(
      { ...first, tableArn: undefined, recoveryPoint: undefined },
      {
        tableName: 'sessions-restored',
        tableArn: undefined,
        sourceTableName: 'sessions',
        restoredNow: true,
        itemCount: 25,
        sourceItemCount: 25,
        recoveryPoint: undefined,
      },
    );
    assert.equal(second.restoredNow, false, 'the second run found the table restored from the source');
    assert.equal(second.itemCount, 25);
    assert.deepEqual(await tableNames(), ['sessions', 'sessions-restored']);
    const summary = (await describeTable('sessions-restored')).RestoreSummary!;
    assert.equal(summary.SourceTableArn, (await describeTable('sessions')).TableArn);
    assert.equal(first.recoveryPoint, summary.RestoreDateTime!.toISOString(), 'the restore summary says when');
  });

  it('runs as the kind wires it, with the target time of the recovery', async () => {
    const component = dynamoDbSchema.parse({
      kind: 'dynamodb-table',
      id: 'sessions',
      tableName: 'sessions',
      region: 'us-east-1',
    });
    const context: StepContext = { mode: 'recover', targetTime: '2026-11-21T13:55:00Z', drillSuffix: '-drill' };
    const [restoreStep, waitStep, validateStep] = dynamoDbTableKind.steps(component, context);
    const automation = restoreStep!.automation as StepAutomation;
    assert.equal(automation.activity, 'restoreDynamoDbTableToPointInTime');
    assert.deepEqual(waitStep!.automation, { coveredBy: 'restore' });
    assert.deepEqual(validateStep!.automation, { coveredBy: 'restore' });

    const result = await restore(automation.input as unknown as RestoreTableToPointInTimeInput);
    assert.equal(result.tableName, 'sessions-restored');
    assert.equal(result.itemCount, 25);
    // moto ignores the restore time: it copies the table as it is now and records the moment it did.
    assert.ok(result.recoveryPoint && !Number.isNaN(Date.parse(result.recoveryPoint)));
  });

  it('never touches a table that was not restored from the source', async () => {
    await createTable(aws, 'sessions-restored', 2);
    await assert.rejects(
      restore(input),
      nonRetryable('TargetTableExists', 'sessions-restored', 'was not restored from sessions'),
    );
    await createTable(aws, 'carts', 3);
    await aws.dynamodb().send(
      new RestoreTableToPointInTimeCommand({
        SourceTableName: 'carts',
        TargetTableName: 'carts-restored',
        UseLatestRestorableTime: true,
      }),
    );
    await assert.rejects(
      restore({ ...input, targetTableName: 'carts-restored' }),
      nonRetryable('TargetTableExists', 'carts-restored', 'was not restored from sessions'),
    );
    const { Count } = await aws.dynamodb().send(new ScanCommand({ TableName: 'sessions-restored', Select: 'COUNT' }));
    assert.equal(Count, 2, 'left as it was');
  });

  it('stops at once, naming the source, when the source table does not exist', async () => {
    await assert.rejects(
      restore({ ...input, sourceTableName: 'carts', targetTableName: 'carts-restored' }),
      nonRetryable('SourceTableNotFound', 'source table carts does not exist'),
    );
    assert.deepEqual(await tableNames(), ['sessions']);
  });

  it('refuses a target time that is not a time, before calling AWS', async () => {
    await assert.rejects(
      restore({ ...input, targetTime: '<TARGET_TIME>' }),
      nonRetryable('InvalidTargetTime', '<TARGET_TIME>'),
    );
    assert.deepEqual(await tableNames(), ['sessions']);
  });
});

describe('DynamoDB point-in-time restore (mocked AWS)', () => {
  const aws = createAwsClients({ region: 'us-east-1' });
  const mocked = mockClient(aws.dynamodb('us-east-1'));
  const pitr = createDynamoDbPitrActivities(aws, { pollIntervalMs: 10 });
  afterEach(() => mocked.reset());
  after(() => mocked.restore());

  const notFound = () => new ResourceNotFoundException({ message: 'Requested resource not found', $metadata: {} });
  const table = (status: TableStatus) => ({
    Table: {
      TableName: 'sessions-restored',
      TableStatus: status,
      TableArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/sessions-restored',
      RestoreSummary: {
        SourceTableArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/sessions',
        RestoreDateTime: new Date('2026-11-21T13:55:00Z'),
        RestoreInProgress: status !== 'ACTIVE',
      },
    },
  });

  it('(mocked: moto cannot keep a table CREATING) heartbeats until it is ACTIVE', async () => {
    mocked
      .on(DescribeTableCommand, { TableName: 'sessions-restored' })
      .rejectsOnce(notFound())
      .resolvesOnce(table('CREATING'))
      .resolvesOnce(table('CREATING'))
      .resolves(table('ACTIVE'))
      .on(DescribeTableCommand, { TableName: 'sessions' })
      .resolves({ Table: { TableName: 'sessions', ItemCount: 3 } })
      .on(RestoreTableToPointInTimeCommand)
      .resolves({})
      .on(ScanCommand)
      .resolves({ Count: 3 });
    const env = envOf();
    const beats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => beats.push(details));
    const result = await runActivity(
      (i) => pitr.restoreDynamoDbTableToPointInTime(i),
      { ...input, targetTime: '2026-11-21T13:55:00Z' },
      env,
    );
    assert.equal(result.recoveryPoint, '2026-11-21T13:55:00.000Z');
    assert.equal(result.itemCount, 3);
    assert.equal(beats.filter((b) => (b as { status?: string }).status === 'CREATING').length, 2);
    const [call] = mocked.commandCalls(RestoreTableToPointInTimeCommand);
    assert.deepEqual(call!.args[0].input, {
      SourceTableName: 'sessions',
      TargetTableName: 'sessions-restored',
      RestoreDateTime: new Date('2026-11-21T13:55:00Z'),
    });
  });

  it('(mocked: moto cannot keep a table CREATING) stops waiting when cancelled', async () => {
    mocked.on(DescribeTableCommand).resolves(table('CREATING'));
    const env = envOf();
    env.once('heartbeat', () => env.cancel());
    await assert.rejects(
      runActivity((i) => pitr.restoreDynamoDbTableToPointInTime(i), input, env),
      (error) => error instanceof CancelledFailure,
    );
  });

  it('(mocked: moto cannot deny access) access denied names the table and the IAM action', async () => {
    mocked
      .on(DescribeTableCommand, { TableName: 'sessions-restored' })
      .rejects(notFound())
      .on(DescribeTableCommand, { TableName: 'sessions' })
      .resolves({ Table: { TableName: 'sessions' } })
      .on(RestoreTableToPointInTimeCommand)
      .rejects(
        new DynamoDBServiceException({
          name: 'AccessDeniedException',
          $fault: 'client',
          $metadata: {},
          message: 'not authorized to perform: dynamodb:RestoreTableToPointInTime',
        }),
      );
    await assert.rejects(
      runActivity((i) => pitr.restoreDynamoDbTableToPointInTime(i), input, envOf()),
      nonRetryable(
        'AccessDeniedException',
        'sessions-restored',
        "the worker's role needs dynamodb:RestoreTableToPointInTime",
      ),
    );
  });

  it('(mocked: moto restores whether point-in-time recovery is on or not) PITR switched off stops at once', async () => {
    mocked
      .on(DescribeTableCommand, { TableName: 'sessions-restored' })
      .rejects(notFound())
      .on(DescribeTableCommand, { TableName: 'sessions' })
      .resolves({ Table: { TableName: 'sessions' } })
      .on(RestoreTableToPointInTimeCommand)
      .rejects(
        new PointInTimeRecoveryUnavailableException({
          message: 'Point in time recovery is not enabled',
          $metadata: {},
        }),
      );
    await assert.rejects(
      runActivity((i) => pitr.restoreDynamoDbTableToPointInTime(i), input, envOf()),
      nonRetryable('PointInTimeRecoveryUnavailableException', 'point-in-time recovery is not enabled on sessions'),
    );
  });
});
