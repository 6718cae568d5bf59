import { createAwsClients } from '../../activities/aws-clients';
import { createBackupActivities } from '../../activities/backups';
import { formatMinutes } from '../../plan/rpo';
import { loadValidPlan } from '../load-or-fail';
import type { CommandResult } from '../result';

/**
 * `recovery backups <plan.yaml> [--json]`: for each component whose backups the engine takes, what
 * its backup directory (or its offsite copy) holds, the newest moment it restores, and whether that
 * is inside the RPO — the RPO watchdog's view, on demand. Exit code 1 when any component is out.
 */
export async function backupsCommand(file: string, options: { json?: boolean }): Promise<CommandResult> {
  const { plan, warnings } = await loadValidPlan(file);
  const now = new Date().toISOString();
  const points = await createBackupActivities(createAwsClients()).recoveryPointsOf({ plan, now });
  const out = points.map((p) => ({ ...p, rpoMet: p.restorable && (p.ageMinutes ?? Infinity) <= p.rpoMinutes }));
  const stderr = warnings.length ? `${warnings.join('\n')}\n` : undefined;
  const exitCode = out.every((p) => p.rpoMet) ? 0 : 1;
  if (options.json)
    return {
      stdout: `${JSON.stringify({ plan: plan.name, checkedAt: now, components: out }, null, 2)}\n`,
      stderr,
      exitCode,
    };
  const rows = [
    ['component', 'kind', 'backups', 'newest backup', 'restores up to', 'age', 'RPO', 'verdict'],
    ...out.map((p) => [
      p.component,
      p.kind,
      String(p.backups),
      p.newestBackup ?? '-',
      p.newestRecoveryPoint ?? '-',
      p.ageMinutes === undefined ? '-' : formatMinutes(p.ageMinutes),
      formatMinutes(p.rpoMinutes),
      p.rpoMet ? 'met' : p.restorable ? 'MISSED' : 'NOT RESTORABLE',
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = rows.map((r) =>
    r
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
  lines.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  const problems = out.filter((p) => p.problem).map((p) => `  ${p.component}: ${p.problem}`);
  if (out.length === 0) lines.splice(0, lines.length, `Plan ${plan.name}: no component has backups the engine takes.`);
  return {
    stdout: `${[...lines, ...(problems.length ? ['', 'Problems:', ...problems] : [])].join('\n')}\n`,
    stderr,
    exitCode,
  };
}
