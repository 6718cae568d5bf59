/** The S3 restore for real on moto: versions rolled back key by key, drills, the replica, errors. */
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { mockClient } from 'aws-sdk-client-mock';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { createS3RestoreActivities, type S3RestoreInput, type S3RestoreResult } from '../activities/s3-restore';
import { s3BucketKind, schema as s3BucketSchema } from '../plan/kinds/s3-bucket';
import type { StepAutomation } from '../plan/kinds/define';
import type { MotoServer } from '../toolchain/moto-server';
import { runActivity } from './helpers/activity';
import { startFaultProxy } from './helpers/fault-proxy';
import { startMoto } from './helpers/servers';

const ODD = 'invoices/März ?total=1&x+y #%.pdf';

/** What each bucket holds at the target time, and what the incident did afterwards. */
const BEFORE: Record<string, string> = {
  'invoices/overwritten.txt': 'v1',
  'invoices/deleted.txt': 'keep me',
  'invoices/unchanged.txt': 'same',
  [ODD]: 'odd v1',
  'images/logo.png': 'logo v1',
};

/**
 * Listing times have second precision: the target time is the last millisecond of the current
 * second, and what happens after it waits for the next second.
 */
async function markTargetTime(): Promise<string> {
  const end = Math.floor(Date.now() / 1000) * 1000 + 999;
  await sleep(end + 21 - Date.now());
  return new Date(end).toISOString();
}

