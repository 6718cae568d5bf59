/**
 * The worker as it runs against a real cluster, configured by its environment only: the real
 * worker process (`workers/main.ts`) on the dev server with a prebuilt workflow bundle, a plans
 * directory, a Prometheus endpoint, JSON logs and a payload key. A recovery started by the
 * `recovery` command (through connectTemporal, with the codec) succeeds; its history holds only
 * ciphertext; the metrics endpoint serves Temporal's worker metrics; the logs are JSON lines that
 * name the workflow and never the key; `recovery codec-server` gives the UI and the temporal CLI
 * the plaintext back, to the configured UI origin only; SIGTERM stops the worker cleanly.
 */
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { connectTemporal } from '../cli/temporal-client';
import { loadPlan } from '../plan/load';
import { freePort } from '../toolchain/net';
import { once, onCleanup } from './helpers/cleanup';
import { bundleWorkflows, startDevServerEnv, testToolchain } from './helpers/servers';

const ROOT = resolve(__dirname, '..');
const TASK_QUEUE = 'cluster-test';
const KEY = randomBytes(32).toString('base64');
const KEY_ID = 'cluster-2026';
const CODEC_TOKEN = 'codec-token-0123456789';
const UI_ORIGIN = 'http://127.0.0.1:8233';
/** The plan's name: it must be readable nowhere in the stored payloads. */
const PLAN_NAME = 'tiny-secret-plan';
const PLAN = `
name: ${PLAN_NAME}
objectives: { rpo: 1h, rto: 1h }
components:
  - { id: settle, kind: wait, duration: 2s, estimate: 2s }
  - { id: soak, kind: wait, duration: 1s, estimate: 1s, dependsOn: [settle] }
scenarios:
  - { name: full-restore }
`;

interface RawPayload {
  metadata?: Record<string, Uint8Array> | null;
  data?: Uint8Array | null;
}

/** A process of the project's, stopped (SIGKILL if it is still there) whatever the tests do. */
function startProcess(args: string[], env: NodeJS.ProcessEnv, readyWhen: (stdout: string) => boolean) {
  const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = { stdout: '', stderr: '' };
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  const kill = once(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  onCleanup(kill);
  const ready = new Promise<void>((done, fail) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output.stdout += chunk.toString();
      if (readyWhen(output.stdout)) done();
    });
    child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
    void exited.then((code) =>
      fail(new Error(`${args.join(' ')} exited (${code}) before it was ready:\n${output.stderr}${output.stdout}`)),
    );
  });
  return { child, output, exited, kill, ready };
}

/** Every payload of a history event, except search attributes (indexed by the server, never encoded). */
function payloadsOf(value: unknown, found: RawPayload[] = []): RawPayload[] {
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array) return found;
  if (Array.isArray(value)) {
    for (const item of value) payloadsOf(item, found);
    return found;
  }
  const record = value as Record<string, unknown>;
  if (record.metadata && typeof record.metadata === 'object' && 'encoding' in record.metadata) {
    found.push(record);
    return found;
  }
  for (const [key, child] of Object.entries(record)) if (key !== 'searchAttributes') payloadsOf(child, found);
  return found;
}

const utf8 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');
const proto3Json = (payload: RawPayload) => ({
  metadata: Object.fromEntries(
    Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
  ),
  data: Buffer.from(payload.data ?? []).toString('base64'),
});

