import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetBucketVersioningCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  type BucketLocationConstraint,
} from '@aws-sdk/client-s3';
import { setTimeout as sleep } from 'node:timers/promises';
import { cancellationSignal, heartbeat, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsClients } from './aws-clients';
import { awsCall, awsFailure } from './aws-errors';
import { heartbeatWhile } from './heartbeat';

export interface S3Location {
  bucket: string;
  region: string;
}

export interface S3RestoreInput extends S3Location {
  prefix?: string;
  /** ISO time to restore to; `latest`: nothing to roll back (a drill copies the current versions). */
  targetTime: string;
  /** `replica`: the primary region is down; read from and write into the replica, which serves traffic then. */
  source?: 'primary' | 'replica';
  replica?: S3Location;
  /** With `source: 'replica'`: do nothing when the primary bucket answers (it was restored in place). */
  skipIfPrimaryAnswers?: boolean;
  /** `drill`: write only into `${bucket}${drillSuffix}` (created when missing), never into the source. */
  mode?: 'recover' | 'drill';
  drillSuffix?: string;
}

export interface S3RestoreResult {
  /** The bucket written to (the drill bucket in a drill). */
  bucket: string;
  sourceBucket: string;
  region: string;
  targetTime: string;
  /** Keys listed under the prefix, and how many of them existed at the target time. */
  keys: number;
  keysAtTarget: number;
  restored: number;
  deleted: number;
  unchanged: number;
  failed: number;
  /** The first 20 keys that failed, with their error. */
  failures: { key: string; error: string }[];
  recoveryPoint?: string;
  /** Why nothing was done (a replica step while the primary answers). */
  skipped?: string;
}

export interface S3CheckInput extends S3Location {
  prefix?: string;
  /** Also count the keys of this bucket and of `compareWith` (a replica against its primary). */
  compareWith?: S3Location;
}

export interface S3DrillBucketInput extends S3Location {
  /** Production buckets (the source and its replica): never deleted, whatever the drill bucket's name. */
  productionBuckets: string[];
}

/** One version or delete marker of a key, as listed. */
interface Entry {
  versionId: string;
  at: number;
  marker: boolean;
  latest: boolean;
  etag?: string;
  size?: number;
}

type Action = { key: string; copy?: Entry; remove?: true };

/** S3 errors retrying cannot fix, which awsFailure does not know. */
const CONCURRENCY = 8;
const MAX_FAILURES_LISTED = 20;
const COPY_LIMIT_BYTES = 5 * 1024 ** 3;
/** Tries of one copy or delete, each after reading the key back, before the key counts as failed. */
const KEY_ATTEMPTS = 5;
const KEY_BACKOFF_MS = 500;

/**
 * Failures that may pass: no answer, throttling, 5xx. Anything else about one key (an archived
 * object, a denied key) fails that key at once; trying it again cannot change the answer.
 */
function transient(error: unknown): boolean {
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return status === undefined || status === 429 || status >= 500;
}

/** CopySource wants the key URL-encoded (spaces, unicode, `?`, `+`), slashes kept. */
const copySource = (bucket: string, key: string, versionId: string) =>
  `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}?versionId=${encodeURIComponent(versionId)}`;

/**
 * Same bytes, as far as a listing tells. A copy of a single-part, non-KMS object keeps its ETag; a
 * multipart or SSE-KMS one gets a new ETag, so a later run copies it once more (same bytes, a new version).
 */
const sameContent = (a: { etag?: string; size?: number }, b: { etag?: string; size?: number }) =>
  !!a.etag && a.etag === b.etag && a.size === b.size;

/** The key's current entry and the one current at `target` (undefined: the key did not exist then). */
function stateOf(entries: Entry[], target: number | 'latest') {
  // Newest first; listing times have second precision, so among equals the current one comes first.
  const sorted = [...entries].sort((a, b) => b.at - a.at || Number(b.latest) - Number(a.latest));
  const current = sorted.find((e) => e.latest) ?? sorted[0];
  const then = target === 'latest' ? current : sorted.find((e) => e.at <= target);
  return { current, then: then?.marker ? undefined : then };
}

