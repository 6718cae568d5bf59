/**
 * What a snapshot is checked against after a restore: the key count of each database and a
 * sample of keys with a digest of each value. Digests are of the value itself (members of sets and
 * fields of hashes sorted), not of DUMP: DUMP also encodes the internal representation, which a
 * restored server may choose differently (a hash that shrank is a hashtable before the restore and
 * a listpack after), and would report such a key as changed.
 */
import { createHash, type Hash } from 'node:crypto';
import { ErrorReply, infoFields, pipeline, text, type Command, type Redis, type Reply } from './connection';

/** Keys sampled per snapshot, and the largest value sampled (MEMORY USAGE, bytes). */
export const SAMPLE_SIZE = 20;
const MAX_SAMPLED_BYTES = 64 * 1024;

/** How each type's whole value is read. */
const READS: Record<string, (key: Buffer) => Command> = {
  string: (key) => ['GET', key],
  list: (key) => ['LRANGE', key, '0', '-1'],
  set: (key) => ['SMEMBERS', key],
  zset: (key) => ['ZRANGE', key, '0', '-1', 'WITHSCORES'],
  hash: (key) => ['HGETALL', key],
  stream: (key) => ['XRANGE', key, '-', '+'],
};

export interface SampledKey {
  db: number;
  /** The key name as text (base64 when it is not UTF-8), as the report shows it. */
  key: string;
  /** `base64` when `key` is base64-encoded. */
  encoding?: 'base64';
  type: string;
  /** SHA-256 of the value. */
  digest: string;
  /** The key had a time to live: a restore may find it expired. */
  expires?: true;
}

export interface DbCount {
  keys: number;
  expires: number;
}

/** `db0:keys=3,expires=0,avg_ttl=0` lines of INFO keyspace, by database number. */
export async function keyspace(client: Redis): Promise<Map<number, DbCount>> {
  const counts = new Map<number, DbCount>();
  for (const [name, value] of infoFields(await client.info('keyspace'))) {
    const db = /^db(\d+)$/.exec(name)?.[1];
    const fields = new Map(value.split(',').map((kv) => kv.split('=') as [string, string]));
    if (db !== undefined)
      counts.set(Number(db), { keys: Number(fields.get('keys')), expires: Number(fields.get('expires')) });
  }
  return counts;
}

function feed(hash: Hash, reply: Reply): void {
  if (Buffer.isBuffer(reply)) hash.update(`b${reply.length}:`).update(reply);
  else if (Array.isArray(reply)) {
    hash.update(`a${reply.length}:`);
    for (const item of reply) feed(hash, item);
  } else hash.update(`v${String(reply)}:`);
}

/** The digest of a value as READS returned it; sets and hashes in a canonical order. */
export function digestOf(type: string, reply: Reply): string {
  let value = reply;
  if (Array.isArray(reply) && type === 'set') value = [...(reply as Buffer[])].sort((a, b) => Buffer.compare(a, b));
  if (Array.isArray(reply) && type === 'hash') {
    const pairs: [Buffer, Buffer][] = [];
    for (let i = 0; i < reply.length; i += 2) pairs.push([reply[i] as Buffer, reply[i + 1] as Buffer]);
    value = pairs.sort((a, b) => Buffer.compare(a[0], b[0])).flat();
  }
  const hash = createHash('sha256').update(`${type}:`);
  feed(hash, value);
  return hash.digest('hex');
}

/** The key of a sample entry as bytes. */
export const keyBytes = (s: Pick<SampledKey, 'key' | 'encoding'>) =>
  Buffer.from(s.key, s.encoding === 'base64' ? 'base64' : 'utf8');

function named(key: Buffer): Pick<SampledKey, 'key' | 'encoding'> {
  const utf8 = key.toString('utf8');
  return Buffer.from(utf8, 'utf8').equals(key) ? { key: utf8 } : { key: key.toString('base64'), encoding: 'base64' };
}

export interface Candidate {
  db: number;
  key: Buffer;
  type: string;
}

/** Up to SAMPLE_SIZE keys of readable types and modest size, spread over the databases that have keys. */
export async function pickCandidates(client: Redis, dbs: number[]): Promise<Candidate[]> {
  const quota = Math.ceil(SAMPLE_SIZE / Math.max(1, dbs.length));
  const picked: Candidate[] = [];
  for (const db of dbs) {
    await client.select(db);
    const found: Candidate[] = [];
    let cursor = '0';
    let rounds = 0;
    do {
      const { cursor: next, keys } = await client.scan(cursor, { COUNT: 100 });
      cursor = next.toString();
      const replies = await pipeline(
        client,
        keys.flatMap((key): Command[] => [
          ['TYPE', key],
          ['MEMORY', 'USAGE', key],
        ]),
      );
      keys.forEach((key, i) => {
        const type = text(replies[2 * i]!);
        const bytes = replies[2 * i + 1];
        if (READS[type] && typeof bytes === 'number' && bytes <= MAX_SAMPLED_BYTES) found.push({ db, key, type });
      });
    } while (cursor !== '0' && found.length < quota && ++rounds < 50);
    picked.push(...found.slice(0, quota));
  }
  await client.select(0);
  return picked.slice(0, SAMPLE_SIZE);
}

/** The commands that read `candidates` (SELECT, then the read and PTTL of each key). */
export function readCommands(candidates: Candidate[]): Command[] {
  const commands: Command[] = [];
  let db = -1;
  for (const c of candidates) {
    if (c.db !== db) commands.push(['SELECT', String((db = c.db))]);
    commands.push(READS[c.type]!(c.key), ['PTTL', c.key]);
  }
  commands.push(['SELECT', '0']);
  return commands;
}

/** The sample entries from the replies to readCommands; a key that errored (changed type) is left out. */
export function sampledFrom(candidates: Candidate[], replies: (Reply | ErrorReply)[]): (SampledKey | undefined)[] {
  let at = 0;
  let db = -1;
  return candidates.map((c) => {
    if (c.db !== db) {
      db = c.db;
      at++;
    }
    const value = replies[at++]!;
    const ttl = replies[at++]!;
    if (value instanceof ErrorReply || value === null || ttl === -2) return undefined;
    return {
      db: c.db,
      ...named(c.key),
      type: c.type,
      digest: digestOf(c.type, value),
      ...(Number(ttl) >= 0 ? { expires: true as const } : {}),
    };
  });
}

export interface KeyProblem {
  db: number;
  key: string;
  problem: string;
}

/** Compares a restored server with the sample: the same type and value for each key (one with a TTL may be gone). */
export async function checkSample(
  client: Redis,
  sample: SampledKey[],
): Promise<{ checked: number; expired: number; problems: KeyProblem[] }> {
  const problems: KeyProblem[] = [];
  let expired = 0;
  const candidates = sample.map((s) => ({ db: s.db, key: keyBytes(s), type: s.type }));
  // A key of another type now answers WRONGTYPE, a missing one nil or PTTL -2: both come back undefined.
  const replies = await pipeline(client, readCommands(candidates));
  const found = sampledFrom(candidates, replies);
  sample.forEach((s, i) => {
    const now = found[i];
    if (!now) {
      if (s.expires) expired++;
      else problems.push({ db: s.db, key: s.key, problem: 'missing, or of another type' });
    } else if (now.digest !== s.digest)
      problems.push({ db: s.db, key: s.key, problem: 'value differs from the snapshot' });
  });
  return { checked: sample.length, expired, problems };
}
