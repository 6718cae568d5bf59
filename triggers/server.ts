import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { AlertRejected, type ReceivedAlert } from './alert';
import { alertsFromAlertmanager } from './alertmanager';
import { alertsFromGeneric, SIGNATURE_HEADER, TIMESTAMP_HEADER, verifyGenericRequest } from './generic';
import type { PlanRegistry } from './plan-registry';
import { tokenBuckets, type RateLimit } from './rate-limit';
import { createReceiverMetrics, type Endpoint, type ReceiverMetrics } from './receiver-metrics';
import { routeAlert } from './routing';
import { fastifyLoggerOptions } from '../http/fastify-logger';
import type { RecoveryPlan, Trigger } from '../plan/schema/plan';
import {
  cloudWatchAlertOf,
  httpsCertificateSource,
  isSnsHost,
  regionOfTopic,
  snsMessageOf,
  verifySnsMessage,
  type CertificateSource,
} from './sns';
import { AlertDelivery, type Delivery, type DeliveryOptions, type RecoveryTarget } from './start-recovery-from-alert';

/** The endpoints that take alerts, as `recovery serve --sources` names them. */
export const ALERT_SOURCES = ['alertmanager', 'sns', 'generic'] as const;

/**
 * Pending connections the kernel queues for the receiver (Node's default is 511): an alarm storm
 * opens hundreds at once, and a full queue resets them before any request is read.
 */
export const LISTEN_BACKLOG = 4096;
export type AlertSource = (typeof ALERT_SOURCES)[number];

/** Where the secrets (and the SNS topics) come from: environment variables, never the command line (visible in `ps`). */
export const RECEIVER_VARIABLES = {
  alertmanagerToken: 'RECOVERY_ALERTMANAGER_TOKEN',
  webhookSecret: 'RECOVERY_WEBHOOK_SECRET',
  metricsToken: 'RECOVERY_METRICS_TOKEN',
  snsTopicArns: 'RECOVERY_SNS_TOPIC_ARNS',
  /** Proxies whose X-Forwarded-For is believed (fastify trustProxy: addresses/CIDRs, comma-separated). */
  trustProxy: 'RECOVERY_TRUST_PROXY',
} as const;

export interface ReceiverAuth {
  /** Bearer token of `POST /alerts/alertmanager` (Alertmanager's `http_config.authorization`). */
  alertmanagerToken?: string;
  /** HMAC secret of `POST /alerts/generic`. */
  webhookSecret?: string;
  /** Bearer token of `/metrics` and `/-/reload`; the Alertmanager token when absent. */
  metricsToken?: string;
  /**
   * SNS topics whose messages are accepted. Required for `/alerts/sns`: a valid signature only proves
   * that SNS delivered the message, and anyone can subscribe this endpoint to a topic of their own.
   */
  snsTopicArns?: string[];
  /** Endpoints without a secret accept anyone: only for trying the receiver out on 127.0.0.1. */
  insecureLocal?: boolean;
}

export interface AlertReceiverOptions {
  temporal: RecoveryTarget;
  plans: PlanRegistry;
  auth: ReceiverAuth;
  /** The alert endpoints served; all three when absent. */
  sources?: readonly AlertSource[];
  /** SNS signing certificates; fetched over https from the SNS host of the topic's region when absent. */
  certificates?: CertificateSource;
  /** Confirms an SNS subscription by GET on its (vetted) SubscribeURL. */
  confirmSubscription?: (url: string) => Promise<void>;
  now?: () => Date;
  /**
   * Proxies in front of the receiver whose X-Forwarded-For gives the client address (rate limits
   * are per address): fastify's `trustProxy` (addresses or CIDRs). None when absent.
   */
  trustProxy?: string | string[];
  /** Deadline, repeat cache and signal cap of the deliveries to Temporal. */
  delivery?: DeliveryOptions;
  limits?: {
    /** Largest request body, in bytes (256 KiB), except on /alerts/alertmanager. */
    bodyBytes?: number;
    /** Largest Alertmanager notification, in bytes (4 MiB: a group of thousands of alerts). */
    alertmanagerBodyBytes?: number;
    /**
     * Authenticated requests per endpoint and client address (a burst of 300, then 50 a second);
     * requests that fail authentication have a bucket of the same size of their own.
     */
    rate?: RateLimit;
    /** A CloudWatch ALARM older than this starts nothing, only recorded if a recovery runs (600 s). */
    alarmMaxStartAgeSeconds?: number;
    /** How far a generic webhook's timestamp may be from now (300 s). */
    webhookWindowSeconds?: number;
    /** How old an SNS message may be (3600 s: SNS's retries included). */
    snsMaxAgeSeconds?: number;
  };
  /** A pino logger (fastify's); fastify's default one at `info` when absent, none when false. */
  logger?: FastifyBaseLogger | false;
  metrics?: ReceiverMetrics;
}

