import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createProxyServer } from 'http-proxy-3';
import { once, onCleanup } from './cleanup';

/** What can go wrong with one AWS call. */
export type Fault =
  /** 429 with a throttling error in the service's protocol: the SDK backs off and retries. */
  | 'throttle'
  /** 500 InternalError before AWS saw the call. */
  | 'error500'
  /** The connection is reset before the call reaches AWS. */
  | 'drop'
  /** AWS carries the call out, then the connection is reset: the caller cannot know it happened. */
  | 'lose-response'
  /** The call is delayed, then goes through. */
  | 'latency';

export interface FaultSettings {
  /** Fraction of calls that get a fault, 0 to 1. */
  rate: number;
  faults: Fault[];
  latencyMs?: number;
  /** Seed of the random choices, so a failing run can be replayed. */
  seed?: number;
}

export interface FaultProxy {
  /** Give this to AWS SDK clients as `endpoint` instead of the emulator's. */
  endpoint: string;
  stats: { calls: number; faults: Record<Fault, number> };
  set: (settings: FaultSettings) => void;
  stop: () => Promise<void>;
}

/** Called with each call that reached the target and the status it answered, before a fault can lose the answer. */
export type OnAnswer = (request: IncomingMessage, status: number) => void;

/** mulberry32: a tiny seeded PRNG, enough to pick faults reproducibly. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A throttling error as each AWS protocol writes it, so the SDK parses and classifies it. */
function throttle(request: IncomingMessage, response: ServerResponse): void {
  const json = String(request.headers['content-type'] ?? '').includes('json');
  response.writeHead(429, {
    'content-type': json ? 'application/x-amz-json-1.0' : 'text/xml',
    'x-amzn-errortype': 'ThrottlingException',
  });
  response.end(
    json
      ? JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded (fault injection)' })
      : '<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded (fault injection)</Message></Error><RequestId>fault</RequestId></ErrorResponse>',
  );
}

/**
 * A loopback HTTP proxy in front of the AWS emulator that injects faults into a share of the calls.
 * Every fault is one a real AWS region produces; `lose-response` is the one that tests idempotency.
 * `onAnswer` sees what the target did, `lose-response` calls included.
 */
export async function startFaultProxy(
  target: string,
  settings: FaultSettings,
  onAnswer?: OnAnswer,
): Promise<FaultProxy> {
  let current = settings;
  let next = random(settings.seed ?? 1);
  const stats = { calls: 0, faults: { throttle: 0, error500: 0, drop: 0, 'lose-response': 0, latency: 0 } };
  const proxy = createProxyServer({ target, selfHandleResponse: true });
  proxy.on('error', (_error, _request, response) => {
    if ('writeHead' in response && !response.headersSent) response.writeHead(502).end();
  });
  proxy.on('proxyRes', (upstream, request, response) => {
    onAnswer?.(request, upstream.statusCode ?? 0);
    const fault = (request as IncomingMessage & { fault?: Fault }).fault;
    if (fault === 'lose-response') {
      upstream.resume();
      upstream.on('end', () => response.socket?.destroy());
      return;
    }
    response.writeHead(upstream.statusCode ?? 502, upstream.headers);
    upstream.pipe(response);
  });

  const server = createServer((request, response) => {
    stats.calls += 1;
    const fault = next() < current.rate ? current.faults[Math.floor(next() * current.faults.length)] : undefined;
    if (fault) stats.faults[fault] += 1;
    switch (fault) {
      case 'throttle':
        return throttle(request, response);
      case 'error500':
        response.writeHead(500, { 'content-type': 'text/plain' });
        return response.end('InternalError (fault injection)');
      case 'drop':
        return request.socket.destroy();
      case 'latency':
        return void setTimeout(() => proxy.web(request, response), current.latencyMs ?? 300);
      default:
        (request as IncomingMessage & { fault?: Fault }).fault = fault;
        return proxy.web(request, response);
    }
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as { port: number };
  const stop = once(
    () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
        proxy.close();
      }),
  );
  onCleanup(stop);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stats,
    set: (s) => {
      current = s;
      next = random(s.seed ?? 1);
    },
    stop,
  };
}
