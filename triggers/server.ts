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
import {
  cloudWatchAlertOf,
  httpsCertificateSource,
  isSnsHost,
  regionOfTopic,
  snsMessageOf,
  verifySnsMessage,
  type CertificateSource,
} from './sns';
import { AlertDelivery, type Delivery, type RecoveryTarget } from './start-recovery-from-alert';

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
  limits?: {
    /** Largest request body, in bytes (256 KiB). */
    bodyBytes?: number;
    /** Requests per endpoint and client address (a burst of 300, then 50 a second). */
    rate?: RateLimit;
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
  const limiter = tokenBuckets(options.limits?.rate ?? { burst: 300, perSecond: 50 });
  const delivery = new AlertDelivery(options.temporal);

  const app = Fastify({
    ...(options.logger === false
      ? { logger: false }
      : options.logger
        ? { loggerInstance: options.logger }
        : { logger: { level: 'info' } }),
    bodyLimit,
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
      rejected = new AlertRejected(413, 'body-too-large', `the body is larger than ${bodyLimit} bytes`);
    else if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      rejected = new AlertRejected(
        415,
        'unsupported-media-type',
        `content type ${request.headers['content-type'] ?? '(none)'} is not accepted: send application/json`,
      );
    else if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500)
      rejected = new AlertRejected(400, 'bad-request', error.message);
    else {
      // Temporal or a certificate host unreachable: 503, and the sender (Alertmanager, SNS) retries.
      if (endpoint && endpoint !== 'metrics' && endpoint !== 'reload') metrics.failures.inc({ source: endpoint });
      request.log.error({ err: error, endpoint }, 'alert not processed; answering 503 so that the sender retries');
      return reply.code(503).send({ error: 'unavailable', message: 'the alert could not be processed now; retry' });
    }
    metrics.rejected.inc({ source: endpoint ?? 'unknown', reason: rejected.reason });
    request.log.warn(
      { endpoint, reason: rejected.reason, ip: request.ip, status: rejected.statusCode },
      `request rejected: ${rejected.message}`,
    );
    if (rejected instanceof RateLimited) void reply.header('retry-after', String(rejected.retryAfterSeconds));
    return reply.code(rejected.statusCode).send({ error: rejected.reason, message: rejected.message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not-found', message: `no ${request.method} ${request.url} here` }),
  );

  /** Per endpoint and client address, before anything else is read. */
  const rateLimit = (request: FastifyRequest) => {
    const endpoint = endpointOf(request)!;
    const wait = limiter.take(`${endpoint} ${request.ip}`);
    if (wait > 0) throw new RateLimited(endpoint, wait);
    return Promise.resolve();
  };
  const bearer = (token: string | undefined) => (request: FastifyRequest) => {
    if (token === undefined) return Promise.resolve(); // --insecure-local
    const header = request.headers.authorization;
    const given = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
    if (given === undefined)
      throw new AlertRejected(401, header ? 'bad-token' : 'no-token', 'send Authorization: Bearer <token>');
    if (!sameSecret(given, token))
      throw new AlertRejected(401, 'bad-token', 'the bearer token is not the one configured');
    return Promise.resolve();
  };
  const adminToken = auth.metricsToken ?? auth.alertmanagerToken;

  /** Routes alerts through the triggers and starts or informs their recoveries. */
  async function handleAlerts(
    endpoint: AlertSource,
    alerts: ReceivedAlert[],
    request: FastifyRequest,
    reply: FastifyReply,
  ) {
    metrics.received.inc({ source: endpoint }, alerts.length);
    let matched = 0;
    const recoveries = (
      await Promise.all(
        alerts.map(async (alert) => {
          const routes = routeAlert(plans.plans, alert);
          if (routes.length === 0) {
            metrics.unmatched.inc({ source: endpoint });
            request.log.info(
              { source: alert.source, alert: alert.name, status: alert.status, labels: alert.labels },
              'alert matched no trigger',
            );
            return [];
          }
          matched++;
          metrics.matched.inc({ source: endpoint });
          return Promise.all(
            routes.map(async ({ plan, trigger }) => {
              const done: Delivery = await delivery.deliver(plan, trigger, alert);
              const labels = { plan: plan.name, scenario: trigger.scenario };
              if (done.outcome === 'started') {
                metrics.started.inc(labels);
                metrics.latency.observe(reply.elapsedTime / 1000);
                request.log.info(
                  { ...labels, workflowId: done.workflowId, alert: alert.name, held: trigger.requireApproval },
                  'recovery started',
                );
              } else if (done.outcome === 'running' || done.outcome === 'finished') metrics.deduplicated.inc(labels);
              if (done.outcome === 'finished')
                request.log.info({ ...labels, workflowId: done.workflowId }, 'repeat of a finished incident dropped');
              if (done.outcome === 'resolved' && done.workflowIds.length === 0)
                request.log.info(
                  { ...labels, alert: alert.name },
                  'resolved alert: no running recovery of its incident',
                );
              return { ...labels, ...done };
            }),
          );
        }),
      )
    ).flat();
    return { matched, recoveries };
  }

  app.get('/healthz', () => ({ status: 'ok' }));

  app.get(
    '/metrics',
    { config: { endpoint: 'metrics' }, onRequest: [rateLimit, bearer(adminToken)] },
    async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  app.post('/-/reload', { config: { endpoint: 'reload' }, onRequest: [rateLimit, bearer(adminToken)] }, () =>
    plans.reload(),
  );

  if (sources.includes('alertmanager'))
    app.post(
      '/alerts/alertmanager',
      { config: { endpoint: 'alertmanager' }, onRequest: [rateLimit, bearer(auth.alertmanagerToken)] },
      async (request, reply) => {
        if (!isJson(request))
          throw new AlertRejected(415, 'unsupported-media-type', 'Alertmanager posts application/json');
        const alerts = alertsFromAlertmanager(jsonOf(request.body, 'Alertmanager webhook payload'));
        return reply.code(202).send(await handleAlerts('alertmanager', alerts, request, reply));
      },
    );

  if (sources.includes('generic'))
    app.post('/alerts/generic', { config: { endpoint: 'generic' }, onRequest: [rateLimit] }, async (request, reply) => {
      if (!isJson(request)) throw new AlertRejected(415, 'unsupported-media-type', 'send application/json');
      const rawBody = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      if (auth.webhookSecret)
        verifyGenericRequest({
          secret: auth.webhookSecret,
          timestamp: request.headers[TIMESTAMP_HEADER] as string | undefined,
          signature: request.headers[SIGNATURE_HEADER] as string | undefined,
          rawBody,
          now: now(),
          ...(options.limits?.webhookWindowSeconds ? { windowSeconds: options.limits.webhookWindowSeconds } : {}),
        });
      const alerts = alertsFromGeneric(jsonOf(rawBody, 'generic alert'), now());
      return reply.code(202).send(await handleAlerts('generic', alerts, request, reply));
    });

  if (sources.includes('sns'))
    app.post('/alerts/sns', { config: { endpoint: 'sns' }, onRequest: [rateLimit] }, async (request, reply) => {
      // SNS posts its JSON as text/plain; charset=UTF-8.
      const message = snsMessageOf(jsonOf(request.body, 'SNS message'));
      await verifySnsMessage(message, certificates, {
        ...(auth.snsTopicArns ? { allowedTopicArns: auth.snsTopicArns } : {}),
        ...(options.limits?.snsMaxAgeSeconds ? { maxAgeSeconds: options.limits.snsMaxAgeSeconds } : {}),
        now: now(),
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
      if (!alert) return { matched: 0, recoveries: [], ignored: 'INSUFFICIENT_DATA' };
      return reply.code(200).send(await handleAlerts('sns', [alert], request, reply));
    });

  return app;
}
