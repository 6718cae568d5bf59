import type { Payload, PayloadCodec } from '@temporalio/common';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { fastifyLoggerOptions } from '../http/fastify-logger';

/**
 * Temporal's remote codec protocol, for the Web UI and `temporal … --codec-endpoint`:
 * `POST <endpoint>/encode` and `POST <endpoint>/decode` (also under a namespace segment,
 * `<endpoint>/<namespace>/decode`, which the CLI's endpoint templating produces) take and answer
 * `{"payloads": [{"metadata": {"<key>": "<base64>"}, "data": "<base64>"}]}`: Payloads in proto3
 * JSON, bytes as base64. The UI sends the namespace in X-Namespace. Browsers call it straight from
 * the page, so CORS answers only the UI origins configured; other clients send no Origin.
 */
export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Origins (scheme://host:port, as browsers send them) of the Web UIs allowed to call from a page. */
  allowedOrigins: readonly string[];
  /**
   * A bearer token every /encode and /decode request must carry, when set: for the Temporal CLI
   * (`--codec-auth 'Bearer <token>'`) and scripts. The Web UI cannot send a fixed token (it only
   * forwards the signed-in user's OIDC access token, to https endpoints), so a UI's codec server
   * is protected by where it listens (loopback, or a network only operators reach) and by CORS.
   */
  token?: string;
  /** A pino logger (fastify's); none when false. */
  logger?: FastifyBaseLogger | false;
  /** Largest request body (8 MiB: a page of history events with 2 MiB payloads). */
  bodyBytes?: number;
}

const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;
const base64 = z.string().regex(BASE64, { error: 'must be base64' });
const payloadsBody = z.object({
  payloads: z.array(
    z.object({
      metadata: z.record(z.string(), base64).nullish(),
      data: base64.nullish(),
    }),
  ),
});

const fromBase64 = (text: string) =>
  Buffer.from(text, text.includes('-') || text.includes('_') ? 'base64url' : 'base64');
const toBase64 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('base64');

function payloadOf(json: z.infer<typeof payloadsBody>['payloads'][number]): Payload {
  return {
    metadata: Object.fromEntries(Object.entries(json.metadata ?? {}).map(([key, value]) => [key, fromBase64(value)])),
    data: fromBase64(json.data ?? ''),
  };
}

const jsonOf = (payload: Payload) => ({
  metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, toBase64(value)])),
  data: toBase64(payload.data),
});

/** Digests first: timingSafeEqual needs equal lengths, and the length must not leak either. */
const sameSecret = (given: string, expected: string) =>
  timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());

class Refused extends Error {
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** The codec server app; the caller listens and closes it. */
export function buildCodecServer(options: CodecServerOptions): FastifyInstance {
  const origins = new Set(options.allowedOrigins);
  const app = Fastify({
    ...fastifyLoggerOptions(options.logger),
    bodyLimit: options.bodyBytes ?? 8 * 1024 * 1024,
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: 30_000,
  });

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, request, reply) => {
    let refused: Refused;
    if (error instanceof Refused) refused = error;
    else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      refused = new Refused(413, 'body-too-large', 'the payloads are larger than this codec server accepts');
    else if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500)
      refused = new Refused(400, 'bad-request', error.message.slice(0, 200));
    else {
      request.log.error({ err: error }, 'codec request failed');
      return reply.code(500).send({ error: 'internal', message: 'the payloads could not be processed' });
    }
    request.log.warn({ reason: refused.reason, status: refused.statusCode, url: request.url }, refused.message);
    return reply.code(refused.statusCode).send({ error: refused.reason, message: refused.message });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ error: 'not-found', message: `no ${request.method} ${request.url.slice(0, 200)} here` }),
  );

  // CORS: a page of another origin gets no Access-Control-Allow-Origin, so its browser blocks the
  // call; its requests are refused outright too, preflight or not.
  app.addHook('onRequest', async (request, reply) => {
    const origin = request.headers.origin;
    if (origin === undefined) return;
    if (!origins.has(origin))
      throw new Refused(403, 'origin-not-allowed', `origin ${origin.slice(0, 200)} is not an allowed UI origin`);
    void reply
      .header('access-control-allow-origin', origin)
      .header('access-control-allow-credentials', 'true')
      .header('vary', 'Origin');
    if (request.method === 'OPTIONS')
      return reply
        .header('access-control-allow-methods', 'POST, OPTIONS')
        .header('access-control-allow-headers', 'Content-Type, X-Namespace, Authorization')
        .header('access-control-max-age', '600')
        .code(204)
        .send();
  });
  app.options('/*', (_request, reply) => reply.code(204).send());

  const authorize = (request: FastifyRequest) => {
    if (options.token === undefined) return;
    const header = request.headers.authorization;
    const given = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1];
    if (given === undefined) throw new Refused(401, 'no-token', 'send Authorization: Bearer <token>');
    if (!sameSecret(given, options.token))
      throw new Refused(401, 'bad-token', 'the bearer token is not the one configured');
  };

  for (const operation of ['encode', 'decode'] as const) {
    const handler = async (request: FastifyRequest<{ Params: { namespace?: string } }>) => {
      authorize(request);
      const parsed = payloadsBody.safeParse(request.body);
      if (!parsed.success)
        throw new Refused(
          400,
          'malformed',
          `send {"payloads": [{"metadata": {...}, "data": "<base64>"}]}: ${parsed.error.issues
            .map((issue) => `${issue.path.join('.') || 'body'} ${issue.message}`)
            .slice(0, 3)
            .join('; ')}`,
        );
      const payloads = parsed.data.payloads.map(payloadOf);
      let result: Payload[];
      try {
        result = operation === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
      } catch (error) {
        throw new Refused(422, `${operation}-failed`, (error as Error).message);
      }
      const namespace = request.params.namespace ?? request.headers['x-namespace'];
      request.log.debug({ operation, namespace, payloads: payloads.length }, `${operation}d payloads`);
      return { payloads: result.map(jsonOf) };
    };
    app.post(`/${operation}`, handler);
    app.post(`/:namespace/${operation}`, handler);
  }
  app.get('/healthz', () => ({ status: 'ok' }));
  return app;
}
