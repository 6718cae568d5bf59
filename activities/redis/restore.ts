/**
 * Redis restores: the snapshot for the target time (chainFor), checked (checksums, redis-check-rdb)
 * before anything is touched, loaded into a fresh redis-server (a directory and port of its own,
 * appendonly off so the RDB is what loads), and validated against the snapshot's manifest: the
 * key count of each database and the sampled keys' values. A recovery keeps that server for the
 * cutover; a drill and the verification of a backup tear theirs down.
 */
import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity';
import { ApplicationFailure, TemporalFailure } from '@temporalio/common';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BrokenChainError, chainFor } from '../../backups/chain';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupActivityInput, BackupManifest } from '../../backups/manifest';
import { DRILL_SUFFIX } from '../../plan/kinds/define';
import { drillDirOf, type RedisComponent } from '../../plan/kinds/redis';
import { freePort, isPortFree } from '../../toolchain/net';
import { heartbeatWhile } from '../heartbeat';
import { checkRdb, RDB_FILE, type SnapshotDetails } from './backup';
import { connectRedis } from './connection';
import { guarded, passwordOf, redisComponent, targetOf } from './component';
import { checkSample, keyspace, type KeyProblem } from './sample';
import { runningIn, startRedis, stopRedis } from './server';

export interface RedisRestoreInput {
  component: unknown;
  /** ISO-8601 time, or `latest`. */
  targetTime: string;
}

export interface RedisDrillInput extends RedisRestoreInput {
  drillSuffix?: string;
}

/** What a restored server holds, written beside its files; a retry and the next steps read it. */
interface RestoreRecord {
  component: string;
  snapshot: string;
  mode: 'recover' | 'drill' | 'verify';
  port: number;
  /** The recovery that restored it (its workflow id, without the run number). */
  recovery: string;
}

export interface RedisValidation {
  /** Keys of each database in the restored server, and in the snapshot (before the fork). */
  databases: { db: number; keys: number; atSnapshot: number }[];
  sampleChecked: number;
  /** Sampled keys with a time to live that expired since the snapshot. */
  sampleExpired: number;
}

export interface RedisRestoreResult extends RedisValidation {
  snapshot: string;
  recoveryPoint: string;
  targetTime: string;
  /** The target lies past the newest snapshot: what was written after `recoveryPoint` is lost. */
  short: boolean;
  host: string;
  port: number;
  dir: string;
}

const recordFile = (dir: string) => join(dir, 'restore.json');

/**
 * The recovery this call works for: the engine runs a component as `<recovery>/<component>/<run>`;
 * an operator's retry (a new run) is the same recovery.
 */
const currentRecovery = () => (activityInfo().workflowExecution?.workflowId ?? '').replace(/\/\d+$/, '');

async function readRecord(dir: string): Promise<RestoreRecord | undefined> {
  return existsSync(recordFile(dir))
    ? (JSON.parse(await readFile(recordFile(dir), 'utf8')) as RestoreRecord)
    : undefined;
}

/** Fails, naming each problem, unless the snapshot's files match its manifest and redis-check-rdb passes. */
async function verifySnapshot(c: RedisComponent, redisServer: string, snapshot: BackupManifest): Promise<void> {
  const store = new LocalBackupStore(c.backupDir);
  const problems = await store.verify(snapshot);
  if (problems.length === 0)
    try {
      await checkRdb(redisServer, join(store.dirOf(snapshot.id), RDB_FILE));
    } catch (error) {
      if (error instanceof TemporalFailure) throw error;
      problems.push((error as Error).message);
    }
  if (problems.length > 0)
    throw ApplicationFailure.nonRetryable(
      `${c.id}: snapshot ${snapshot.id} in ${c.backupDir} is damaged, nothing was restored:\n${problems.slice(0, 20).join('\n')}`,
      'BackupCorrupt',
      { problems: problems.slice(0, 100) },
    );
}

