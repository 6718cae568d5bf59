/**
 * `recovery drill --simulate`: the real recovery workflow on the time-skipping test server, run as
 * the command a person types. Four hours of plan in seconds; the achieved RTO is the critical path
 * when nothing fails; injected failures and slowness move the timeline and the verdict as a person
 * would expect.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SimulatedDrill } from '../cli/commands/drill';
import { analyzeScenario } from '../plan/analysis';
import { loadPlanFile } from '../plan/load-file';
import { recovery } from './helpers/cli';

// Every simulated drill saves its evidence: here, not in the clone's drill-reports/.
let reports: string;
before(async () => {
  reports = await mkdtemp(join(tmpdir(), 'drill-simulate-'));
});
after(() => rm(reports, { recursive: true, force: true }));

async function drill(args: string[]): Promise<{ drill: SimulatedDrill; code: number }> {
  const result = await recovery(['drill', ...args, '--simulate', '--json', '--reports-dir', reports]);
  assert.ok(result.stdout.startsWith('{'), `${result.stderr}\n${result.stdout}`);
  return { drill: JSON.parse(result.stdout) as SimulatedDrill, code: result.code };
}

const endOf = (d: SimulatedDrill, component: string) =>
  Math.max(...d.steps.filter((s) => s.component === component).map((s) => s.endMinute));

describe('recovery drill --simulate', () => {
  for (const [file, scenario] of [
    ['examples/aws-region-failover.yaml', 'region-failover'],
    ['examples/agama.yaml', 'full-restore'],
  ] as const) {
    it(`${file} ${scenario}: finishes at its critical path, in seconds`, async () => {
      const { plan } = await loadPlanFile(file);
      const { estimatedRtoMinutes, rtoMinutes } = analyzeScenario(plan!, scenario);
      const started = Date.now();
      const { drill: d, code } = await drill([file, '--scenario', scenario]);
      assert.ok(Date.now() - started < 60_000, 'under a minute of wall time');
      assert.equal(code, 0);
      assert.equal(d.plan, plan!.name);
      assert.equal(d.scenario, scenario);
      assert.equal(d.rtoMinutes, rtoMinutes);
      assert.equal(d.rtoMet, true);
      // The critical path, give or take the seconds the workflow itself takes between steps.
      assert.ok(
        Math.abs(d.achievedRtoMinutes - estimatedRtoMinutes) < 1,
        `${d.achievedRtoMinutes} vs ${estimatedRtoMinutes}`,
      );
      for (const step of d.steps) assert.ok(step.endMinute >= step.startMinute, JSON.stringify(step));
      // Steps covered by another step's call make no attempts of their own.
      assert.ok(d.steps.every((s) => s.attempts === 0 || s.attempts === 1));
      assert.ok(d.steps.some((s) => s.attempts === 1));
    });
  }

  it('failures and slowness move the timeline; an RTO overrun exits 1', async () => {
    const file = 'examples/aws-region-failover.yaml';
    const args = [file, '--scenario', 'region-failover'];
    const { drill: base } = await drill(args);

    // Three failed attempts are absorbed by the activity's retries: only their backoff is added.
    const { drill: retried } = await drill([...args, '--fail', 'orders-db:3']);
    const firstStep = retried.steps.find((s) => s.component === 'orders-db')!;
    assert.equal(firstStep.attempts, 4);
    const backoff = retried.achievedRtoMinutes - base.achievedRtoMinutes;
    assert.ok(backoff > 0.5 && backoff < 2, `backoff of 5 s + 10 s + 20 s: ${backoff} min`);

    // Seven failures outlast the retries: an operator (15 minutes later) retries the step.
    const { drill: operator } = await drill([...args, '--fail', 'orders-db:7']);
    assert.equal(operator.steps.find((s) => s.component === 'orders-db')!.attempts, 8);
    assert.ok(operator.achievedRtoMinutes - base.achievedRtoMinutes >= 15);

    // A database three times slower and a 30-minute approval push the recovery past its 4 h RTO.
    const { drill: late, code } = await drill([...args, '--slow', 'orders-db:3', '--approval-delay', '30m']);
    assert.equal(code, 1);
    assert.equal(late.rtoMet, false);
    assert.ok(Math.abs(endOf(late, 'orders-db') - endOf(base, 'orders-db') - 120) < 1, 'two more hours of restore');
    assert.ok(Math.abs(late.achievedRtoMinutes - base.achievedRtoMinutes - 150) < 1, 'and half an hour of waiting');
  });

  it('names a component that is not in the plan, before anything runs', async () => {
    const result = await recovery([
      'drill',
      'examples/agama.yaml',
      '--scenario',
      'full-restore',
      '--simulate',
      '--fail',
      'nope:2',
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /no component "nope" in plan agama: use one of agama-mysql/);
    const bad = await recovery(['drill', 'examples/agama.yaml', '--simulate', '--slow', 'agama-mysql:fast']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--slow "agama-mysql:fast": expected <component>:<factor>/);
  });

  it('without --simulate or --real, explains both', async () => {
    const result = await recovery(['drill', 'examples/agama.yaml', '--scenario', 'monthly-restore-test']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--simulate rehearses the scenario on the time-skipping test server/);
    assert.match(result.stderr, /--real runs it as a drill on the Temporal cluster/);
    const both = await recovery(['drill', 'examples/agama.yaml', '--real', '--fail', 'agama-mysql:2']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--fail: only for --simulate; a real drill runs for real/);
  });
});
