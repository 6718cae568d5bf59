import { loadClientConnectConfig } from '@temporalio/envconfig';
import { join, resolve } from 'node:path';
import type { NotificationChannels } from '../activities/notify';
import { defaultReportsDir } from '../evidence/store';
import type { NativeConnectionOptions } from '@temporalio/worker';

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
 * Activities read plans from RECOVERY_PLANS_DIR (default: examples/) and notify through
 * RECOVERY_SLACK_WEBHOOK_URL and RECOVERY_SNS_TOPIC_ARN when set (the log always); drill evidence
 * goes to RECOVERY_REPORTS_DIR (default: drill-reports/ under the current directory).
 */
export function temporalSettings(env: NodeJS.ProcessEnv = process.env): TemporalSettings {
  const { connectionOptions, namespace } = loadClientConnectConfig({ overrideEnvVars: env as Record<string, string> });
  return {
    connectionOptions,
    namespace: namespace ?? 'default',
    taskQueue: env.RECOVERY_TASK_QUEUE || DEFAULT_TASK_QUEUE,
  };
}

/** Activity settings from the environment; secrets (the webhook URL) stay in the worker's environment. */
export function activitySettings(env: NodeJS.ProcessEnv = process.env): {
  plansDir: string;
  notifications: NotificationChannels;
  reportsDir: string;
} {
  return {
    plansDir: resolve(env.RECOVERY_PLANS_DIR || join(__dirname, '..', 'examples')),
    reportsDir: defaultReportsDir(env),
    notifications: {
      slackWebhookUrl: env.RECOVERY_SLACK_WEBHOOK_URL || undefined,
      snsTopicArn: env.RECOVERY_SNS_TOPIC_ARN || undefined,
    },
  };
}