/** The snapshot that restores `target`, checked; a missing or damaged one fails, naming what is wrong. */
async function chooseSnapshot(c: RedisComponent, redisServer: string, target: Date | 'latest') {
  const manifests = await new LocalBackupStore(c.backupDir).list();
  let chain: ReturnType<typeof chainFor>;
  try {
    chain = chainFor(manifests, target);
  } catch (error) {
    if (!(error instanceof BrokenChainError)) throw error;
    throw ApplicationFailure.nonRetryable(
      `${c.id}: no snapshot in ${c.backupDir} restores ${target === 'latest' ? 'the latest point' : target.toISOString()}: ${error.message}`,
      'BrokenChain',
    );
  }
  const snapshot = chain.links.at(-1)!;
  await verifySnapshot(c, redisServer, snapshot);
  return { snapshot, reaches: chain.reaches, short: chain.short };
}

/** Compares the restored server with the snapshot's manifest; fails, naming the differences. */
async function validate(
  c: RedisComponent,
  snapshot: BackupManifest,
  address: { port: number; password?: string },
): Promise<RedisValidation> {
  const details = snapshot.details as unknown as SnapshotDetails;
  const client = await connectRedis({ host: '127.0.0.1', ...address });
  try {
    const problems: KeyProblem[] = [];
    const expected = new Map(details.databases.map((d) => [d.db, d]));
    const restored = await keyspace(client);
    const databases: RedisValidation['databases'] = [];
    for (const db of new Set([...expected.keys(), ...restored.keys()])) {
      const want = expected.get(db);
      const keys = restored.get(db)?.keys ?? 0;
      databases.push({ db, keys, atSnapshot: want?.keys ?? 0 });
      // Keys with a time to live may have expired since; writes between the two counts may or may not be in.
      const low = want ? Math.min(want.keys, want.keysAfter) - want.expires : 0;
      const high = want ? Math.max(want.keys, want.keysAfter) : 0;
      if (keys < low || keys > high)
        problems.push({ db, key: '*', problem: `${keys} keys, the snapshot had ${want?.keys ?? 0}` });
    }
    const sample = await checkSample(client, details.sample);
    problems.push(...sample.problems);
    if (problems.length > 0)
      throw ApplicationFailure.nonRetryable(
        `${c.id}: the server restored from ${snapshot.id} differs from the snapshot's manifest: ` +
          problems
            .slice(0, 20)
            .map((p) => `db ${p.db} ${p.key}: ${p.problem}`)
            .join('; '),
        'RestoreValidationFailed',
        { problems: problems.slice(0, 100) },
      );
    return {
      databases: databases.sort((a, b) => a.db - b.db),
      sampleChecked: sample.checked,
      sampleExpired: sample.expired,
    };
  } finally {
    client.destroy();
  }
}

/**
 * Clears a scratch directory (a drill's, a verification's): stops the redis-server of ours running
 * there (cmdline-checked, so never another process that reused its pid) and removes the directory.
 * A directory holding anything but a scratch restore of Recovery Engine's is left alone.
 */
async function clearScratch(c: RedisComponent, dir: string): Promise<{ stopped: boolean; removed: boolean }> {
  if (!existsSync(dir)) return { stopped: false, removed: false };
  const record = await readRecord(dir).catch(() => undefined);
  if ((await readdir(dir)).length > 0 && (!record || record.mode === 'recover'))
    throw ApplicationFailure.nonRetryable(
      `${c.id}: ${dir} holds files that are not a scratch restore of Recovery Engine's: left in place; remove it by hand if it is a leftover`,
      'RestoreDirNotEmpty',
    );
  const stopped = await stopRedis({ dir, port: record?.port }, 2_000);
  await rm(dir, { recursive: true, force: true });
  return { stopped, removed: true };
}

