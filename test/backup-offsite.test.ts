/**
 * Backup folders and their offsite copies in S3 (moto): staged then committed with a manifest,
 * checked file by file, copied once (a second copy sends nothing), fetched back intact when the
 * machine is lost, and removed by retention in both places.
 */
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { createBackupActivities, type BackedUpComponent } from '../activities/backups';
import { LocalBackupStore } from '../backups/local-store';
import { downloadBackup, listOffsite } from '../backups/offsite';
import type { MotoServer } from '../toolchain/moto-server';
import { runActivity } from './helpers/activity';
import { nonRetryable } from './helpers/assertions';
import { commitSnapshot } from './helpers/backup-fixtures';
import { startMoto } from './helpers/servers';
import { runbookOf } from '../plan/kinds';
import { schema as gitRepoSchema } from '../plan/kinds/git-repo';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-offsite-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('backup store and offsite copies (moto)', () => {
  let moto: MotoServer;
  let aws: AwsClients;
  const backupDir = join(scratch, 'agama-git');
  const component = {
    id: 'agama-ansible',
    kind: 'git-repo',
    backupDir,
    backup: {
      schedules: [{ type: 'snapshot', cron: '0 * * * *' }],
      retention: '2d',
      verify: 'checksums',
      offsite: { s3: { bucket: 'agama-backups', prefix: 'offsite' } },
    },
  } as unknown as BackedUpComponent;
  const store = new LocalBackupStore(backupDir);

  const backup = (at: string) =>
    commitSnapshot(store, component.id, at, {
      'repo.bundle': `bundle of ${at}\n`.repeat(1000),
      'config/ansible.cfg': '[defaults]\n',
    });

  before(async () => {
    moto = await startMoto();
    aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
    await aws.s3().send(new CreateBucketCommand({ Bucket: 'agama-backups' }));
  });
  after(() => moto?.stop());

  it('copies a backup once, lists it offsite, and brings it back intact', async () => {
    const activities = createBackupActivities(aws);
    const id = await backup('2026-11-20T10:00:00.000Z');
    const first = await runActivity(activities.copyBackupOffsite, { component, backupId: id });
    assert.deepEqual(first, {
      copied: true,
      location: `s3://agama-backups/offsite/agama-ansible/${id}`,
      uploaded: 2,
      skipped: 0,
    });
    const again = await runActivity(activities.copyBackupOffsite, { component, backupId: id });
    assert.deepEqual(again, { ...first, uploaded: 0, skipped: 2 }, 'nothing sent twice');
    const location = { bucket: 'agama-backups', prefix: 'offsite/agama-ansible' };
    const listed = await listOffsite(aws.s3(), location);
    assert.deepEqual(
      listed.map((m) => m.id),
      [id],
    );
    const restored = join(scratch, 'restored', id);
    mkdirSync(join(scratch, 'restored'), { recursive: true });
    await downloadBackup(aws.s3(), location, listed[0]!, restored);
    assert.deepEqual(await new LocalBackupStore(join(scratch, 'restored')).verify(listed[0]!), []);

    // A damaged offsite object is caught on the way back.
    await aws
      .s3()
      .send(
        new PutObjectCommand({ Bucket: 'agama-backups', Key: `offsite/agama-ansible/${id}/repo.bundle`, Body: 'rot' }),
      );
    await assert.rejects(
      downloadBackup(aws.s3(), location, listed[0]!, join(scratch, 'restored-2')),
      /offsite copy of .* is damaged: repo.bundle: 3 bytes, the manifest says/,
    );
  });

  it('the integrity check names the damaged file of a local backup', async () => {
    const activities = createBackupActivities(aws);
    const id = await backup('2026-11-20T11:00:00.000Z');
    assert.equal((await runActivity(activities.checkBackupIntegrity, { component, backupId: id })).files, 2);
    writeFileSync(join(store.dirOf(id), 'config', 'ansible.cfg'), '[defaults]\nhost_key_checking = False\n');
    await assert.rejects(
      runActivity(activities.checkBackupIntegrity, { component, backupId: id }),
      nonRetryable('BackupCorrupt', 'config/ansible.cfg', 'manifest'),
    );
  });

  it('retention removes expired backups locally and offsite, keeping what the oldest moment inside it needs', async () => {
    const activities = createBackupActivities(aws);
    const newest = await backup('2026-11-23T10:00:00.000Z');
    await runActivity(activities.copyBackupOffsite, { component, backupId: newest });
    const result = await runActivity(activities.applyBackupRetention, {
      component,
      now: '2026-11-23T12:00:00.000Z',
    });
    // Two days back is 2026-11-21 12:00: restoring it needs the snapshot of 2026-11-20 11:00.
    assert.deepEqual(result.removed, ['2026-11-20T100000Z-snapshot']);
    assert.deepEqual(result.keptExpired, [
      {
        id: '2026-11-20T110000Z-snapshot',
        why: 'link of the chain that restores 2026-11-21T12:00:00.000Z, the oldest point kept',
      },
    ]);
    assert.deepEqual(
      (await store.list()).map((m) => m.id),
      ['2026-11-20T110000Z-snapshot', newest],
    );
    // Offsite retention is planned from what is offsite: the 11:00 snapshot was never copied there,
    // so the offsite copy still needs the 10:00 one to restore the oldest point kept.
    const offsite = await listOffsite(aws.s3(), { bucket: 'agama-backups', prefix: 'offsite/agama-ansible' });
    assert.deepEqual(
      offsite.map((m) => m.id),
      ['2026-11-20T100000Z-snapshot', newest],
    );
    assert.deepEqual(
      result.offsite?.keptExpired.map((k) => k.id),
      ['2026-11-20T100000Z-snapshot'],
    );
  });

  it('a restore on a new machine fetches from the offsite copy exactly the chain it needs', async () => {
    const activities = createBackupActivities(aws);
    const newest = '2026-11-23T100000Z-snapshot';
    rmSync(backupDir, { recursive: true, force: true }); // the machine that held the backups is gone
    const first = await runActivity(activities.fetchOffsiteBackups, {
      component,
      targetTime: '2026-11-23T11:00:00.000Z',
    });
    assert.deepEqual(first, { fetched: [newest], present: [], from: 's3://agama-backups/offsite/agama-ansible/' });
    assert.deepEqual(await store.verify((await store.read(newest))!), []);
    const again = await runActivity(activities.fetchOffsiteBackups, { component, targetTime: 'latest' });
    assert.deepEqual(again.fetched, [], 'what is there and intact is not fetched again');
    await assert.rejects(
      runActivity(activities.fetchOffsiteBackups, { component, targetTime: '2026-01-01T00:00:00.000Z' }),
      nonRetryable('BrokenChain', 's3://agama-backups/offsite/agama-ansible/', 'no backup was taken at or before'),
    );
  });

  it('the runbook of a component with an offsite copy starts by fetching from it', () => {
    const steps = runbookOf(
      gitRepoSchema.parse({ ...component, url: 'file:///srv/git/agama.git', checkoutDir: '/etc/ansible/agama' }),
      { mode: 'recover', targetTime: '<TARGET_TIME>', drillSuffix: '-drill' },
    );
    assert.equal(steps[0]!.id, 'fetch-offsite');
    assert.equal(steps[0]!.command, `aws s3 sync s3://agama-backups/offsite/agama-ansible/ ${backupDir}/`);
    const withToken = gitRepoSchema.safeParse({ ...component, url: 'https://ci:ghp_secret@git.example.com/agama.git' });
    assert.match(withToken.error?.issues[0]?.message ?? '', /no credentials in the URL/);
  });
});
