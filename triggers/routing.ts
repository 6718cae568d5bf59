import type { RecoveryPlan, Trigger } from '../plan/schema/plan';
import type { ReceivedAlert } from './alert';

/** Whether every `match` entry equals the alert's label of that name (exact strings). */
export const triggerMatches = (trigger: Trigger, alert: ReceivedAlert): boolean =>
  trigger.source === alert.source &&
  Object.entries(trigger.match).every(
    ([label, value]) => Object.hasOwn(alert.labels, label) && alert.labels[label] === value,
  );

/**
 * The scenarios an alert starts: one entry per plan and scenario whose triggers match, in plan and
 * trigger order. Two triggers of a plan naming the same scenario give one entry, held for approval
 * if either asks for it. An empty list means unmatched: log and count it, it is not an error.
 */
export function routeAlert(plans: RecoveryPlan[], alert: ReceivedAlert): { plan: RecoveryPlan; trigger: Trigger }[] {
  const routes: { plan: RecoveryPlan; trigger: Trigger }[] = [];
  for (const plan of plans) {
    for (const trigger of plan.triggers) {
      if (!triggerMatches(trigger, alert)) continue;
      const same = routes.find((route) => route.plan === plan && route.trigger.scenario === trigger.scenario);
      if (!same) routes.push({ plan, trigger });
      else if (trigger.requireApproval && !same.trigger.requireApproval) same.trigger = trigger;
    }
  }
  return routes;
}

const safe = (name: string) => name.replace(/[^A-Za-z0-9._-]/g, '-');

/**
 * The workflow id of the recovery alerts start: `alert-<plan>-<scenario>`. One id per plan and
 * scenario, whatever the incident or its firing period: the start of a firing period moves (an
 * Alertmanager group's earliest alert resolves, a CloudWatch alarm goes through INSUFFICIENT_DATA),
 * and a second recovery of the same scenario while the first runs is what must never happen.
 * Alerts of other incidents are recorded in the running one. `plan` is its name (or the plan).
 */
export function recoveryIdOf(plan: string | { name: string }, scenario: string): string {
  const planName = typeof plan === 'string' ? plan : plan.name;
  return `alert-${safe(planName)}-${safe(scenario)}`;
}