export function createRedisRestores(redisServer: () => string) {
  /**
   * Loads `snapshot` into a fresh server in `dir` on `port`: the directory must be new, empty, or a
   * restore's whose server is gone (it is cleared). Resolves once the dataset is loaded.
   */
  async function load(
    c: RedisComponent,
    snapshot: BackupManifest,
    site: { mode: RestoreRecord['mode']; dir: string; port: number; password?: string },
  ): Promise<void> {
    const previous = await readRecord(site.dir);
    if (existsSync(site.dir) && (await readdir(site.dir)).length > 0 && !previous)
      throw ApplicationFailure.nonRetryable(
        `${c.id}: ${site.dir} exists and holds files that are not a restore of Recovery Engine's: move it away or set another directory`,
        'RestoreDirNotEmpty',
      );
    // A server an earlier recovery restored there may have been cut over to and taken writes since.
    if (site.mode === 'recover' && previous && previous.recovery !== currentRecovery())
      throw ApplicationFailure.nonRetryable(
        `${c.id}: ${site.dir} holds the restore of snapshot ${previous.snapshot} by another recovery (${previous.recovery}), ` +
          'which may have taken writes since: move it away or set another restoreDir, then retry',
        'RestoreDirInUse',
      );
    if (!(await isPortFree(site.port)))
      throw ApplicationFailure.nonRetryable(
        `${c.id}: port ${site.port} is taken: stop what listens there${site.mode === 'recover' ? ', or set restorePort' : ''}`,
        'PortTaken',
      );
    await rm(site.dir, { recursive: true, force: true });
    await mkdir(site.dir, { recursive: true, mode: 0o700 });
    // The record first: a directory cut short while being filled is still known as a restore's.
    const record: RestoreRecord = {
      component: c.id,
      snapshot: snapshot.id,
      mode: site.mode,
      port: site.port,
      recovery: currentRecovery(),
    };
    await writeFile(recordFile(site.dir), `${JSON.stringify(record, null, 2)}\n`);
    const from = join(new LocalBackupStore(c.backupDir).dirOf(snapshot.id), RDB_FILE);
    await heartbeatWhile(copyFile(from, join(site.dir, c.rdbFile)), () => ({ copying: from }));
    try {
      await startRedis({
        redisServer: redisServer(),
        dir: site.dir,
        port: site.port,
        password: site.password,
        dbfilename: c.rdbFile,
        // A recovered server keeps what it takes from now on; a scratch one writes nothing.
        persistence: site.mode === 'recover' ? 'rdb' : 'none',
        onWait: (status) => heartbeat({ loading: snapshot.id, status }),
        signal: cancellationSignal(),
      });
    } catch (error) {
      if (error instanceof TemporalFailure) throw error;
      throw ApplicationFailure.retryable(`${c.id}: ${(error as Error).message}`, 'RedisStartFailed');
    }
  }

  /** Loads the snapshot into a scratch server, validates it, and always tears it down. */
  async function scratch(
    c: RedisComponent,
    chosen: { snapshot: BackupManifest; reaches: string; short: boolean },
    site: { mode: 'drill' | 'verify'; dir: string; port: number },
    targetTime: string,
  ): Promise<RedisRestoreResult> {
    // Production data on a loopback port: a password only this activity knows.
    const password = randomBytes(24).toString('base64url');
    try {
      await load(c, chosen.snapshot, { ...site, password });
      const validation = await validate(c, chosen.snapshot, { port: site.port, password });
      return {
        snapshot: chosen.snapshot.id,
        recoveryPoint: chosen.snapshot.recoveryPoint,
        targetTime,
        short: chosen.short,
        host: '127.0.0.1',
        port: site.port,
        dir: site.dir,
        ...validation,
      };
    } finally {
      // Only a directory this restore wrote (restore.json): its pid file is the scratch server's.
      if (await readRecord(site.dir)) {
        await stopRedis({ dir: site.dir, port: site.port, password }).catch(() => undefined);
        await rm(site.dir, { recursive: true, force: true });
      }
    }
  }

  return {
    /** Picks the snapshot for the target time and checks it (checksums, redis-check-rdb). Touches nothing. */
    chooseRedisSnapshot: guarded('chooseRedisSnapshot', async (input: RedisRestoreInput) => {
      const c = redisComponent(input.component);
      const { snapshot, reaches, short } = await chooseSnapshot(c, redisServer(), targetOf(c, input.targetTime));
      const details = snapshot.details as unknown as SnapshotDetails;
      return {
        snapshot: snapshot.id,
        recoveryPoint: snapshot.recoveryPoint,
        targetTime: input.targetTime,
        reaches,
        short,
        keys: details.databases.reduce((n, d) => n + d.keys, 0),
        sampled: details.sample.length,
      };
    }),

    /**
     * Loads the snapshot for the target time into a fresh server (restoreDir, restorePort; the
     * component's password) and validates it. The server keeps running for the cutover. A retry
     * finds it running with the same snapshot and validates it again.
     */
    restoreRedisSnapshot: guarded(
      'restoreRedisSnapshot',
      async (input: RedisRestoreInput): Promise<RedisRestoreResult> => {
        const c = redisComponent(input.component);
        const chosen = await chooseSnapshot(c, redisServer(), targetOf(c, input.targetTime));
        const dir = c.restoreDir ?? `${c.dataDir}-restored`;
        const port = c.restorePort ?? c.port + 1;
        const password = passwordOf(c);
        const running = await runningIn(dir);
        const record = await readRecord(dir);
        if (running !== undefined && (record?.snapshot !== chosen.snapshot.id || record.recovery !== currentRecovery()))
          throw ApplicationFailure.nonRetryable(
            `${c.id}: a redis-server (pid ${running}) runs in ${dir}${record ? ` with snapshot ${record.snapshot}, restored by ${record.recovery}` : ''}: ` +
              `stop it (redis-cli -p ${record?.port ?? port} shutdown nosave) or set another restoreDir, then retry`,
            'RestoreServerRunning',
          );
        if (running === undefined) await load(c, chosen.snapshot, { mode: 'recover', dir, port, password });
        const validation = await validate(c, chosen.snapshot, { port: record?.port ?? port, password });
        return {
          snapshot: chosen.snapshot.id,
          recoveryPoint: chosen.snapshot.recoveryPoint,
          targetTime: input.targetTime,
          short: chosen.short,
          host: '127.0.0.1',
          port: record?.port ?? port,
          dir,
          ...validation,
        };
      },
    ),

    /**
     * A drill: loads the snapshot for the target time into a scratch server in the drill directory
     * (/tmp/<id><drillSuffix>) on a free port, validates it, and tears it down; what a crash leaves
     * there, tearDownRedisDrill removes. Production is only read.
     */
    drillRedisRestore: guarded('drillRedisRestore', async (input: RedisDrillInput): Promise<RedisRestoreResult> => {
      const c = redisComponent(input.component);
      const chosen = await chooseSnapshot(c, redisServer(), targetOf(c, input.targetTime));
      const dir = drillDirOf(c, input.drillSuffix ?? DRILL_SUFFIX);
      await clearScratch(c, dir);
      return scratch(c, chosen, { mode: 'drill', dir, port: await freePort() }, input.targetTime);
    }),

    /**
     * Drill teardown: stops the scratch server in the drill directory (only a redis-server started
     * there, by its command line) and removes the directory. Nothing there: nothing to do.
     */
    tearDownRedisDrill: guarded('tearDownRedisDrill', async (input: RedisDrillInput) => {
      const c = redisComponent(input.component);
      const dir = drillDirOf(c, input.drillSuffix ?? DRILL_SUFFIX);
      return { dir, ...(await clearScratch(c, dir)) };
    }),

    /** `verify: restore`: checks the snapshot, loads it into a scratch server, validates it, tears it down. */
    verifyRedisRestore: guarded(
      'verifyRedisRestore',
      async (input: BackupActivityInput): Promise<RedisRestoreResult & { backupId: string }> => {
        const c = redisComponent(input.component);
        const snapshot = await new LocalBackupStore(c.backupDir).read(input.backupId);
        if (!snapshot)
          throw ApplicationFailure.nonRetryable(
            `${c.id}: no backup ${input.backupId} in ${c.backupDir}`,
            'BackupNotFound',
          );
        await verifySnapshot(c, redisServer(), snapshot);
        // A fixed place per backup: a verification cut short by a crash is cleared by the next one.
        const dir = join(c.backupDir, `.verify-${input.backupId}`);
        await clearScratch(c, dir);
        try {
          const chosen = { snapshot, reaches: snapshot.recoveryPoint, short: false };
          const site = { mode: 'verify' as const, dir, port: await freePort() };
          return { backupId: input.backupId, ...(await scratch(c, chosen, site, snapshot.recoveryPoint)) };
        } finally {
          await clearScratch(c, dir);
        }
      },
    ),
  };
}
