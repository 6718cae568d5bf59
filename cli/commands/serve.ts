import type { FastifyBaseLogger } from 'fastify';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { PlanRegistry } from '../../triggers/plan-registry';
import {
  ALERT_SOURCES,
  buildAlertReceiver,
  LISTEN_BACKLOG,
  missingSecrets,
  RECEIVER_VARIABLES,
  type AlertSource,
  type ReceiverAuth,
} from '../../triggers/server';
import { activitySettings } from '../../workers/config';
import { UsageError, type CommandResult } from '../result';
import { stopRequested } from '../stop-requested';
import { connectTemporal, type Connect } from '../temporal-client';

export interface ServeOptions {
  port?: string;
  host?: string;
  plansDir?: string;
  /** Endpoints without their secret accept anyone; only on 127.0.0.1. */
  insecureLocal?: boolean;
  /** Comma-separated alert endpoints to serve (default: all). */
  sources?: string;
  connect?: Connect;
  env?: NodeJS.ProcessEnv;
  /** Stops the receiver like SIGTERM does (tests). */
  signal?: AbortSignal;
  logger?: FastifyBaseLogger;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** The receiver's secrets from the environment; an empty variable counts as unset. */
export function receiverAuthOf(env: NodeJS.ProcessEnv, insecureLocal = false): ReceiverAuth {
  const value = (name: string) => env[name]?.trim() || undefined;
  const topics = value(RECEIVER_VARIABLES.snsTopicArns)
    ?.split(',')
    .map((arn) => arn.trim())
    .filter(Boolean);
  return {
    alertmanagerToken: value(RECEIVER_VARIABLES.alertmanagerToken),
    webhookSecret: value(RECEIVER_VARIABLES.webhookSecret),
    metricsToken: value(RECEIVER_VARIABLES.metricsToken),
    ...(topics?.length ? { snsTopicArns: topics } : {}),
    insecureLocal,
  };
}

/**
 * `recovery serve`: the alert receiver, until SIGTERM or SIGINT (in-flight requests finish first).
 * SIGHUP reloads the plans, as `POST /-/reload` does. Refuses to start without the secrets of the
 * endpoints it serves, naming the variables, and when the plans directory cannot be read, holds an
 * invalid plan, or no plan with triggers.
 */
export async function serveCommand(options: ServeOptions): Promise<CommandResult> {
  const env = options.env ?? process.env;
  const port = Number(options.port ?? '9095');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port ${options.port}: not a port`);
  const host = options.host ?? '127.0.0.1';
  if (host !== 'localhost' && isIP(host) === 0) throw new UsageError(`--host ${host}: not an IP address`);
  if (options.insecureLocal && !LOOPBACK.has(host))
    throw new UsageError(`--insecure-local serves without authentication, so only on 127.0.0.1, not on ${host}`);
  const sources = (options.sources ?? ALERT_SOURCES.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = sources.filter((s) => !(ALERT_SOURCES as readonly string[]).includes(s));
  if (unknown.length > 0 || sources.length === 0)
    throw new UsageError(`--sources ${options.sources}: use some of ${ALERT_SOURCES.join(', ')}`);
  const auth = receiverAuthOf(env, options.insecureLocal);
  const missing = missingSecrets(auth, sources as AlertSource[]);
  if (missing.length > 0)
    throw new UsageError(
      `${missing.join('\n')}\n(or serve fewer endpoints with --sources, or try it out with --insecure-local on 127.0.0.1)`,
    );

  const logger = options.logger ?? pino({ name: 'recovery-serve' });
  const plans = new PlanRegistry(options.plansDir ?? activitySettings(env).plansDir, logger);
  const loaded = await plans.reload();
  // Answering 202 to alerts that can start nothing would hide the mistake until the outage.
  if (loaded.unreadable) throw new UsageError(`cannot read the plans directory ${plans.dir}: ${loaded.unreadable}`);
  if (loaded.invalid.length > 0)
    throw new UsageError(
      loaded.invalid.map(({ file, problems }) => `${join(plans.dir, file)}: ${problems.join('; ')}`).join('\n'),
    );
  if (!plans.plans.some((plan) => plan.triggers.length > 0))
    throw new UsageError(
      `no plan in ${plans.dir} has triggers (${plans.plans.map((p) => p.name).join(', ') || 'no plan at all'}): no alert could start a recovery`,
    );
  const target = await (options.connect ?? (() => connectTemporal(env)))();
  const trustProxy = env[RECEIVER_VARIABLES.trustProxy]
    ?.split(',')
    .map((address) => address.trim())
    .filter(Boolean);
  const app = buildAlertReceiver({
    temporal: target,
    plans,
    auth,
    sources: sources as AlertSource[],
    logger,
    ...(trustProxy?.length ? { trustProxy } : {}),
  });
  const reload = () => void plans.reload();
  process.on('SIGHUP', reload);
  try {
    await app.listen({ port, host, backlog: LISTEN_BACKLOG });
    logger.info(
      { sources, plans: plans.plans.map((p) => p.name), insecureLocal: auth.insecureLocal || undefined },
      `alert receiver listening on ${host}:${port}`,
    );
    await stopRequested(options.signal);
    logger.info('stopping: finishing the requests in flight');
  } finally {
    process.off('SIGHUP', reload);
    await app.close();
    await target.close();
  }
  return { stdout: '', exitCode: 0 };
}
