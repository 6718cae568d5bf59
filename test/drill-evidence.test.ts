/**
 * Drill evidence: every drill leaves a report (Markdown, JSON, a self-contained HTML page) in the
 * reports folder; `recovery drills` reads them back with the trend of each component's achieved RTO;
 * `--from-history` simulates with what real drills took. Run as the commands a person types, on
 * the time-skipping test server, and the worker's activity as Temporal calls it.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Worker } from '@temporalio/worker';
import { stringify } from 'yaml';
import { createActivities } from '../activities';
import { createAwsClients } from '../activities/aws-clients';
import { createDrillEvidenceActivities } from '../activities/drill-evidence';
import { drillCommand, type SimulatedDrill } from '../cli/commands/drill';
import type { Connect } from '../cli/temporal-client';
import { saveEvidence, type EvidenceJson } from '../evidence/store';
import { analyzeScenario } from '../plan/analysis';
import { DRILL_SUFFIX, estimateOf, runbookOf } from '../plan/kinds';
import { loadPlanFile } from '../plan/load-file';
import { parseDuration } from '../plan/duration';
import { formatMinutes } from '../plan/rpo';
import type { RecoveryPlan } from '../plan/schema/plan';
import type { ComponentProgress, RecoveryProgress, TeardownRecord } from '../workflows/progress';
import { runActivity } from './helpers/activity';
import { recovery } from './helpers/cli';
import { testPlan, waitFor } from './helpers/engine';
import { bundleWorkflows, startTimeSkippingEnv } from './helpers/servers';

let work: string;
let plan: RecoveryPlan;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'drill-evidence-'));
  plan = (await loadPlanFile('examples/agama.yaml')).plan!;
});
after(() => rm(work, { recursive: true, force: true }));

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * The report a real drill of agama's `scenario` returns, as recoveryWorkflow builds it: components
 * in dependency order, each starting when its dependencies are done and taking `minutes[id]` (else
 * its estimate), its steps (the kind's drill runbook) sharing that time, then the teardown.
 */
function drillReport(options: {
  scenario: string;
  startedAt: string;
  minutes?: Record<string, number>;
  id?: string;
  teardown?: TeardownRecord[];
  simulated?: boolean;
}): RecoveryProgress {
  const analysis = analyzeScenario(plan, options.scenario);
  const start = Date.parse(options.startedAt);
  const ends = new Map<string, number>();
  const components = analysis.components.map((id): ComponentProgress => {
    const c = plan.components.find((x) => x.id === id)!;
    const estimate = parseDuration(estimateOf(c))! / 60_000;
    const took = options.minutes?.[id] ?? estimate;
    const from = Math.max(start, ...c.dependsOn.filter((d) => ends.has(d)).map((d) => ends.get(d)!));
    const to = from + took * 60_000;
    ends.set(id, to);
    const steps = runbookOf(c, { mode: 'drill', targetTime: 'latest', drillSuffix: DRILL_SUFFIX });
    const share = (to - from) / steps.length;
    return {
      id,
      kind: c.kind,
      dependsOn: c.dependsOn,
      status: 'succeeded',
      estimateMinutes: estimate,
      approvalRequired: false,
      runs: 1,
      startedAt: iso(from),
      finishedAt: iso(to),
      steps: steps.map((s, i) => ({
        id: s.id,
        title: s.title,
        status: 'succeeded',
        automation: s.automation ? 'activity' : 'manual',
        attempts: 1,
        startedAt: iso(from + i * share),
        finishedAt: iso(from + (i + 1) * share),
        ...(s.id === 'validate' ? { result: { tables: 12, rows: 48_213, checksumsMatch: true } } : {}),
      })),
      rto: { objectiveMinutes: analysis.rtoMinutes, achievedMinutes: (to - start) / 60_000, met: true },
    };
  });
  const finished = Math.max(...ends.values());
  const elapsed = (finished - start) / 60_000;
  return {
    recoveryId: options.id ?? `recovery-agama-${options.scenario}-drill-${options.startedAt.replace(/[-:.]/g, '')}`,
    plan: 'agama',
    scenario: options.scenario,
    mode: 'drill',
    ...(options.simulated ? { simulated: true } : {}),
    requestedBy: 'ana@ops-laptop',
    status: 'succeeded',
    clockStartedAt: options.startedAt,
    startedAt: options.startedAt,
    finishedAt: iso(finished),
    elapsedMinutes: elapsed,
    rtoMinutes: analysis.rtoMinutes,
    deadline: iso(start + analysis.rtoMinutes * 60_000),
    projectedMinutes: elapsed,
    rtoMet: elapsed <= analysis.rtoMinutes,
    components,
    gates: [],
    decisions: [],
    pendingDecisions: [],
    notifications: [],
    warnings: [],
    teardown: options.teardown ?? [
      {
        component: 'agama-mysql',
        status: 'done',
        steps: [
          {
            id: 'teardown',
            title: 'Stop the drill server on port 13306 and remove /var/lib/mysql-drill',
            status: 'succeeded',
          },
        ],
      },
    ],
  };
}

