import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupActivityInput } from '../../backups/manifest';
import type { InfluxDbComponent } from '../../plan/kinds/influxdb';
import { freePort } from '../../toolchain/net';
import type { DataStoreDependencies } from '../data-stores';
import { heartbeatWhile } from '../heartbeat';
import { backupInfluxdb } from './backup';
import { parseTargetTime, verifiedChain, verifiedChainEndingAt } from '../verified-chain';
import { InfluxClient } from './client';
import { assertOurs, detailsOf, readState, restoreChain, type ChainRestoreResult } from './restore';
import { startInfluxd, stopInfluxdIn } from './server';
import { validateAgainst, type InfluxValidation } from './validate';

export interface InfluxdbRestoreInput {
  component: InfluxDbComponent;
  /** ISO-8601, or `latest`. */
  targetTime: string;
}

export interface InfluxdbRestoreDirInput {
  component: InfluxDbComponent;
  /** The restored instance's directory: the plan's restoreDir, or a drill's scratch one. */
  dir: string;
  /**
   * Drills: the instance listens on free ports, never on restorePort and restoreBackupPort, which
   * are a recovery's.
   */
  freePorts?: boolean;
}

/** The ports the restored instance on a directory listens on: the plan's, or free ones (drills). */
async function portsOf(c: InfluxDbComponent, freePorts = false) {
  return freePorts
    ? { httpPort: await freePort(), rpcPort: await freePort() }
    : { httpPort: c.restorePort, rpcPort: c.restoreBackupPort };
}

const what = (c: InfluxDbComponent) => `InfluxDB ${c.id}`;

/** A restore builds a fresh instance and wipes its directory when it starts over: never the server's own. */
function assertApartFromServer(c: InfluxDbComponent, dir: string): void {
  const [a, b] = [resolve(dir), resolve(c.dataDir)];
  if (a === b || a.startsWith(`${b}${sep}`) || b.startsWith(`${a}${sep}`))
    throw ApplicationFailure.nonRetryable(
      `${what(c)}: the restore directory ${dir} overlaps the server's dataDir ${c.dataDir}: a restore builds a fresh instance beside the server, then the cut-over moves it in; choose another restoreDir`,
      'RestoreDirIsDataDir',
    );
}

function failValidation(c: InfluxDbComponent, where: string, result: InfluxValidation): never {
  throw ApplicationFailure.nonRetryable(
    `${what(c)}: the instance restored in ${where} does not match backup ${result.backupId}: ${result.problems.join('; ')}`,
    'RestoreValidationFailed',
    result,
  );
}

