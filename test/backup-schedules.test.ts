/**
 * Backups on their calendars, on the dev server (the time-skipping server has no schedules):
 * `recovery schedules apply` turns the Agama plan's calendar into Temporal Schedules exactly and
 * idempotently; a scheduled backup runs through the real worker, is proven by its integrity check
 * and shows up in the RPO watchdog; a stale or broken component makes the watchdog call someone.
 */
import { ScheduleOverlapPolicy } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { createActivities } from '../activities';
import type { RecoveryNotification } from '../activities/notify';
import { createAwsClients } from '../activities/aws-clients';
import { LocalBackupStore } from '../backups/local-store';
import { engineSchedules } from '../backups/schedules';
import { schedulesApplyCommand } from '../cli/commands/schedules';
import type { Connect } from '../cli/temporal-client';
import { loadPlan } from '../plan/load';
import { loadPlanFile } from '../plan/load-file';
import { backupWorkflow, rpoWatchdogWorkflow } from '../workflows';
import { testWorker } from './helpers/engine';
import { bundleWorkflows, startDevServerEnv, testToolchain } from './helpers/servers';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-schedules-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('the Agama calendar as Temporal Schedules', () => {
  it('weekly full Monday 16:10 UTC, incrementals Tuesday to Sunday 16:10, binlogs every 15m, a watchdog, a monthly drill', async () => {
    const { plan } = await loadPlanFile('examples/agama-compliant.yaml');
    const schedules = engineSchedules(plan!);
    assert.deepEqual(
      schedules.map((s) => [s.scheduleId, s.spec]),
      [
        ['recovery:agama-compliant:backup:agama-mysql:full', { cronExpressions: ['10 16 * * 1'], timezone: 'UTC' }],
        [
          'recovery:agama-compliant:backup:agama-mysql:incremental',
          { cronExpressions: ['10 16 * * 0,2-6'], timezone: 'UTC' },
        ],
        ['recovery:agama-compliant:backup:agama-mysql:log', { intervals: [{ every: '15m' }] }],
        ['recovery:agama-compliant:backup:agama-influxdb:full', { cronExpressions: ['10 16 * * 1'], timezone: 'UTC' }],
        [
          'recovery:agama-compliant:backup:agama-influxdb:incremental',
          { cronExpressions: ['10 * * * *'], timezone: 'UTC' },
        ],
        ['recovery:agama-compliant:backup:agama-ansible:snapshot', { cronExpressions: ['0 * * * *'], timezone: 'UTC' }],
        ['recovery:agama-compliant:rpo-watchdog', { intervals: [{ every: '15m' }] }],
        [
          'recovery:agama-compliant:drill:monthly-restore-test',
          {
            calendars: [{ dayOfMonth: { start: 1, end: 7 }, dayOfWeek: 'MONDAY', hour: 10, minute: 0 }],
            timezone: 'UTC',
          },
        ],
      ],
    );
  });
});

describe('drill schedules in plans', () => {
  it('only drills have a schedule, and its cron and time zone are checked', () => {
    const { errors } = loadPlan(
      [
        'name: p',
        'components: [{ id: db, kind: wait, duration: 1m }]',
        'scenarios:',
        "  - { name: restore, schedule: { cron: '0 10 * * 1' } }",
        "  - { name: rehearse, mode: drill, schedule: { cron: '0 25 * * 1', timezone: Mars/Olympus } }",
      ].join('\n'),
      'p.yaml',
    );
    const lines = errors.map((e) => `${e.path} ${e.message}`);
    assert.equal(lines.length, 3, lines.join('\n'));
    assert.ok(lines.includes('scenarios[0].schedule only drills (mode: drill) run on a schedule'), lines.join('\n'));
    assert.ok(
      lines.some((l) => l.startsWith('scenarios[1].schedule.cron invalid cron expression:')),
      lines.join('\n'),
    );
    assert.ok(
      lines.includes(
        'scenarios[1].schedule.timezone unknown time zone: use an IANA name such as "UTC" or "Europe/Tallinn"',
      ),
      lines.join('\n'),
    );
  });
});

