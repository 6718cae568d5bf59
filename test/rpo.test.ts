/** Worst-case data loss from backup calendars: gaps across week boundaries and irregular calendars. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { explainDataLoss, formatMinutes, worstCaseDataLoss } from '../plan/rpo';
import type { Schedule } from '../plan/schema/common';

const HOUR = 60;
const DAY = 24 * HOUR;
const worst = (schedules: Schedule[]) => worstCaseDataLoss(schedules)?.worstCaseMinutes;

describe('worst-case data loss', () => {
  it('is the longest gap between recovery points: the Agama calendar leaves 24h', () => {
    const agama: Schedule[] = [
      { type: 'full', cron: '10 16 * * 1' },
      { type: 'incremental', cron: '10 16 * * 0,2-6' },
    ];
    assert.equal(worst(agama), 24 * HOUR);
    assert.match(explainDataLoss(worstCaseDataLoss(agama)!, agama), /leave up to 24h of data loss/);
  });

  it('sees the gap across the week boundary', () => {
    // Saturday and Monday: Monday -> Saturday is 5 days, Saturday -> next Monday only 2.
    assert.equal(worst([{ type: 'full', cron: '0 0 * * 1,6' }]), 5 * DAY);
    // Sunday and Monday: the long gap runs from Monday to the next Sunday, over the boundary.
    assert.equal(worst([{ type: 'full', cron: '0 0 * * 0,1' }]), 6 * DAY);
    // Only once a week: from one Monday to the next.
    assert.equal(worst([{ type: 'full', cron: '10 16 * * 1' }]), 7 * DAY);
  });

  it('merges schedules: the union of their recovery points counts', () => {
    assert.equal(
      worst([
        { type: 'full', cron: '0 0 * * 0' },
        { type: 'differential', cron: '0 12 * * *' },
        { type: 'snapshot', cron: '0 18 * * *' },
      ]),
      18 * HOUR,
    );
  });

  it('handles irregular calendars: months of every length, leap days, DST', () => {
    assert.equal(worst([{ type: 'full', cron: '0 2 31 * *' }]), 61 * DAY, 'the 31st skips short months');
    assert.equal(worst([{ type: 'full', cron: '0 0 1 * *' }]), 31 * DAY);
    assert.equal(
      worst([{ type: 'snapshot', cron: '0 0 29 2 *' }]),
      (4 * 365 + 1) * DAY,
      'a leap day comes every 4 years',
    );
    assert.equal(
      worst([{ type: 'full', cron: '30 2 * * *', timezone: 'Europe/Berlin' }]),
      25 * HOUR,
      'the day DST ends has 25 hours',
    );
    assert.equal(worst([{ type: 'full', cron: '30 2 * * *', timezone: 'UTC' }]), 24 * HOUR);
  });

  it('is bounded by continuous log shipping', () => {
    assert.equal(
      worst([
        { type: 'full', cron: '10 16 * * 1' },
        { type: 'log', every: '15m' },
      ]),
      15,
    );
    assert.equal(worst([{ type: 'log', every: '5m' }]), 5);
    assert.equal(
      worst([
        { type: 'full', cron: '*/5 * * * *' },
        { type: 'log', every: '1h' },
      ]),
      5,
      'unless backups are more frequent',
    );
  });

  it('is undefined without schedules', () => {
    assert.equal(worstCaseDataLoss([]), undefined);
  });

  it('formats minutes as people say them', () => {
    assert.deepEqual([15, 60, 1440, 1530, 4320, 87840].map(formatMinutes), ['15m', '1h', '24h', '25h30m', '3d', '61d']);
  });
});
