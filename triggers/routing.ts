import type { RecoveryPlan, Trigger } from '../plan/schema/plan';
import type { ReceivedAlert } from './alert';
import { shortHash } from './parse';

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

/** `20240501T100002Z`: an instant to the second, with nothing a workflow id should not contain. */
function compactUtc(iso: string): string {
  const time = Date.parse(iso);
  const text = Number.isNaN(time) ? iso : new Date(time).toISOString();
  return text.replace(/\.\d+Z$/, 'Z').replace(/[^0-9TZ]/g, '');
}

const safe = (name: string) => name.replace(/[^A-Za-z0-9._-]/g, '-');

/**
 * The workflow id of the recovery an alert starts: `alert-<plan>-<scenario>-<hash>-<start>`. Every
 * repeat of one incident's firing period gives the same id (started with USE_EXISTING, repeats
 * become signals); another incident or a later firing period of the same one, another id. The
 * incident key is hashed: it may be long or name accounts and hosts. `plan` is its name (or the plan).
 */
export function recoveryIdOf(plan: string | { name: string }, scenario: string, alert: ReceivedAlert): string {
  const planName = typeof plan === 'string' ? plan : plan.name;
  return `alert-${safe(planName)}-${safe(scenario)}-${shortHash(alert.incidentKey)}-${compactUtc(alert.startsAt)}`;
}
