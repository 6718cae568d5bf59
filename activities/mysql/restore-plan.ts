/**
 * What a restore of a mysql component applies, decided from the manifests before anything is
 * touched: the chain of full and incremental backups (LSNs continuous, every file intact), then the
 * binlog files to replay from the last link's binlog position, each found in an archive. A missing
 * link, a missing binlog or a damaged file fails here, naming it.
 */
import { ApplicationFailure } from '@temporalio/common';
import { BrokenChainError, chainFor } from '../../backups/chain';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupManifest, BackupType } from '../../backups/manifest';
import { stopDatetimeOf, type MysqlComponent } from '../../plan/kinds/mysql';
import { heartbeatWhile } from '../heartbeat';
import type { MysqlBackupDetails } from './backup';
import type { BinlogPosition } from './backup-files';
import { BINLOGS_SUBDIR, parseBinlogName, type BinlogArchiveDetails } from './binlogs';
import type { TableFact } from './tables';

export interface PlannedLink {
  id: string;
  type: BackupType;
  recoveryPoint: string;
  dir: string;
}

export interface PlannedBinlog {
  name: string;
  /** The log archive holding it. */
  archive: string;
  path: string;
}

export interface MysqlRestorePlan {
  component: string;
  /** As asked: ISO-8601 or `latest`. */
  targetTime: string;
  plannedAt: string;
  /** Full backup first, then its incrementals, oldest first. */
  links: PlannedLink[];
  logs: string[];
  /** Binlog files to replay, in order; the first from `startPosition`. */
  binlogs: PlannedBinlog[];
  startPosition?: number;
  /** mysqlbinlog --stop-datetime (UTC): replay stops before the first event at or after it. */
  stopDatetime?: string;
  /** The point the restore reaches; `short` when the backups end before the target. */
  reaches: string;
  short: boolean;
  /** The last link's table facts, which the restore is validated against. */
  tables: TableFact[];
  tablesExact: boolean;
}

const brokenChain = (c: MysqlComponent, message: string) =>
  ApplicationFailure.nonRetryable(`${c.id}: ${message} (backups in ${c.backupDir})`, 'BrokenChain');

const detailsOf = (m: BackupManifest) => m.details as unknown as Partial<MysqlBackupDetails & BinlogArchiveDetails>;

/** Every file of every backup against its manifest; a damaged backup fails the restore before it starts. */
async function verifyFiles(c: MysqlComponent, store: LocalBackupStore, manifests: BackupManifest[]): Promise<void> {
  for (const manifest of manifests) {
    const problems = await heartbeatWhile(store.verify(manifest), () => ({ verifying: manifest.id }));
    if (problems.length > 0)
      throw ApplicationFailure.nonRetryable(
        `${c.id}: backup ${manifest.id} in ${c.backupDir} is damaged: ${problems.slice(0, 10).join('; ')}${problems.length > 10 ? ` (and ${problems.length - 10} more)` : ''}`,
        'BackupCorrupt',
      );
  }
}

/** Each incremental starts where the link before it ended. */
function checkLsns(c: MysqlComponent, links: BackupManifest[]): void {
  for (let i = 1; i < links.length; i++) {
    const [before, link] = [detailsOf(links[i - 1]!), detailsOf(links[i]!)];
    if (link.fromLsn !== before.toLsn)
      throw brokenChain(
        c,
        `incremental backup ${links[i]!.id} starts at LSN ${link.fromLsn}, but ${links[i - 1]!.id} ends at LSN ${before.toLsn}: a link between them is missing`,
      );
  }
}

