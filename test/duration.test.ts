import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from '../plan/duration';

describe('durations', () => {
  it('parses single units and combinations', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('45m'), 2_700_000);
    assert.equal(parseDuration('4h'), 14_400_000);
    assert.equal(parseDuration('1d'), 86_400_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('1d2h3m4s'), 93_784_000);
  });

  it('rejects anything else', () => {
    for (const text of ['', '0s', '4 hours', '1.5h', '30m1h', 'h', '-1h', '10', '1w']) {
      assert.equal(parseDuration(text), undefined, text);
    }
  });

  it('formats back to the shortest form', () => {
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(86_400_000 + 1_000), '1d1s');
    assert.equal(formatDuration(0), '0s');
    for (const text of ['90s', '45m', '4h', '1d', '1h30m']) {
      assert.equal(formatDuration(parseDuration(text)!), text === '90s' ? '1m30s' : text);
    }
  });
});
