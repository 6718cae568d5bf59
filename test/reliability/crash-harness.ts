/**
 * What the crash tests share: their staging (crashTest), seeded randomness, a real worker process
 * to kill, and side effects counted where they happen (a SQLite ledger the plan's commands write
 * to, S3 object versions and DynamoDB tables in moto), never in the workflow.
 */
import { DescribeTableCommand, ListTablesCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { Client, WorkflowHandle } from '@temporalio/client';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAwsClients, type AwsClients } from '../../activities/aws-clients';
import { stageOrdersIncident, type OrdersIncident } from '../../demo/orders-incident';
import type { MotoServer } from '../../toolchain/moto-server';
import { recoveryWorkflow } from '../../workflows';
import { approveUpdate, progressQuery } from '../../workflows/messages';
import type { RecoveryProgress } from '../../workflows/progress';
import { once, onCleanup } from '../helpers/cleanup';
import { progressWhen } from '../helpers/engine';
import { assertHistoriesFreeOf } from '../helpers/history-secrets';
import { bundleWorkflows, startMoto } from '../helpers/servers';

const ROOT = resolve(__dirname, '..', '..');

/** `npm run test:reliability`: the full size; `npm test` (CI): a bounded one. */
export const RELIABILITY_FULL = process.env.RELIABILITY_FULL === '1';

/** Secrets of a test run: random, so a hit in a history cannot be a coincidence; long enough to be scanned for. */
export const newSecret = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;

/**
 * A PRNG (mulberry32) seeded from RELIABILITY_SEED or at random. The seed is printed, so that a
 * failed run can be replayed with the same kill moments (as far as the machine's timing allows).
 */
export function seededRandom(test: string) {
  const given = process.env.RELIABILITY_SEED;
  const seed = given ? Number(given) : randomInt(2 ** 31);
  if (!Number.isInteger(seed)) throw new Error(`RELIABILITY_SEED must be an integer, not ${given}`);
  console.log(`# ${test}: seed ${seed} (replay with RELIABILITY_SEED=${seed})`);
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  return { seed, next, between: (min: number, max: number) => min + (max - min) * next() };
}

/** The variable of the worker's environment holding the ledger's token (a database password, in effect). */
export const LEDGER_TOKEN_ENV = 'CRASH_LEDGER_TOKEN';

const sqlite = (program: string, ...args: string[]) =>
  execFileSync('python3', ['-c', program, ...args], { encoding: 'utf8' });

/** A SQLite ledger that accepts writes only from a command that knows `token`. */
export function createLedger(file: string, token: string): void {
  sqlite(
    [
      'import sqlite3, sys',
      'c = sqlite3.connect(sys.argv[1])',
      'c.execute("CREATE TABLE auth (token TEXT)")',
      'c.execute("CREATE TABLE effects (step TEXT, at REAL)")',
      'c.execute("CREATE TABLE attempts (step TEXT, at REAL)")',
      'c.execute("INSERT INTO auth VALUES (?)", (sys.argv[2],))',
      'c.commit()',
    ].join('\n'),
    file,
    token,
  );
}

/**
 * A plan command with one external side effect: it appends a row to `effects`, unless a row of its
 * step is already there (check-before-act in one transaction, as a retried command must). Each run
 * is counted in `attempts`, so that the runs a crash caused show. The token comes from the worker's
 * environment; the plan (and so the history) only names the variable.
 */
export function ledgerCommand(file: string, step: string): string {
  const program = [
    'import os, sqlite3, sys, time',
    'c = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)',
    'c.execute("BEGIN IMMEDIATE")',
    `if c.execute("SELECT token FROM auth").fetchone()[0] != os.environ.get("${LEDGER_TOKEN_ENV}"): sys.exit("ledger: wrong token")`,
    'c.execute("INSERT INTO attempts VALUES (?, ?)", (sys.argv[2], time.time()))',
    'if not c.execute("SELECT 1 FROM effects WHERE step = ?", (sys.argv[2],)).fetchone():',
    '    c.execute("INSERT INTO effects VALUES (?, ?)", (sys.argv[2], time.time()))',
    'c.execute("COMMIT")',
    // The effect is done, the engine not told yet: the window where a crash makes a retry run it again.
    'time.sleep(2)',
  ].join('\n');
  return `python3 -c '${program}' ${file} ${step}`;
}

