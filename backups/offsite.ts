import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NotFound,
  DeleteObjectsCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { verifyTree } from './checksums';
import type { BackupManifest } from './manifest';

/** Where a component's backups are copied off the machine: `s3://<bucket>/<prefix>/<backup id>/…`. */
export interface OffsiteLocation {
  bucket: string;
  region?: string;
  prefix: string;
}

const keyOf = (location: OffsiteLocation, id: string, path: string) =>
  [location.prefix.replace(/\/+$/, ''), id, path].filter(Boolean).join('/');

async function sameObject(s3: S3Client, bucket: string, key: string, sha256: string): Promise<boolean> {
  try {
    const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return head.Metadata?.sha256 === sha256;
  } catch (error) {
    if (error instanceof NotFound || (error as { name?: string }).name === 'NotFound') return false;
    throw error;
  }
}

/**
 * Copies a committed backup to S3: each file (multipart for large ones) unless an object with the
 * same checksum is already there, then the manifest last, so an offsite backup without its
 * manifest is known to be incomplete. Idempotent; returns how many files were sent.
 */
export async function uploadBackup(
  s3: S3Client,
  location: OffsiteLocation,
  localDir: string,
  manifest: BackupManifest,
  onProgress: () => void = () => {},
): Promise<{ uploaded: number; skipped: number }> {
  let uploaded = 0;
  let skipped = 0;
  for (const file of manifest.files) {
    const key = keyOf(location, manifest.id, file.path);
    onProgress();
    if (await sameObject(s3, location.bucket, key, file.sha256)) {
      skipped++;
      continue;
    }
    await new Upload({
      client: s3,
      params: {
        Bucket: location.bucket,
        Key: key,
        Body: createReadStream(join(localDir, file.path)),
        Metadata: { sha256: file.sha256 },
      },
    }).done();
    uploaded++;
  }
  await new Upload({
    client: s3,
    params: {
      Bucket: location.bucket,
      Key: keyOf(location, manifest.id, 'manifest.json'),
      Body: `${JSON.stringify(manifest, null, 2)}\n`,
      ContentType: 'application/json',
    },
  }).done();
  return { uploaded, skipped };
}

/** Manifests of the backups held offsite (those whose manifest arrived), oldest first. */
export async function listOffsite(s3: S3Client, location: OffsiteLocation): Promise<BackupManifest[]> {
  const prefix = location.prefix ? `${location.prefix.replace(/\/+$/, '')}/` : '';
  const manifests: BackupManifest[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: location.bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      if (!object.Key?.endsWith('/manifest.json') || object.Key.slice(prefix.length).split('/').length !== 2) continue;
      const { Body } = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: object.Key }));
      manifests.push(JSON.parse(await Body!.transformToString()) as BackupManifest);
    }
    token = page.NextContinuationToken;
  } while (token);
  return manifests.sort((a, b) => a.recoveryPoint.localeCompare(b.recoveryPoint));
}

/** Fetches an offsite backup into `targetDir` (when the local copy is lost) and checks every file. */
export async function downloadBackup(
  s3: S3Client,
  location: OffsiteLocation,
  manifest: BackupManifest,
  targetDir: string,
): Promise<void> {
  const partial = `${targetDir}.download`;
  for (const file of manifest.files) {
    const target = join(partial, file.path);
    await mkdir(dirname(target), { recursive: true });
    const { Body } = await s3.send(
      new GetObjectCommand({ Bucket: location.bucket, Key: keyOf(location, manifest.id, file.path) }),
    );
    await pipeline(Body as Readable, createWriteStream(target));
  }
  const problems = await verifyTree(partial, manifest.files);
  if (problems.length > 0)
    throw new Error(`offsite copy of ${manifest.id} is damaged: ${problems.slice(0, 5).join('; ')}`);
  await writeFile(join(partial, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(partial, targetDir);
}

/** Deletes an offsite backup: its manifest first, so a half-deleted backup is never taken for a whole one. */
export async function removeOffsite(s3: S3Client, location: OffsiteLocation, manifest: BackupManifest): Promise<void> {
  const keys = ['manifest.json', ...manifest.files.map((f) => f.path)].map((p) => keyOf(location, manifest.id, p));
  for (let i = 0; i < keys.length; i += 1000)
    await s3.send(
      new DeleteObjectsCommand({
        Bucket: location.bucket,
        Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) },
      }),
    );
}