/** The influxdb kind's activities: backups, restores, validation. */
export function createInfluxdbActivities(deps: DataStoreDependencies) {
  const influxd = () => deps.binaries().influxd;

  /** Starts the instance on `dir`, compares it with the manifest of backup `id`, stops it. */
  async function checkRestored(dir: string, httpPort: number, rpcPort: number, store: LocalBackupStore, id: string) {
    const manifest = await store.read(id);
    if (!manifest)
      throw ApplicationFailure.nonRetryable(`backup ${id} has no manifest in ${store.root} any more`, 'BackupNotFound');
    const instance = await startInfluxd({ influxd: influxd(), dir, httpPort, rpcPort });
    try {
      const client = new InfluxClient(instance.url, `restored instance on ${dir}`);
      return await heartbeatWhile(validateAgainst(client, manifest), () => ({ validating: dir }));
    } finally {
      await instance.stop();
    }
  }

  return {
    /** Takes a full or incremental portable backup into the component's backupDir (idempotent by id). */
    backupInfluxdb: (input: BackupActivityInput<InfluxDbComponent>) => backupInfluxdb(deps, input),

    /**
     * Restores the chain ending at `backupId` into a scratch instance (`<backupDir>/.verify-<id>`, free
     * ports), validates it against the manifest, and removes it, also when it fails.
     */
    verifyInfluxdbRestore: async ({ component: c, backupId }: { component: InfluxDbComponent; backupId: string }) => {
      const store = new LocalBackupStore(c.backupDir);
      const chain = await verifiedChainEndingAt(store, what(c), backupId);
      // Beside the backups: the disk that holds them has room for a restored copy, /tmp may not. One
      // place per backup: what a verification cut short by a crash left there is cleared by the next.
      const dir = join(c.backupDir, `.verify-${backupId}`);
      await stopInfluxdIn(dir);
      await rm(dir, { recursive: true, force: true });
      try {
        const [httpPort, rpcPort] = [await freePort(), await freePort()];
        const target = { influxd: influxd(), component: c.id, dir, httpPort, rpcPort };
        await restoreChain(target, store, chain.links);
        const result = await checkRestored(dir, httpPort, rpcPort, store, backupId);
        if (result.problems.length > 0) failValidation(c, 'a scratch directory', result);
        return { ...result, chain: chain.links.map((l) => l.id), filesVerified: chain.filesVerified };
      } finally {
        await stopInfluxdIn(dir);
        await rm(dir, { recursive: true, force: true });
      }
    },

    /** Picks the chain for the target time and checks its files against their manifests; touches nothing. */
    planInfluxdbRestore: async ({ component: c, targetTime }: InfluxdbRestoreInput) => {
      const store = new LocalBackupStore(c.backupDir);
      const chain = await verifiedChain(store, what(c), parseTargetTime(targetTime, what(c)));
      const last = chain.links.at(-1)!;
      return {
        chain: chain.links.map((l) => ({ id: l.id, type: l.type, recoveryPoint: l.recoveryPoint })),
        recoveryPoint: last.recoveryPoint,
        reaches: chain.reaches,
        short: chain.short,
        filesVerified: chain.filesVerified,
        databases: detailsOf(last).databases.map((db) => db.name),
      };
    },

    /**
     * Restores the chain for the target time into a fresh instance on `dir` (restorePort,
     * restoreBackupPort), leaving it stopped with the saved configuration in `dir/saved-config`.
     * The chain is checked before anything is touched; a directory that is not a restore of this
     * component is never touched; a retry resumes after the last link applied.
     */
    restoreInfluxdbChain: async ({
      component: c,
      targetTime,
      dir,
      freePorts,
    }: InfluxdbRestoreInput & InfluxdbRestoreDirInput): Promise<
      ChainRestoreResult & { reaches: string; short: boolean; filesVerified: number }
    > => {
      assertApartFromServer(c, dir);
      const store = new LocalBackupStore(c.backupDir);
      const chain = await verifiedChain(store, what(c), parseTargetTime(targetTime, what(c)));
      const target = {
        influxd: influxd(),
        component: c.id,
        dir,
        ...(await portsOf(c, freePorts)),
      };
      const result = await restoreChain(target, store, chain.links);
      return { ...result, reaches: chain.reaches, short: chain.short, filesVerified: chain.filesVerified };
    },

    /**
     * Starts the restored instance on `dir`, compares databases, retention policies, series, values
     * and continuous queries with the manifest of the chain's last backup, and stops it. Fails
     * (non-retryable) listing what is missing.
     */
    validateInfluxdbRestore: async ({
      component: c,
      dir,
      freePorts,
    }: InfluxdbRestoreDirInput): Promise<InfluxValidation> => {
      const state = await readState(dir);
      if (!state?.finishedAt || state.component !== c.id)
        throw ApplicationFailure.nonRetryable(
          `${what(c)}: ${dir} holds no finished restore of ${c.id}: run the restore step first`,
          'RestoreNotFinished',
        );
      const store = new LocalBackupStore(c.backupDir);
      const { httpPort, rpcPort } = await portsOf(c, freePorts);
      const result = await checkRestored(dir, httpPort, rpcPort, store, state.chain.at(-1)!);
      if (result.problems.length > 0) failValidation(c, dir, result);
      return result;
    },

    /** Compares the configuration file saved with the backup for the target time with the current one. */
    compareInfluxdbConfig: async ({ component: c, targetTime }: InfluxdbRestoreInput) => {
      const store = new LocalBackupStore(c.backupDir);
      const chain = await verifiedChain(store, what(c), parseTargetTime(targetTime, what(c)));
      const last = chain.links.at(-1)!;
      const saved = join(store.dirOf(last.id), detailsOf(last).configFile);
      if (!existsSync(c.configFile))
        return { backupId: last.id, savedConfig: saved, configFile: c.configFile, current: 'missing' as const };
      const [a, b] = [(await readFile(saved, 'utf8')).split('\n'), (await readFile(c.configFile, 'utf8')).split('\n')];
      const differingLines = Array.from({ length: Math.max(a.length, b.length) }).filter(
        (_, i) => a[i] !== b[i],
      ).length;
      return {
        backupId: last.id,
        savedConfig: saved,
        configFile: c.configFile,
        current: differingLines === 0 ? ('same' as const) : ('differs' as const),
        differingLines,
      };
    },

    /** Stops the instance on `dir` and removes it (a drill's scratch instance); only a restore of this component. */
    removeInfluxdbRestore: async ({ component: c, dir }: InfluxdbRestoreDirInput) => {
      assertApartFromServer(c, dir);
      if (!existsSync(dir)) return { dir, removed: false };
      await assertOurs(dir, c.id);
      const stopped = await stopInfluxdIn(dir);
      await rm(dir, { recursive: true, force: true });
      return { dir, removed: true, stopped };
    },
  };
}
