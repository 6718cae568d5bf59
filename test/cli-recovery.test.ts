/**
 * The recovery commands of the `recovery` CLI (start, status, approve, resolve, cancel, report,
 * list) against Temporal: mostly the real command run as a process, so output and exit codes are
 * tested end to end, against the time-skipping test server with scripted activities; `list` on the
 * dev server, because the time-skipping server has no visibility queries.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { startCommand } from '../cli/commands/start';
import { statusCommand } from '../cli/commands/status';
import type { Connect } from '../cli/temporal-client';
import type { recoveryWorkflow } from '../workflows';
import type { RecoveryProgress } from '../workflows/progress';
import { recovery } from './helpers/cli';
import { command, progressWhen, scriptedActivities, testPlan, testWorker, waitFor } from './helpers/engine';
import { bundleWorkflows, startDevServerEnv, startTimeSkippingEnv } from './helpers/servers';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-ops-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** A plan file in the scratch folder, named `name`. */
function planFile(name: string, components: Record<string, unknown>[]): string {
  const file = join(scratch, `${name}.yaml`);
  writeFileSync(file, stringify({ ...testPlan(components), name }));
  return file;
}

// The `recovery` process inherits this process's environment: point it at the test server only.
const TEMPORAL_VARIABLES = Object.keys(process.env).filter(
  (name) => name.startsWith('TEMPORAL_') || name === 'RECOVERY_TASK_QUEUE',
);
const savedEnvironment = Object.fromEntries(TEMPORAL_VARIABLES.map((name) => [name, process.env[name]]));
function useServer(env: TestWorkflowEnvironment) {
  for (const name of TEMPORAL_VARIABLES) delete process.env[name];
  process.env.TEMPORAL_ADDRESS = env.address;
  process.env.TEMPORAL_NAMESPACE = env.namespace ?? 'default';
}
after(() => {
  delete process.env.TEMPORAL_ADDRESS;
  delete process.env.TEMPORAL_NAMESPACE;
  delete process.env.RECOVERY_TASK_QUEUE;
  Object.assign(process.env, savedEnvironment);
});

/** A fresh task queue with a worker of scripted activities, for the CLI and the test alike. */
async function withWorker<T>(
  env: TestWorkflowEnvironment,
  bundle: WorkflowBundleWithSourceMap,
  taskQueue: string,
  body: (calls: ReturnType<typeof scriptedActivities>['calls']) => Promise<T>,
): Promise<T> {
  const { activities, calls } = scriptedActivities();
  process.env.RECOVERY_TASK_QUEUE = taskQueue;
  const worker = await testWorker(env, bundle, taskQueue, activities);
  return worker.runUntil(() => body(calls));
}

const lines = (text: string) => text.trim().split('\n');

