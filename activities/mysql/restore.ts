/**
 * The restore steps of the mysql runbook (recover and drill modes), one idempotent activity each:
 * plan the chain (nothing touched yet), prepare it on a copy, copy back into a fresh data directory
 * and start a server there, replay binlogs to the target time, validate, then cut over (recover)
 * or tear down (drill). Each takes the same MysqlRestoreInput; the plan is kept in the mode's work
 * dir (`plan.json`), and what was done to the restored directory in its `restore.json`.
 */
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { restoreWorkRootOf, schema, type MysqlComponent, type MysqlRestoreInput } from '../../plan/kinds/mysql';
import { parsedComponent } from '../component-input';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { runProcess } from '../process';
import { isPrepared, prepareChain, preparedDirOf, readPrepareState } from './prepare';
import { replayBinlogs } from './replay';
import { planRestore, recoveryPointOf, type MysqlRestorePlan } from './restore-plan';
import { copyBackAndStart, readMarker, serverOn, writeMarker, type RestoreMarker } from './restored-server';
import { runDirOf, stopMysqlServer } from './server';
import { validateRestore } from './validate';

const nonRetryable = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);
const workDirOf = ({ component, mode }: MysqlRestoreInput) => join(restoreWorkRootOf(component), mode);
const planFileOf = (input: MysqlRestoreInput) => join(workDirOf(input), 'plan.json');

/** The component as the plan gives it, with the kind's defaults; a malformed one is a plan error. */
export const mysqlComponent = (value: unknown): MysqlComponent => parsedComponent(schema, 'mysql', value);

/** Refuses inputs that would restore over something that is not a scratch directory. */
function checkInput({ component: c, mode, restore }: MysqlRestoreInput): void {
  if (mode !== 'recover' && mode !== 'drill')
    throw nonRetryable(`${c.id}: mode must be recover or drill, not ${String(mode)}`, 'InvalidRestoreInput');
  const target = resolve(restore.dataDir);
  for (const [what, path] of [
    ['the data directory of the server', c.dataDir],
    ['the backup directory', c.backupDir],
    ['the restore work directory', restoreWorkRootOf(c)],
  ] as const)
    if (target === resolve(path) || resolve(path).startsWith(`${target}/`))
      throw nonRetryable(
        `${c.id}: refusing to restore into ${restore.dataDir}: it is (or holds) ${what} (${path}); choose another restoreDataDir`,
        'InvalidRestoreInput',
      );
  if (restore.port === c.port && ['127.0.0.1', 'localhost', '::1'].includes(c.host))
    throw nonRetryable(
      `${c.id}: the restored server cannot listen on ${c.port}, the port of the server it replaces: set restorePort`,
      'InvalidRestoreInput',
    );
}

function parseTarget(c: MysqlComponent, targetTime: string): Date | 'latest' {
  if (targetTime === 'latest') return 'latest';
  const time = new Date(targetTime);
  if (Number.isNaN(time.getTime()))
    throw nonRetryable(
      `${c.id}: targetTime "${targetTime}" is neither "latest" nor an ISO-8601 time`,
      'InvalidTargetTime',
    );
  return time;
}

/** The plan choose-chain made for this target; a later step never re-plans behind its back. */
async function loadPlan(input: MysqlRestoreInput): Promise<MysqlRestorePlan> {
  const file = planFileOf(input);
  if (!existsSync(file))
    throw nonRetryable(
      `${input.component.id}: no restore plan in ${workDirOf(input)}: run choose-chain first`,
      'NotPlanned',
    );
  const plan = JSON.parse(await readFile(file, 'utf8')) as MysqlRestorePlan;
  if (plan.targetTime !== input.targetTime)
    throw nonRetryable(
      `${input.component.id}: the restore plan in ${workDirOf(input)} is for ${plan.targetTime}, not ${input.targetTime}: run choose-chain again`,
      'NotPlanned',
    );
  return plan;
}

/** The restored directory's marker, which must come from this plan's copy-back. */
async function restoredBy(input: MysqlRestoreInput, plan: MysqlRestorePlan): Promise<RestoreMarker> {
  const marker = await readMarker(input.restore.dataDir);
  if (!marker || marker.plannedAt !== plan.plannedAt || marker.state !== 'copied')
    throw nonRetryable(
      `${input.component.id}: ${input.restore.dataDir} does not hold this restore's copy-back: run copy-back first`,
      'NotRestored',
    );
  return marker;
}

/** Whether two plans restore the same thing: target, chain, logs and binlogs. */
const sameRestore = (a: MysqlRestorePlan, b: MysqlRestorePlan) =>
  JSON.stringify([a.targetTime, a.links, a.logs, a.binlogs, a.startPosition, a.stopDatetime]) ===
  JSON.stringify([b.targetTime, b.links, b.logs, b.binlogs, b.startPosition, b.stopDatetime]);