/** Rows by step: how many times each effect happened, and how many times each command ran. */
export function readLedger(file: string): { effects: Record<string, number>; attempts: Record<string, number> } {
  const out = sqlite(
    [
      'import sqlite3, sys, json',
      'c = sqlite3.connect(sys.argv[1])',
      'count = lambda t: dict(c.execute(f"SELECT step, count(*) FROM {t} GROUP BY step").fetchall())',
      'print(json.dumps({"effects": count("effects"), "attempts": count("attempts")}))',
    ].join('\n'),
    file,
  );
  return JSON.parse(out) as { effects: Record<string, number>; attempts: Record<string, number> };
}

/**
 * Waits until a ledger command of a step not in `except` runs the `after`-th attempt of the ledger
 * or a later one (counted from 0), and returns the steps of those attempts: commands that have just
 * done their effect and are in the two seconds they take before they exit. Undefined after `timeoutMs`.
 */
export async function untilLedgerAttempt(file: string, after: number, except: string[] = [], timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const added = JSON.parse(
      sqlite(
        'import sqlite3, sys, json; print(json.dumps([r[0] for r in sqlite3.connect(sys.argv[1]).execute("SELECT step FROM attempts ORDER BY rowid LIMIT -1 OFFSET ?", (int(sys.argv[2]),))]))',
        file,
        String(after),
      ),
    ) as string[];
    const steps = added.filter((step) => !except.includes(step));
    if (steps.length > 0) return steps;
    await sleep(100);
  }
  return undefined;
}

/** The shape of a versioned bucket after an incident, and what a restore must make of it. */
export interface AssetsIncident {
  bucket: string;
  /** Between the good writes and the bad ones. */
  targetTime: string;
  /** Object versions and delete markers per key, before the restore. */
  entriesBefore: Record<string, number>;
  /** Keys the restore must change (each by exactly one new version or delete marker). */
  changed: string[];
  /** Content current at the target time (absent: the key did not exist then). */
  expected: Record<string, string | undefined>;
}

/**
 * A versioned bucket: six keys written, the target time, then three overwritten, one deleted and one
 * created by mistake. S3 times have second precision, hence the pauses.
 */
export async function stageAssetsIncident(s3: S3Client, bucket: string): Promise<AssetsIncident> {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  const good = ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => `assets/${k}.txt`);
  for (const key of good) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `good ${key}` }));
  await sleep(1_500);
  const targetTime = new Date().toISOString();
  await sleep(1_500);
  const [a, b, c, d] = good as [string, string, string, string];
  for (const key of [a, b, c]) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `bad ${key}` }));
  await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: d }));
  const stray = 'assets/stray.txt';
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: stray, Body: 'written by mistake' }));
  return {
    bucket,
    targetTime,
    entriesBefore: await objectEntries(s3, bucket),
    changed: [a, b, c, d, stray],
    expected: { ...Object.fromEntries(good.map((key) => [key, `good ${key}`])), [stray]: undefined },
  };
}

/** Versions plus delete markers, per key: every write S3 ever took. */
export async function objectEntries(s3: S3Client, bucket: string): Promise<Record<string, number>> {
  const listing = await s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
  const entries: Record<string, number> = {};
  for (const e of [...(listing.Versions ?? []), ...(listing.DeleteMarkers ?? [])])
    entries[e.Key!] = (entries[e.Key!] ?? 0) + 1;
  return entries;
}

