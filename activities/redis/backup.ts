/**
 * Redis snapshots into the component's backupDir: BGSAVE, then a copy of the RDB file the save
 * wrote, checked by redis-check-rdb. Idempotent by backup id.
 *
 * The recovery point is the server's clock just after BGSAVE forked (the snapshot holds exactly
 * the data of that moment), not LASTSAVE: LASTSAVE is when the save finished, in whole seconds,
 * and may name a time before writes the snapshot does not hold (or after ones it does).
 * The sample of keys is read just before and just after the fork in the same pipeline; a key
 * whose value differs between the two reads changed around the fork and is left out.
 */
import { heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { copyFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupActivityInput, BackupManifest } from '../../backups/manifest';
import type { RedisComponent } from '../../plan/kinds/redis';
import { heartbeatWhile } from '../heartbeat';
import { runProcess } from '../process';
import { ErrorReply, infoFields, pipeline, text, type Command, type Redis, type Reply } from './connection';
import { connectTo, redisComponent, redisFailure } from './component';
import { keyspace, pickCandidates, readCommands, sampledFrom, type SampledKey } from './sample';

/** What a snapshot's manifest records besides its file. */
export interface SnapshotDetails {
  redisVersion: string;
  /** Keys of each database just before and just after the fork, and how many had a time to live. */
  databases: { db: number; keys: number; keysAfter: number; expires: number }[];
  sample: SampledKey[];
  /** LASTSAVE once the save finished. */
  lastSave: string;
  /** The RDB file copied. */
  source: string;
}

/** The file name of the RDB inside a snapshot backup. */
export const RDB_FILE = 'dump.rdb';
const ATTEMPTS = 5;

/** Rejects with why redis-check-rdb finds `file` damaged. */
export async function checkRdb(redisServer: string, file: string): Promise<void> {
  const checker = join(dirname(redisServer), 'redis-check-rdb');
  if (!existsSync(checker))
    throw ApplicationFailure.nonRetryable(
      `${checker} is missing: install redis-tools on the worker`,
      'RedisToolsMissing',
    );
  const run = await runProcess(checker, [file]);
  if (run.exitCode !== 0 || !run.tail.includes('RDB looks OK'))
    throw new Error(`redis-check-rdb ${file}: ${run.tail.split('\n').slice(-6).join(' | ')}`);
}

function persistence(reply: Reply) {
  const fields = infoFields(reply);
  return {
    inProgress: fields.get('rdb_bgsave_in_progress') === '1',
    status: fields.get('rdb_last_bgsave_status') ?? 'ok',
    saves: fields.has('rdb_saves') ? Number(fields.get('rdb_saves')) : undefined,
    lastSave: Number(fields.get('rdb_last_save_time')),
  };
}

/** Waits (heartbeating) until no background save runs; the state of persistence then. */
async function saveFinished(client: Redis, what: string) {
  for (;;) {
    const state = persistence(await client.info('persistence'));
    if (!state.inProgress) return state;
    heartbeat({ waitingFor: what });
    await sleep(100);
  }
}

/** The RDB file the server writes (CONFIG GET dir and dbfilename), or the plan's when CONFIG is renamed away. */
async function rdbPath(client: Redis, c: RedisComponent): Promise<string> {
  try {
    // One parameter per CONFIG GET: Redis 6 takes no more.
    const [{ dir }, { dbfilename }] = await Promise.all([client.configGet('dir'), client.configGet('dbfilename')]);
    if (dir && dbfilename) return join(text(dir), text(dbfilename));
  } catch {
    // fall through
  }
  return join(c.dataDir, c.rdbFile);
}

/**
 * The save just made is the file the worker reads only when the worker runs on the Redis host: the
 * server writes the RDB on its own disk. A file missing here, or older than the fork, is another
 * machine's (or an old one): copying it would back up the wrong data. A second of slack for the
 * coarse clock file times are stamped with.
 */
async function assertSavedHere(c: RedisComponent, source: string, forkedAt: string): Promise<void> {
  const file = await stat(source).catch(() => undefined);
  if (file && file.mtimeMs >= Date.parse(forkedAt) - 1_000) return;
  throw ApplicationFailure.nonRetryable(
    `${c.id}: ${source} on this worker (${hostname()}) ${file ? `was last written ${file.mtime.toISOString()}, before` : 'does not exist after'} ` +
      `the BGSAVE that Redis at ${c.host}:${c.port} forked at ${forkedAt}: the worker must run on the Redis host (${c.host}), where the server writes its RDB file`,
    'WorkerNotOnRedisHost',
  );
}

export function createRedisBackups(redisServer: () => string) {
  async function snapshot(c: RedisComponent, client: Redis, id: string): Promise<BackupManifest> {
    const store = new LocalBackupStore(c.backupDir);
    const startedAt = new Date().toISOString();
    const redisVersion = infoFields(await client.info('server')).get('redis_version') ?? '';
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const before = await saveFinished(client, 'a background save of the server itself');
      const space = await keyspace(client);
      const dbs = [...space.keys()].sort((a, b) => a - b);
      const candidates = await pickCandidates(client, dbs);
      const reads = readCommands(candidates);
      const sizes: Command[] = [...dbs.flatMap((db) => [['SELECT', String(db)], ['DBSIZE']]), ['SELECT', '0']];
      const replies = await pipeline(client, [...reads, ...sizes, ['BGSAVE'], ['TIME'], ...reads, ...sizes]);
      const at = (i: number) => replies[i]!;
      const bgsave = at(reads.length + sizes.length);
      if (bgsave instanceof ErrorReply) {
        // A save or an AOF rewrite started meanwhile: wait for it, then take ours.
        if (/in progress/i.test(bgsave.message) && attempt < ATTEMPTS) continue;
        throw ApplicationFailure.retryable(`${c.id}: BGSAVE refused: ${bgsave.message}`, 'SnapshotFailed');
      }
      const [seconds, micros] = at(reads.length + sizes.length + 1) as Buffer[];
      const forkedAt = new Date(Number(text(seconds!)) * 1000 + Math.floor(Number(text(micros!)) / 1000)).toISOString();
      const after = await saveFinished(client, `BGSAVE of ${id}`);
      if (after.status !== 'ok')
        throw ApplicationFailure.retryable(
          `${c.id}: BGSAVE failed (rdb_last_bgsave_status:${after.status}): the server log says why (disk full, permissions of its dir)`,
          'SnapshotFailed',
        );
      // Another save after ours would have replaced the file: take ours again.
      if (before.saves !== undefined && after.saves !== before.saves + 1) continue;

      const source = await rdbPath(client, c);
      await assertSavedHere(c, source, forkedAt);
      const staged = await store.stage(id);
      await heartbeatWhile(copyFile(source, join(staged, RDB_FILE)), () => ({ copying: source }));
      const copied = persistence(await client.info('persistence'));
      if (copied.inProgress || (after.saves !== undefined && copied.saves !== after.saves)) continue;
      try {
        await checkRdb(redisServer(), join(staged, RDB_FILE));
      } catch (error) {
        if (error instanceof TemporalFailure) throw error;
        throw ApplicationFailure.retryable(
          `${c.id}: the snapshot copied from ${source} is damaged: ${(error as Error).message}`,
          'SnapshotDamaged',
        );
      }

      const first = sampledFrom(candidates, replies.slice(0, reads.length));
      const second = sampledFrom(
        candidates,
        replies.slice(reads.length + sizes.length + 2, 2 * reads.length + sizes.length + 2),
      );
      const sample = first.filter((s, i): s is SampledKey => s !== undefined && s.digest === second[i]?.digest);
      const sizeOf = (from: number, i: number) => Number(at(from + 2 * i + 1));
      const details: SnapshotDetails = {
        redisVersion,
        databases: dbs.map((db, i) => ({
          db,
          keys: sizeOf(reads.length, i),
          keysAfter: sizeOf(2 * reads.length + sizes.length + 2, i),
          expires: space.get(db)!.expires,
        })),
        sample,
        lastSave: new Date(after.lastSave * 1000).toISOString(),
        source,
      };
      return store.commit(staged, {
        component: c.id,
        kind: 'redis',
        id,
        type: 'snapshot',
        startedAt,
        finishedAt: new Date().toISOString(),
        recoveryPoint: forkedAt,
        details: { ...details, rdbBytes: (await stat(join(staged, RDB_FILE))).size },
      });
    }
    throw ApplicationFailure.retryable(
      `${c.id}: other saves kept replacing the RDB file during ${ATTEMPTS} attempts; retrying later`,
      'SnapshotRaced',
    );
  }

  return {
    /** A snapshot (BGSAVE, then the RDB file copied and checked) of the component's server into its backupDir. */
    backupRedis: async (input: BackupActivityInput): Promise<BackupManifest> => {
      const c = redisComponent(input.component);
      if (input.type !== 'snapshot')
        throw ApplicationFailure.nonRetryable(
          `${c.id}: Redis backups are RDB snapshots (type snapshot), not ${input.type}`,
          'UnsupportedBackupType',
        );
      const existing = await new LocalBackupStore(c.backupDir).read(input.backupId);
      if (existing) return existing;
      const client = await connectTo(c);
      try {
        return await snapshot(c, client, input.backupId);
      } catch (error) {
        throw redisFailure(`${c.id}: snapshot ${input.backupId} of ${c.host}:${c.port}`, error);
      } finally {
        client.destroy();
      }
    },
  };
}