/** The receiver cannot start as configured: says which environment variable or option is missing. */
export class ReceiverConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReceiverConfigError';
  }
}

/** Too many requests from one source: 429 with Retry-After. */
class RateLimited extends AlertRejected {
  constructor(
    endpoint: string,
    readonly retryAfterSeconds: number,
  ) {
    super(429, 'rate-limited', `too many requests to ${endpoint} from this address: retry in ${retryAfterSeconds} s`);
  }
}

declare module 'fastify' {
  interface FastifyContextConfig {
    endpoint?: Endpoint;
  }
}

/** What is missing for the endpoints to be authenticated, one line each naming the variable. */
export function missingSecrets(auth: ReceiverAuth, sources: readonly AlertSource[]): string[] {
  if (auth.insecureLocal) return [];
  const missing: string[] = [];
  if (sources.includes('alertmanager') && !auth.alertmanagerToken)
    missing.push(
      `${RECEIVER_VARIABLES.alertmanagerToken} is not set: POST /alerts/alertmanager needs it (Authorization: Bearer <token>)`,
    );
  if (sources.includes('generic') && !auth.webhookSecret)
    missing.push(
      `${RECEIVER_VARIABLES.webhookSecret} is not set: POST /alerts/generic needs it (the HMAC-SHA256 key of X-Recovery-Signature)`,
    );
  if (sources.includes('sns') && !auth.snsTopicArns?.length)
    missing.push(
      `${RECEIVER_VARIABLES.snsTopicArns} is not set: POST /alerts/sns accepts the SNS topics listed there (comma-separated ARNs) only, since anyone can subscribe this endpoint to a topic of their own`,
    );
  if (!auth.metricsToken && !auth.alertmanagerToken)
    missing.push(
      `${RECEIVER_VARIABLES.metricsToken} (or ${RECEIVER_VARIABLES.alertmanagerToken}) is not set: GET /metrics and POST /-/reload need a bearer token`,
    );
  return missing;
}

/** Digests first: timingSafeEqual needs equal lengths, and the length must not leak either. */
const sameSecret = (given: string, expected: string) =>
  timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());

/** Sender-controlled text in a log line or an answer: at most `max` characters. */
export const capped = (text: string, max = 200): string => (text.length > max ? `${text.slice(0, max)}…` : text);

const isJson = (request: FastifyRequest) => /^application\/json\s*(;|$)/i.test(request.headers['content-type'] ?? '');

function jsonOf(body: unknown, what: string): unknown {
  if (!Buffer.isBuffer(body) || body.length === 0)
    throw new AlertRejected(400, 'empty-body', `${what}: the body is empty`);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new AlertRejected(400, 'malformed', `${what}: the body is not JSON`);
  }
}

/** Plain https GET, no redirects: SNS confirms the subscription when its SubscribeURL is fetched. */
async function httpsConfirm(url: string): Promise<void> {
  const response = await fetch(url, { redirect: 'error', signal: AbortSignal.timeout(10_000) });
  await response.body?.cancel();
  if (!response.ok) throw new Error(`${new URL(url).host} answered HTTP ${response.status}`);
}

/**
 * The alert receiver: an HTTP app that authenticates alerts from Alertmanager, CloudWatch through
 * SNS and signed webhooks, routes them through the plans' triggers and starts (or informs) exactly
 * one recovery per incident. The caller listens (`app.listen`) and closes it.
 */