/** Current content of each key (undefined: deleted). */
export async function currentContent(s3: S3Client, bucket: string, keys: string[]) {
  const content: Record<string, string | undefined> = {};
  for (const key of keys) {
    try {
      const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      content[key] = await object.Body!.transformToString();
    } catch (error) {
      if ((error as Error).name !== 'NoSuchKey') throw error;
      content[key] = undefined;
    }
  }
  return content;
}

/**
 * The crash tests' plan: the two restores, then a chain of ledger commands and pauses after each
 * (`branches`: branch name → the restore it starts after), then a last ledger command behind an
 * approval gate, so that the recovery is still there for the last crash however fast it ran.
 */
export function crashPlan(options: {
  name: string;
  ledgerFile: string;
  orders: OrdersIncident;
  assets: AssetsIncident;
  branches: Record<string, 'orders-table' | 'assets'>;
  steps: number;
  pause: string;
}) {
  const { ledgerFile, orders, assets, branches, steps, pause } = options;
  const chains = Object.entries(branches).flatMap(([branch, first]) =>
    Array.from({ length: steps }, (_, i) => [
      {
        id: `ledger-${branch}${i + 1}`,
        kind: 'command',
        run: ledgerCommand(ledgerFile, `${branch}${i + 1}`),
        dependsOn: [i === 0 ? first : `pause-${branch}${i}`],
      },
      { id: `pause-${branch}${i + 1}`, kind: 'wait', duration: pause, dependsOn: [`ledger-${branch}${i + 1}`] },
    ]).flat(),
  );
  return {
    plan: {
      name: options.name,
      components: [
        {
          id: 'orders-table',
          kind: 'dynamodb-table',
          tableName: orders.tableName,
          region: 'us-east-1',
          restoreFrom: 'backup',
          backupArn: orders.backupArn,
          targetTableName: `${orders.tableName}-restored`,
          cutover: 'none',
        },
        { id: 'assets', kind: 's3-bucket', bucket: assets.bucket, region: 'us-east-1' },
        ...chains,
        {
          id: 'ledger-done',
          kind: 'command',
          run: ledgerCommand(ledgerFile, 'done'),
          dependsOn: Object.keys(branches).map((b) => `pause-${b}${steps}`),
          approval: 'required',
        },
      ],
    },
    /** The ledger's steps, each of which must happen exactly once. */
    ledgerSteps: [
      ...Object.keys(branches).flatMap((b) => Array.from({ length: steps }, (_, i) => `${b}${i + 1}`)),
      'done',
    ],
    gate: 'ledger-done',
  };
}

/** The progress, or undefined after `timeoutMs` (a worker that is starting, a server that is down). */
export async function progressNow(handle: WorkflowHandle, timeoutMs = 2_000): Promise<RecoveryProgress | undefined> {
  const timeout = new AbortController();
  const answer = handle.query(progressQuery).catch(() => undefined);
  const late = sleep(timeoutMs, undefined, { signal: timeout.signal }).catch(() => undefined);
  const progress = await Promise.race([answer, late]);
  timeout.abort();
  return progress;
}

/** What was going on at a crash: the steps running, activity or timer (not those another step's activity covers). */
export function moment(progress: RecoveryProgress | undefined): string {
  if (!progress) return 'unknown (no answer to the progress query)';
  const running = progress.components.flatMap((c) =>
    c.steps
      .filter((s) => s.status === 'running' && s.automation !== 'covered')
      .map((s) => `${c.id}/${s.id} (${s.automation})`),
  );
  return running.length > 0 ? running.join(', ') : 'between steps';
}

/**
 * The AWS side effects of crashPlan, each exactly once: one restored table (from the backup, every
 * item), and in the bucket one new version or delete marker per changed key, none for the others.
 */
