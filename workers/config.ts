import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { NativeConnectionOptions } from '@temporalio/worker';
import { readdirSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { NotificationChannels } from '../activities/notify';
import { describeKeyring, payloadKeyringFromEnv, type PayloadKeyring } from '../codec/keys';
import { defaultReportsDir } from '../evidence/store';
import { parseDuration } from '../plan/duration';
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevelName } from './logging';
import type { WorkerTuning } from './recovery-worker';

/** Task queue the recovery worker polls and clients start recoveries on. */
export const DEFAULT_TASK_QUEUE = 'recovery-engine';

export interface TemporalSettings {
  connectionOptions: NativeConnectionOptions;
  namespace: string;
  taskQueue: string;
}

/**
 * Where Temporal is, by Temporal's own conventions (`@temporalio/envconfig`): TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, or a profile (TEMPORAL_PROFILE) of the
 * config file (TEMPORAL_CONFIG_FILE, default ~/.config/temporalio/temporal.toml). Default:
 * localhost:7233, namespace "default". The task queue comes from RECOVERY_TASK_QUEUE.
 */
export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  return {
    connectionOptions,
    namespace: namespace ?? 'default',
    taskQueue: env.RECOVERY_TASK_QUEUE?.trim() || DEFAULT_TASK_QUEUE,
  };
}

/**
 * Activity settings from the environment, unchecked (workerConfig checks them): plans from
 * RECOVERY_PLANS_DIR (default: examples/), notifications through RECOVERY_SLACK_WEBHOOK_URL and
 * RECOVERY_SNS_TOPIC_ARN when set (the log always), drill evidence to RECOVERY_REPORTS_DIR
 * (default: drill-reports/ under the current directory). Secrets stay in the worker's environment.
 */
export function activitySettings(env: NodeJS.ProcessEnv = process.env): {
  plansDir: string;
  notifications: NotificationChannels;
  reportsDir: string;
} {
  return {
    plansDir: resolve(env.RECOVERY_PLANS_DIR?.trim() || join(__dirname, '..', 'examples')),
    reportsDir: defaultReportsDir(env),
    notifications: {
      slackWebhookUrl: env.RECOVERY_SLACK_WEBHOOK_URL?.trim() || undefined,
      snsTopicArn: env.RECOVERY_SNS_TOPIC_ARN?.trim() || undefined,
    },
  };
}

/** The worker's own variables (Temporal's TEMPORAL_* and AWS's come on top). */
export const WORKER_VARIABLES = {
  taskQueue: 'RECOVERY_TASK_QUEUE',
  maxConcurrentActivities: 'RECOVERY_MAX_CONCURRENT_ACTIVITIES',
  maxConcurrentWorkflowTasks: 'RECOVERY_MAX_CONCURRENT_WORKFLOW_TASKS',
  maxCachedWorkflows: 'RECOVERY_MAX_CACHED_WORKFLOWS',
  shutdownGraceTime: 'RECOVERY_SHUTDOWN_GRACE_TIME',
  plansDir: 'RECOVERY_PLANS_DIR',
  reportsDir: 'RECOVERY_REPORTS_DIR',
  slackWebhookUrl: 'RECOVERY_SLACK_WEBHOOK_URL',
  snsTopicArn: 'RECOVERY_SNS_TOPIC_ARN',
  workflowBundle: 'RECOVERY_WORKFLOW_BUNDLE',
  metricsAddress: 'RECOVERY_METRICS_ADDRESS',
  logLevel: 'RECOVERY_LOG_LEVEL',
  logFormat: 'RECOVERY_LOG_FORMAT',
} as const;

/** Everything the worker process runs with, checked before it connects anywhere. */
export interface WorkerConfig {
  temporal: TemporalSettings;
  tuning: WorkerTuning;
  activities: ReturnType<typeof activitySettings>;
  /** A prebuilt workflow bundle (`npm run build`); the workflows are bundled at start when absent. */
  workflowBundle?: string;
  /** host:port of the Prometheus endpoint (`/metrics`) of Temporal Core's worker metrics. */
  metricsAddress?: string;
  log: { level: LogLevelName; format: LogFormat };
  /** Payload encryption; payloads are written in clear when absent. */
  payloadKeys?: PayloadKeyring;
}

/** The configuration is wrong: one line per problem, each naming its variable. */
export class WorkerConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'WorkerConfigError';
  }
}

/** Blank counts as unset: `FOO=` in a unit file or compose file means "no value". */
const variable = <T extends z.ZodType>(schema: T) =>
  z.preprocess(
    (value) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined),
    schema.optional(),
  );