export function buildAlertReceiver(options: AlertReceiverOptions): FastifyInstance {
  const { auth, plans } = options;
  const sources = options.sources ?? ALERT_SOURCES;
  const missing = missingSecrets(auth, sources);
  if (missing.length > 0) throw new ReceiverConfigError(missing.join('\n'));
  const now = options.now ?? (() => new Date());
  const metrics = options.metrics ?? createReceiverMetrics();
  const certificates = options.certificates ?? httpsCertificateSource();
  const confirmSubscription = options.confirmSubscription ?? httpsConfirm;
  const bodyLimit = options.limits?.bodyBytes ?? 256 * 1024;
  const alertmanagerBodyLimit = options.limits?.alertmanagerBodyBytes ?? 4 * 1024 * 1024;
  const alarmMaxStartAgeMs = (options.limits?.alarmMaxStartAgeSeconds ?? 600) * 1000;
  const limiter = tokenBuckets(options.limits?.rate ?? { burst: 300, perSecond: 50 });
  const delivery = new AlertDelivery(options.temporal, options.delivery);
  /** CloudWatch alarm → the StateChangeTime of its latest OK: SNS does not keep the order. */
  const lastOk = new Map<string, number>();

  const app = Fastify({
    ...fastifyLoggerOptions(options.logger),
    bodyLimit,
    ...(options.trustProxy ? { trustProxy: options.trustProxy } : {}),
    // One line per alert decision instead of two per request: a storm would drown the log.
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: 30_000,
  });

  // Bodies stay raw bytes: the generic signature covers them exactly; each route parses its JSON.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/json', 'text/plain'], { parseAs: 'buffer' }, (_request, body, done) =>
    done(null, body),
  );

  const endpointOf = (request: FastifyRequest): Endpoint | undefined => request.routeOptions.config?.endpoint;

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, request, reply) => {
    const endpoint = endpointOf(request);
    let rejected: AlertRejected;
    if (error instanceof AlertRejected) rejected = error;
    else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      rejected = new AlertRejected(
        413,
        'body-too-large',
        `the body is larger than ${request.routeOptions.bodyLimit ?? bodyLimit} bytes`,
      );
    else if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      rejected = new AlertRejected(
        415,
        'unsupported-media-type',
        `content type ${capped(request.headers['content-type'] ?? '(none)', 100)} is not accepted: send application/json`,
      );
    else if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500)
      rejected = new AlertRejected(400, 'bad-request', capped(error.message));
    else {
      // Temporal or a certificate host unreachable or past the deadline: 503, and the sender retries.
      if (endpoint && endpoint !== 'metrics' && endpoint !== 'reload') metrics.failures.inc({ source: endpoint });
      request.log.error({ err: error, endpoint }, 'alert not processed; answering 503 so that the sender retries');
      return reply.code(503).send({ error: 'unavailable', message: 'the alert could not be processed now; retry' });
    }
    metrics.rejected.inc({ source: endpoint ?? 'unknown', reason: rejected.reason });
    const message = capped(rejected.message, 300);
    request.log.warn(
      { endpoint, reason: rejected.reason, ip: request.ip, status: rejected.statusCode },
      `request rejected: ${message}`,
    );
    if (rejected instanceof RateLimited) void reply.header('retry-after', String(rejected.retryAfterSeconds));
    return reply.code(rejected.statusCode).send({ error: rejected.reason, message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not-found', message: `no ${request.method} ${capped(request.url)} here` }),
  );

  /**
   * Per endpoint and client address, once authentication said whether the request is genuine:
   * requests that fail it draw from a bucket of their own, so junk cannot use up a sender's.
   */
  const rateLimit = (request: FastifyRequest, authenticated: boolean) => {
    const endpoint = endpointOf(request)!;
    const wait = limiter.take(`${endpoint} ${authenticated ? 'ok' : 'unauthenticated'} ${request.ip}`);
    if (wait > 0) throw new RateLimited(endpoint, wait);
  };
  /** Runs `authenticate`, then takes from the bucket its outcome names; a refused request answers 429 once its bucket is empty. */
  const authenticated = async <T>(request: FastifyRequest, authenticate: () => T | Promise<T>): Promise<T> => {
    let result: T;
    try {
      result = await authenticate();
    } catch (error) {
      if (error instanceof AlertRejected) rateLimit(request, false);
      throw error;
    }
    rateLimit(request, true);
    return result;
  };
  const bearer = (token: string | undefined) => (request: FastifyRequest) =>
    authenticated(request, () => {
      if (token === undefined) return; // --insecure-local
      const header = request.headers.authorization;
      const given = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
      if (given === undefined)
        throw new AlertRejected(401, header ? 'bad-token' : 'no-token', 'send Authorization: Bearer <token>');
      if (!sameSecret(given, token))
        throw new AlertRejected(401, 'bad-token', 'the bearer token is not the one configured');
    });
  const adminToken = auth.metricsToken ?? auth.alertmanagerToken;

  /**
   * Routes alerts through the triggers, then passes each plan and scenario's alerts on in one
   * delivery (one signal at most). `mayStart` false: only recorded in a recovery that runs.
   */
  async function handleAlerts(
    endpoint: AlertSource,
    alerts: ReceivedAlert[],
    request: FastifyRequest,
    reply: FastifyReply,
    mayStart = true,
  ) {
    metrics.received.inc({ source: endpoint }, alerts.length);
    let matched = 0;
    const groups = new Map<string, { plan: RecoveryPlan; trigger: Trigger; alerts: ReceivedAlert[] }>();
    let unmatched = 0;
    for (const alert of alerts) {
      const routes = routeAlert(plans.plans, alert);
      if (routes.length === 0) {
        unmatched++;
        if (unmatched <= 5)
          request.log.info(
            { source: alert.source, alert: capped(alert.name), status: alert.status },
            'alert matched no trigger',
          );
        continue;
      }
      matched++;
      for (const { plan, trigger } of routes) {
        const key = `${plan.name}\n${trigger.scenario}`;
        const group = groups.get(key);
        if (!group) groups.set(key, { plan, trigger, alerts: [alert] });
        else {
          group.alerts.push(alert);
          if (trigger.requireApproval && !group.trigger.requireApproval) group.trigger = trigger;
        }
      }
    }
    if (unmatched > 0) metrics.unmatched.inc({ source: endpoint }, unmatched);
    if (matched > 0) metrics.matched.inc({ source: endpoint }, matched);
    const recoveries = await Promise.all(
      [...groups.values()].map(async ({ plan, trigger, alerts: routed }) => {
        const done: Delivery = await delivery.deliver(plan, trigger, routed, { mayStart });
        const labels = { plan: plan.name, scenario: trigger.scenario };
        if (done.outcome === 'started') {
          metrics.started.inc(labels);
          // From the request to Temporal's answer, not to the end of the request.
          metrics.latency.observe((reply.elapsedTime - (performance.now() - done.startedAt)) / 1000);
          request.log.info(
            { ...labels, workflowId: done.workflowId, alert: routed[0]!.name, held: trigger.requireApproval },
            'recovery started',
          );
        } else if (done.outcome === 'running') metrics.deduplicated.inc(labels, routed.length);
        else if (done.outcome === 'dropped') {
          metrics.dropped.inc({ ...labels, reason: done.reason }, routed.length);
          const fields = { ...labels, workflowId: done.workflowId, previous: done.previous, reason: done.reason };
          if (done.reason === 'previous-failed')
            request.log.error(
              fields,
              `the last recovery ${done.workflowId} ended ${done.previous} and the alert began before that: nothing started, start it by hand if the incident goes on`,
            );
          else if (done.reason === 'signal-cap')
            request.log.warn(fields, 'alerts not recorded: this recovery got the most signals allowed');
          else request.log.info(fields, 'alerts dropped: nothing started');
        } else if (!done.recorded)
          request.log.info({ ...labels, alert: capped(routed[0]!.name) }, 'resolved alert: no running recovery');
        const { startedAt: _, ...answer } = done as Delivery & { startedAt?: number };
        return { ...labels, alerts: routed.length, ...answer };
      }),
    );
    return { matched, recoveries };
  }

  app.get('/healthz', () => ({ status: 'ok' }));

  /** Ready when an alert can start something: plans with triggers, and Temporal answering. */
  app.get('/readyz', async (_request, reply) => {
    const triggers = plans.plans.reduce((n, p) => n + p.triggers.length, 0);
    const problems: string[] = [];
    if (triggers === 0) problems.push(`no plan with triggers in ${plans.dir}`);
    try {
      const { client } = options.temporal;
      await client.withDeadline(Date.now() + 2_000, () => client.workflowService.getSystemInfo({}));
    } catch (error) {
      problems.push(`Temporal does not answer: ${capped((error as Error).message)}`);
    }
    if (problems.length > 0) return reply.code(503).send({ status: 'unavailable', problems });
    return { status: 'ready', plans: plans.plans.length, triggers };
  });

  app.get('/metrics', { config: { endpoint: 'metrics' }, onRequest: [bearer(adminToken)] }, async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  app.post('/-/reload', { config: { endpoint: 'reload' }, onRequest: [bearer(adminToken)] }, () => plans.reload());

  if (sources.includes('alertmanager'))
    app.post(
      '/alerts/alertmanager',
      {
        config: { endpoint: 'alertmanager' },
        onRequest: [bearer(auth.alertmanagerToken)],
        bodyLimit: alertmanagerBodyLimit,
      },
      async (request, reply) => {
        if (!isJson(request))
          throw new AlertRejected(415, 'unsupported-media-type', 'Alertmanager posts application/json');
        const alerts = alertsFromAlertmanager(jsonOf(request.body, 'Alertmanager webhook payload'));
        return reply.code(202).send(await handleAlerts('alertmanager', alerts, request, reply));
      },
    );

  if (sources.includes('generic'))
    app.post('/alerts/generic', { config: { endpoint: 'generic' } }, async (request, reply) => {
      if (!isJson(request)) throw new AlertRejected(415, 'unsupported-media-type', 'send application/json');
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      await authenticated(request, () => {
        if (auth.webhookSecret)
          verifyGenericRequest({
            secret: auth.webhookSecret,
            timestamp: request.headers[TIMESTAMP_HEADER] as string | undefined,
            signature: request.headers[SIGNATURE_HEADER] as string | undefined,
            rawBody,
            now: now(),
            ...(options.limits?.webhookWindowSeconds ? { windowSeconds: options.limits.webhookWindowSeconds } : {}),
          });
      });
      const alerts = alertsFromGeneric(jsonOf(rawBody, 'generic alert'), now());
      return reply.code(202).send(await handleAlerts('generic', alerts, request, reply));
    });

  if (sources.includes('sns'))
    app.post('/alerts/sns', { config: { endpoint: 'sns' } }, async (request, reply) => {
      // SNS posts its JSON as text/plain; charset=UTF-8.
      const message = await authenticated(request, async () => {
        const parsed = snsMessageOf(jsonOf(request.body, 'SNS message'));
        await verifySnsMessage(parsed, certificates, {
          ...(auth.snsTopicArns ? { allowedTopicArns: auth.snsTopicArns } : {}),
          ...(options.limits?.snsMaxAgeSeconds ? { maxAgeSeconds: options.limits.snsMaxAgeSeconds } : {}),
          now: now(),
        });
        return parsed;
      });
      if (message.Type === 'UnsubscribeConfirmation') {
        request.log.warn({ topic: message.TopicArn }, 'SNS unsubscribed this endpoint');
        return { unsubscribed: message.TopicArn };
      }
      if (message.Type === 'SubscriptionConfirmation') {
        const url = URL.parse(message.SubscribeURL);
        if (url?.protocol !== 'https:' || !isSnsHost(url.hostname, regionOfTopic(message.TopicArn)))
          throw new AlertRejected(
            403,
            'bad-subscribe-url',
            `SubscribeURL is not on the https SNS host of the topic's region (${regionOfTopic(message.TopicArn)})`,
          );
        await confirmSubscription(url.href);
        request.log.info({ topic: message.TopicArn }, 'SNS subscription confirmed');
        return { confirmed: message.TopicArn };
      }
      const alert = cloudWatchAlertOf(message);
      if (!alert) {
        metrics.ignored.inc({ source: 'sns', reason: 'insufficient-data' });
        return { matched: 0, recoveries: [], ignored: 'INSUFFICIENT_DATA' };
      }
      const changedAt = Date.parse(alert.startsAt);
      const okAt = lastOk.get(alert.incidentKey);
      if (alert.status === 'resolved') {
        if (okAt === undefined || changedAt > okAt) lastOk.set(alert.incidentKey, changedAt);
        if (lastOk.size > 10_000) lastOk.delete(lastOk.keys().next().value!);
      } else if (okAt !== undefined && changedAt <= okAt) {
        // SNS does not keep the order: this ALARM is older than an OK already received.
        request.log.info(
          { alarm: alert.name, at: alert.startsAt },
          'ALARM older than the last OK of its alarm: ignored',
        );
        metrics.ignored.inc({ source: 'sns', reason: 'superseded-by-ok' });
        return { matched: 0, recoveries: [], ignored: 'superseded-by-ok' };
      }
      // A delayed ALARM (SNS retries for an hour) is recorded by a running recovery but starts none.
      const mayStart = now().getTime() - changedAt <= alarmMaxStartAgeMs;
      return reply.code(200).send(await handleAlerts('sns', [alert], request, reply, mayStart));
    });

  return app;
}