function run(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      command,
      args,
      { cwd: ROOT, env, timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) =>
        done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('the worker process on a cluster: metrics, JSON logs, encrypted payloads, codec server', () => {
  let env: TestWorkflowEnvironment;
  let worker: ReturnType<typeof startProcess>;
  let codecServer: ReturnType<typeof startProcess>;
  let metricsPort: number;
  let codecPort: number;
  let workflowId: string;
  let startedInput: RawPayload;
  const scratch = mkdtempSync(join(tmpdir(), 'recovery-cluster-'));
  const plansDir = join(scratch, 'plans');
  const bundleFile = join(scratch, 'workflow-bundle.js');
  /** What every process of this test gets: the dev server, and no temporal.toml of this machine's user. */
  let baseEnv: NodeJS.ProcessEnv;

  before(async () => {
    mkdirSync(plansDir);
    writeFileSync(join(plansDir, `${PLAN_NAME}.yaml`), PLAN);
    assert.deepEqual(loadPlan(PLAN).errors, [], 'the plan is valid');
    let bundle: Awaited<ReturnType<typeof bundleWorkflows>>;
    [env, bundle, metricsPort, codecPort] = await Promise.all([
      startDevServerEnv(),
      bundleWorkflows(),
      freePort(),
      freePort(),
    ]);
    writeFileSync(bundleFile, bundle.code);
    const inherited = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !/^(RECOVERY|TEMPORAL)_/.test(name)),
    );
    baseEnv = {
      ...inherited,
      TEMPORAL_ADDRESS: env.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_CONFIG_FILE: join(scratch, 'no-temporal.toml'),
      RECOVERY_TASK_QUEUE: TASK_QUEUE,
      RECOVERY_PAYLOAD_KEY: KEY,
      RECOVERY_PAYLOAD_KEY_ID: KEY_ID,
    };
    worker = startProcess(
      ['--import', 'tsx', 'workers/main.ts'],
      {
        ...baseEnv,
        RECOVERY_PLANS_DIR: plansDir,
        RECOVERY_REPORTS_DIR: join(scratch, 'reports'),
        RECOVERY_WORKFLOW_BUNDLE: bundleFile,
        RECOVERY_METRICS_ADDRESS: `127.0.0.1:${metricsPort}`,
        RECOVERY_LOG_FORMAT: 'json',
        RECOVERY_LOG_LEVEL: 'info',
        RECOVERY_MAX_CONCURRENT_ACTIVITIES: '7',
        RECOVERY_SHUTDOWN_GRACE_TIME: '10s',
      },
      (stdout) => stdout.includes('Recovery worker polling'),
    );
    await worker.ready;
  });
  after(async () => {
    await worker?.kill();
    await codecServer?.kill();
    await env?.teardown();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('runs a recovery started with `recovery start` (the codec of connectTemporal) to success', async () => {
    const started = await run(
      process.execPath,
      ['bin/recovery.js', 'start', PLAN_NAME, '--scenario', 'full-restore', '--incident', 'INC-77', '--wait', '--json'],
      baseEnv,
    );
    assert.equal(started.code, 0, started.stderr);
    const report = JSON.parse(started.stdout) as {
      recoveryId: string;
      plan: string;
      status: string;
      components: { id: string; status: string }[];
    };
    assert.equal(report.status, 'succeeded');
    assert.equal(report.plan, PLAN_NAME);
    assert.deepEqual(
      report.components.map((c) => [c.id, c.status]),
      [
        ['settle', 'succeeded'],
        ['soak', 'succeeded'],
      ],
    );
    workflowId = report.recoveryId;
  });

  it('stores only ciphertext: every payload of the history is encrypted under the key id, the plan name unreadable', async () => {
    const connection = await Connection.connect({ address: env.address });
    try {
      const raw = new Client({ connection, namespace: 'default' }); // no codec: what the server holds
      const history = await raw.workflow.getHandle(workflowId).fetchHistory();
      const events = history.events ?? [];
      const input = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
      const result = events.at(-1)?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0];
      assert.ok(input && result, 'the started input and the completed result are there');
      startedInput = input;
      // Patch markers (patched()) are written by the SDK's core, unencoded: they hold the patch id only.
      const patches = events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch');
      for (const marker of patches) {
        const [data] = marker.markerRecordedEventAttributes?.details?.['patch-data']?.payloads ?? [];
        assert.deepEqual(Object.keys(JSON.parse(utf8(data?.data)) as object).sort(), ['deprecated', 'id']);
      }
      const payloads = payloadsOf(events.filter((e) => !patches.includes(e)));
      assert.ok(payloads.length >= 4, `payloads found: ${payloads.length}`);
      for (const payload of payloads) {
        assert.equal(utf8(payload.metadata?.encoding), 'binary/encrypted');
        assert.equal(utf8(payload.metadata?.['encryption-key-id']), KEY_ID);
        assert.equal(Buffer.from(payload.data ?? []).includes(PLAN_NAME), false, 'the plan name is not readable');
      }
      // What a client without the key gets: an error, not the data.
      await assert.rejects(raw.workflow.getHandle(workflowId).result(), /binary\/encrypted/);
    } finally {
      await connection.close();
    }
  });

  it('refuses, naming the key id, a recovery encrypted with a key the worker lacks, and keeps serving', async () => {
    const rogue = await connectTemporal({
      ...baseEnv,
      RECOVERY_PAYLOAD_KEY: randomBytes(32).toString('base64'),
      RECOVERY_PAYLOAD_KEY_ID: 'rogue-key',
    });
    try {
      const handle = await rogue.client.workflow.start('recoveryWorkflow', {
        taskQueue: TASK_QUEUE,
        workflowId: 'recovery-with-a-rogue-key',
        args: [{ plan: PLAN_NAME, scenario: 'full-restore' }],
      });
      const deadline = Date.now() + 30_000;
      let failure: string | undefined;
      while (!failure && Date.now() < deadline) {
        const { events } = await handle.fetchHistory();
        failure =
          events?.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure
            ?.message ?? undefined;
        if (!failure) await sleep(200);
      }
      assert.match(
        failure ?? 'no workflow task failure',
        /a payload is encrypted with key "rogue-key", which this process does not have \(it has "cluster-2026"\)/,
      );
      await handle.terminate('encrypted with a key the worker does not have');
    } finally {
      await rogue.close();
    }
    assert.equal(worker.child.exitCode, null, 'the worker is still running');
  });

  it("serves Temporal's worker metrics on the Prometheus endpoint", async () => {
    const response = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(response.status, 200);
    const metrics = await response.text();
    // RECOVERY_MAX_CONCURRENT_ACTIVITIES=7 in effect, every slot free again.
    assert.match(metrics, /^temporal_worker_task_slots_available\{[^}]*worker_type="ActivityWorker"[^}]*\} 7$/m);
    assert.match(
      metrics,
      new RegExp(`^temporal_workflow_completed\\{[^}]*task_queue="${TASK_QUEUE}"[^}]*\\} [1-9]`, 'm'),
    );
    assert.match(metrics, /^temporal_activity_execution_latency_bucket\{/m);
    assert.match(metrics, /^temporal_workflow_task_schedule_to_start_latency_bucket\{/m);
    assert.match(metrics, /^temporal_num_pollers\{/m);
  });

  it('logs JSON lines with levels and the workflow id, its effective configuration, and never the key', () => {
    const lines = worker.output.stdout.split('\n').filter(Boolean);
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    for (const entry of entries) {
      assert.match(String(entry.level), /^(trace|debug|info|warn|error)$/);
      assert.ok(!Number.isNaN(Date.parse(String(entry.time))), 'an ISO time');
      assert.equal(typeof entry.msg, 'string');
    }
    const configuration = entries.find((e) => e.msg === 'Recovery worker configuration');
    assert.ok(configuration, 'the effective configuration is logged');
    assert.deepEqual(configuration.limits, {
      maxConcurrentActivities: 7,
      maxConcurrentWorkflowTasks: 'SDK default (40)',
      maxCachedWorkflows: 'SDK default (sized to memory)',
    });
    assert.equal(configuration.shutdownGraceTime, '10s');
    assert.equal(configuration.payloadEncryption, `AES-256-GCM with key "${KEY_ID}"`);
    assert.equal(configuration.metrics, `http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(configuration.workflowBundle, bundleFile);
    assert.ok((configuration.variablesSet as string[]).includes('RECOVERY_PAYLOAD_KEY'));
    const ofRecovery = entries.filter((e) => e.workflowId === workflowId);
    assert.ok(
      ofRecovery.some((e) => e.activityType === 'notify' && /Recovery .* started/.test(String(e.msg))),
      `an activity line names the workflow: ${JSON.stringify(ofRecovery.slice(0, 3))}`,
    );
    const everything = worker.output.stdout + worker.output.stderr;
    assert.equal(everything.includes(KEY), false, 'the key appears nowhere');
    assert.equal(everything.includes(Buffer.from(KEY, 'base64').toString('hex')), false);
  });

  it('`recovery codec-server` decodes the stored payloads for the UI and the temporal CLI', async () => {
    codecServer = startProcess(
      ['bin/recovery.js', 'codec-server', '--listen', `127.0.0.1:${codecPort}`, '--ui-origin', UI_ORIGIN],
      { ...baseEnv, RECOVERY_CODEC_TOKEN: CODEC_TOKEN },
      (stdout) => stdout.includes('codec server listening'),
    );
    await codecServer.ready;
    const endpoint = `http://127.0.0.1:${codecPort}`;
    const decode = (path: string, headers: Record<string, string>) =>
      fetch(`${endpoint}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
        body: JSON.stringify({ payloads: [proto3Json(startedInput)] }),
      });

    const decoded = await decode('/decode', { authorization: `Bearer ${CODEC_TOKEN}`, origin: UI_ORIGIN });
    assert.equal(decoded.status, 200);
    assert.equal(decoded.headers.get('access-control-allow-origin'), UI_ORIGIN);
    const { payloads } = (await decoded.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    assert.equal(Buffer.from(payloads[0]!.metadata.encoding!, 'base64').toString(), 'json/plain');
    const request = JSON.parse(Buffer.from(payloads[0]!.data, 'base64').toString()) as Record<string, unknown>;
    assert.equal(request.plan, PLAN_NAME);
    assert.equal(request.scenario, 'full-restore');
    assert.equal((await decode('/default/decode', { authorization: `Bearer ${CODEC_TOKEN}` })).status, 200);
    assert.equal((await decode('/decode', {})).status, 401, 'the token is required');

    const preflight = (origin: string) =>
      fetch(`${endpoint}/decode`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace',
        },
      });
    const allowed = await preflight(UI_ORIGIN);
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get('access-control-allow-origin'), UI_ORIGIN);
    const refused = await preflight('http://127.0.0.1:9999');
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);

    // Temporal's own CLI, a client of the same protocol, shows the history in clear through it.
    const { temporalCli } = await testToolchain();
    const show = (...codec: string[]) =>
      run(
        temporalCli,
        [
          'workflow',
          'show',
          '--address',
          env.address,
          '--namespace',
          'default',
          '--workflow-id',
          workflowId,
          '--output',
          'json',
          ...codec,
        ],
        baseEnv,
      );
    /** The started event's input as the CLI prints it: its encoding, and its data as text. */
    const inputOf = (stdout: string) => {
      const { events } = JSON.parse(stdout) as {
        events: {
          workflowExecutionStartedEventAttributes?: {
            input: { payloads: { metadata: { encoding: string }; data: string }[] };
          };
        }[];
      };
      const payload = events[0]!.workflowExecutionStartedEventAttributes!.input.payloads[0]!;
      return {
        encoding: Buffer.from(payload.metadata.encoding, 'base64').toString(),
        data: Buffer.from(payload.data, 'base64').toString(),
      };
    };
    const clear = await show('--codec-endpoint', endpoint, '--codec-auth', `Bearer ${CODEC_TOKEN}`);
    assert.equal(clear.code, 0, clear.stderr);
    const shown = inputOf(clear.stdout);
    assert.equal(shown.encoding, 'json/plain');
    assert.equal(
      (JSON.parse(shown.data) as { plan: string }).plan,
      PLAN_NAME,
      'the plan name shows through the codec server',
    );
    const stored = await show();
    assert.equal(stored.code, 0, stored.stderr);
    assert.equal(inputOf(stored.stdout).encoding, 'binary/encrypted', 'and not without it');
    assert.equal((codecServer.output.stdout + codecServer.output.stderr).includes(KEY), false, 'no key in its log');
  });

  it('stops cleanly on SIGTERM: the worker and the codec server exit 0', async () => {
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0);
    const last = worker.output.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { msg: string });
    assert.ok(last.some((entry) => entry.msg === 'Recovery worker stopped'));
    codecServer.child.kill('SIGTERM');
    assert.equal(await codecServer.exited, 0);
  });
});