describe('schedules and scheduled backups on the dev server', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  let connect: Connect;
  const plansDir = join(scratch, 'plans');
  const notifications: RecoveryNotification[] = [];

  before(async () => {
    [env, bundle] = await Promise.all([startDevServerEnv(), bundleWorkflows()]);
    connect = () =>
      Promise.resolve({
        client: env.client,
        namespace: 'default',
        taskQueue: 'backups',
        close: () => Promise.resolve(),
      });
    mkdirSync(plansDir, { recursive: true });
  });
  after(() => env?.teardown());

  it('apply creates the schedules, a second apply changes nothing, edits update and removals delete', async () => {
    const file = join(scratch, 'agama-compliant.yaml');
    const text = readFileSync('examples/agama-compliant.yaml', 'utf8');
    writeFileSync(file, text);
    const first = await schedulesApplyCommand(file, { connect, json: true });
    const created = JSON.parse(first.stdout) as { schedules: { scheduleId: string; action: string }[] };
    assert.deepEqual(new Set(created.schedules.map((s) => s.action)), new Set(['created']));
    assert.equal(created.schedules.length, 8);
    // The monthly restore test the backup document asks for: the first Monday of each month, 10:00 UTC.
    const drill = await env.client.schedule.getHandle('recovery:agama-compliant:drill:monthly-restore-test').describe();
    for (const at of drill.info.nextActionTimes.slice(0, 3)) {
      assert.deepEqual([at.getUTCDay(), at.getUTCHours(), at.getUTCMinutes()], [1, 10, 0], at.toISOString());
      assert.ok(at.getUTCDate() <= 7, at.toISOString());
    }
    assert.deepEqual(drill.action.type === 'startWorkflow' && drill.action.args, [
      { plan: 'agama-compliant', scenario: 'monthly-restore-test', approvals: { auto: true } },
    ]);

    const full = await env.client.schedule.getHandle('recovery:agama-compliant:backup:agama-mysql:full').describe();
    assert.deepEqual(
      full.spec.calendars?.map((c) => [c.dayOfWeek, c.hour, c.minute]),
      [
        [
          [{ start: 'MONDAY', end: 'MONDAY', step: 1 }],
          [{ start: 16, end: 16, step: 1 }],
          [{ start: 10, end: 10, step: 1 }],
        ],
      ],
      'Monday 16:10',
    );
    assert.equal(full.spec.timezone, 'UTC');
    assert.equal(full.policies.overlap, 'SKIP');
    const next = full.info.nextActionTimes[0]!;
    assert.equal(next.getUTCDay(), 1);
    assert.equal(`${next.getUTCHours()}:${next.getUTCMinutes()}`, '16:10');

    const again = JSON.parse((await schedulesApplyCommand(file, { connect, json: true })).stdout) as typeof created;
    assert.deepEqual(new Set(again.schedules.map((s) => s.action)), new Set(['unchanged']));

    writeFileSync(
      file,
      text.replace("{ type: incremental, cron: '10 * * * *' }", "{ type: incremental, cron: '40 * * * *' }"),
    );
    const edited = JSON.parse((await schedulesApplyCommand(file, { connect, json: true })).stdout) as typeof created;
    assert.deepEqual(
      edited.schedules.filter((s) => s.action !== 'unchanged'),
      [
        {
          scheduleId: 'recovery:agama-compliant:backup:agama-influxdb:incremental',
          description: 'agama-influxdb incremental backup, 40 * * * * UTC',
          action: 'updated',
        },
      ],
    );

    writeFileSync(
      file,
      text.replace(
        /\n {4}backup:\n {6}schedules:\n {8}- \{ type: snapshot, cron: '0 \* \* \* \*' \}[^\n]*\n {6}retention: 90d/,
        '',
      ),
    );
    const dry = await schedulesApplyCommand(file, { connect, dryRun: true });
    assert.match(dry.stdout, /recovery:agama-compliant:backup:agama-ansible:snapshot +would be deleted/);
    const removed = JSON.parse((await schedulesApplyCommand(file, { connect, json: true })).stdout) as typeof created;
    assert.deepEqual(
      removed.schedules.filter((s) => s.action === 'deleted').map((s) => s.scheduleId),
      ['recovery:agama-compliant:backup:agama-ansible:snapshot'],
    );
    for (const s of removed.schedules.filter((s) => s.action !== 'deleted'))
      await env.client.schedule.getHandle(s.scheduleId).delete();
  });

  it('a scheduled backup runs, is proven, and the RPO watchdog sees it; a stale one calls someone', async () => {
    // The Ansible repository on its "git server": a bare repository with a commit.
    const server = join(scratch, 'agama-ansible.git');
    const work = join(scratch, 'ansible-work');
    execFileSync('git', ['init', '-q', '--bare', '-b', 'main', server]);
    execFileSync('git', ['clone', '-q', server, work]);
    mkdirSync(join(work, 'inventory'));
    for (const path of ['site.yml', 'inventory/production', 'ansible.cfg'])
      writeFileSync(join(work, path), `# ${path}\n`);
    const git = (...args: string[]) =>
      execFileSync('git', ['-C', work, '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args]);
    git('add', '.');
    git('commit', '-qm', 'Agama playbook');
    git('push', '-q', 'origin', 'main');

    const backupDir = join(scratch, 'backups', 'agama-ansible');
    const plan = {
      name: 'agama-git',
      objectives: { rpo: '1h', rto: '4h' },
      contacts: [{ name: 'On-call DBA', phone: '+1 555 0100' }],
      components: [
        {
          id: 'agama-ansible',
          kind: 'git-repo',
          url: `file://${server}`,
          backupDir,
          checkoutDir: join(scratch, 'checkout'),
          paths: ['site.yml', 'inventory/production', 'ansible.cfg'],
          backup: { schedules: [{ type: 'snapshot', cron: '0 * * * *' }], retention: '90d' },
        },
        {
          id: 'stale-repo',
          kind: 'git-repo',
          url: `file://${server}`,
          backupDir: join(scratch, 'backups', 'stale-repo'),
          checkoutDir: join(scratch, 'checkout-stale'),
          backup: { schedules: [{ type: 'snapshot', cron: '0 * * * *' }] },
        },
      ],
    };
    const file = join(plansDir, 'agama-git.yaml');
    writeFileSync(file, stringify(plan));

    const activities = {
      ...createActivities({
        aws: createAwsClients({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1' }),
        plansDir,
        notifications: {},
        dataBinaries: (await testToolchain()).data,
      }),
      notify: (n: RecoveryNotification) => {
        notifications.push(n);
        return Promise.resolve({ channels: ['test'] });
      },
    };
    const worker = await testWorker(env, bundle, 'backups', activities);
    await worker.runUntil(async () => {
      const applied = await schedulesApplyCommand(file, { connect });
      assert.equal(applied.exitCode, 0, applied.stderr);
      const schedule = env.client.schedule.getHandle('recovery:agama-git:backup:agama-ansible:snapshot');
      await schedule.trigger();
      let runId: string | undefined;
      for (let i = 0; i < 100 && !runId; i++) {
        runId = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
        if (!runId) await new Promise((r) => setTimeout(r, 100));
      }
      const report = await env.client.workflow.getHandle<typeof backupWorkflow>(runId!).result();
      assert.equal(report.component, 'agama-ansible');
      assert.match(report.backupId, /^\d{4}-\d{2}-\d{2}T\d{6}Z-snapshot$/);
      assert.ok(report.integrity.checksums.files > 0, 'the integrity check verified the files');
      const stored = await new LocalBackupStore(backupDir).list();
      assert.deepEqual(
        stored.map((m) => m.id),
        [report.backupId],
      );

      const watch = await env.client.workflow.execute(rpoWatchdogWorkflow, {
        taskQueue: 'backups',
        workflowId: 'watchdog-agama-git',
        args: [{ plan: 'agama-git' }],
      });
      const fresh = watch.components.find((c) => c.component === 'agama-ansible')!;
      assert.equal(fresh.breached, false);
      assert.equal(fresh.newestBackup, report.backupId);
      assert.ok(fresh.ageMinutes! <= 1);
      const stale = watch.components.find((c) => c.component === 'stale-repo')!;
      assert.equal(stale.breached, true, 'no backup at all: nothing to restore from');
      const call = notifications.find((n) => n.event === 'rpo-breached');
      assert.match(call?.message ?? '', /stale-repo: cannot be restored from its backups: there is no full backup/);
      assert.doesNotMatch(call!.message, /agama-ansible/);
      assert.equal(call!.contacts[0]!.name, 'On-call DBA');

      // The schedule's runs remember what they told: a breach that lasts is not paged every run.
      const told = notifications.length;
      const watchdog = env.client.schedule.getHandle('recovery:agama-git:rpo-watchdog');
      const runs: { workflowId: string; firstExecutionRunId: string }[] = [];
      for (let round = 0; round < 2; round++) {
        if (round > 0) {
          await new Promise((r) => setTimeout(r, 1_100)); // scheduled run ids are to the second
          // The schedule hands a run's result to the next once it has seen the run finish.
          for (let i = 0; i < 100 && (await watchdog.describe()).info.runningActions.length > 0; i++)
            await new Promise((r) => setTimeout(r, 100));
        }
        // As the calendar starts it (SKIP): the schedule watches such a run and hands its result to the next.
        await watchdog.trigger(ScheduleOverlapPolicy.SKIP);
        for (let i = 0; i < 100 && runs.length <= round; i++) {
          runs.splice(0, runs.length, ...(await watchdog.describe()).info.recentActions.map((a) => a.action.workflow));
          if (runs.length <= round) await new Promise((r) => setTimeout(r, 100));
        }
        await env.client.workflow.getHandle(runs[round]!.workflowId, runs[round]!.firstExecutionRunId).result();
      }
      const [first, second] = await Promise.all(
        runs.map((run) =>
          env.client.workflow.getHandle<typeof rpoWatchdogWorkflow>(run.workflowId, run.firstExecutionRunId).result(),
        ),
      );
      const staleIn = (r: typeof first) => r!.components.find((c) => c.component === 'stale-repo')!;
      assert.equal(staleIn(second).breached, true);
      assert.equal(staleIn(second).notifiedAt, staleIn(first).notifiedAt, 'told once, by the first run');
      assert.equal(
        notifications.slice(told).filter((n) => n.event === 'rpo-breached').length,
        1,
        'two scheduled runs, one page',
      );
    });
    for await (const s of env.client.schedule.list())
      if (s.scheduleId.startsWith('recovery:agama-git:')) await env.client.schedule.getHandle(s.scheduleId).delete();
  });
});
