/**
 * Prepares a chain on a copy in a work dir: copy the full backup, --prepare it, then for each
 * incremental copy it and --prepare --incremental-dir onto the copy (applying an incremental
 * consumes its folder, so the backups themselves are only ever read). `state.json` records each
 * step as started, then done: a step found started but not done was interrupted (a worker crash),
 * and since a half-prepared copy cannot be trusted nor prepared again, the copy is discarded and
 * rebuilt from the backups. Done steps are never repeated, so no copy is prepared twice.
 */
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { runProcess } from '../process';
import { DATA_SUBDIR, readCheckpoints } from './backup-files';
import type { PlannedLink } from './restore-plan';

type StepStatus = 'started' | 'done';

export interface PrepareState {
  /** The chain this work dir prepares: another chain starts afresh. */
  chain: string[];
  steps: Record<string, StepStatus>;
}

export interface PrepareResult {
  chain: string[];
  /** Steps run by this call, in order: `copy:<id>`, `prepare:<id>`, `apply:<id>`. */
  ran: string[];
  /** Steps an earlier attempt had completed. */
  alreadyDone: string[];
  /** Why the work copy was discarded and rebuilt from the backups, when it was. */
  rebuilt?: string;
  preparedDir: string;
  toLsn: string;
}

export const preparedDirOf = (workDir: string) => join(workDir, 'prepared');
const incomingDirOf = (workDir: string) => join(workDir, 'incremental');
export const stateFileOf = (workDir: string) => join(workDir, 'state.json');

export async function readPrepareState(workDir: string): Promise<PrepareState | undefined> {
  const file = stateFileOf(workDir);
  return existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as PrepareState) : undefined;
}

async function writeState(workDir: string, state: PrepareState): Promise<void> {
  const file = stateFileOf(workDir);
  await writeFile(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${file}.tmp`, file);
}

/** The steps that prepare `links`, in order. */
export function prepareSteps(links: PlannedLink[]): string[] {
  return links.flatMap((link, i) =>
    i === 0 ? [`copy:${link.id}`, `prepare:${link.id}`] : [`copy:${link.id}`, `apply:${link.id}`],
  );
}

/** Whether the work dir holds `links` fully prepared. */
export function isPrepared(state: PrepareState | undefined, links: PlannedLink[]): boolean {
  return (
    !!state &&
    state.chain.join() === links.map((l) => l.id).join() &&
    prepareSteps(links).every((step) => state.steps[step] === 'done')
  );
}

async function run(program: string, args: string[], what: string): Promise<void> {
  const result = await runProcess(program, args, { env: { ...process.env, TZ: 'UTC' } });
  if (result.exitCode !== 0)
    throw ApplicationFailure.retryable(
      `${what} failed (exit ${result.exitCode}): ${result.tail.slice(-1_500)}`,
      'PrepareFailed',
    );
}

export async function prepareChain(
  binaries: DataServerBinaries,
  workDir: string,
  links: PlannedLink[],
): Promise<PrepareResult> {
  const chain = links.map((l) => l.id);
  const prepared = preparedDirOf(workDir);
  const incoming = incomingDirOf(workDir);
  await mkdir(workDir, { recursive: true });
  const steps = prepareSteps(links);
  let state = await readPrepareState(workDir);
  let rebuilt: string | undefined;
  const interrupted = state && Object.entries(state.steps).find(([, status]) => status === 'started')?.[0];
  if (state && state.chain.join() !== chain.join())
    rebuilt = `the work dir held another chain (${state.chain.join(', ')})`;
  else if (interrupted) rebuilt = `step ${interrupted} was started but never recorded as done (interrupted)`;
  else if (state && Object.keys(state.steps).length > 0 && !existsSync(prepared)) rebuilt = `${prepared} is missing`;
  if (!state || rebuilt) {
    await rm(prepared, { recursive: true, force: true });
    await rm(incoming, { recursive: true, force: true });
    state = { chain, steps: {} };
    await writeState(workDir, state);
  }
  const alreadyDone = steps.filter((step) => state.steps[step] === 'done');
  const ran: string[] = [];
  const byId = new Map(links.map((l) => [l.id, l]));
  for (const step of steps) {
    if (state.steps[step] === 'done') continue;
    state.steps[step] = 'started';
    await writeState(workDir, state);
    const [action, id] = step.split(':') as [string, string];
    const source = join(byId.get(id)!.dir, DATA_SUBDIR);
    if (action === 'copy') {
      const into = id === chain[0] ? prepared : incoming;
      await rm(into, { recursive: true, force: true });
      await run('cp', ['-a', source, into], `copying ${source} to ${into}`);
    } else if (action === 'prepare') {
      await run(binaries.mariadbBackup, ['--no-defaults', '--prepare', `--target-dir=${prepared}`], `preparing ${id}`);
    } else {
      await run(
        binaries.mariadbBackup,
        ['--no-defaults', '--prepare', `--target-dir=${prepared}`, `--incremental-dir=${incoming}`],
        `applying incremental ${id}`,
      );
      await rm(incoming, { recursive: true, force: true });
    }
    state.steps[step] = 'done';
    await writeState(workDir, state);
    ran.push(step);
  }
  return {
    chain,
    ran,
    alreadyDone,
    ...(rebuilt ? { rebuilt } : {}),
    preparedDir: prepared,
    toLsn: (await readCheckpoints(prepared)).toLsn,
  };
}
