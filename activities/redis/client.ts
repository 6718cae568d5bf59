/**
 * A small Redis client (RESP2 over TCP): what backups and restores need, binary-safe (values come
 * back as Buffers), with pipelining so a batch of commands runs back to back on the server. The
 * password is sent with AUTH, never printed.
 */
import { connect as tcpConnect, type Socket } from 'node:net';

export type Reply = string | number | Buffer | null | RedisError | Reply[];

/** An error reply (`-ERR …`, `-NOAUTH …`, `-LOADING …`). */
export class RedisError extends Error {
  override name = 'RedisError';
}

type Arg = string | number | Buffer;

interface Pending {
  resolve: (reply: Reply) => void;
  reject: (error: Error) => void;
}

/** Parses one reply at `at`; undefined when `buffer` does not hold all of it yet. */
function parse(buffer: Buffer, at: number): { reply: Reply; next: number } | undefined {
  const end = buffer.indexOf('\r\n', at);
  if (end < 0) return undefined;
  const line = buffer.toString('utf8', at + 1, end);
  const next = end + 2;
  switch (String.fromCharCode(buffer[at]!)) {
    case '+':
      return { reply: line, next };
    case '-':
      return { reply: new RedisError(line), next };
    case ':':
      return { reply: Number(line), next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { reply: null, next };
      if (buffer.length < next + length + 2) return undefined;
      return { reply: buffer.subarray(next, next + length), next: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { reply: null, next };
      const items: Reply[] = [];
      let position = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buffer, position);
        if (!item) return undefined;
        items.push(item.reply);
        position = item.next;
      }
      return { reply: items, next: position };
    }
    default:
      throw new Error(`unexpected reply from Redis: ${JSON.stringify(buffer.toString('utf8', at, end))}`);
  }
}

function encode(args: Arg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const bytes = Buffer.isBuffer(arg) ? arg : Buffer.from(String(arg));
    parts.push(Buffer.from(`$${bytes.length}\r\n`), bytes, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** A reply as text: bulk strings decoded, simple strings and numbers as they are. */
export function text(reply: Reply): string {
  if (reply instanceof RedisError) throw reply;
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

export interface RedisAddress {
  host: string;
  port: number;
  password?: string;
}

export class RedisClient {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly pending: Pending[] = [];
  private failure: Error | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly address: string,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error(`connection to Redis at ${address} closed`)));
  }

  /** Connects, and authenticates when a password is given; rejects after `timeoutMs`. */
  static async connect({ host, port, password }: RedisAddress, timeoutMs = 10_000): Promise<RedisClient> {
    const address = `${host}:${port}`;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = tcpConnect({ host, port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error(`no connection to Redis at ${address} within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`cannot connect to Redis at ${address}: ${error.message}`));
      });
    });
    const client = new RedisClient(socket, address);
    if (password !== undefined) {
      const [reply] = await client.pipeline([['AUTH', password]]);
      if (reply instanceof RedisError) {
        client.close();
        throw reply;
      }
    }
    return client;
  }

  /** Sends every command at once; the replies in order, error replies included as RedisError. */
  pipeline(commands: Arg[][]): Promise<Reply[]> {
    if (this.failure) return Promise.reject(this.failure);
    const replies = commands.map(
      () =>
        new Promise<Reply>((resolve, reject) => {
          this.pending.push({ resolve, reject });
        }),
    );
    this.socket.write(Buffer.concat(commands.map(encode)));
    return Promise.all(replies);
  }

  /** One command; an error reply rejects. */
  async call(...args: Arg[]): Promise<Reply> {
    const [reply] = await this.pipeline([args]);
    if (reply instanceof RedisError) throw reply;
    return reply!;
  }

  close(): void {
    this.socket.destroy();
  }

  private receive(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let at = 0;
    try {
      for (;;) {
        if (at >= this.buffer.length) break;
        const parsed = parse(this.buffer, at);
        if (!parsed) break;
        at = parsed.next;
        this.pending.shift()?.resolve(parsed.reply);
      }
    } catch (error) {
      this.fail(error as Error);
      this.socket.destroy();
    }
    this.buffer = this.buffer.subarray(at);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiting of this.pending.splice(0)) waiting.reject(error);
  }
}
