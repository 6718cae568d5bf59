/**
 * Restore chains and retention on the Agama calendar: weekly full backups on Monday 16:10 UTC,
 * incrementals Tuesday to Sunday 16:10, binlogs archived every 15 minutes. Pure manifests: what a
 * restore would apply, in which order, and what retention may delete.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BrokenChainError, chainFor, retentionPlan } from '../backups/chain';
import { backupIdOf, dueTimeOf, type BackupManifest, type BackupType } from '../backups/manifest';
import { parseCron } from '../plan/cron';
import { parseDuration } from '../plan/duration';
import { loadPlanFile } from '../plan/load-file';
import { worstCaseDataLoss } from '../plan/rpo';
import type { Backup } from '../plan/schema/common';

const DAY = 86_400_000;

function manifest(type: BackupType, at: Date, base?: string): BackupManifest {
  const id = backupIdOf(type, at);
  return {
    format: 1,
    component: 'agama-mysql',
    kind: 'mysql',
    id,
    type,
    ...(base ? { base } : {}),
    startedAt: at.toISOString(),
    finishedAt: at.toISOString(),
    recoveryPoint: new Date(at.getTime() + 60_000).toISOString(),
    files: [],
    details: {},
  };
}

/** `weeks` weeks of the Agama calendar from Monday 2026-10-05, plus binlogs every 15 min. */
function agamaCalendar(weeks: number): BackupManifest[] {
  const backups: BackupManifest[] = [];
  let previous: BackupManifest | undefined;
  let previousLog: BackupManifest | undefined;
  const start = Date.parse('2026-10-05T16:10:00Z');
  for (let day = 0; day < weeks * 7; day++) {
    const at = new Date(start + day * DAY);
    previous = day % 7 === 0 ? manifest('full', at) : manifest('incremental', at, previous!.id);
    backups.push(previous);
    for (let q = 0; q < 96; q++) {
      previousLog = manifest('log', new Date(at.getTime() + (q + 1) * 15 * 60_000), previousLog?.id);
      backups.push(previousLog);
    }
  }
  return backups;
}

describe('restore chains', () => {
  const backups = agamaCalendar(3);

  it('restores a Thursday from its Monday full and the incrementals of Tuesday to Thursday, then binlogs', () => {
    const target = new Date('2026-10-15T09:37:00Z'); // Thursday morning of the second week
    const chain = chainFor(backups, target);
    assert.deepEqual(
      chain.links.map((l) => l.id),
      ['2026-10-12T161000Z-full', '2026-10-13T161000Z-incremental', '2026-10-14T161000Z-incremental'],
    );
    assert.equal(chain.logs[0]!.id, '2026-10-14T162500Z-log', 'logs start right after the last link');
    assert.equal(chain.logs.at(-1)!.id, '2026-10-15T094000Z-log', 'up to the first archive past the target');
    assert.equal(chain.reaches, target.toISOString());
    assert.equal(chain.short, false);
  });

  it('a missing incremental fails naming the missing link, before anything is restored', () => {
    const broken = backups.filter((b) => b.id !== '2026-10-13T161000Z-incremental');
    assert.throws(
      () => chainFor(broken, new Date('2026-10-15T09:37:00Z')),
      (error: unknown) =>
        error instanceof BrokenChainError &&
        /2026-10-14T161000Z-incremental applies on top of 2026-10-13T161000Z-incremental, which is missing/.test(
          error.message,
        ),
    );
  });

  it('a missing binlog archive between the backup and the target fails naming the gap', () => {
    const gap = backups.filter((b) => b.id !== '2026-10-15T031000Z-log');
    assert.throws(
      () => chainFor(gap, new Date('2026-10-15T09:37:00Z')),
      /log archive 2026-10-15T032500Z-log follows 2026-10-15T031000Z-log, not 2026-10-15T025500Z-log/,
    );
  });

  it('a target past the newest archive restores what there is and says how much is lost', () => {
    const chain = chainFor(backups, new Date('2026-12-01T00:00:00Z'));
    assert.equal(chain.short, true);
    assert.equal(chain.reaches, backups.at(-1)!.recoveryPoint);
  });

  it('a target before the first full backup is refused', () => {
    assert.throws(() => chainFor(backups, new Date('2026-10-01T00:00:00Z')), /no backup was taken at or before/);
  });

  it('backup ids sort by due time and encode it', () => {
    const at = new Date('2026-11-16T16:10:00Z');
    assert.equal(backupIdOf('full', at), '2026-11-16T161000Z-full');
    assert.equal(dueTimeOf('2026-11-16T161000Z-full').toISOString(), at.toISOString());
  });
});