describe('recovery operations (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  let queue = 0;

  before(async () => {
    [env, bundle] = await Promise.all([startTimeSkippingEnv(), bundleWorkflows()]);
    useServer(env);
  });
  after(() => env?.teardown());

  const handleOf = (id: string) => env.client.workflow.getHandle<typeof recoveryWorkflow>(id);
  /** The incident was detected now, by the test server's clock (which runs ahead of the wall clock). */
  const detectedNow = async () => new Date(await env.currentTimeMs()).toISOString();
  const run = <T>(body: (calls: ReturnType<typeof scriptedActivities>['calls']) => Promise<T>) =>
    withWorker(env, bundle, `cli-${++queue}`, body);

  it('start --wait recovers a plan file, shows its progress, then prints the report; report and status read it back', async () => {
    const file = planFile('cli-ok', [command('db', 'ok'), command('app', 'ok', ['db'])]);
    const id = 'recovery-cli-ok-full-restore-INC-1';
    const detectedAt = await detectedNow();
    await run(async (calls) => {
      const started = await recovery([
        'start',
        file,
        '--scenario',
        'full-restore',
        '--incident',
        'INC-1',
        '--detected-at',
        detectedAt,
        '--target-time',
        '2026-11-20T23:00:00Z',
        '--wait',
      ]);
      assert.equal(started.code, 0, started.stderr);
      assert.equal(
        lines(started.stdout)[0],
        `Started ${id}; waiting for it to finish (Ctrl-C stops watching, not the recovery).`,
      );
      assert.match(
        started.stdout,
        /^\[\+\d+s\] succeeded \(\d+s against an RTO of 4h\): db succeeded, app succeeded$/m,
      );
      assert.match(started.stdout, /^# Recovery report: cli-ok \/ full-restore$/m);
      assert.match(started.stdout, /^\| Status \| \*\*succeeded\*\* \|$/m);
      assert.match(started.stdout, new RegExp(`^\\| Incident \\| INC-1, detected ${detectedAt} \\|$`, 'm'));
      assert.deepEqual(calls.commands, ['ok', 'ok']);
    });

    // The result of a completed recovery needs no worker.
    const markdown = await recovery(['report', id, '--format', 'md']);
    assert.equal(markdown.code, 0, markdown.stderr);
    assert.match(markdown.stdout, /^\| RTO \| objective 4h, achieved \d+s \(met\) \|$/m);
    assert.match(
      markdown.stdout,
      /^\| db \| command \| succeeded \| \+\d+s \| \+\d+s \| 1 \| 4h \| \d+s \(met\) \| - \| - \|$/m,
    );
    assert.ok(markdown.stdout.includes('```mermaid\ngantt\n  title Actual timeline of full-restore:'), markdown.stdout);
    assert.match(
      markdown.stdout,
      /^ {2}section Components\n {2}db :done, c_db, 2000-01-01 00:00, 1m\n {2}app :done, c_app, /m,
    );
    assert.match(markdown.stdout, /^ {2}RTO 4h :milestone, crit, rto, 2000-01-01 04:00, 0m$/m);

    const json = await recovery(['report', id, '--format', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as RecoveryProgress;
    assert.equal(report.recoveryId, id);
    assert.equal(report.status, 'succeeded');
    assert.equal(report.rtoMet, true);
    assert.equal(report.clockStartedAt, detectedAt);
    assert.equal(report.targetTime, '2026-11-20T23:00:00Z');
    assert.deepEqual(
      report.components.map((c) => [c.id, c.status, c.runs]),
      [
        ['db', 'succeeded', 1],
        ['app', 'succeeded', 1],
      ],
    );
    assert.deepEqual(JSON.parse((await recovery(['report', id, '--json'])).stdout), report);

    const status = await recovery(['status', id]);
    assert.equal(status.code, 0, status.stderr);
    assert.equal(lines(status.stdout)[0], `Recovery ${id}: succeeded`);
    assert.match(status.stdout, /^RTO: \d+s against 4h: met$/m);
    assert.match(status.stdout, /^db +succeeded +\+\d+s +\+\d+s$/m);
  });

  it('start prints the new id; a gate holds until approve, which refuses an unknown gate with exit 2', async () => {
    const file = planFile('cli-gate', [
      command('restore', 'ok'),
      command('flip-dns', 'ok', ['restore'], { approval: 'required' }),
    ]);
    await run(async (calls) => {
      const started = await recovery(['start', file, '--json']);
      assert.equal(started.code, 0, started.stderr);
      const { workflowId, runId } = JSON.parse(started.stdout) as { workflowId: string; runId: string };
      assert.match(workflowId, /^recovery-cli-gate-full-restore-\d{8}T\d{6}Z$/);
      assert.ok(runId);
      const handle = handleOf(workflowId);
      await progressWhen(handle, (p) => p.gates[0]?.status === 'waiting');

      const status = await recovery(['status', workflowId]);
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^flip-dns +waiting-approval/m);
      assert.ok(
        status.stdout.includes(
          `Waiting for you:\n  flip-dns waits for approval: recovery approve ${workflowId} flip-dns`,
        ),
        status.stdout,
      );

      const wrong = await recovery(['approve', workflowId, 'restore', '--by', 'ana']);
      assert.equal(wrong.code, 2);
      assert.equal(wrong.stderr, 'unknown gate "restore"; gates of this recovery: flip-dns\n');
      assert.deepEqual(calls.commands, ['ok'], 'nothing behind the gate ran');

      const approved = await recovery([
        'approve',
        workflowId,
        'flip-dns',
        '--by',
        'ana',
        '--comment',
        'secondary healthy',
      ]);
      assert.equal(approved.code, 0, approved.stderr);
      assert.equal(lines(approved.stdout)[0], 'approved flip-dns by ana');

      const report = await handle.result();
      assert.equal(report.status, 'succeeded');
      assert.deepEqual([report.gates[0]!.by, report.gates[0]!.comment], ['ana', 'secondary healthy']);

      const late = await recovery(['approve', workflowId, 'flip-dns', '--by', 'ben']);
      assert.equal(late.code, 2);
      assert.equal(late.stderr, `recovery ${workflowId} is over (completed): nothing to approve\n`);

      const markdown = await recovery(['report', workflowId]);
      assert.match(
        markdown.stdout,
        /^\| flip-dns \| approved \| \+\S+ \| ana \| \+\S+ \| \S+ \| - \| secondary healthy \|$/m,
      );
      assert.match(markdown.stdout, /^ {2}section Approvals\n {2}approval of flip-dns :done, c_flip_dns_gate, /m);
    });
  });

  it('start --wait shows a failed step and the resolve command; resolve refuses a component that is not waiting, then retries', async () => {
    const file = planFile('cli-retry', [command('db', 'fail-once:db'), command('app', 'ok', ['db'])]);
    const id = 'recovery-cli-retry-full-restore-INC-3';
    const detectedAt = await detectedNow();
    await run(async (calls) => {
      const waiting = recovery(['start', file, '--incident', 'INC-3', '--detected-at', detectedAt, '--wait']);
      await progressWhen(handleOf(id), (p) => p.pendingDecisions.length > 0);

      const notWaiting = await recovery(['resolve', id, 'app', 'retry', '--by', 'ana']);
      assert.equal(notWaiting.code, 2);
      assert.equal(notWaiting.stderr, '"app" does not need an operator; components waiting for a decision: db\n');
      const badAction = await recovery(['resolve', id, 'db', 'maybe', '--by', 'ana']);
      assert.equal(badAction.code, 2);
      assert.match(
        badAction.stderr,
        /value 'maybe' is invalid for argument 'action'\. Allowed choices are retry, skip, abort\./,
      );

      const retried = await recovery(['resolve', id, 'db', 'retry', '--by', 'ana', '--comment', 'disk freed']);
      assert.equal(retried.code, 0, retried.stderr);
      assert.equal(lines(retried.stdout)[0], 'retry db by ana');

      const { code, stdout, stderr } = await waiting;
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^\[\+\d+s\] waiting \(projected \S+ of 4h\): db needs-operator \(run\), app pending$/m);
      assert.ok(
        stdout.includes(
          `  db stopped at step "run": CommandFailed: fail-once:db failed on purpose\n    decide: recovery resolve ${id} db retry|skip|abort\n`,
        ),
        stdout,
      );
      assert.match(stdout, /^\| \+\d+s \| db \| run \| retry \| ana \| disk freed \|$/m);
      assert.match(stdout, /^\| db \| command \| succeeded \| \+\d+s \| \+\d+s \| 2 \|/m);
      assert.deepEqual(calls.commands, ['fail-once:db', 'fail-once:db', 'ok']);
    });
  });

  it('start --wait exits 1 with the report when the recovery does not succeed', async () => {
    const file = planFile('cli-abort', [command('db', 'fail'), command('app', 'ok', ['db'])]);
    const id = 'recovery-cli-abort-full-restore-INC-4';
    const detectedAt = await detectedNow();
    await run(async () => {
      const waiting = recovery(['start', file, '--incident', 'INC-4', '--detected-at', detectedAt, '--wait', '--json']);
      await progressWhen(handleOf(id), (p) => p.pendingDecisions.length > 0);
      const aborted = await recovery(['resolve', id, 'db', 'abort', '--by', 'ana', '--comment', 'wrong backup']);
      assert.equal(aborted.code, 0, aborted.stderr);
      const { code, stdout, stderr } = await waiting;
      assert.equal(code, 1);
      const report = JSON.parse(stdout) as RecoveryProgress;
      assert.equal(report.status, 'aborted');
      assert.deepEqual(
        report.components.map((c) => [c.id, c.status]),
        [
          ['db', 'failed'],
          ['app', 'not-started'],
        ],
      );
      assert.match(stderr, /^\[\+\d+s\] aborted /m, 'progress goes to stderr with --json');
    });
  });

  it('cancel stops a running recovery and keeps its record; status reads it, and without a worker says what it can', async () => {
    const file = planFile('cli-cancel', [
      command('quick', 'ok'),
      command('long-copy', 'hang', ['quick']),
      command('app', 'ok', ['long-copy']),
    ]);
    const id = 'recovery-cli-cancel-full-restore-INC-5';
    const detectedAt = await detectedNow();
    const handle = handleOf(id);
    await run(async (calls) => {
      const started = await recovery(['start', file, '--incident', 'INC-5', '--detected-at', detectedAt]);
      assert.equal(started.code, 0, started.stderr);
      assert.deepEqual(lines(started.stdout), [
        `Started ${id} (plan cli-cancel, scenario full-restore) on task queue "cli-${queue}".`,
        `Follow it with: recovery status ${id}`,
      ]);
      await progressWhen(handle, (p) => p.components[1]?.status === 'running' && calls.commands.includes('hang'));

      const cancelled = await recovery(['cancel', id, '--reason', 'drill over']);
      assert.equal(cancelled.code, 0, cancelled.stderr);
      assert.equal(lines(cancelled.stdout)[0], `Cancellation requested for ${id} (drill over).`);
      await progressWhen(handle, (p) => p.status === 'cancelled');
      assert.deepEqual(calls.cancelled, ['hang'], 'the running command saw the cancellation');

      const status = await recovery(['status', id]);
      assert.equal(status.code, 0, status.stderr);
      assert.equal(lines(status.stdout)[0], `Recovery ${id}: cancelled`);
      assert.match(status.stdout, /^quick +succeeded/m);
      assert.match(status.stdout, /^long-copy +cancelled/m);
      assert.match(status.stdout, /^app +not-started/m);
    });
    const history = await handle.fetchHistory();
    const request = history.events?.find((e) => e.workflowExecutionCancelRequestedEventAttributes);
    assert.equal(request?.workflowExecutionCancelRequestedEventAttributes?.cause, 'drill over');

    // No worker runs now: the query cannot be answered, the server still knows the essentials.
    const connect: Connect = () =>
      Promise.resolve({ client: env.client, namespace: 'default', taskQueue: 'none', close: () => Promise.resolve() });
    const fallback = await statusCommand(id, { connect, queryTimeoutMs: 300 });
    assert.equal(fallback.exitCode, 0);
    assert.deepEqual(lines(fallback.stdout), [
      `Recovery ${id}: cancelled (workflow cancelled)`,
      'Plan cli-cancel, scenario full-restore; incident INC-5',
      lines(fallback.stdout)[2]!,
      '',
      `Live details (components, steps, gates, decisions) need a worker: no worker answered within 0.3s (is one polling task queue "cli-${queue}"? npm run worker)`,
    ]);
    assert.match(lines(fallback.stdout)[2]!, /^Started \S+Z, closed \S+Z$/);

    const again = await recovery(['cancel', id]);
    assert.equal(again.code, 2);
    assert.equal(again.stderr, `recovery ${id} is over (cancelled): nothing to cancel\n`);
  });

  it('start --wait on a terminal keeps one clock line up to date; --auto-approve passes gates; hours pass in seconds', async () => {
    const file = planFile('cli-tty', [
      waitFor('restore', '1h'),
      command('app', 'ok', ['restore'], { approval: 'required' }),
    ]);
    let written = '';
    const live = { isTTY: true, columns: 100, write: (text: string) => (written += text) };
    const connect: Connect = () =>
      Promise.resolve({
        client: env.client,
        namespace: 'default',
        taskQueue: `cli-${queue}`, // read when the command connects, inside run()
        close: () => Promise.resolve(),
      });
    const result = await run(() => startCommand(file, { wait: true, autoApprove: true, live, connect, pollMs: 100 }));
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /^\| restore \| wait \| succeeded \| \+\S+ \| \+1h\S* \| 1 \|/m);
    assert.match(result.stdout, /^\| app \| approved \| \+\S+ \| auto \(approvals\.auto\) \| /m);
    assert.ok(written.includes('\r\x1b[K'), 'the clock line is rewritten in place');
    assert.match(written, /\[\+\S+\] succeeded \(\S+ against an RTO of 4h\): restore succeeded, app succeeded\n\n$/);
  });

  it('start by plan name: the worker loads it, and a scenario it does not have is exit 2', async () => {
    await run(async () => {
      const unknown = await recovery(['start', 'agama-compliant', '--scenario', 'nope', '--wait']);
      assert.equal(unknown.code, 2);
      assert.match(
        unknown.stderr,
        /refused: scenario: plan "agama-compliant" has no scenario "nope" \(use one of full-restore, database-restore, monthly-restore-test\)/,
      );
    });
    const noScenario = await recovery(['start', 'agama']);
    assert.equal(noScenario.code, 2);
    assert.match(noScenario.stderr, /^name the scenario to run with --scenario/);
    const notAName = await recovery(['start', 'Agama Prod', '--scenario', 'full-restore']);
    assert.equal(notAName.code, 2);
    assert.match(notAName.stderr, /"Agama Prod" is neither a plan name/);
    const badTime = await recovery([
      'start',
      'agama',
      '-s',
      'full-restore',
      '--incident',
      'I-1',
      '--detected-at',
      'today',
    ]);
    assert.equal(badTime.code, 2);
    assert.match(badTime.stderr, /^--detected-at: expected an ISO-8601 time/);
  });

  it('names an unknown recovery with exit 2', async () => {
    for (const args of [
      ['status', 'nope'],
      ['report', 'nope'],
      ['approve', 'nope', 'g', '--by', 'ana'],
      ['cancel', 'nope'],
    ]) {
      const { code, stderr } = await recovery(args);
      assert.equal(code, 2, args.join(' '));
      assert.equal(stderr, 'no recovery "nope" in namespace "default"; list them with: recovery list\n');
    }
  });
});

