/**
 * Compares what a restored instance holds with the manifest of the chain's last backup. The
 * manifest's counts were taken just before that backup started, so the restore must hold at least
 * them: fewer values or series is a failure. More is reported, not failed: points written while the
 * backup ran, or deleted (or expired) after the chain's full backup, which incrementals cannot carry.
 */
import type { BackupManifest } from '../../backups/manifest';
import type { InfluxClient } from './client';
import { continuousQueries, databaseNames, inventoryOf } from './inventory';
import { detailsOf } from './restore';

export interface DatabaseCheck {
  name: string;
  series: { expected: number; restored: number };
  values: { expected: number; restored: number };
  measurements: number;
}

export interface InfluxValidation {
  backupId: string;
  recoveryPoint: string;
  databases: DatabaseCheck[];
  /** Why the restore is not what the manifest says; empty when it is. */
  problems: string[];
  /** Differences that are not failures (see the top of this file), and what an operator must redo. */
  notes: string[];
}

const LIMIT = 20;
const sum = (values: Record<string, number>) => Object.values(values).reduce((a, b) => a + b, 0);

export async function validateAgainst(client: InfluxClient, manifest: BackupManifest): Promise<InfluxValidation> {
  const details = detailsOf(manifest);
  const problems: string[] = [];
  const notes: string[] = [];
  const present = await databaseNames(client);
  const expected = details.databases.filter((db) => {
    if (present.includes(db.name)) return true;
    problems.push(`database ${db.name} is missing`);
    return false;
  });
  const restored = await inventoryOf(
    client,
    expected.map((db) => db.name),
  );
  const cqs = await continuousQueries(client);
  const databases: DatabaseCheck[] = [];
  for (const [i, want] of expected.entries()) {
    const got = restored[i]!;
    const policies = new Set(got.retentionPolicies.map((rp) => rp.name));
    for (const rp of want.retentionPolicies)
      if (!policies.has(rp.name)) problems.push(`${want.name}: retention policy ${rp.name} is missing`);
    for (const [key, count] of Object.entries(want.values)) {
      const has = got.values[key] ?? 0;
      if (has < count) problems.push(`${want.name} ${key}: ${has} values, the manifest says ${count}`);
      else if (has > count) notes.push(`${want.name} ${key}: ${has} values, ${has - count} more than the manifest`);
    }
    for (const key of Object.keys(got.values))
      if (!(key in want.values)) notes.push(`${want.name} ${key}: not in the manifest (${got.values[key]} values)`);
    if (got.series < want.series) problems.push(`${want.name}: ${got.series} series, the manifest says ${want.series}`);
    const cqNames = new Set((cqs.get(want.name) ?? []).map((cq) => cq.name));
    for (const cq of want.continuousQueries)
      if (!cqNames.has(cq.name)) problems.push(`${want.name}: continuous query ${cq.name} is missing`);
    databases.push({
      name: want.name,
      series: { expected: want.series, restored: got.series },
      values: { expected: sum(want.values), restored: sum(got.values) },
      measurements: Object.keys(got.values).length,
    });
  }
  if (details.users?.length)
    notes.push(
      `users are not in portable backups, recreate them (CREATE USER, GRANT): ${details.users
        .map((u) => `${u.name}${u.admin ? ' (admin)' : ''}${u.grants.length ? ` [${u.grants.join(', ')}]` : ''}`)
        .join('; ')}`,
    );
  const cap = (list: string[]) =>
    list.length > LIMIT ? [...list.slice(0, LIMIT), `… and ${list.length - LIMIT} more`] : list;
  return {
    backupId: manifest.id,
    recoveryPoint: manifest.recoveryPoint,
    databases,
    problems: cap(problems),
    notes: cap(notes),
  };
}