const integer = (name: string, what: string, valid: (n: number) => boolean) =>
  variable(
    z
      .string()
      .refine((text) => /^\d+$/.test(text) && Number.isSafeInteger(Number(text)) && valid(Number(text)), {
        error: (issue) => `${name} must be ${what}, got '${String(issue.input)}'`,
      })
      .transform(Number),
  );

const oneOf = <T extends readonly [string, ...string[]]>(
  name: string,
  values: T,
  aliases: Record<string, T[number]> = {},
) =>
  variable(
    z
      .string()
      .transform((text) => aliases[text.toLowerCase()] ?? text.toLowerCase())
      .pipe(
        z.enum(values, {
          error: (issue) => `${name} must be one of ${values.join(', ')}, got '${String(issue.input)}'`,
        }),
      ),
  );

/** host:port with an IP literal, as Core's exporter binds it (it resolves no names). */
function isBindAddress(text: string): boolean {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  if (!match) return false;
  const host = match[1] ?? match[2]!;
  const port = Number(match[3]);
  return port >= 1 && port <= 65535 && (match[1] ? isIP(host) === 6 : isIP(host) === 4);
}

const V = WORKER_VARIABLES;
const workerEnvironment = z.object({
  [V.taskQueue]: variable(z.string()),
  [V.maxConcurrentActivities]: integer(V.maxConcurrentActivities, 'a positive integer', (n) => n >= 1),
  [V.maxConcurrentWorkflowTasks]: integer(V.maxConcurrentWorkflowTasks, 'an integer of at least 2', (n) => n >= 2),
  [V.maxCachedWorkflows]: integer(V.maxCachedWorkflows, '0 (no cache) or an integer of at least 2', (n) => n !== 1),
  [V.shutdownGraceTime]: variable(
    z
      .string()
      .refine((text) => parseDuration(text) !== undefined, {
        error: (issue) => `${V.shutdownGraceTime} must be a duration such as 30s or 5m, got '${String(issue.input)}'`,
      })
      .transform((text) => parseDuration(text)!),
  ),
  [V.plansDir]: variable(z.string()),
  [V.reportsDir]: variable(z.string()),
  [V.slackWebhookUrl]: variable(
    z.url({
      protocol: /^https?$/,
      error: `${V.slackWebhookUrl} must be an http(s) URL (the value is not shown: it is a secret)`,
    }),
  ),
  [V.snsTopicArn]: variable(
    z.string().regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/, {
      error: (issue) =>
        `${V.snsTopicArn} must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic>), got '${String(issue.input)}'`,
    }),
  ),
  [V.workflowBundle]: variable(z.string()),
  [V.metricsAddress]: variable(
    z.string().refine(isBindAddress, {
      error: (issue) =>
        `${V.metricsAddress} must be <IP>:<port> such as 0.0.0.0:9464 or [::]:9464, got '${String(issue.input)}'`,
    }),
  ),
  [V.logLevel]: oneOf(V.logLevel, LOG_LEVELS, { warning: 'warn' }),
  [V.logFormat]: oneOf(V.logFormat, LOG_FORMATS, { pretty: 'text' }),
});

