import { analyzeScenario } from './analysis';
import { overlaps } from './drill-guard';
import type { Finding } from './issues';
import { DRILL_SUFFIX, productionResourcesOf, runbooksOf, type Component, type ComponentRunbook } from './kinds';
import type { RecoveryPlan } from './schema/plan';

export interface DrillGuardViolation {
  component: string;
  step: string;
  /** The resource written; absent when the step does not say what it writes (refused too). */
  writes?: string;
  production?: { component: string; resource: string };
}

/**
 * Every step of a drill's `runbooks` (steps and teardown, by component id) that would write a
 * production resource of any component of the plan, or that does not say what it writes.
 */
export function drillGuardViolations(
  planComponents: Component[],
  runbooks: Record<string, ComponentRunbook>,
): DrillGuardViolation[] {
  const production = planComponents.flatMap((c) =>
    productionResourcesOf(c).map((r) => ({ component: c.id, resource: r })),
  );
  const violations: DrillGuardViolation[] = [];
  for (const [component, { steps, teardown }] of Object.entries(runbooks)) {
    for (const step of [...steps, ...teardown]) {
      const automation = step.automation;
      if (!automation || !('activity' in automation)) continue;
      if (!automation.writes) violations.push({ component, step: step.id });
      for (const written of automation.writes ?? []) {
        const hit = production.find((p) => overlaps(written, p.resource));
        if (hit) violations.push({ component, step: step.id, writes: written, production: hit });
      }
    }
  }
  return violations;
}

/** One line per violation, naming the step, the resource and whose production resource it is. */
export function describeViolation(v: DrillGuardViolation): string {
  if (!v.production)
    return `${v.component}: drill step "${v.step}" does not say what it writes, so it cannot be checked`;
  return `${v.component}: drill step "${v.step}" would write ${v.writes}, a production resource (of ${v.production.component}: ${v.production.resource})`;
}

/** The guard at validation: each drill scenario whose steps would write production, as errors on the scenario. */
export function drillGuardFindings(plan: RecoveryPlan): Finding[] {
  return (plan.scenarios ?? []).flatMap((scenario, index): Finding[] => {
    if (scenario.mode !== 'drill') return [];
    const byId = new Map(plan.components.map((c) => [c.id, c]));
    const components = analyzeScenario(plan, scenario.name).components.map((id) => byId.get(id)!);
    const runbooks = runbooksOf(components, { mode: 'drill', targetTime: 'latest', drillSuffix: DRILL_SUFFIX });
    return drillGuardViolations(plan.components, runbooks).map((v) => ({
      severity: 'error',
      path: ['scenarios', index],
      message: `drill guard: ${describeViolation(v)}`,
    }));
  });
}
