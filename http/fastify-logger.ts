import type { FastifyBaseLogger, FastifyServerOptions } from 'fastify';

/**
 * Fastify's logger options for the servers that take an optional pino logger (the alert receiver,
 * the codec server): the caller's logger, none when false, fastify's own at `info` when absent.
 */
export function fastifyLoggerOptions(
  logger: FastifyBaseLogger | false | undefined,
): Pick<FastifyServerOptions, 'logger' | 'loggerInstance'> {
  if (logger === false) return { logger: false };
  return logger ? { loggerInstance: logger } : { logger: { level: 'info' } };
}
