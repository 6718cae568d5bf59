import { productionResourcesOf, runbookOf, teardownOf, type Component, type StepContext } from './kinds';

/**
 * The drill guard: a drill restores into copies and must never write a production resource of
 * its plan. Kinds name the production resources of a component and the resources each drill step
 * writes in one vocabulary, and the engine refuses the drill before any call when they meet:
 *
 *   rds:us-east-1/orders-prod          an AWS resource: service, region, name (`s3:bucket/prefix`)
 *   dir:/var/lib/mysql                 a directory on the worker, and everything under it
 *   tcp:127.0.0.1:3306                 a listening port
 */
export const resource = {
  aws: (service: string, region: string, ...names: string[]) => `${service}:${region}/${names.join('/')}`,
  s3: (bucket: string, prefix = '') => `s3:${[bucket, prefix.replace(/^\/+|\/+$/g, '')].filter(Boolean).join('/')}`,
  dir: (path: string) => `dir:${normalizePath(path)}`,
  tcp: (host: string, port: number) => `tcp:${LOOPBACK.has(host) ? '127.0.0.1' : host}:${port}`,
};

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);

function normalizePath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/** Whether writing `written` touches `production`: the same resource, or one inside the other (folders, S3 prefixes). */
export function overlaps(written: string, production: string): boolean {
  if (written === production) return true;
  // `dir:/` is the root: everything is inside it.
  const nested = (inner: string, outer: string) => inner.startsWith(outer.endsWith('/') ? outer : `${outer}/`);
  if (written.startsWith('dir:') || written.startsWith('s3:'))
    return nested(written, production) || nested(production, written);
  if (written.startsWith('tcp:') && production.startsWith('tcp:')) {
    const [, wHost, wPort] = written.split(':');
    const [, pHost, pPort] = production.split(':');
    return wPort === pPort && (wHost === '0.0.0.0' || pHost === '0.0.0.0');
  }
  return false;
}

export interface DrillGuardViolation {
  component: string;
  step: string;
  writes: string;
  production: { component: string; resource: string };
}

/**
 * Every drill step of `scenarioComponents` (runbook and teardown) that would write a production
 * resource of any component of the plan. Empty outside drills.
 */
export function drillGuardViolations(
  planComponents: Component[],
  scenarioComponents: Component[],
  context: StepContext,
): DrillGuardViolation[] {
  if (context.mode !== 'drill') return [];
  const production = planComponents.flatMap((c) =>
    productionResourcesOf(c).map((r) => ({ component: c.id, resource: r })),
  );
  const violations: DrillGuardViolation[] = [];
  for (const component of scenarioComponents) {
    for (const step of [...runbookOf(component, context), ...teardownOf(component, context)]) {
      const automation = step.automation;
      if (!automation || !('activity' in automation)) continue;
      for (const written of automation.writes ?? []) {
        const hit = production.find((p) => overlaps(written, p.resource));
        if (hit) violations.push({ component: component.id, step: step.id, writes: written, production: hit });
      }
    }
  }
  return violations;
}

/** One line per violation, naming the step, the resource and whose production resource it is. */
export function describeViolation(v: DrillGuardViolation): string {
  return `${v.component}: drill step "${v.step}" would write ${v.writes}, a production resource (of ${v.production.component}: ${v.production.resource})`;
}