describe('S3 restore to a point in time (moto)', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  let targetTime: string;

  before(async () => {
    moto = await startMoto();
    aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
  });
  after(() => moto?.stop());
  beforeEach(() => moto.reset());

  const s3 = (region = 'us-east-1') => aws.s3(region);

  async function createBucket(bucket: string, region = 'us-east-1', versioned = true) {
    await s3(region).send(
      new CreateBucketCommand({
        Bucket: bucket,
        ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as 'us-west-2' } }),
      }),
    );
    if (versioned) {
      await s3(region).send(
        new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
      );
    }
  }
  const put = (bucket: string, key: string, body: string, region = 'us-east-1') =>
    s3(region).send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));

  /** The incident: before the target time the BEFORE contents; after it, every kind of change. */
  async function stageIncident(bucket = 'assets', region = 'us-east-1') {
    await createBucket(bucket, region);
    for (const [key, body] of Object.entries(BEFORE)) await put(bucket, key, body, region);
    await put(bucket, 'invoices/gone-before.txt', 'x', region);
    await s3(region).send(new DeleteObjectCommand({ Bucket: bucket, Key: 'invoices/gone-before.txt' }));
    targetTime = await markTargetTime();
    await put(bucket, 'invoices/overwritten.txt', 'v2 corrupted', region);
    await s3(region).send(new DeleteObjectCommand({ Bucket: bucket, Key: 'invoices/deleted.txt' }));
    await put(bucket, 'invoices/created-after.txt', 'new', region);
    await put(bucket, ODD, 'odd v2', region);
    await put(bucket, 'images/logo.png', 'logo v2', region);
  }

  /** Every key's current body (absent keys left out). */
  async function contents(bucket: string, region = 'us-east-1'): Promise<Record<string, string>> {
    const result: Record<string, string> = {};
    const { Versions = [] } = await s3(region).send(new ListObjectVersionsCommand({ Bucket: bucket }));
    for (const v of Versions.filter((v) => v.IsLatest)) {
      const object = await s3(region).send(new GetObjectCommand({ Bucket: bucket, Key: v.Key }));
      result[v.Key!] = await object.Body!.transformToString();
    }
    return result;
  }

  /** Every version and delete marker id: equal before and after means nothing was written. */
  async function history(bucket: string, region = 'us-east-1'): Promise<string[]> {
    const page = await s3(region).send(new ListObjectVersionsCommand({ Bucket: bucket }));
    return [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].map((v) => `${v.Key} ${v.VersionId}`).sort();
  }

  const activities = () => createS3RestoreActivities(aws);
  const restore = (input: Partial<S3RestoreInput>, env?: MockActivityEnvironment, clients = aws) =>
    runActivity(
      (i: S3RestoreInput) => createS3RestoreActivities(clients).restoreS3Objects(i),
      { bucket: 'assets', region: 'us-east-1', targetTime, ...input },
      env,
    );
  const counts = ({ restored, deleted, unchanged, failed }: S3RestoreResult) => ({
    restored,
    deleted,
    unchanged,
    failed,
  });
  const AT_TARGET = { ...BEFORE };

  it('rolls every key back: overwritten, deleted, created after, odd names; unchanged keys untouched', async () => {
    await stageIncident();
    const unchangedBefore = (await history('assets')).filter((v) => v.startsWith('invoices/unchanged.txt'));

    const result = await restore({});

    assert.deepEqual(await contents('assets'), AT_TARGET);
    assert.deepEqual(counts(result), { restored: 4, deleted: 1, unchanged: 2, failed: 0 });
    assert.equal(result.keys, 7);
    assert.equal(result.keysAtTarget, 5);
    assert.equal(result.recoveryPoint, targetTime);
    assert.deepEqual(
      (await history('assets')).filter((v) => v.startsWith('invoices/unchanged.txt')),
      unchangedBefore,
      'no new version of a key that did not change',
    );
  });

  it('is idempotent: a second run finds nothing to change and writes nothing', async () => {
    await stageIncident();
    await restore({});
    const written = await history('assets');

    const second = await restore({});

    assert.deepEqual(counts(second), { restored: 0, deleted: 0, unchanged: 7, failed: 0 });
    assert.deepEqual(await history('assets'), written);
    assert.deepEqual(await contents('assets'), AT_TARGET);
  });

  it('honours the prefix: keys outside it are left as they are', async () => {
    await stageIncident();
    const result = await restore({ prefix: 'invoices/' });
    assert.deepEqual(await contents('assets'), { ...AT_TARGET, 'images/logo.png': 'logo v2' });
    assert.deepEqual(counts(result), { restored: 3, deleted: 1, unchanged: 2, failed: 0 });
  });

  it('latest: nothing to roll back, the keys are counted and nothing is written', async () => {
    await stageIncident();
    const written = await history('assets');
    const result = await restore({ targetTime: 'latest' });
    assert.deepEqual(counts(result), { restored: 0, deleted: 0, unchanged: 7, failed: 0 });
    assert.equal(result.recoveryPoint, undefined);
    assert.deepEqual(await history('assets'), written);
  });

  it('drill: copies the state at the target time into the drill bucket, never writes to production', async () => {
    await stageIncident();
    const production = await history('assets');
    await createBucket('assets-drill', 'us-east-1', false); // a leftover of an earlier drill, unversioned
    await put('assets-drill', 'invoices/leftover.txt', 'old drill');

    const first = await restore({ mode: 'drill', drillSuffix: '-drill' });
    const second = await restore({ mode: 'drill', drillSuffix: '-drill' });

    assert.deepEqual(await history('assets'), production, 'production untouched');
    assert.deepEqual(await contents('assets-drill'), AT_TARGET);
    const { Status } = await s3().send(new GetBucketVersioningCommand({ Bucket: 'assets-drill' }));
    assert.equal(Status, 'Enabled');
    assert.equal(first.bucket, 'assets-drill');
    assert.deepEqual(counts(first), { restored: 5, deleted: 1, unchanged: 2, failed: 0 });
    assert.deepEqual(counts(second), { restored: 0, deleted: 0, unchanged: 7, failed: 0 });
  });

  it('drill: creates the drill bucket when it is missing', async () => {
    await stageIncident();
    await restore({ mode: 'drill', drillSuffix: '-drill', prefix: 'images/' });
    assert.deepEqual(await contents('assets-drill'), { 'images/logo.png': 'logo v1' });
  });

  it('replica: reads from and writes into the replica; the primary is not touched', async () => {
    await stageIncident('assets-replica', 'us-west-2');
    await createBucket('assets');
    await put('assets', 'invoices/overwritten.txt', 'primary');
    const primary = await history('assets');
    const replica = { bucket: 'assets-replica', region: 'us-west-2' };

    const result = await restore({ source: 'replica', replica });

    assert.deepEqual(await contents('assets-replica', 'us-west-2'), AT_TARGET);
    assert.deepEqual(await history('assets'), primary);
    assert.equal(result.bucket, 'assets-replica');
    assert.equal(result.region, 'us-west-2');
  });

  it('replica step: does nothing while the primary answers, restores the replica when it does not', async () => {
    await stageIncident('assets-replica', 'us-west-2');
    await createBucket('assets');
    const replica = { bucket: 'assets-replica', region: 'us-west-2' };
    const written = await history('assets-replica', 'us-west-2');

    const skipped = await restore({ source: 'replica', replica, skipIfPrimaryAnswers: true });
    assert.match(skipped.skipped ?? '', /primary bucket assets answers/);
    assert.deepEqual(await history('assets-replica', 'us-west-2'), written);

    // us-east-1 down: its endpoint refuses connections (a real network failure, not a mock).
    const down = new S3Client({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', maxAttempts: 1 });
    const regionDown: AwsClients = { ...aws, s3: (region) => (region === 'us-east-1' ? down : aws.s3(region)) };
    const restored = await restore({ source: 'replica', replica, skipIfPrimaryAnswers: true }, undefined, regionDown);
    assert.equal(restored.skipped, undefined);
    assert.deepEqual(await contents('assets-replica', 'us-west-2'), AT_TARGET);
  });

  it('lists page by page, heartbeating each page', async () => {
    await createBucket('assets');
    // A listing page holds 1000 entries: 1001 keys make two pages.
    let next = 0;
    const putBulk = async () => {
      while (next < 1000) await put('assets', `bulk/${String(next++).padStart(4, '0')}`, 'b');
    };
    await Promise.all(Array.from({ length: 40 }, putBulk));
    await put('assets', 'zz/last.txt', 'v1');
    targetTime = await markTargetTime();
    await put('assets', 'zz/last.txt', 'v2');
    const env = new MockActivityEnvironment();
    const pages = new Set<number>();
    env.on(
      'heartbeat',
      (d: { phase?: string; pages?: number }) => d.phase === 'listing versions' && pages.add(d.pages!),
    );

    const result = await restore({}, env);

    assert.deepEqual([...pages], [1, 2]);
    assert.deepEqual(counts(result), { restored: 1, deleted: 0, unchanged: 1000, failed: 0 });
    const last = await s3().send(new GetObjectCommand({ Bucket: 'assets', Key: 'zz/last.txt' }));
    assert.equal(await last.Body!.transformToString(), 'v1', 'a key of the second page was restored');
  });

  it('a key that cannot be copied does not stop the others; the run then fails, retryable, naming it', async () => {
    await createBucket('assets');
    await s3().send(
      new PutObjectCommand({ Bucket: 'assets', Key: 'archive.bin', Body: 'cold', StorageClass: 'GLACIER' }),
    );
    await put('assets', 'hot.txt', 'v1');
    targetTime = await markTargetTime();
    await put('assets', 'archive.bin', 'overwritten');
    await put('assets', 'hot.txt', 'v2');

    await assert.rejects(restore({}), (error: unknown) => {
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, 'S3RestoreIncomplete');
      assert.equal(error.nonRetryable, false);
      assert.match(
        error.message,
        /1 of 2 keys failed: copy s3:\/\/assets\/archive\.bin: HTTP 403 ObjectNotInActiveTierError: /,
      );
      const [details] = error.details as [S3RestoreResult];
      assert.deepEqual(counts(details), { restored: 1, deleted: 0, unchanged: 0, failed: 1 });
      assert.equal(details.failures[0]!.key, 'archive.bin');
      return true;
    });
    assert.equal((await contents('assets'))['hot.txt'], 'v1', 'the other key was restored');
  });

  it('a copy or delete whose response is lost is not sent again: one new version or marker per changed key', async () => {
    await stageIncident();
    const before = await history('assets');
    const proxy = await startFaultProxy(moto.endpoint, { rate: 0.4, faults: ['lose-response'], seed: 7 });
    const faulty = createAwsClients({ endpoint: proxy.endpoint, region: 'us-east-1' });
    // As Temporal would: attempts until one succeeds, each listing again and doing what still differs.
    let result: S3RestoreResult | undefined;
    for (let attempt = 1; !result && attempt <= 10; attempt++)
      result = await restore({}, undefined, faulty).catch(() => undefined);
    await proxy.stop();

    assert.ok(result, 'the restore completed within 10 attempts');
    assert.ok(proxy.stats.faults['lose-response'] >= 3, `responses lost: ${JSON.stringify(proxy.stats)}`);
    assert.deepEqual(await contents('assets'), AT_TARGET);
    const written = (await history('assets')).filter((v) => !before.includes(v));
    assert.deepEqual(
      written.map((v) => v.slice(0, v.lastIndexOf(' '))).sort(),
      ['images/logo.png', 'invoices/created-after.txt', 'invoices/deleted.txt', 'invoices/overwritten.txt', ODD].sort(),
      'each changed key written exactly once',
    );
  });

  it('a call that keeps failing with 5xx is retried by the SDK 5 times, then names the call, the bucket and the status', async () => {
    await createBucket('assets');
    const proxy = await startFaultProxy(moto.endpoint, { rate: 1, faults: ['error500'] });
    const faulty = createAwsClients({ endpoint: proxy.endpoint, region: 'us-east-1' });
    await assert.rejects(restore({}, undefined, faulty), (error: Error) => {
      assert.match(error.message, /^read versioning of bucket assets: HTTP 500 \w+/);
      assert.doesNotMatch(error.message, /hidden field/, 'no SDK hint the operator cannot follow');
      assert.ok(!(error instanceof ApplicationFailure && error.nonRetryable), 'left to the activity retry policy');
      return true;
    });
    await proxy.stop();
    assert.equal(proxy.stats.calls, 5);
  });

  it('a missing bucket stops at once, not retryable, naming the bucket', async () => {
    targetTime = new Date().toISOString();
    await assert.rejects(restore({ bucket: 'no-such-assets' }), (error: unknown) => {
      assert.ok(error instanceof ApplicationFailure);
      assert.equal(error.type, 'NoSuchBucket');
      assert.equal(error.nonRetryable, true);
      assert.match(error.message, /^read versioning of bucket no-such-assets: NoSuchBucket/);
      return true;
    });
  });

  it('an unversioned bucket stops at once: there are no earlier versions to restore', async () => {
    await createBucket('assets', 'us-east-1', false);
    targetTime = new Date().toISOString();
    await assert.rejects(restore({}), { name: 'ApplicationFailure', type: 'BucketNotVersioned', nonRetryable: true });
    await assert.rejects(
      runActivity((i) => activities().checkS3Bucket(i), { bucket: 'assets', region: 'us-east-1' }),
      /bucket assets \(us-east-1\) is not versioned/,
    );
  });

  it('stops when cancelled: cancelled while listing, it writes nothing', async () => {
    await stageIncident();
    const written = await history('assets');
    const env = new MockActivityEnvironment();
    env.on('heartbeat', (d: { phase?: string }) => d.phase === 'listing versions' && env.cancel());
    await assert.rejects(restore({}, env), (error: unknown) => error instanceof CancelledFailure);
    await sleep(200);
    assert.deepEqual(await history('assets'), written);
  });

  it('checkS3Bucket: versioning, and key counts of a replica against its primary', async () => {
    await stageIncident('assets-replica', 'us-west-2');
    await createBucket('assets');
    await put('assets', 'invoices/one.txt', '1');
    const result = await runActivity((i) => activities().checkS3Bucket(i), {
      bucket: 'assets-replica',
      region: 'us-west-2',
      prefix: 'invoices/',
      compareWith: { bucket: 'assets', region: 'us-east-1' },
    });
    assert.deepEqual(result, {
      bucket: 'assets-replica',
      region: 'us-west-2',
      versioning: 'Enabled',
      keys: 4,
      compareWith: { bucket: 'assets', region: 'us-east-1', keys: 1 },
    });
  });

  it('the s3-bucket runbook runs these activities: automated and covered steps', () => {
    const component = s3BucketSchema.parse({
      kind: 's3-bucket',
      id: 'assets',
      bucket: 'assets',
      region: 'us-east-1',
      replica: { bucket: 'assets-replica', region: 'us-west-2' },
    });
    const context = { mode: 'recover' as const, targetTime: '2026-03-01T02:30:00Z', drillSuffix: '-drill' };
    const steps = s3BucketKind.steps(component, context);
    assert.deepEqual(
      steps.map((s) => [s.id, s.automation && ('activity' in s.automation ? s.automation.activity : s.automation)]),
      [
        ['check-versioning', 'checkS3Bucket'],
        ['list-versions', { coveredBy: 'restore' }],
        ['plan-restore', { coveredBy: 'restore' }],
        ['restore', 'restoreS3Objects'],
        ['replica', 'restoreS3Objects'],
      ],
    );
    assert.deepEqual((steps[4]!.automation as StepAutomation).input, {
      bucket: 'assets',
      region: 'us-east-1',
      targetTime: '2026-03-01T02:30:00Z',
      source: 'replica',
      replica: { bucket: 'assets-replica', region: 'us-west-2' },
      skipIfPrimaryAnswers: true,
    });
    const drill = s3BucketKind.steps(component, { ...context, mode: 'drill' });
    assert.ok(
      drill.every((s) => s.automation),
      'a drill runs without a person',
    );
    assert.deepEqual((drill.find((s) => s.id === 'copy')!.automation as StepAutomation).input, {
      bucket: 'assets',
      region: 'us-east-1',
      targetTime: '2026-03-01T02:30:00Z',
      mode: 'drill',
      drillSuffix: '-drill',
    });
  });
});