export function createS3RestoreActivities(aws: AwsClients) {
  /** Enabled or Suspended; a bucket never versioned kept no earlier versions, which retrying cannot change. */
  async function versioning({ bucket, region }: S3Location): Promise<string> {
    const { Status } = await awsCall(`read versioning of bucket ${bucket}`, 's3:GetBucketVersioning', (abortSignal) =>
      aws.s3(region).send(new GetBucketVersioningCommand({ Bucket: bucket }), { abortSignal }),
    );
    if (!Status) {
      throw ApplicationFailure.nonRetryable(
        `bucket ${bucket} (${region}) is not versioned: S3 kept no earlier versions to restore`,
        'BucketNotVersioned',
      );
    }
    return Status;
  }

  /** Every version and delete marker under the prefix, by key; heartbeats per page. */
  async function listVersions({ bucket, region }: S3Location, prefix: string, progress: Record<string, unknown>) {
    const byKey = new Map<string, Entry[]>();
    const add = (key: string | undefined, entry: Entry) => {
      if (key === undefined) return;
      const entries = byKey.get(key);
      if (entries) entries.push(entry);
      else byKey.set(key, [entry]);
    };
    let marker: { KeyMarker?: string; VersionIdMarker?: string } = {};
    for (let pages = 1; ; pages++) {
      const page = await awsCall(`list versions of s3://${bucket}/${prefix}`, 's3:ListBucketVersions', (abortSignal) =>
        aws.s3(region).send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: prefix || undefined, ...marker }), {
          abortSignal,
        }),
      );
      for (const v of page.Versions ?? []) {
        add(v.Key, {
          versionId: v.VersionId ?? 'null',
          at: v.LastModified?.getTime() ?? 0,
          marker: false,
          latest: !!v.IsLatest,
          etag: v.ETag,
          size: v.Size,
        });
      }
      for (const d of page.DeleteMarkers ?? []) {
        add(d.Key, {
          versionId: d.VersionId ?? 'null',
          at: d.LastModified?.getTime() ?? 0,
          marker: true,
          latest: !!d.IsLatest,
        });
      }
      Object.assign(progress, { phase: 'listing versions', pages, keys: byKey.size });
      heartbeat(progress);
      if (!page.IsTruncated) return byKey;
      marker = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
    }
  }

  /** Current objects of a bucket under the prefix (the drill bucket), by key. */
  async function listCurrent({ bucket, region }: S3Location, prefix: string) {
    const objects = new Map<string, { etag?: string; size?: number }>();
    let token: string | undefined;
    do {
      const page = await awsCall(`list objects of s3://${bucket}/${prefix}`, 's3:ListBucket', (abortSignal) =>
        aws
          .s3(region)
          .send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token }), {
            abortSignal,
          }),
      );
      for (const o of page.Contents ?? []) if (o.Key !== undefined) objects.set(o.Key, { etag: o.ETag, size: o.Size });
      heartbeat({ phase: `listing ${bucket}`, keys: objects.size });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return objects;
  }

  /** The current object of one key (undefined: none, or a delete marker), from the version listing. */
  async function currentOf({ bucket, region }: S3Location, key: string) {
    const page = await awsCall(`read back s3://${bucket}/${key}`, 's3:ListBucketVersions', (abortSignal) =>
      aws.s3(region).send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: key }), { abortSignal }),
    );
    // The prefix also lists longer keys; versions and markers of one key are never both latest.
    if (page.DeleteMarkers?.some((d) => d.Key === key && d.IsLatest)) return undefined;
    const latest = page.Versions?.find((v) => v.Key === key && v.IsLatest);
    return latest && { etag: latest.ETag, size: latest.Size };
  }

  /** Creates the drill bucket unless it exists, with versioning on (a drill's copies are versions too). */
  async function ensureDrillBucket({ bucket, region }: S3Location): Promise<void> {
    const s3 = aws.s3(region);
    try {
      await awsCall(`create drill bucket ${bucket}`, 's3:CreateBucket', (abortSignal) =>
        s3.send(
          new CreateBucketCommand({
            Bucket: bucket,
            ...(region === 'us-east-1'
              ? {}
              : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
          }),
          { abortSignal },
        ),
      );
    } catch (error) {
      if (!(error instanceof Error && error.name === 'BucketAlreadyOwnedByYou')) throw error;
    }
    await awsCall(`turn versioning on in drill bucket ${bucket}`, 's3:PutBucketVersioning', (abortSignal) =>
      s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }), {
        abortSignal,
      }),
    );
  }

  /** Whether the primary bucket answers at all; a region that is down answers nothing (or 5xx). */
  async function answers({ bucket, region }: S3Location): Promise<boolean> {
    const signal = AbortSignal.any([cancellationSignal(), AbortSignal.timeout(30_000)]);
    try {
      await aws.s3(region).send(new HeadBucketCommand({ Bucket: bucket }), { abortSignal: signal });
      return true;
    } catch (error) {
      if (cancellationSignal().aborted) throw cancellationSignal().reason;
      if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 403) {
        throw ApplicationFailure.nonRetryable(
          `check whether primary bucket ${bucket} (${region}) answers: access denied: the worker's role needs s3:ListBucket`,
          'AccessDenied',
        );
      }
      log.warn('Primary bucket does not answer', { bucket, region, error: String(error) });
      return false;
    }
  }

  return {
    /** Versioning of a bucket (must have been enabled), and optionally its key count against another's. */
    async checkS3Bucket(input: S3CheckInput) {
      const status = await versioning(input);
      if (!input.compareWith) return { bucket: input.bucket, region: input.region, versioning: status };
      const prefix = input.prefix ?? '';
      const keys = (await listCurrent(input, prefix)).size;
      const otherKeys = (await listCurrent(input.compareWith, prefix)).size;
      return {
        bucket: input.bucket,
        region: input.region,
        versioning: status,
        keys,
        compareWith: { ...input.compareWith, keys: otherKeys },
      };
    },

    /**
     * Brings every key under the prefix back to its state at the target time: copies the version
     * current then over the current one, or deletes (a delete marker) a key that did not exist then.
     * Only keys that differ are touched, so a second run changes nothing. Per-key failures do not stop
     * the others; the run then fails (retryable) listing them, and a retry redoes only what still differs.
     */
    async restoreS3Objects(input: S3RestoreInput): Promise<S3RestoreResult> {
      const primary = { bucket: input.bucket, region: input.region };
      if (input.source === 'replica' && !input.replica) {
        throw ApplicationFailure.nonRetryable(
          `restore of ${input.bucket} from its replica: no replica given`,
          'NoReplica',
        );
      }
      const source = input.source === 'replica' ? input.replica! : primary;
      const drill = input.mode === 'drill';
      if (drill && !input.drillSuffix) {
        throw ApplicationFailure.nonRetryable(`drill of ${input.bucket}: a drillSuffix is required`, 'NoDrillSuffix');
      }
      const target = drill ? { bucket: `${input.bucket}${input.drillSuffix}`, region: source.region } : source;
      if (drill && [input.bucket, input.replica?.bucket].includes(target.bucket)) {
        throw ApplicationFailure.nonRetryable(
          `drill of ${input.bucket}: drill bucket ${target.bucket} would be a production bucket`,
          'DrillTargetIsProduction',
        );
      }
      const prefix = input.prefix ?? '';
      const latest = input.targetTime === 'latest';
      const targetMs = latest ? 'latest' : Date.parse(input.targetTime);
      if (Number.isNaN(targetMs)) {
        throw ApplicationFailure.nonRetryable(
          `targetTime ${input.targetTime}: expected an ISO time or "latest"`,
          'BadTargetTime',
        );
      }
      const result: S3RestoreResult = {
        bucket: target.bucket,
        sourceBucket: source.bucket,
        region: source.region,
        targetTime: input.targetTime,
        keys: 0,
        keysAtTarget: 0,
        restored: 0,
        deleted: 0,
        unchanged: 0,
        failed: 0,
        failures: [],
        ...(latest ? {} : { recoveryPoint: new Date(targetMs).toISOString() }),
      };
      if (input.source === 'replica' && input.skipIfPrimaryAnswers && (await answers(primary))) {
        return {
          ...result,
          recoveryPoint: undefined,
          skipped: `primary bucket ${primary.bucket} answers: it was restored in place, not the replica`,
        };
      }
      const progress: Record<string, unknown> = { phase: 'checking versioning' };
      return heartbeatWhile(work(), () => progress);

      async function work(): Promise<S3RestoreResult> {
        await versioning(source);
        if (drill) await ensureDrillBucket(target);
        const byKey = await listVersions(source, prefix, progress);
        const inTarget = drill ? await listCurrent(target, prefix) : undefined;
        const actions: Action[] = [];
        for (const [key, entries] of byKey) {
          const { current, then } = stateOf(entries, targetMs);
          if (then) result.keysAtTarget++;
          // What the destination holds now: the drill bucket's object, or the source's current version.
          const now = drill ? inTarget!.get(key) : current && !current.marker ? current : undefined;
          if (!then) actions.push(now ? { key, remove: true } : { key });
          else if (now && ((!drill && current === then) || sameContent(now, then))) actions.push({ key });
          else actions.push({ key, copy: then });
        }
        // Leftovers of an earlier drill under the prefix that the source never had.
        for (const key of inTarget?.keys() ?? []) if (!byKey.has(key)) actions.push({ key, remove: true });
        result.keys = byKey.size;
        await apply(actions);
        if (result.failed > 0) {
          throw ApplicationFailure.create({
            message: `restore of s3://${source.bucket}/${prefix} into ${target.bucket} to ${input.targetTime}: ${result.failed} of ${result.keys} keys failed: ${result.failures.map((f) => f.error).join('; ')}`,
            type: 'S3RestoreIncomplete',
            nonRetryable: false,
            details: [result],
          });
        }
        return result;
      }

      /**
       * One copy or delete, sent once per try (no SDK retry): a try whose response is lost may still
       * have been carried out, so before trying again the key is read back, and the write is not
       * repeated if it is already as wanted. A repeat would leave one more version or delete marker.
       */
      async function writeKey({ key, copy }: Action, signal: AbortSignal): Promise<void> {
        const what = `${copy ? 'copy' : 'delete'} s3://${target.bucket}/${key}`;
        const permission = copy ? 's3:PutObject and s3:GetObjectVersion' : 's3:DeleteObject';
        if (copy && (copy.size ?? 0) > COPY_LIMIT_BYTES)
          throw new Error(
            `${what}: larger than 5 GiB, the CopyObject limit: copy this version by hand (upload-part-copy)`,
          );
        const s3 = aws.s3SingleAttempt(target.region);
        for (let attempt = 1; ; attempt++) {
          try {
            if (copy) {
              const CopySource = copySource(source.bucket, key, copy.versionId);
              await s3.send(new CopyObjectCommand({ Bucket: target.bucket, Key: key, CopySource }), {
                abortSignal: signal,
              });
            } else {
              await s3.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: key }), { abortSignal: signal });
            }
            return;
          } catch (error) {
            const failure = awsFailure(error, what, permission);
            const final = failure instanceof ApplicationFailure && failure.nonRetryable;
            if (signal.aborted || final || attempt >= KEY_ATTEMPTS || !transient(error)) throw failure;
            log.warn('S3 write failed; checking the key before trying again', { key, attempt, error: failure.message });
          }
          await sleep(Math.min(KEY_BACKOFF_MS * 2 ** (attempt - 1), 10_000) * (0.5 + Math.random() / 2), undefined, {
            signal,
          });
          const now = await currentOf(target, key);
          if (copy ? now && sameContent(now, copy) : !now) {
            log.info('An earlier try of this S3 write was carried out; not repeating it', { key });
            return;
          }
        }
      }

      /** Runs the copies and deletes a few at a time; stops at once on cancellation or a bucket-wide error. */
      async function apply(actions: Action[]): Promise<void> {
        const signal = cancellationSignal();
        let next = 0;
        let fatal: Error | undefined;
        const runner = async () => {
          while (next < actions.length && !fatal && !signal.aborted) {
            const action = actions[next++]!;
            if (!action.copy && !action.remove) {
              result.unchanged++;
              continue;
            }
            try {
              await writeKey(action, signal);
              if (action.copy) result.restored++;
              else result.deleted++;
            } catch (error) {
              if (signal.aborted) return;
              // Access denied, a missing bucket: every other key would fail the same way.
              if (error instanceof ApplicationFailure && error.nonRetryable) fatal = error;
              result.failed++;
              if (result.failures.length < MAX_FAILURES_LISTED)
                result.failures.push({ key: action.key, error: (error as Error).message });
            }
            Object.assign(progress, { phase: 'restoring', done: next, of: actions.length, ...counts(result) });
            heartbeat(progress);
          }
        };
        await Promise.all(Array.from({ length: CONCURRENCY }, runner));
        if (signal.aborted) throw signal.reason;
        if (fatal) throw fatal;
      }
    },

    /**
     * Drill teardown: deletes every object version and delete marker of the drill bucket, then the
     * bucket; succeeds when it does not exist. A production bucket is never deleted.
     */
    async deleteS3DrillBucket(input: S3DrillBucketInput) {
      const { bucket, region } = input;
      const what = `delete S3 drill bucket ${bucket} (${region})`;
      if (input.productionBuckets.includes(bucket))
        throw ApplicationFailure.nonRetryable(`${what}: it is a production bucket`, 'DrillIsProduction');
      const s3 = aws.s3(region);
      const progress = { phase: 'emptying the drill bucket', bucket, deleted: 0 };
      const gone = (error: unknown) => error instanceof Error && error.name === 'NoSuchBucket';

      async function empty(): Promise<boolean> {
        for (;;) {
          // Always the first page: each round deletes what it lists.
          const page = await awsCall(`${what}: list versions`, 's3:ListBucketVersions', async (abortSignal) => {
            try {
              return await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }), { abortSignal });
            } catch (error) {
              if (gone(error)) return undefined;
              throw error;
            }
          });
          if (!page) return false;
          const objects = [...(page.Versions ?? []), ...(page.DeleteMarkers ?? [])].flatMap((v) =>
            v.Key === undefined ? [] : [{ Key: v.Key, VersionId: v.VersionId }],
          );
          if (objects.length === 0) return true;
          const { Errors = [] } = await awsCall(`${what}: delete versions`, 's3:DeleteObjectVersion', (abortSignal) =>
            s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: objects, Quiet: true } }), {
              abortSignal,
            }),
          );
          if (Errors.length)
            throw ApplicationFailure.retryable(
              `${what}: ${Errors.length} versions not deleted, e.g. ${Errors[0]!.Key} (${Errors[0]!.Code}: ${Errors[0]!.Message})`,
              'S3DeleteIncomplete',
            );
          progress.deleted += objects.length;
          heartbeat(progress);
        }
      }

      return heartbeatWhile(
        (async () => {
          const exists = await empty();
          if (exists)
            await awsCall(`${what}: delete the bucket`, 's3:DeleteBucket', async (abortSignal) => {
              try {
                await s3.send(new DeleteBucketCommand({ Bucket: bucket }), { abortSignal });
              } catch (error) {
                if (!gone(error)) throw error;
              }
            });
          if (exists) log.info('Drill bucket deleted', { bucket, region, versions: progress.deleted });
          return { bucket, region, deletedNow: exists, versionsDeleted: progress.deleted };
        })(),
        () => progress,
      );
    },
  };
}
const counts = ({ restored, deleted, unchanged, failed }: S3RestoreResult) => ({
  restored,
  deleted,
  unchanged,
  failed,
});