describe('recovery list, and starts that start nothing (dev server)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;

  before(async () => {
    [env, bundle] = await Promise.all([startDevServerEnv(), bundleWorkflows()]);
    useServer(env);
  });
  after(() => env?.teardown());

  interface Listed {
    workflowId: string;
    plan: string;
    scenario: string;
    incident?: string;
    status: string;
    execution: string;
  }
  const list = async (...args: string[]) => {
    const { code, stdout, stderr } = await recovery(['list', '--json', ...args]);
    assert.equal(code, 0, stderr);
    return JSON.parse(stdout) as Listed[];
  };
  /** Visibility follows the workflows a moment later. */
  async function listWhen(ready: (rows: Listed[]) => boolean, ...args: string[]): Promise<Listed[]> {
    for (let i = 0; ; i++) {
      const rows = await list(...args);
      if (ready(rows) || i === 50) return rows;
      await sleep(200);
    }
  }

  it('list --json shows the recoveries with their plan, incident and status, filtered by status and plan; start refuses a second recovery of a running scenario', async () => {
    const done = planFile('cli-list', [command('db', 'ok')]);
    const gated = planFile('cli-list-gate', [command('dns', 'ok', [], { approval: 'required' })]);
    await withWorker(env, bundle, 'cli-list', async () => {
      assert.equal((await recovery(['start', done, '--incident', 'INC-L1', '--wait'])).code, 0);
      assert.equal((await recovery(['start', gated, '--incident', 'INC-L2'])).code, 0);
      const rows = await listWhen((r) => r.length === 2 && r.every((row) => row.status !== 'loading'));
      assert.deepEqual(
        rows.map((r) => [r.workflowId, r.plan, r.scenario, r.incident, r.status, r.execution]),
        [
          [
            'recovery-cli-list-gate-full-restore-INC-L2',
            'cli-list-gate',
            'full-restore',
            'INC-L2',
            'waiting',
            'running',
          ],
          ['recovery-cli-list-full-restore-INC-L1', 'cli-list', 'full-restore', 'INC-L1', 'succeeded', 'completed'],
        ],
      );
      assert.deepEqual(
        (await list('--status', 'succeeded')).map((r) => r.workflowId),
        ['recovery-cli-list-full-restore-INC-L1'],
      );
      assert.deepEqual(
        (await list('--plan', 'cli-list-gate')).map((r) => r.workflowId),
        ['recovery-cli-list-gate-full-restore-INC-L2'],
      );
      assert.deepEqual(await list('--plan', 'cli-list', '--status', 'running'), []);
      assert.deepEqual(
        (await list('--status', 'waiting')).map((r) => r.workflowId),
        ['recovery-cli-list-gate-full-restore-INC-L2'],
        'the recoveries that need a person',
      );
      assert.equal((await list('--limit', '1')).length, 1);

      const text = await recovery(['list']);
      assert.equal(text.code, 0, text.stderr);
      assert.match(lines(text.stdout)[0]!, /^id +plan +scenario +incident +status +started$/);
      assert.match(
        text.stdout,
        /^recovery-cli-list-full-restore-INC-L1 +cli-list +full-restore +INC-L1 +succeeded +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/m,
      );
      const badStatus = await recovery(['list', '--status', 'great']);
      assert.equal(badStatus.code, 2);

      // A second recovery of a running scenario (an alarm's, a colleague's) is refused, unless asked for.
      const running = 'recovery-cli-list-gate-full-restore-INC-L2';
      const twice = await recovery(['start', gated, '--incident', 'INC-L3']);
      assert.equal(twice.code, 2);
      assert.equal(
        twice.stderr,
        `a recovery of cli-list-gate/full-restore is already running: ${running}. Follow it with recovery status ${running}; to start another beside it anyway, add --alongside\n`,
      );
      const alongside = await recovery(['start', gated, '--incident', 'INC-L3', '--alongside']);
      assert.equal(alongside.code, 0, alongside.stderr);
      for (const id of [running, 'recovery-cli-list-gate-full-restore-INC-L3'])
        await env.client.workflow.getHandle(id).cancel();
    });
  });

  it('start refuses an invalid plan file with every error as file:line:col, and starts nothing', async () => {
    const earlier = await list();
    const { code, stdout, stderr } = await recovery(['start', 'test/fixtures/plans/broken.yaml', '--scenario', 'full']);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    const errors = lines(stderr);
    assert.equal(errors.length, 17);
    for (const line of errors) assert.match(line, /^test\/fixtures\/plans\/broken\.yaml:\d+:\d+ \S+ \S/);
    assert.match(errors[0]!, /^test\/fixtures\/plans\/broken\.yaml:1:7 name use lowercase letters/);
    await sleep(500);
    assert.deepEqual(await list(), earlier);
  });
});

