import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
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
  components: (ComponentBackups & { breached: boolean; notifiedAt?: string })[];
}

/** A breach that lasts is told again this often, not at every run of the schedule. */
const REMIND_AFTER_MS = 4 * 60 * 60_000;

/**
 * Run on a schedule: compares each backed-up component's newest recovery point with its RPO and
 * tells the plan's contacts when a failure now would lose more data than the RPO allows, or when
 * the backups no longer restore (a broken chain). A breach is told when it starts, then every four
 * hours while it lasts (the previous run's result says what was told when), not every run.
 */
export async function rpoWatchdogWorkflow({ plan: name }: { plan: string }): Promise<RpoWatchdogReport> {
  const plan = await quick.loadNamedPlan(name);
  const checkedAt = new Date().toISOString();
  const points = await quick.recoveryPointsOf({ plan, now: checkedAt });
  const previous = (workflowInfo().lastResult as RpoWatchdogReport | undefined)?.components ?? [];
  const dedupe = patched('rpo-watchdog-dedupe');
  const components = points.map((p): RpoWatchdogReport['components'][number] => {
    const breached = !p.restorable || (p.ageMinutes ?? Infinity) > p.rpoMinutes;
    const told = previous.find((c) => c.component === p.component && c.breached)?.notifiedAt;
    const fresh = told !== undefined && Date.parse(checkedAt) - Date.parse(told) < REMIND_AFTER_MS;
    return { ...p, breached, ...(breached && { notifiedAt: dedupe && fresh ? told : checkedAt }) };
  });
  const breached = components.filter((c) => c.breached && c.notifiedAt === checkedAt);
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