describe('S3 restore: states moto cannot produce', () => {
  it('access denied on a copy names the IAM actions and is not retried (mocked: moto cannot deny access)', async () => {
    const aws = createAwsClients({ region: 'us-east-1' });
    const s3 = mockClient(aws.s3('us-east-1'));
    const writes = mockClient(aws.s3SingleAttempt('us-east-1'));
    const old = new Date('2026-01-01T00:00:00Z');
    s3.on(GetBucketVersioningCommand).resolves({ Status: 'Enabled' });
    s3.on(ListObjectVersionsCommand).resolves({
      IsTruncated: false,
      Versions: [
        { Key: 'a.txt', VersionId: 'v2', IsLatest: true, LastModified: new Date(), ETag: '"2"', Size: 1 },
        { Key: 'a.txt', VersionId: 'v1', IsLatest: false, LastModified: old, ETag: '"1"', Size: 1 },
      ],
    });
    writes
      .on(CopyObjectCommand)
      .rejects(
        new S3ServiceException({ name: 'AccessDenied', $fault: 'client', $metadata: {}, message: 'Access Denied' }),
      );
    await assert.rejects(
      runActivity((i) => createS3RestoreActivities(aws).restoreS3Objects(i), {
        bucket: 'assets',
        region: 'us-east-1',
        targetTime: '2026-02-01T00:00:00Z',
      }),
      (error: unknown) => {
        assert.ok(error instanceof ApplicationFailure);
        assert.equal(error.nonRetryable, true);
        assert.match(
          error.message,
          /^copy s3:\/\/assets\/a\.txt: access denied: the worker's role needs s3:PutObject and s3:GetObjectVersion/,
        );
        return true;
      },
    );
    assert.equal(writes.commandCalls(CopyObjectCommand).length, 1, 'sent once');
    assert.equal(writes.commandCalls(CopyObjectCommand)[0]!.args[0].input.CopySource, 'assets/a.txt?versionId=v1');
  });
});