export async function assertAwsEffectsOnce(aws: AwsClients, orders: OrdersIncident, assets: AssetsIncident) {
  const target = `${orders.tableName}-restored`;
  const tables = (await aws.dynamodb().send(new ListTablesCommand({}))).TableNames ?? [];
  assert.deepEqual(tables.sort(), [orders.tableName, target], 'one restore, no leftovers');
  const restored = await aws.dynamodb().send(new DescribeTableCommand({ TableName: target }));
  assert.equal(restored.Table?.RestoreSummary?.SourceBackupArn, orders.backupArn);
  const scan = await aws.dynamodb().send(new ScanCommand({ TableName: target, Select: 'COUNT' }));
  assert.equal(scan.Count, orders.orders.length, 'every order restored');

  assert.deepEqual(
    await objectEntries(aws.s3(), assets.bucket),
    Object.fromEntries(
      Object.entries(assets.entriesBefore).map(([key, n]) => [key, assets.changed.includes(key) ? n + 1 : n]),
    ),
    'one write per changed key, none for the others',
  );
  assert.deepEqual(
    await currentContent(aws.s3(), assets.bucket, Object.keys(assets.expected)),
    assets.expected,
    'every key as it was at the target time',
  );
}

export interface WorkerProcess {
  child: ChildProcess;
  /** SIGKILL, and the exit awaited. */
  kill: () => Promise<void>;
  output: () => string;
}

/**
 * `npm run worker`'s entry point as a process of its own, configured by `env` only (on top of this
 * process's environment), with a prebuilt workflow bundle so that a restart takes seconds. Resolves
 * once it polls.
 */
export async function startWorkerProcess(env: NodeJS.ProcessEnv): Promise<WorkerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const kill = once(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  onCleanup(kill);
  await new Promise<void>((ready, fail) => {
    child.stdout.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
      if (output.includes('Recovery worker polling')) ready();
    });
    child.stderr.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
    child.once('exit', (code) => fail(new Error(`worker exited (${code}) before polling:\n${output}`)));
  });
  return { child, kill, output: () => output };
}

/**
 * Pid of the Temporal dev server that keeps its state in `dbFile`, read from /proc: the service
 * that started it only offers a graceful stop, and a crash test needs a SIGKILL.
 */
export function devServerPid(dbFile: string): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // exited meanwhile
    }
    const at = args.indexOf('--db-filename');
    if (args.includes('start-dev') && at >= 0 && args[at + 1] === dbFile) return Number(entry);
  }
  throw new Error(`no Temporal dev server runs on ${dbFile}`);
}

/**
 * A crash test's staging around its Temporal server, `name` being its task queue, workflow id and
 * plan name: a scratch folder, the two secrets, moto, the prebuilt workflow bundle and the ledger
 * (`setUp` in `before`, `tearDown` in `after`); then the incident and crashPlan over it (two
 * branches of `steps` ledger commands), the worker's environment, and the checks once the recovery
 * is through.
 */