describe('retention', () => {
  const backups = agamaCalendar(8);
  const now = new Date(Date.parse(backups.at(-1)!.recoveryPoint) + 60_000);
  const plan = retentionPlan(backups, now, 35 * DAY);
  const removed = new Set(plan.remove.map((b) => b.id));

  it('keeps every chain a moment inside the 35 days needs, even links older than 35 days', () => {
    const cutoff = new Date(now.getTime() - 35 * DAY);
    // Every minute-ish sample inside the retention still restores, from what is kept.
    const kept = backups.filter((b) => !removed.has(b.id));
    for (let t = cutoff.getTime(); t < now.getTime() - 60_000; t += 7 * 3_600_000 + 13 * 60_000) {
      const chain = chainFor(kept, new Date(t));
      assert.equal(chain.short, false, `restorable at ${new Date(t).toISOString()}`);
    }
    assert.ok(
      plan.keptExpired.some((k) => k.id.endsWith('-full') && /link of the chain/.test(k.why)),
      'the full backup the oldest kept moment needs is older than the retention, and kept',
    );
  });

  it('deletes what no moment inside the retention needs', () => {
    assert.ok(removed.has('2026-10-05T161000Z-full'), 'the first week is gone');
    assert.ok(removed.size > 7 * 97, `removed ${removed.size}`);
    assert.ok(![...removed].some((id) => dueTimeOf(id) > new Date(now.getTime() - 35 * DAY)), 'nothing recent removed');
  });
});

describe('the RPO analysis agrees with what the backups on its calendar achieve', () => {
  /**
   * Backups as the plan's schedules take them over three weeks (each chain link based on the one
   * before, log archives chained), then, just before each backup lands, the data a failure would
   * lose: the watchdog's number. Its maximum is what `recovery plan` promises.
   */
  for (const file of ['examples/agama.yaml', 'examples/agama-compliant.yaml']) {
    it(`${file}: agama-mysql`, async () => {
      const { plan } = await loadPlanFile(file);
      const mysql = plan!.components.find((c) => c.id === 'agama-mysql') as { backup: Backup };
      const promised = worstCaseDataLoss(mysql.backup.schedules)!.worstCaseMinutes;
      const start = Date.parse('2026-10-05T00:00:00Z');
      const end = start + 21 * DAY;
      const due: { at: number; type: BackupType }[] = [];
      for (const schedule of mysql.backup.schedules) {
        if (schedule.type === 'log') {
          for (let at = start + parseDuration(schedule.every)!; at <= end; at += parseDuration(schedule.every)!)
            due.push({ at, type: 'log' });
          continue;
        }
        const cron = parseCron(schedule.cron, schedule.timezone);
        for (let next = cron.nextRun(new Date(start)); next && next.getTime() <= end; next = cron.nextRun(next))
          due.push({ at: next.getTime(), type: schedule.type === 'differential' ? 'incremental' : schedule.type });
      }
      due.sort((a, b) => a.at - b.at);
      const held: BackupManifest[] = [];
      let worst = 0;
      for (const { at, type } of due) {
        const lastLink = held.filter((b) => b.type !== 'log').at(-1);
        const lastLog = held.filter((b) => b.type === 'log').at(-1);
        // Before the first full backup there is nothing to lose against: the calendar starts there.
        if (held.some((b) => b.type === 'full')) {
          const newest = Date.parse(chainFor(held, 'latest').reaches);
          worst = Math.max(worst, (at - newest) / 60_000);
        }
        if (type === 'incremental' && !lastLink) continue;
        const backup = manifest(
          type,
          new Date(at),
          type === 'log' ? lastLog?.id : type === 'incremental' ? lastLink!.id : undefined,
        );
        held.push({ ...backup, recoveryPoint: new Date(at).toISOString() });
      }
      assert.equal(worst, promised, `${file}: the backups lose up to ${worst} min; the analysis says ${promised} min`);
    });
  }
});