const day = (n: number) => iso(Date.parse('2026-01-05T10:00:00Z') + n * 7 * 86_400_000);

describe('drill evidence of a simulated drill', () => {
  it('writes Markdown, JSON and a self-contained, escaped HTML page with the verdict, components, steps and teardown', async () => {
    // agama, with a health URL a plan author could have pasted anything into.
    const hostile = 'https://agama.example.com/health?probe=<script>alert("x")</script>&a=1';
    const file = join(work, 'agama.yaml');
    const yaml = (await readFile('examples/agama.yaml', 'utf8')).replace(
      'url: https://agama.example.com/health',
      `url: '${hostile}'`,
    );
    assert.notEqual(yaml, await readFile('examples/agama.yaml', 'utf8'));
    await writeFile(file, yaml);
    const reports = join(work, 'simulated');

    const result = await recovery([
      'drill',
      file,
      '--scenario',
      'full-restore',
      '--simulate',
      '--json',
      '--reports-dir',
      reports,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const drill = JSON.parse(result.stdout) as SimulatedDrill;
    const evidence = drill.evidence!;
    assert.match(evidence.dir, /agama\/full-restore\/\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ-[0-9a-f]{8}-simulated$/);
    assert.deepEqual(await readdir(evidence.dir).then((f) => f.sort()), ['report.html', 'report.json', 'report.md']);
    assert.deepEqual(evidence.files.map((f) => f.slice(evidence.dir.length + 1)).sort(), [
      'report.html',
      'report.json',
      'report.md',
    ]);

    const achieved = formatMinutes(drill.achievedRtoMinutes);
    const md = await readFile(join(evidence.dir, 'report.md'), 'utf8');
    assert.match(md, /^# Drill evidence: agama \/ full-restore \(simulated\)/);
    assert.match(md, /\| Verdict \| \*\*PASSED\*\* \|/);
    assert.match(md, /\| Ran by \| [^|@]+@[^|]+ \|/);
    assert.ok(md.includes(`| RTO (achieved / objective) | ${achieved} / 4h (met) |`), md);
    for (const c of ['agama-mysql', 'agama-influxdb', 'agama-ansible', 'agama-app', 'agama-health'])
      assert.match(md, new RegExp(`^\\| ${c} \\| [a-z-]+ \\| succeeded \\|`, 'm'), c);
    assert.match(
      md,
      /\| agama-mysql \| mysql \| succeeded \| \+\d+s \| \+1h30m \| 1h30m \| 1h30m \| 1h30m \/ 4h \(met\) \|/,
    );
    assert.match(md, /## Step timings[\s\S]*\| agama-mysql \| prepare \|/);
    assert.match(md, /## Integrity checks[\s\S]*\| agama-mysql \| validate \| passed \|/);
    assert.match(md, /## Teardown\n\nSimulated: nothing was created, nothing to remove\./);
    assert.match(md, /```mermaid\ngantt/);

    const json = JSON.parse(await readFile(join(evidence.dir, 'report.json'), 'utf8')) as EvidenceJson;
    assert.equal(json.summary.simulated, true);
    assert.equal(json.summary.passed, true);
    assert.equal(json.report.simulated, true);
    assert.equal(json.summary.components.length, 5);

    const html = await readFile(join(evidence.dir, 'report.html'), 'utf8');
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /<svg /);
    // Self-contained: no script at all, nothing fetched.
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /\b(src|href)\s*=/i);
    assert.doesNotMatch(html, /url\(|@import|<link/i);
    // The plan's string is shown, escaped.
    assert.ok(html.includes('probe=&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;a=1'));
    // One Gantt row per component and per step, the RTO line, the verdict.
    const rects = html.match(/<rect /g)?.length ?? 0;
    const steps = json.summary.steps.filter((s) => s.startMinute !== undefined).length;
    assert.equal(rects, 5 + steps);
    assert.match(html, />RTO 4h<\/text>/);
    assert.match(html, /class="passed">PASSED</);
    assert.match(html, /<h2>Teardown<\/h2>\n<p>Simulated: nothing was created/);
  });
});

describe('recovery drills', () => {
  it('lists past drills newest first and flags the component getting slower', async () => {
    const reports = join(work, 'history');
    const mysql = [90, 95, 88, 92, 140];
    for (const [i, minutes] of mysql.entries())
      await saveEvidence(
        reports,
        drillReport({ scenario: 'monthly-restore-test', startedAt: day(i), minutes: { 'agama-mysql': minutes } }),
      );
    // A simulated one, newest, and a real drill whose teardown failed, oldest.
    await saveEvidence(
      reports,
      drillReport({ scenario: 'full-restore', startedAt: day(6), simulated: true, teardown: [] }),
    );
    await saveEvidence(
      reports,
      drillReport({
        scenario: 'monthly-restore-test',
        startedAt: day(-1),
        teardown: [
          {
            component: 'agama-influxdb',
            status: 'failed',
            steps: [
              { id: 'tear-down', title: 'Stop the drill influxd on port 18086', status: 'failed', error: 'EBUSY' },
            ],
            left: [
              {
                step: 'tear-down',
                what: 'Stop the drill influxd on port 18086',
                command: 'kill $(cat /srv/drill/influxd.pid)',
              },
            ],
          },
        ],
      }),
    );

    const text = await recovery(['drills', 'agama', '--reports-dir', reports]);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.split('\n');
    assert.equal(lines[0], `Drills of agama in ${reports}, newest first`);
    const rows = lines.slice(4, 11);
    assert.match(
      rows[0]!,
      /^2026-02-16 10:00Z\s+full-restore\s+simulated\s+succeeded\s+1h52m \/ 4h met\s+ana@ops-laptop\s+-\s+passed$/,
    );
    assert.match(
      rows[1]!,
      /^2026-02-02 10:00Z\s+monthly-restore-test\s+real\s+succeeded\s+2h20m \/ 4h met\s+ana@ops-laptop\s+done\s+passed$/,
    );
    assert.match(
      rows[6]!,
      /^2025-12-29 10:00Z\s+monthly-restore-test\s+real\s+succeeded\s+1h30m \/ 4h met\s+ana@ops-laptop\s+failed\s+FAILED$/,
    );
    const trend = (component: string) => lines.find((l) => l.startsWith(`${component} `))!;
    assert.match(trend('agama-mysql'), /1h30m\s+1h35m\s+1h28m\s+1h32m\s+2h20m\s+1h31m\s+\+54%\s+SLOWER$/);
    assert.match(trend('agama-influxdb'), /45m\s+45m\s+45m\s+45m\s+45m\s+45m\s+\+0%$/);
    assert.match(text.stdout, /Getting slower: agama-mysql \(2h20m, median before 1h31m\)/);

    const json = await recovery(['drills', 'examples/agama.yaml', '--reports-dir', reports, '--json']);
    const listed = JSON.parse(json.stdout) as {
      drills: { run: string; teardown: string; passed: boolean }[];
      trend: { component: string; values: { minutes: number }[]; slower: boolean }[];
    };
    assert.equal(listed.drills.length, 7);
    assert.deepEqual(
      listed.drills.map((d) => d.run),
      ['simulated', 'real', 'real', 'real', 'real', 'real', 'real'],
    );
    const mysqlTrend = listed.trend.find((t) => t.component === 'agama-mysql')!;
    assert.deepEqual(
      mysqlTrend.values.map((v) => Math.round(v.minutes)),
      mysql,
    );
    assert.equal(mysqlTrend.slower, true);
    assert.equal(listed.trend.find((t) => t.component === 'agama-ansible')!.slower, false);
  });

  it('says so when there is no drill yet', async () => {
    const empty = await recovery(['drills', 'agama', '--reports-dir', join(work, 'nothing')]);
    assert.equal(empty.code, 0);
    assert.match(empty.stdout, /^No drills of agama in .*nothing: run one with recovery drill/);
  });
});

describe('recovery drill --simulate --from-history', () => {
  it('takes what past real drills took instead of the estimate, and names the components without history', async () => {
    const reports = join(work, 'from-history');
    // Five real drills of the database alone: three hours each, twice its 1h30m estimate.
    for (let i = 0; i < 5; i++)
      await saveEvidence(
        reports,
        drillReport({ scenario: 'database-restore', startedAt: day(i), minutes: { 'agama-mysql': 175 + i * 2.5 } }),
      );
    const args = ['drill', 'examples/agama.yaml', '--scenario', 'full-restore', '--simulate'];
    const base = JSON.parse(
      (await recovery([...args, '--json', '--reports-dir', join(work, 'base')])).stdout,
    ) as SimulatedDrill;
    const result = await recovery([...args, '--from-history', '--json', '--reports-dir', reports]);
    assert.equal(result.code, 0, result.stderr);
    const drill = JSON.parse(result.stdout) as SimulatedDrill;
    assert.deepEqual(drill.fromHistory, [{ component: 'agama-mysql', minutes: 180, estimateMinutes: 90, drills: 5 }]);
    assert.deepEqual([...drill.noHistory!].sort(), ['agama-ansible', 'agama-app', 'agama-health', 'agama-influxdb']);
    const endOf = (d: SimulatedDrill, c: string) =>
      Math.max(...d.steps.filter((s) => s.component === c).map((s) => s.endMinute));
    assert.ok(Math.abs(endOf(drill, 'agama-mysql') - 180) < 1, `${endOf(drill, 'agama-mysql')}`);
    // The database is on the critical path: the whole recovery takes the 90 extra minutes.
    assert.ok(
      Math.abs(drill.achievedRtoMinutes - base.achievedRtoMinutes - 90) < 1,
      `${drill.achievedRtoMinutes} vs ${base.achievedRtoMinutes}`,
    );

    const text = await recovery([...args, '--from-history', '--reports-dir', reports]);
    assert.match(text.stdout, /From past real drills: agama-mysql 3h \(median of 5 drills; estimate 1h30m\)/);
    assert.match(text.stdout, /No real drill yet, estimate kept: .*agama-influxdb/);
    assert.match(text.stdout, /Evidence: .*-simulated/);
  });
});

describe('saveDrillEvidence (the worker activity)', () => {
  it('is idempotent: the same report writes the same folder, rewritten, never a second one', async () => {
    const reports = join(work, 'activity');
    const { saveDrillEvidence } = createDrillEvidenceActivities(reports);
    const report = drillReport({ scenario: 'monthly-restore-test', startedAt: day(3) });
    const first = await runActivity(saveDrillEvidence, report);
    assert.match(first.dir, /agama\/monthly-restore-test\/2026-01-26T10-00-00Z-[0-9a-f]{8}$/);
    const before = await stat(join(first.dir, 'report.md'));
    const md = await readFile(join(first.dir, 'report.md'), 'utf8');

    // Temporal retries it: same answer, same bytes, still one folder.
    const again = await runActivity(saveDrillEvidence, report);
    assert.deepEqual(again, first);
    assert.equal(await readFile(join(first.dir, 'report.md'), 'utf8'), md);
    assert.ok((await stat(join(first.dir, 'report.md'))).mtimeMs >= before.mtimeMs);

    // The same drill with a teardown that failed since: the files say so, in the same folder.
    const failed = drillReport({
      scenario: 'monthly-restore-test',
      startedAt: day(3),
      teardown: [
        {
          component: 'agama-mysql',
          status: 'failed',
          steps: [{ id: 'teardown', title: 'Stop the drill server on port 13306', status: 'failed', error: 'EPERM' }],
          left: [
            {
              step: 'teardown',
              what: 'Stop the drill server on port 13306',
              command: 'kill $(cat /srv/drill/mysqld.pid)',
            },
          ],
        },
      ],
    });
    assert.deepEqual(await runActivity(saveDrillEvidence, failed), first);
    const rewritten = await readFile(join(first.dir, 'report.md'), 'utf8');
    assert.match(rewritten, /\| Verdict \| \*\*FAILED: teardown failed: drill resources are left behind\*\* \|/);
    assert.match(
      rewritten,
      /\| agama-mysql \| Stop the drill server on port 13306 \| `kill \$\(cat \/srv\/drill\/mysqld.pid\)` \|/,
    );
    const scenarioDir = join(reports, 'agama', 'monthly-restore-test');
    assert.equal((await readdir(scenarioDir)).length, 1);
    assert.deepEqual((await readdir(first.dir)).sort(), ['report.html', 'report.json', 'report.md']);

    // Another drill never lands in that folder.
    const other = await runActivity(saveDrillEvidence, { ...report, recoveryId: `${report.recoveryId}-2` });
    assert.notEqual(other.dir, first.dir);
    assert.equal((await readdir(scenarioDir)).length, 2);
  });

  it('refuses a report it cannot name a folder for, without retrying', async () => {
    const { saveDrillEvidence } = createDrillEvidenceActivities(join(work, 'refused'));
    const report = drillReport({ scenario: 'monthly-restore-test', startedAt: day(3) });
    await assert.rejects(
      runActivity(saveDrillEvidence, { ...report, startedAt: 'yesterday' }),
      (error: Error & { nonRetryable?: boolean }) => {
        assert.match(error.message, /lacks startedAt/);
        assert.equal(error.nonRetryable, true);
        return true;
      },
    );
  });
});

describe('recovery drill --real', () => {
  it('runs the scenario as a drill on the cluster, prints the verdict and where the worker saved the evidence', async () => {
    const [env, bundle] = await Promise.all([startTimeSkippingEnv(), bundleWorkflows()]);
    try {
      const reports = join(work, 'real');
      const file = join(work, 'drill-plan.yaml');
      await writeFile(
        file,
        stringify({
          ...testPlan([waitFor('restore', '1h'), waitFor('app', '10m', ['restore'])]),
          name: 'drill-plan',
          scenarios: [{ name: 'rehearsal', mode: 'drill' }],
        }),
      );
      const taskQueue = 'real-drill';
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowBundle: bundle,
        activities: {
          ...createActivities({
            aws: createAwsClients({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1' }),
            plansDir: 'examples',
            notifications: {},
            reportsDir: reports,
          }),
          notify: () => Promise.resolve({ channels: [] }),
        },
      });
      const connect: Connect = () =>
        Promise.resolve({ client: env.client, namespace: 'default', taskQueue, close: () => Promise.resolve() });
      let live = '';
      const result = await worker.runUntil(
        drillCommand(file, { real: true, connect, pollMs: 100, live: { write: (text: string) => (live += text) } }),
      );
      assert.equal(result.exitCode, 0, `${result.stderr}\n${result.stdout}`);
      assert.match(live, /^Started drill recovery-drill-plan-rehearsal-drill-\d{8}T\d{6}Z;/);
      assert.match(
        result.stdout,
        /Drill recovery-drill-plan-rehearsal-drill-\S+ of drill-plan, scenario rehearsal, run by \S+@\S+/,
      );
      assert.match(result.stdout, /^restore +succeeded +1h +1h \/ 4h \(met\)$/m);
      assert.match(result.stdout, /^RTO: 1h10m \/ 4h \(met\)$/m);
      assert.match(result.stdout, /^Verdict: PASSED$/m);
      const evidence = /^Evidence: (\S+) \(report\.md, report\.json, report\.html\)$/m.exec(result.stdout);
      assert.ok(evidence, result.stdout);
      assert.ok(evidence[1]!.startsWith(join(reports, 'drill-plan', 'rehearsal')), evidence[1]);
      const json = JSON.parse(await readFile(join(evidence[1]!, 'report.json'), 'utf8')) as EvidenceJson;
      assert.equal(json.summary.simulated, false);
      assert.equal(json.summary.mode, 'drill');
      assert.match(json.summary.requestedBy, /^\S+@\S+$/);

      const listed = await recovery(['drills', 'drill-plan', '--reports-dir', reports]);
      assert.match(
        listed.stdout,
        /^\d{4}-\d\d-\d\d \d\d:\d\dZ +rehearsal +real +succeeded +1h10m \/ 4h met +\S+@\S+ +none +passed$/m,
      );
    } finally {
      await env.teardown();
    }
  });
});
