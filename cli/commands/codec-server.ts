import type { Command } from 'commander';
import type { FastifyBaseLogger } from 'fastify';
import { isIP } from 'node:net';
import { pino } from 'pino';
import { buildCodecServer } from '../../codec/codec-server';
import { EncryptionCodec } from '../../codec/encryption-codec';
import { describeKeyring, PAYLOAD_KEY_VARIABLES, payloadKeyringFromEnv } from '../../codec/keys';
import { UsageError, type CommandResult } from '../result';
import { stopRequested } from '../stop-requested';

export const CODEC_SERVER_VARIABLES = {
  /** Bearer token required of /encode and /decode when set (`temporal … --codec-auth 'Bearer <token>'`). */
  token: 'RECOVERY_CODEC_TOKEN',
  /** UI origins, comma-separated, added to --ui-origin. */
  corsOrigins: 'RECOVERY_CODEC_CORS_ORIGINS',
} as const;

export interface CodecServerOptions {
  /** host:port (default 127.0.0.1:8888). */
  listen?: string;
  /** Origins of the Web UIs whose pages may call (repeatable). */
  uiOrigin?: string[];
  env?: NodeJS.ProcessEnv;
  /** Stops the server like SIGTERM does (tests). */
  signal?: AbortSignal;
  logger?: FastifyBaseLogger;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function listenAddress(listen: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!host || (host !== 'localhost' && isIP(host) === 0) || !(port >= 1 && port <= 65535))
    throw new UsageError(`--listen ${listen}: use <IP>:<port>, e.g. 127.0.0.1:8888`);
  return { host, port };
}

/** An origin exactly as a browser sends it: scheme://host[:port], no path. */
function checkedOrigin(origin: string, from: string): string {
  let url: URL | undefined;
  try {
    url = new URL(origin);
  } catch {
    // reported below
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.origin !== origin)
    throw new UsageError(
      `${from} ${origin}: an origin is scheme://host[:port] with no path or trailing slash, e.g. http://127.0.0.1:8233`,
    );
  return origin;
}

/**
 * `recovery codec-server`: Temporal's remote codec endpoint with the worker's payload keys, so the
 * Web UI (and `temporal workflow show --codec-endpoint`) can show encrypted payloads in clear. Until
 * SIGTERM or SIGINT. Refuses to start without a key, or with an unusable listen address or origin.
 */
export async function codecServerCommand(options: CodecServerOptions): Promise<CommandResult> {
  const env = options.env ?? process.env;
  const { host, port } = listenAddress(options.listen ?? '127.0.0.1:8888');
  const origins = [
    ...(options.uiOrigin ?? []).map((origin) => checkedOrigin(origin, '--ui-origin')),
    ...(env[CODEC_SERVER_VARIABLES.corsOrigins] ?? '')
      .split(',')
      .map((origin) => origin.trim())
      .filter(Boolean)
      .map((origin) => checkedOrigin(origin, CODEC_SERVER_VARIABLES.corsOrigins)),
  ];
  const keys = payloadKeyringFromEnv(env);
  if (keys.problems.length > 0) throw new UsageError(keys.problems.join('\n'));
  if (!keys.keyring)
    throw new UsageError(
      `no payload key: set ${PAYLOAD_KEY_VARIABLES.key} or ${PAYLOAD_KEY_VARIABLES.keyFile} (and ${PAYLOAD_KEY_VARIABLES.oldKeys}) as the worker has them`,
    );
  const token = env[CODEC_SERVER_VARIABLES.token]?.trim() || undefined;

  // Shaped like the worker's JSON lines: level names, ISO times.
  const logger =
    options.logger ??
    pino({
      name: 'recovery-codec-server',
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    });
  const app = buildCodecServer({ codec: new EncryptionCodec(keys.keyring), allowedOrigins: origins, token, logger });
  try {
    await app.listen({ host, port });
    logger.info(
      { origins, keys: describeKeyring(keys.keyring), token: token ? CODEC_SERVER_VARIABLES.token : 'none' },
      `codec server listening on http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    );
    if (origins.length === 0)
      logger.warn(
        'no --ui-origin: Web UI pages are refused (the Temporal CLI and scripts send no Origin and are served)',
      );
    if (!token && !LOOPBACK.has(host))
      logger.warn(
        `listening beyond loopback without ${CODEC_SERVER_VARIABLES.token}: anyone who reaches ${host}:${port} can decrypt payloads they hold`,
      );
    await stopRequested(options.signal);
    logger.info('stopping');
  } finally {
    await app.close();
  }
  return { stdout: '', exitCode: 0 };
}

/** Adds `recovery codec-server` to the program (cli/main.ts). */
export function addCodecServerCommand(program: Command, run: (result: Promise<CommandResult>) => void): void {
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  program
    .command('codec-server')
    .description(
      "Serve Temporal's remote codec protocol with the worker's payload keys, so the Web UI and the temporal CLI show encrypted payloads in clear; until SIGTERM",
    )
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8888')
    .option('--ui-origin <origin>', 'a Web UI origin allowed to call from the browser (repeatable)', collect)
    .addHelpText(
      'after',
      `
Keys come from the environment, as the worker has them: ${PAYLOAD_KEY_VARIABLES.key} (or ${PAYLOAD_KEY_VARIABLES.keyFile}),
${PAYLOAD_KEY_VARIABLES.keyId}, ${PAYLOAD_KEY_VARIABLES.oldKeys} (or ${PAYLOAD_KEY_VARIABLES.oldKeysFile}).
${CODEC_SERVER_VARIABLES.corsOrigins}: more UI origins, comma-separated. ${CODEC_SERVER_VARIABLES.token}: a bearer token
required of /encode and /decode (temporal workflow show --codec-auth 'Bearer <token>'); the Web UI cannot send
one, so a server for the UI stays on loopback or a network only operators reach.
Point the UI at it: temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8888, the UI server's
TEMPORAL_CODEC_ENDPOINT, or the UI's own data encoder setting. GET /healthz is liveness.`,
    )
    .action((options: { listen: string; uiOrigin?: string[] }) => run(codecServerCommand(options)));
}