export function crashTest(name: string, options: { steps: number; pause: string }) {
  const scratch = mkdtempSync(join(tmpdir(), `recovery-${name}-`));
  const ledgerFile = join(scratch, 'ledger.db');
  const bundleFile = join(scratch, 'workflow-bundle.js');
  // Both reach the worker through its environment only: the AWS key signs every AWS call of the
  // recovery, the token opens the ledger.
  const awsSecret = newSecret('aws-secret');
  const ledgerToken = newSecret('ledger-token');
  let moto: MotoServer | undefined;
  let aws: AwsClients;
  let staged: ReturnType<typeof crashPlan> & { orders: OrdersIncident; assets: AssetsIncident };

  return {
    scratch,
    ledgerFile,
    random: seededRandom(name),

    /** Starts moto, writes the workflow bundle and creates the ledger. */
    async setUp(): Promise<void> {
      const [started, bundle] = await Promise.all([startMoto(), bundleWorkflows()]);
      moto = started;
      writeFileSync(bundleFile, bundle.code);
      aws = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
      createLedger(ledgerFile, ledgerToken);
    },

    async tearDown(): Promise<void> {
      await moto?.stop();
      rmSync(scratch, { recursive: true, force: true });
    },

    /** The worker's environment, for the Temporal server at `address`. */
    workerEnv: (address: string, namespace = 'default'): NodeJS.ProcessEnv => ({
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: namespace,
      TEMPORAL_CONFIG_FILE: join(scratch, 'no-temporal.toml'),
      RECOVERY_TASK_QUEUE: name,
      RECOVERY_WORKFLOW_BUNDLE: bundleFile,
      RECOVERY_REPORTS_DIR: join(scratch, 'reports'),
      AWS_ENDPOINT_URL: moto!.endpoint,
      AWS_SECRET_ACCESS_KEY: awsSecret,
      [LEDGER_TOKEN_ENV]: ledgerToken,
    }),

    /** Stages the orders table's and the assets bucket's incidents and the plan over them. */
    async stage(): Promise<void> {
      const orders = await stageOrdersIncident(aws.dynamodb());
      const assets = await stageAssetsIncident(aws.s3(), `${name}-assets`);
      const branches = { x: 'orders-table', y: 'assets' } as const;
      staged = { orders, assets, ...crashPlan({ name, ledgerFile, orders, assets, branches, ...options }) };
    },

    /** Starts the recovery of the staged plan (a worker must be polling, or come). */
    start: (client: Client) =>
      client.workflow.start(recoveryWorkflow, {
        taskQueue: name,
        workflowId: name,
        args: [{ plan: staged.plan, scenario: 'full-restore', targetTime: staged.assets.targetTime }],
      }),

    /**
     * Waits (10 min at most: restores and commands cut short are retried after their heartbeat
     * timeout) until the recovery is at its last gate, fails if a step ran out of retries instead,
     * approves the gate and returns the report.
     */
    async approveAtGate(handle: WorkflowHandle<typeof recoveryWorkflow>, comment: string): Promise<RecoveryProgress> {
      const { gate } = staged;
      const atGate = await progressWhen(
        handle,
        (p) => p.pendingDecisions.length > 0 || p.gates.some((g) => g.gate === gate && g.status === 'waiting'),
        10 * 60_000,
      );
      assert.deepEqual(atGate.pendingDecisions, [], 'no step ran out of retries');
      await handle.executeUpdate(approveUpdate, { args: [{ gate, by: 'sre', comment }] });
      return handle.result();
    },

    /**
     * The recovery succeeded with no operator, every side effect happened exactly once (ledger,
     * DynamoDB, S3), and neither secret is in the workers' `outputs` or in any history. Returns
     * the ledger's attempts per step: the runs a crash caused show there.
     */
    async assertDoneOnce(report: RecoveryProgress, outputs: string[], client: Client): Promise<Record<string, number>> {
      assert.equal(report.status, 'succeeded');
      assert.deepEqual(
        report.components.filter((c) => c.status !== 'succeeded' || c.runs !== 1).map((c) => [c.id, c.status, c.runs]),
        [],
        'every component succeeded in one run: no operator was needed',
      );
      const { effects, attempts } = readLedger(ledgerFile);
      assert.deepEqual(
        effects,
        Object.fromEntries(staged.ledgerSteps.map((s) => [s, 1])),
        'every ledger effect exactly once',
      );
      const reruns = Object.entries(attempts).filter(([, n]) => n > 1);
      console.log(`# commands run again: ${reruns.map(([s, n]) => `${s} ×${n}`).join(', ') || 'none'}`);
      await assertAwsEffectsOnce(aws, staged.orders, staged.assets);

      for (const output of outputs)
        assert.ok(!output.includes(awsSecret) && !output.includes(ledgerToken), 'no secret in the worker output');
      const scanned = await assertHistoriesFreeOf(client, [awsSecret, ledgerToken]);
      assert.ok(scanned > 2 * options.steps, `every history scanned (${scanned})`);
      return attempts;
    },
  };
}
