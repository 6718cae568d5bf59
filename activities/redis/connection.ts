/**
 * Connections to Redis through node-redis, set up as snapshots and restores need them:
 * - RESP2, bulk strings as Buffers: keys and values are binary-safe, and value reads come back in
 *   the shape the digests of existing snapshots were taken from (RESP3 would turn hashes into maps
 *   and scores into numbers, and no restored sample would match its snapshot any more);
 * - no reconnects: a command is never replayed on another connection; retries are Temporal's;
 * - no command timeout: a reply of a busy server (a BGSAVE's fork may stall it) is waited for;
 * - the handshake is AUTH only, and errors name the address, never the password.
 */
import { ConnectionTimeoutError, createClient, ErrorReply, RESP_TYPES, type RedisArgument } from 'redis';

export { ErrorReply };

/** A reply as RESP2 gives it, bulk strings as Buffers. */
export type Reply = string | number | Buffer | null | Reply[];

export type Command = RedisArgument[];

export interface RedisAddress {
  host: string;
  port: number;
  password?: string;
}

const open = ({ host, port, password }: RedisAddress, timeoutMs: number) =>
  createClient({
    RESP: 2,
    socket: { host, port, connectTimeout: timeoutMs, reconnectStrategy: false },
    password,
    disableClientInfo: true,
    commandOptions: { timeout: 0 },
  });

const withBuffers = (client: ReturnType<typeof open>) => client.withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });

export type Redis = ReturnType<typeof withBuffers>;

/**
 * Connects, and authenticates when a password is given; rejects after `timeoutMs` without a
 * connection. Refused credentials (WRONGPASS, NOAUTH) reject with the server's ErrorReply.
 * Close the client with destroy().
 */
export async function connectRedis(address: RedisAddress, timeoutMs = 10_000): Promise<Redis> {
  const client = open(address, timeoutMs);
  // Failures reach the commands they fail; unheard, node-redis would throw them at the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    client.destroy();
    if (error instanceof ErrorReply) throw error;
    const at = `${address.host}:${address.port}`;
    if (error instanceof ConnectionTimeoutError)
      throw new Error(`no connection to Redis at ${at} within ${timeoutMs} ms`, { cause: error });
    throw new Error(`cannot connect to Redis at ${at}: ${(error as Error).message}`, { cause: error });
  }
  return withBuffers(client);
}

/**
 * Sends the commands back to back (node-redis writes those issued together at once); the replies
 * in order, error replies in place as ErrorReply. A lost connection rejects.
 */
export function pipeline(client: Redis, commands: Command[]): Promise<(Reply | ErrorReply)[]> {
  return Promise.all(
    commands.map((args) =>
      client.sendCommand(args).then(
        // Typed as any RESP3 reply; over RESP2 with Buffers, one of Reply's shapes.
        (reply) => reply as unknown as Reply,
        (error: unknown) => {
          if (error instanceof ErrorReply) return error;
          throw error;
        },
      ),
    ),
  );
}

/** A reply as text: bulk strings decoded, simple strings and numbers as they are; an error reply throws. */
export function text(reply: Reply | ErrorReply): string {
  if (reply instanceof ErrorReply) throw reply;
  if (Buffer.isBuffer(reply)) return reply.toString('utf8');
  return reply === null ? '' : String(reply);
}

/** `field:value` lines of INFO, as a map. */
export function infoFields(reply: Reply): Map<string, string> {
  return new Map(
    text(reply)
      .split('\r\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 1)] as const),
  );
}