/** The binlog files from the last link's position to the end of the chain's last log archive, each archived. */
function binlogsToReplay(
  c: MysqlComponent,
  store: LocalBackupStore,
  last: BackupManifest,
  logs: BackupManifest[],
  all: BackupManifest[],
): { binlogs: PlannedBinlog[]; startPosition?: number } {
  const lastFile = logs
    .flatMap((log) => detailsOf(log).files ?? [])
    .map((f) => f.name)
    .at(-1);
  if (lastFile === undefined) return { binlogs: [] };
  const position: BinlogPosition | null | undefined = detailsOf(last).binlog;
  if (!position)
    throw brokenChain(
      c,
      `backup ${last.id} recorded no binlog position (binary logging was off when it was taken): the archived binlogs cannot be replayed on it`,
    );
  // Any archive may hold a file of the sequence (the one open during the backup was closed later).
  const archived = new Map<string, PlannedBinlog>();
  for (const log of all.filter((b) => b.type === 'log'))
    for (const file of detailsOf(log).files ?? [])
      archived.set(file.name, {
        name: file.name,
        archive: log.id,
        path: `${store.dirOf(log.id)}/${BINLOGS_SUBDIR}/${file.name}`,
      });
  const from = parseBinlogName(position.file);
  const to = parseBinlogName(lastFile);
  const binlogs: PlannedBinlog[] = [];
  for (let seq = from.seq; seq <= to.seq; seq++) {
    const name = `${from.base}.${String(seq).padStart(from.digits, '0')}`;
    const file = archived.get(name);
    if (!file)
      throw brokenChain(
        c,
        `binlog ${name} is in no log archive: replay from ${last.id} (${position.file}:${position.position}) cannot reach ${lastFile}`,
      );
    binlogs.push(file);
  }
  return { binlogs, startPosition: position.position };
}

/**
 * The moment the restored data dates from, for the report's RPO: the point the backups reach; for a
 * replay to a target time, the start of the target's second, because mysqlbinlog --stop-datetime
 * (1 s resolution) stops before every event of that second.
 */
export function recoveryPointOf(plan: Pick<MysqlRestorePlan, 'reaches' | 'short' | 'binlogs' | 'stopDatetime'>) {
  if (plan.short || plan.binlogs.length === 0 || !plan.stopDatetime) return plan.reaches;
  return new Date(`${plan.stopDatetime.replace(' ', 'T')}Z`).toISOString();
}

export type RestoreTarget = { time: Date | 'latest' } | { endingAt: BackupManifest };

/**
 * The plan that restores `c` to a time (the newest chain at or before it, and the archives that
 * reach it) or to the end of one backup (a verify: the chain ending at it, logs included).
 */
export async function planRestore(
  c: MysqlComponent,
  target: RestoreTarget,
  targetTime: string,
): Promise<MysqlRestorePlan> {
  const store = new LocalBackupStore(c.backupDir);
  const all = await store.list();
  // Verifying one backup: nothing after it counts, so the chain ends exactly there.
  const candidates =
    'endingAt' in target
      ? all.filter((b) => b.id === target.endingAt.id || b.recoveryPoint < target.endingAt.recoveryPoint)
      : all;
  const at = 'endingAt' in target ? new Date(target.endingAt.recoveryPoint) : target.time;
  let chain: ReturnType<typeof chainFor>;
  try {
    chain = chainFor(candidates, at);
  } catch (error) {
    if (error instanceof BrokenChainError) throw brokenChain(c, error.message);
    throw error;
  }
  checkLsns(c, chain.links);
  const last = chain.links.at(-1)!;
  const { binlogs, startPosition } = binlogsToReplay(c, store, last, chain.logs, all);
  await verifyFiles(c, store, [...chain.links, ...chain.logs]);
  const lastDetails = detailsOf(last);
  return {
    component: c.id,
    targetTime,
    plannedAt: new Date().toISOString(),
    links: chain.links.map((l) => ({ id: l.id, type: l.type, recoveryPoint: l.recoveryPoint, dir: store.dirOf(l.id) })),
    logs: chain.logs.map((l) => l.id),
    binlogs,
    ...(startPosition !== undefined ? { startPosition } : {}),
    ...('time' in target && target.time !== 'latest'
      ? { stopDatetime: stopDatetimeOf(target.time.toISOString()) }
      : {}),
    reaches: chain.reaches,
    short: chain.short,
    tables: lastDetails.tables ?? [],
    tablesExact: lastDetails.tablesExact ?? false,
  };
}