function directoryProblem(name: string, path: string): string | undefined {
  try {
    if (!statSync(path).isDirectory()) return `${name} must be a directory, got '${path}' (a file)`;
    readdirSync(path);
  } catch (error) {
    return `${name} must be a readable directory, got '${path}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  }
  return undefined;
}

function fileProblem(name: string, path: string, hint: string): string | undefined {
  try {
    if (!statSync(path).isFile()) return `${name} must be a file (${hint}), got '${path}'`;
  } catch (error) {
    return `${name} must be a readable file (${hint}), got '${path}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  }
  return undefined;
}

/**
 * The worker's configuration from the environment, every problem at once (WorkerConfigError).
 * Limits left unset keep the SDK's defaults. The log format defaults to json, or text when
 * stdout is a terminal (`isTerminal`).
 */
export function workerConfig(env: NodeJS.ProcessEnv = process.env, isTerminal = false): WorkerConfig {
  const problems: string[] = [];
  const parsed = workerEnvironment.safeParse(env);
  if (!parsed.success) problems.push(...parsed.error.issues.map((issue) => issue.message));

  let temporal: TemporalSettings | undefined;
  try {
    temporal = temporalSettings(env);
  } catch (error) {
    problems.push(
      `the Temporal connection (TEMPORAL_ADDRESS, TEMPORAL_PROFILE, TEMPORAL_TLS_*…) is not usable: ${(error as Error).message}`,
    );
  }
  const keys = payloadKeyringFromEnv(env);
  problems.push(...keys.problems);

  // Checked apart from the fields, so that every problem shows at once.
  const { shape } = workerEnvironment;
  const cache = shape[V.maxCachedWorkflows].safeParse(env[V.maxCachedWorkflows]).data;
  const tasks = shape[V.maxConcurrentWorkflowTasks].safeParse(env[V.maxConcurrentWorkflowTasks]).data;
  if (cache !== undefined && cache > 0 && tasks !== undefined && tasks > cache)
    problems.push(
      `${V.maxConcurrentWorkflowTasks} (${tasks}) must not exceed ${V.maxCachedWorkflows} (${cache}): each workflow task needs its workflow in the cache`,
    );
  const activities = activitySettings(env);
  const plans = directoryProblem(V.plansDir, activities.plansDir);
  if (plans) problems.push(plans);
  const bundleFile = env[V.workflowBundle]?.trim();
  const bundleProblem =
    bundleFile && fileProblem(V.workflowBundle, resolve(bundleFile), 'npm run build writes dist/workflow-bundle.js');
  if (bundleProblem) problems.push(bundleProblem);
  if (!parsed.success || !temporal || problems.length > 0) throw new WorkerConfigError(problems);

  const values = parsed.data;
  const bundle = values[V.workflowBundle];
  const tuning: WorkerTuning = {
    ...(values[V.maxConcurrentActivities] !== undefined && {
      maxConcurrentActivityTaskExecutions: values[V.maxConcurrentActivities],
    }),
    ...(values[V.maxConcurrentWorkflowTasks] !== undefined && {
      maxConcurrentWorkflowTaskExecutions: values[V.maxConcurrentWorkflowTasks],
    }),
    ...(values[V.maxCachedWorkflows] !== undefined && { maxCachedWorkflows: values[V.maxCachedWorkflows] }),
    ...(values[V.shutdownGraceTime] !== undefined && { shutdownGraceTime: values[V.shutdownGraceTime] }),
  };
  return {
    temporal,
    tuning,
    activities,
    ...(bundle && { workflowBundle: resolve(bundle) }),
    ...(values[V.metricsAddress] && { metricsAddress: values[V.metricsAddress] }),
    log: {
      level: values[V.logLevel] ?? 'info',
      format: values[V.logFormat] ?? (isTerminal ? 'text' : 'json'),
    },
    ...(keys.keyring && { payloadKeys: keys.keyring }),
  };
}

/**
 * The effective configuration as the worker prints it at start. No secret value: the API key, the
 * webhook URL and the payload keys appear only among the names of the variables that are set.
 */
export function describeWorkerConfig(
  config: WorkerConfig,
  env: NodeJS.ProcessEnv = process.env,
): Record<string, unknown> {
  const { connectionOptions, namespace, taskQueue } = config.temporal;
  const tls = connectionOptions.tls;
  const auth = connectionOptions.apiKey
    ? 'API key'
    : tls
      ? typeof tls === 'object' && tls.clientCertPair
        ? 'mTLS (client certificate)'
        : 'TLS'
      : 'none';
  const { notifications } = config.activities;
  const set = (names: string[]) => names.filter((name) => env[name]?.trim());
  return {
    temporal: { address: connectionOptions.address ?? 'localhost:7233', namespace, taskQueue, auth },
    limits: {
      maxConcurrentActivities: config.tuning.maxConcurrentActivityTaskExecutions ?? 'SDK default (100)',
      maxConcurrentWorkflowTasks: config.tuning.maxConcurrentWorkflowTaskExecutions ?? 'SDK default (40)',
      maxCachedWorkflows: config.tuning.maxCachedWorkflows ?? 'SDK default (sized to memory)',
    },
    shutdownGraceTime:
      config.tuning.shutdownGraceTime !== undefined
        ? `${Number(config.tuning.shutdownGraceTime) / 1000}s`
        : 'none (activities cancelled at once on SIGTERM, retried by another worker)',
    plansDir: config.activities.plansDir,
    reportsDir: config.activities.reportsDir,
    notifications: [
      'log',
      ...(notifications.slackWebhookUrl ? [`slack (${V.slackWebhookUrl})`] : []),
      ...(notifications.snsTopicArn ? [`sns ${notifications.snsTopicArn}`] : []),
    ],
    workflowBundle: config.workflowBundle ?? 'bundled at start',
    metrics: config.metricsAddress ? `http://${config.metricsAddress}/metrics` : 'off',
    logs: `${config.log.format}, ${config.log.level} and above`,
    payloadEncryption: describeKeyring(config.payloadKeys),
    variablesSet: set(Object.keys(env).filter((name) => /^(RECOVERY|TEMPORAL)_/.test(name))).sort(),
  };
}