describe('recovery operation commands without a server', () => {
  it('each has a one-line description and --help', async () => {
    const { stdout } = await recovery(['--help']);
    for (const name of ['start', 'status', 'approve', 'resolve', 'cancel', 'report', 'list']) {
      assert.match(stdout, new RegExp(`^  ${name} .*\\S`, 'm'), name);
      const help = await recovery([name, '--help']);
      assert.equal(help.code, 0, name);
      assert.match(help.stdout, new RegExp(`^Usage: recovery ${name} `), name);
      assert.match(help.stdout, /TEMPORAL_ADDRESS/);
    }
  });

  it('says when Temporal cannot be reached: exit 1, no stack trace', async () => {
    const saved = process.env.TEMPORAL_ADDRESS;
    process.env.TEMPORAL_ADDRESS = '127.0.0.1:1';
    try {
      const { code, stderr } = await recovery(['status', 'anything']);
      assert.equal(code, 1);
      assert.match(stderr, /^cannot reach Temporal at 127\.0\.0\.1:1 \(namespace "\S+"\): /);
      assert.doesNotMatch(stderr, /internal error|\n {4}at /);
    } finally {
      if (saved === undefined) delete process.env.TEMPORAL_ADDRESS;
      else process.env.TEMPORAL_ADDRESS = saved;
    }
  });
});
