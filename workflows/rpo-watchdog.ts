import { proxyActivities } from '@temporalio/workflow';
import type { RecoveryActivities } from '../activities';
import type { ComponentBackups } from '../activities/backups';
import { formatMinutes } from '../plan/rpo';

const quick = proxyActivities<RecoveryActivities>({
  startToCloseTimeout: '5m',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1m', maximumAttempts: 5 },
});

export interface RpoWatchdogReport {
  plan: string;
  checkedAt: string;
  components: (ComponentBackups & { breached: boolean })[];
}

/**
 * Run on a schedule: compares each backed-up component's newest recovery point with its RPO and
 * tells the plan's contacts when a failure now would lose more data than the RPO allows, or when
 * the backups no longer restore (a broken chain).
 */
export async function rpoWatchdogWorkflow({ plan: name }: { plan: string }): Promise<RpoWatchdogReport> {
  const plan = await quick.loadNamedPlan(name);
  const checkedAt = new Date().toISOString();
  const points = await quick.recoveryPointsOf({ plan, now: checkedAt });
  const components = points.map((p) => ({
    ...p,
    breached: !p.restorable || (p.ageMinutes ?? Infinity) > p.rpoMinutes,
  }));
  const breached = components.filter((c) => c.breached);
  if (breached.length > 0)
    await quick.notify({
      recoveryId: `rpo-watchdog-${plan.name}`,
      plan: plan.name,
      scenario: 'rpo watchdog',
      event: 'rpo-breached',
      severity: 'critical',
      message: breached
        .map((c) =>
          c.restorable
            ? `${c.component}: newest recovery point ${c.newestRecoveryPoint} is ${formatMinutes(c.ageMinutes!)} old, over its ${formatMinutes(c.rpoMinutes)} RPO`
            : `${c.component}: cannot be restored from its backups: ${c.problem}`,
        )
        .join('; '),
      contacts: plan.contacts.slice(0, 1),
    });
  return { plan: plan.name, checkedAt, components };
}
