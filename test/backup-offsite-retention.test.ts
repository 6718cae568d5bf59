/**
 * Retention of offsite copies (S3 on moto) is planned from what the bucket holds, not from the
 * local directory: a backup whose local copy is gone still expires offsite, and the chain a restore
 * from the offsite copy needs stays there even when the local directory no longer has it.
 */
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { createBackupActivities, type BackedUpComponent } from '../activities/backups';
import { LocalBackupStore } from '../backups/local-store';
import { listOffsite } from '../backups/offsite';
import type { MotoServer } from '../toolchain/moto-server';
import { runActivity } from './helpers/activity';
import { commitSnapshot } from './helpers/backup-fixtures';
import { startMoto } from './helpers/servers';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-offsite-retention-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('offsite retention (moto)', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  const backupDir = join(scratch, 'agama-git');
  const location = { bucket: 'agama-retention', prefix: 'offsite/agama-ansible' };
  const component = {
    id: 'agama-ansible',
    kind: 'git-repo',
    backupDir,
    backup: {
      schedules: [{ type: 'snapshot', cron: '0 * * * *' }],
      retention: '2d',
      verify: 'checksums',
      offsite: { s3: { bucket: location.bucket, prefix: 'offsite' } },
    },
  } as unknown as BackedUpComponent;
  const store = new LocalBackupStore(backupDir);

  /** A snapshot taken at `at`, committed locally and copied offsite. */
  async function backup(at: string): Promise<string> {
    const id = await commitSnapshot(store, component.id, at, { 'repo.bundle': `bundle of ${at}\n` });
    await runActivity(createBackupActivities(aws).copyBackupOffsite, { component, backupId: id });
    return id;
  }

  before(async () => {
    moto = await startMoto();
    aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
    await aws.s3().send(new CreateBucketCommand({ Bucket: location.bucket }));
  });
  after(() => moto?.stop());

  it('expires a backup held only offsite, and keeps offsite the link the oldest moment kept needs', async () => {
    const oldest = await backup('2026-11-20T10:00:00.000Z');
    const link = await backup('2026-11-20T11:00:00.000Z');
    const newest = await backup('2026-11-23T10:00:00.000Z');
    // The machine's disk was replaced: only the newest backup is local again.
    await store.remove(oldest);
    await store.remove(link);

    const result = await runActivity(createBackupActivities(aws).applyBackupRetention, {
      component,
      now: '2026-11-23T12:00:00.000Z',
    });
    assert.deepEqual(result.removed, [], 'nothing expired is held locally');
    // Two days back is 2026-11-21 12:00: restoring it from the offsite copy needs the 11:00 snapshot.
    assert.deepEqual(result.offsite, {
      location: `s3://${location.bucket}/${location.prefix}/`,
      removed: [oldest],
      keptExpired: [
        { id: link, why: 'link of the chain that restores 2026-11-21T12:00:00.000Z, the oldest point kept' },
      ],
    });
    assert.deepEqual(
      (await listOffsite(aws.s3(), location)).map((m) => m.id),
      [link, newest],
    );
    assert.deepEqual(
      (await store.list()).map((m) => m.id),
      [newest],
    );

    const again = await runActivity(createBackupActivities(aws).applyBackupRetention, {
      component,
      now: '2026-11-23T12:00:00.000Z',
    });
    assert.deepEqual(again.offsite?.removed, [], 'a second run removes nothing');
  });
});