/** An activity that gets its input parsed (the component with its defaults) and checked. */
const checked =
  <R>(activity: (input: MysqlRestoreInput) => Promise<R>) =>
  (raw: MysqlRestoreInput): Promise<R> => {
    const input = { ...raw, component: mysqlComponent(raw.component) };
    checkInput(input);
    return activity(input);
  };

const summary = (plan: MysqlRestorePlan) => ({
  chain: plan.links.map((l) => `${l.id} (${l.type})`),
  logs: plan.logs,
  binlogs: plan.binlogs.map((b) => b.name),
  ...(plan.startPosition !== undefined ? { startPosition: plan.startPosition } : {}),
  ...(plan.stopDatetime ? { stopDatetime: `${plan.stopDatetime} UTC` } : {}),
  reaches: plan.reaches,
  // The recovery reports this component's achieved RPO from it.
  recoveryPoint: recoveryPointOf(plan),
  short: plan.short,
});

export function createMysqlRestoreActivities(binaries: () => DataServerBinaries) {
  return {
    /** choose-chain: the chain, logs and binlogs for the target, every file verified; writes only plan.json. */
    planMysqlRestore: checked(async (input) => {
      const plan = await planRestore(
        input.component,
        { time: parseTarget(input.component, input.targetTime) },
        input.targetTime,
      );
      // A retried choose-chain that finds the same plan keeps it: later steps recognise their work by it.
      const earlier = existsSync(planFileOf(input))
        ? (JSON.parse(await readFile(planFileOf(input), 'utf8')) as MysqlRestorePlan)
        : undefined;
      if (earlier && sameRestore(earlier, plan)) plan.plannedAt = earlier.plannedAt;
      await mkdir(workDirOf(input), { recursive: true });
      await writeFile(planFileOf(input), `${JSON.stringify(plan, null, 2)}\n`);
      return {
        ...summary(plan),
        tables: plan.tables.length,
        ...(plan.short
          ? { warning: `the backups end at ${plan.reaches}: the restore loses what was written after it` }
          : {}),
      };
    }),

    /** prepare: the chain prepared on a copy in the work dir, resuming or rebuilding after a crash. */
    prepareMysqlChain: checked(async (input) => {
      const plan = await loadPlan(input);
      return prepareChain(binaries(), workDirOf(input), plan.links);
    }),

    /** copy-back: the prepared copy into the fresh restore dir, and a server on it. */
    startRestoredMysql: checked(async (input) => {
      const { component: c, restore } = input;
      const plan = await loadPlan(input);
      if (!isPrepared(await readPrepareState(workDirOf(input)), plan.links))
        throw nonRetryable(
          `${c.id}: the chain is not prepared in ${workDirOf(input)}: run prepare first`,
          'NotPrepared',
        );
      const marker = await readMarker(restore.dataDir);
      const chain = plan.links.map((l) => l.id);
      if (marker?.plannedAt === plan.plannedAt && marker.state === 'copied') {
        const server = await serverOn(binaries(), restore.dataDir, restore.port, restore.binlog);
        return { dataDir: restore.dataDir, port: server.port, socket: server.socket, chain, reused: true };
      }
      if (marker?.cutOver)
        throw nonRetryable(
          `${c.id}: ${restore.dataDir} is the data directory an earlier recovery cut over to (${marker.cutOver.at}): restore elsewhere (restoreDataDir)`,
          'RestoreTargetInUse',
        );
      const ours = marker && (input.mode === 'drill' || marker.plannedAt === plan.plannedAt);
      if (!ours && existsSync(restore.dataDir) && (await readdir(restore.dataDir)).length > 0)
        throw nonRetryable(
          `${c.id}: ${restore.dataDir} exists and is not this restore's: it is left alone; move it away or choose another restoreDataDir`,
          'RestoreTargetInUse',
        );
      const server = await copyBackAndStart(binaries(), {
        marker: { component: c.id, mode: input.mode, plannedAt: plan.plannedAt, chain, binlog: restore.binlog },
        preparedDir: preparedDirOf(workDirOf(input)),
        dataDir: restore.dataDir,
        port: restore.port,
      });
      return { dataDir: restore.dataDir, port: server.port, socket: server.socket, chain, reused: false };
    }),

    /**
     * replay-binlogs: the archived binlogs up to the target, once. A replay found started but not
     * done was interrupted: the directory is copied back afresh and the replay runs again.
     */
    replayMysqlBinlogs: checked(async (input) => {
      const { component: c, restore } = input;
      const plan = await loadPlan(input);
      const marker = await restoredBy(input, plan);
      if (marker.replay?.status === 'done') return { ...marker.replay, reaches: plan.reaches, alreadyDone: true };
      let rebuilt: string | undefined;
      let server;
      if (marker.replay?.status === 'started') {
        if (marker.cutOver)
          throw nonRetryable(
            `${c.id}: ${restore.dataDir} records an unfinished replay but was cut over to: it is not rebuilt; check it by hand`,
            'RestoreTargetInUse',
          );
        rebuilt = `a replay started at ${marker.replay.at} never finished: ${restore.dataDir} was copied back afresh`;
        const { replay: _, validated: __, ...fresh } = marker;
        server = await copyBackAndStart(binaries(), {
          marker: fresh,
          preparedDir: preparedDirOf(workDirOf(input)),
          dataDir: restore.dataDir,
          port: restore.port,
        });
      } else server = await serverOn(binaries(), restore.dataDir, restore.port, restore.binlog);
      const current = (await readMarker(restore.dataDir))!;
      await writeMarker(restore.dataDir, { ...current, replay: { status: 'started', at: new Date().toISOString() } });
      const result = await replayBinlogs(binaries(), c, plan, server.socket);
      await writeMarker(restore.dataDir, {
        ...current,
        replay: { status: 'done', at: new Date().toISOString(), ...result },
      });
      return { ...result, reaches: plan.reaches, short: plan.short, ...(rebuilt ? { rebuilt } : {}) };
    }),

    /** validate: every table of the backup present and readable; counts and checksums reported. */
    validateMysqlRestore: checked(async (input) => {
      const { component: c, restore } = input;
      const plan = await loadPlan(input);
      const marker = await restoredBy(input, plan);
      if (marker.replay?.status === 'started')
        throw nonRetryable(
          `${c.id}: the binlog replay into ${restore.dataDir} was interrupted: run replay-binlogs again first`,
          'NotReplayed',
        );
      const server = await serverOn(binaries(), restore.dataDir, restore.port, restore.binlog);
      const replayed = marker.replay?.status === 'done' && marker.replay.files.length > 0;
      const result = await validateRestore(binaries(), c, plan, server.socket, replayed);
      await writeMarker(restore.dataDir, { ...marker, validated: { ...result, at: new Date().toISOString() } });
      return {
        ...result,
        restoredTo: plan.reaches,
        dataDir: restore.dataDir,
        port: server.port,
        ...(plan.short ? { short: true } : {}),
      };
    }),

    /** cutover: the plan's command, once the restore is validated; given the restored server's address. */
    cutOverMysql: checked(async (input) => {
      const { component: c, restore } = input;
      const command = c.cutover?.command;
      if (!command) throw nonRetryable(`${c.id}: the plan names no cutover command: cut over by hand`, 'ManualStep');
      const plan = await loadPlan(input);
      const marker = await restoredBy(input, plan);
      if (marker.cutOver) return { ...marker.cutOver, alreadyDone: true };
      if (!marker.validated)
        throw nonRetryable(
          `${c.id}: the restore in ${restore.dataDir} is not validated: run validate first`,
          'NotValidated',
        );
      const server = await serverOn(binaries(), restore.dataDir, restore.port, restore.binlog);
      const run = await runProcess('bash', ['-c', command], {
        env: {
          ...process.env,
          RESTORED_MYSQL_PORT: String(server.port),
          RESTORED_MYSQL_SOCKET: server.socket,
          RESTORED_MYSQL_DATADIR: restore.dataDir,
        },
      });
      if (run.exitCode !== 0)
        throw ApplicationFailure.retryable(
          `${c.id}: the cutover command exited with status ${run.exitCode}: ${run.tail.slice(-1_000)}`,
          'CutoverFailed',
        );
      const cutOver = { at: new Date().toISOString(), command, outputTail: run.tail.slice(-1_000) };
      await writeMarker(restore.dataDir, { ...marker, cutOver });
      return { ...cutOver, port: server.port, dataDir: restore.dataDir };
    }),

    /** teardown (drills): the scratch server stopped, the drill's data dir and work dir removed. */
    tearDownMysqlDrill: checked(async (input) => {
      const { component: c, restore } = input;
      if (input.mode !== 'drill')
        throw nonRetryable(`${c.id}: only a drill's restore is torn down by the engine`, 'InvalidRestoreInput');
      const marker = await readMarker(restore.dataDir);
      if (!marker && existsSync(restore.dataDir) && (await readdir(restore.dataDir)).length > 0)
        throw nonRetryable(
          `${c.id}: ${restore.dataDir} was not restored by the engine: it is left alone`,
          'RestoreTargetInUse',
        );
      const stopped = await stopMysqlServer(restore.dataDir);
      const removed = [restore.dataDir, runDirOf(restore.dataDir), workDirOf(input)].filter((dir) => existsSync(dir));
      for (const dir of removed) await rm(dir, { recursive: true, force: true });
      return { stopped, removed };
    }),
  };
}
