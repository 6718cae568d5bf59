/**
 * The worker's configuration from the environment: every problem at once, each naming its
 * variable (and never a secret's value), as the real worker process prints them before it
 * connects anywhere; the effective configuration it prints at start; the CLI's client refusing
 * broken key variables the same way.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, describe, it } from 'node:test';
import { UsageError } from '../cli/result';
import { connectTemporal } from '../cli/temporal-client';
import { describeWorkerConfig, workerConfig, WorkerConfigError } from '../workers/config';

const ROOT = resolve(__dirname, '..');
const scratch = mkdtempSync(join(tmpdir(), 'recovery-worker-config-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** The problems workerConfig reports for `env`. */
function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    workerConfig(env);
  } catch (error) {
    assert.ok(error instanceof WorkerConfigError);
    return error.problems;
  }
  assert.fail('the configuration was accepted');
}

describe('worker configuration', () => {
  it('defaults to the SDK limits, the examples, json logs (text at a terminal), no metrics and no encryption', () => {
    // No temporal.toml of this machine's user either.
    const config = workerConfig({ TEMPORAL_CONFIG_FILE: join(scratch, 'none.toml') });
    assert.equal(config.temporal.taskQueue, 'recovery-engine');
    assert.equal(config.temporal.namespace, 'default');
    assert.deepEqual(config.tuning, {});
    assert.equal(config.activities.plansDir, join(ROOT, 'examples'));
    assert.deepEqual(config.log, { level: 'info', format: 'json' });
    assert.equal(workerConfig({}, true).log.format, 'text');
    assert.equal(config.metricsAddress, undefined);
    assert.equal(config.workflowBundle, undefined);
    assert.equal(config.payloadKeys, undefined);
  });

  it('takes every setting, blank variables counting as unset', () => {
    const bundle = join(scratch, 'workflow-bundle.js');
    writeFileSync(bundle, '// bundle');
    const config = workerConfig({
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      TEMPORAL_NAMESPACE: 'dr',
      RECOVERY_TASK_QUEUE: ' dr-queue ',
      RECOVERY_MAX_CONCURRENT_ACTIVITIES: '20',
      RECOVERY_MAX_CONCURRENT_WORKFLOW_TASKS: '10',
      RECOVERY_MAX_CACHED_WORKFLOWS: '500',
      RECOVERY_SHUTDOWN_GRACE_TIME: '1m30s',
      RECOVERY_PLANS_DIR: scratch,
      RECOVERY_REPORTS_DIR: join(scratch, 'reports'),
      RECOVERY_SLACK_WEBHOOK_URL: 'https://hooks.slack.example/services/T0/B0/secret',
      RECOVERY_SNS_TOPIC_ARN: 'arn:aws:sns:us-east-1:123456789012:recovery',
      RECOVERY_WORKFLOW_BUNDLE: bundle,
      RECOVERY_METRICS_ADDRESS: '0.0.0.0:9464',
      RECOVERY_LOG_LEVEL: 'WARNING',
      RECOVERY_LOG_FORMAT: 'pretty',
      RECOVERY_PAYLOAD_KEY: randomBytes(32).toString('base64'),
      RECOVERY_PAYLOAD_KEY_ID: '2026-05',
      RECOVERY_PAYLOAD_OLD_KEYS: '',
    });
    assert.equal(config.temporal.connectionOptions.address, 'temporal.internal:7233');
    assert.equal(config.temporal.namespace, 'dr');
    assert.equal(config.temporal.taskQueue, 'dr-queue');
    assert.deepEqual(config.tuning, {
      maxConcurrentActivityTaskExecutions: 20,
      maxConcurrentWorkflowTaskExecutions: 10,
      maxCachedWorkflows: 500,
      shutdownGraceTime: 90_000,
    });
    assert.equal(config.activities.plansDir, scratch);
    assert.equal(config.activities.reportsDir, join(scratch, 'reports'));
    assert.equal(config.activities.notifications.snsTopicArn, 'arn:aws:sns:us-east-1:123456789012:recovery');
    assert.equal(config.workflowBundle, bundle);
    assert.equal(config.metricsAddress, '0.0.0.0:9464');
    assert.deepEqual(config.log, { level: 'warn', format: 'text' });
    assert.equal(config.payloadKeys?.current?.id, '2026-05');
    assert.deepEqual(workerConfig({ RECOVERY_MAX_CACHED_WORKFLOWS: '0' }).tuning, { maxCachedWorkflows: 0 });
  });

  it('names the variable of every problem at once, and shows no secret', () => {
    const webhook = 'ftp://hooks.slack.example/secret-path';
    const problems = problemsOf({
      RECOVERY_MAX_CONCURRENT_ACTIVITIES: 'x',
      RECOVERY_MAX_CONCURRENT_WORKFLOW_TASKS: '1',
      RECOVERY_MAX_CACHED_WORKFLOWS: '1',
      RECOVERY_SHUTDOWN_GRACE_TIME: '30',
      RECOVERY_PLANS_DIR: join(scratch, 'no-such-plans'),
      RECOVERY_SLACK_WEBHOOK_URL: webhook,
      RECOVERY_SNS_TOPIC_ARN: 'recovery-topic',
      RECOVERY_WORKFLOW_BUNDLE: join(scratch, 'missing-bundle.js'),
      RECOVERY_METRICS_ADDRESS: 'localhost:9464',
      RECOVERY_LOG_LEVEL: 'loud',
      RECOVERY_LOG_FORMAT: 'xml',
      RECOVERY_PAYLOAD_KEY: 'c2hvcnQ=',
      TEMPORAL_PROFILE: 'nowhere',
      TEMPORAL_CONFIG_FILE: join(scratch, 'temporal.toml'),
    });
    assert.deepEqual(problems, [
      "RECOVERY_MAX_CONCURRENT_ACTIVITIES must be a positive integer, got 'x'",
      "RECOVERY_MAX_CONCURRENT_WORKFLOW_TASKS must be an integer of at least 2, got '1'",
      "RECOVERY_MAX_CACHED_WORKFLOWS must be 0 (no cache) or an integer of at least 2, got '1'",
      "RECOVERY_SHUTDOWN_GRACE_TIME must be a duration such as 30s or 5m, got '30'",
      'RECOVERY_SLACK_WEBHOOK_URL must be an http(s) URL (the value is not shown: it is a secret)',
      "RECOVERY_SNS_TOPIC_ARN must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>), got 'recovery-topic'",
      "RECOVERY_METRICS_ADDRESS must be <IP>:<port> such as 0.0.0.0:9464 or [::]:9464, got 'localhost:9464'",
      "RECOVERY_LOG_LEVEL must be one of trace, debug, info, warn, error, got 'loud'",
      "RECOVERY_LOG_FORMAT must be one of json, text, got 'xml'",
      problems.find((p) => p.startsWith('the Temporal connection'))!,
      'RECOVERY_PAYLOAD_KEY must be the base64 of 32 random bytes (make one with: openssl rand -base64 32); it decodes to 5 bytes',
      `RECOVERY_PLANS_DIR must be a readable directory, got '${join(scratch, 'no-such-plans')}': ENOENT`,
      `RECOVERY_WORKFLOW_BUNDLE must be a readable file (npm run build writes dist/workflow-bundle.js), got '${join(scratch, 'missing-bundle.js')}': ENOENT`,
    ]);
    assert.match(
      problems.find((p) => p.startsWith('the Temporal connection'))!,
      /\(TEMPORAL_ADDRESS, TEMPORAL_PROFILE, TEMPORAL_TLS_\*…\) is not usable: .*nowhere/,
    );
    assert.equal(problems.join('\n').includes('secret-path'), false);
    assert.equal(problems.join('\n').includes('c2hvcnQ'), false);

    assert.deepEqual(
      problemsOf({ RECOVERY_MAX_CONCURRENT_WORKFLOW_TASKS: '50', RECOVERY_MAX_CACHED_WORKFLOWS: '20' }),
      [
        'RECOVERY_MAX_CONCURRENT_WORKFLOW_TASKS (50) must not exceed RECOVERY_MAX_CACHED_WORKFLOWS (20): each workflow task needs its workflow in the cache',
      ],
    );
    assert.deepEqual(problemsOf({ RECOVERY_MAX_CONCURRENT_ACTIVITIES: '0', RECOVERY_METRICS_ADDRESS: '[::1]:70000' }), [
      "RECOVERY_MAX_CONCURRENT_ACTIVITIES must be a positive integer, got '0'",
      "RECOVERY_METRICS_ADDRESS must be <IP>:<port> such as 0.0.0.0:9464 or [::]:9464, got '[::1]:70000'",
    ]);
    const file = join(scratch, 'a-file');
    writeFileSync(file, '');
    assert.deepEqual(problemsOf({ RECOVERY_PLANS_DIR: file }), [
      `RECOVERY_PLANS_DIR must be a directory, got '${file}' (a file)`,
    ]);
  });

  it('describes the effective configuration without a secret value, naming the variables set', () => {
    const key = randomBytes(32).toString('base64');
    const env = {
      TEMPORAL_ADDRESS: 'my-ns.a1b2c.tmprl.cloud:7233',
      TEMPORAL_NAMESPACE: 'my-ns.a1b2c',
      TEMPORAL_API_KEY: 'temporal-api-key-value',
      RECOVERY_SLACK_WEBHOOK_URL: 'https://hooks.slack.example/services/T0/B0/webhook-secret',
      RECOVERY_PAYLOAD_KEY: key,
      RECOVERY_PAYLOAD_KEY_ID: 'k-2026',
      RECOVERY_MAX_CONCURRENT_ACTIVITIES: '8',
      RECOVERY_SHUTDOWN_GRACE_TIME: '45s',
    };
    const description = describeWorkerConfig(workerConfig(env), env);
    const printed = JSON.stringify(description);
    for (const secret of ['temporal-api-key-value', 'webhook-secret', key])
      assert.equal(printed.includes(secret), false, 'no secret value');
    assert.deepEqual(description.temporal, {
      address: 'my-ns.a1b2c.tmprl.cloud:7233',
      namespace: 'my-ns.a1b2c',
      taskQueue: 'recovery-engine',
      auth: 'API key',
    });
    assert.deepEqual(description.notifications, ['log', 'slack (RECOVERY_SLACK_WEBHOOK_URL)']);
    assert.deepEqual(description.limits, {
      maxConcurrentActivities: 8,
      maxConcurrentWorkflowTasks: 'SDK default (40)',
      maxCachedWorkflows: 'SDK default (sized to memory)',
    });
    assert.equal(description.shutdownGraceTime, '45s');
    assert.equal(description.payloadEncryption, 'AES-256-GCM with key "k-2026"');
    assert.deepEqual(description.variablesSet, [
      'RECOVERY_MAX_CONCURRENT_ACTIVITIES',
      'RECOVERY_PAYLOAD_KEY',
      'RECOVERY_PAYLOAD_KEY_ID',
      'RECOVERY_SHUTDOWN_GRACE_TIME',
      'RECOVERY_SLACK_WEBHOOK_URL',
      'TEMPORAL_ADDRESS',
      'TEMPORAL_API_KEY',
      'TEMPORAL_NAMESPACE',
    ]);
  });

  it('the worker process prints the problems and exits 2 before connecting anywhere', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>(
      (done) => {
        const child = execFile(
          process.execPath,
          ['--import', 'tsx', 'workers/main.ts'],
          {
            cwd: ROOT,
            env: {
              PATH: process.env.PATH,
              HOME: process.env.HOME,
              // Nothing listens there: a worker that tried to connect would hang or fail differently.
              TEMPORAL_ADDRESS: '127.0.0.1:9',
              RECOVERY_MAX_CONCURRENT_ACTIVITIES: 'many',
              RECOVERY_LOG_FORMAT: 'xml',
            },
            timeout: 60_000,
          },
          (_error, out, err) => done({ code: child.exitCode, stdout: out, stderr: err }),
        );
      },
    );
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.equal(
      stderr,
      [
        'The recovery worker cannot start:',
        "  RECOVERY_MAX_CONCURRENT_ACTIVITIES must be a positive integer, got 'many'",
        "  RECOVERY_LOG_FORMAT must be one of json, text, got 'xml'",
        '',
      ].join('\n'),
    );
  });

  it("the CLI's client refuses broken key variables, naming them, before connecting", async () => {
    await assert.rejects(
      connectTemporal({ TEMPORAL_ADDRESS: '127.0.0.1:9', RECOVERY_PAYLOAD_KEY_FILE: join(scratch, 'no-key') }),
      (error: unknown) => {
        assert.ok(error instanceof UsageError);
        assert.equal(
          error.message,
          `RECOVERY_PAYLOAD_KEY_FILE must name a readable file, got '${join(scratch, 'no-key')}': ENOENT`,
        );
        return true;
      },
    );
  });
});
