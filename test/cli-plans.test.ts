/** The plan commands of the `recovery` CLI, run as a process: output, exit codes, files written. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { recovery } from './helpers/cli';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-cli-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('recovery validate', () => {
  it('prints ok and exits 0 for valid plans, warnings included', async () => {
    const { stdout, code } = await recovery(['validate', 'examples/agama.yaml', 'examples/aws-region-failover.yaml']);
    assert.equal(code, 0);
    assert.equal(stdout.trim().split('\n').at(-1), 'ok');
    assert.match(stdout, /^examples\/agama\.yaml:\d+:\d+ components\[2\]\.id warning: "agama-ansible" carries data/m);
  });

  it('prints one line per error as <file>:<line>:<col> <path> <message> and exits 2', async () => {
    const { stdout, code } = await recovery(['validate', 'test/fixtures/plans/broken.yaml']);
    assert.equal(code, 2);
    const errors = stdout
      .trim()
      .split('\n')
      .filter((line) => !line.includes(' warning: '));
    assert.equal(errors.length, 17);
    for (const line of errors) assert.match(line, /^test\/fixtures\/plans\/broken\.yaml:\d+:\d+ \S+ \S/);
  });

  it('exits 2 on a file that does not exist, 2 on bad usage, 0 on --help', async () => {
    assert.equal((await recovery(['validate', 'nope.yaml'])).code, 2);
    assert.equal((await recovery(['validate'])).code, 2);
    assert.equal((await recovery(['plan', 'examples/agama.yaml', '--bogus'])).code, 2);
    for (const command of [[], ['validate'], ['plan'], ['docs']]) {
      const { code, stdout } = await recovery([...command, '--help']);
      assert.equal(code, 0, command.join(' '));
      assert.match(stdout, /^Usage: recovery/);
    }
  });
});

describe('recovery plan', () => {
  it('--json gives the documented shape, with the Agama RPO violation', async () => {
    const { stdout, code } = await recovery(['plan', 'examples/agama.yaml', '--scenario', 'full-restore', '--json']);
    assert.equal(code, 0);
    const report = JSON.parse(stdout) as Record<string, unknown> & { rpo: Record<string, unknown>[] };
    assert.deepEqual(
      Object.keys(report).filter((key) =>
        ['plan', 'scenario', 'stages', 'criticalPath', 'estimatedRtoMinutes', 'rtoMinutes', 'rtoMet', 'rpo'].includes(
          key,
        ),
      ),
      ['plan', 'scenario', 'stages', 'criticalPath', 'estimatedRtoMinutes', 'rtoMinutes', 'rtoMet', 'rpo'],
    );
    assert.equal(report.plan, 'agama');
    assert.equal(report.scenario, 'full-restore');
    const mysql = report.rpo.find((r) => r.component === 'agama-mysql')!;
    assert.deepEqual(Object.keys(mysql), ['component', 'objectiveMinutes', 'worstCaseMinutes', 'compliant', 'reason']);
    assert.equal(mysql.worstCaseMinutes, 1440);
    assert.equal(mysql.compliant, false);
  });

  it('prints the order, the critical path and the verdicts for people', async () => {
    const { stdout, code } = await recovery(['plan', 'examples/aws-region-failover.yaml', '-s', 'region-failover']);
    assert.equal(code, 0);
    assert.match(
      stdout,
      /^Critical path: network-us-west-2 -> orders-db -> orders-api -> web -> shop-health -> dns-failover \(2h7m\)$/m,
    );
    assert.match(stdout, /^RTO: estimated 2h7m against 4h: met$/m);
  });

  it('asks for a scenario when the plan has several, and names them', async () => {
    const missing = await recovery(['plan', 'examples/agama.yaml']);
    assert.equal(missing.code, 2);
    assert.match(
      missing.stderr,
      /several scenarios: choose one with --scenario \(full-restore, database-restore, monthly-restore-test\)/,
    );
    const unknown = await recovery(['plan', 'examples/agama.yaml', '-s', 'everything']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /has no scenario "everything"/);
  });

  it('refuses an invalid plan with its errors and exit 2', async () => {
    const { stderr, code } = await recovery(['plan', 'test/fixtures/plans/broken.yaml', '-s', 'full']);
    assert.equal(code, 2);
    assert.match(stderr, /broken\.yaml:1:7 name use lowercase letters/);
  });
});

describe('recovery docs', () => {
  it('writes one runbook per scenario, byte-identical on every run', async () => {
    const first = join(scratch, 'first');
    const second = join(scratch, 'second');
    assert.equal((await recovery(['docs', 'examples/aws-region-failover.yaml', '--out', first])).code, 0);
    assert.equal((await recovery(['docs', 'examples/aws-region-failover.yaml', '--out', second])).code, 0);
    const files = readdirSync(join(first, 'aws-region-failover')).sort();
    assert.deepEqual(files, ['data-restore.md', 'failback.md', 'failover-drill.md', 'region-failover.md']);
    for (const file of files) {
      assert.equal(
        readFileSync(join(first, 'aws-region-failover', file), 'utf8'),
        readFileSync(join(second, 'aws-region-failover', file), 'utf8'),
      );
    }
    const runbook = readFileSync(join(first, 'aws-region-failover', 'region-failover.md'), 'utf8');
    for (const section of [
      '## Objectives',
      '## Contacts and escalation',
      '```mermaid\nflowchart LR',
      '```mermaid\ngantt',
      '## Stage 1',
      '## After the recovery',
    ]) {
      assert.ok(runbook.includes(section), section);
    }
    assert.match(runbook, /RTO 4h :milestone, crit, rto, 2000-01-01 04:00, 0m/);
  });
});
