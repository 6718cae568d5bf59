/**
 * Drills of the self-hosted data stores: run a kind's teardown steps as the engine does after a
 * drill (also one that failed midway), prove nothing is left (no directory, no process on it), and
 * check that the drill guard sees a drill step writing another component's production data dir.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { drillGuardViolations } from '../../plan/drill-guard-check';
import type { Component, StepContext } from '../../plan/kinds';
import { runbooksOf, teardownOf } from '../../plan/kinds';

type Activities = Record<string, (input: never) => Promise<unknown>>;

/** Runs the teardown steps of `component`'s drill in order, through `call`; results by step id. */
export async function runTeardown(
  component: Component,
  context: StepContext,
  activities: Activities,
  call: (activity: (input: unknown) => Promise<unknown>, input: unknown) => Promise<unknown>,
): Promise<Record<string, unknown>> {
  const steps = teardownOf(component, context);
  assert.ok(steps.length > 0, `${component.kind} has teardown steps`);
  const results: Record<string, unknown> = {};
  for (const step of steps) {
    const automation = step.automation;
    assert.ok(automation && 'activity' in automation, `teardown step ${step.id} is automated`);
    assert.ok(automation.writes && automation.writes.length > 0, `teardown step ${step.id} declares what it removes`);
    const activity = activities[automation.activity] as ((input: unknown) => Promise<unknown>) | undefined;
    assert.ok(activity, `${automation.activity} is an activity of the ${component.kind} kind`);
    results[step.id] = await call(activity, JSON.parse(JSON.stringify(automation.input)));
  }
  return results;
}

/** The command lines of the live processes that name `path` in one of their arguments. */
export function processesOn(path: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let args: string[];
    try {
      if (/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))) continue;
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (args.some((arg) => arg === path || arg.includes(`${path}/`) || arg.endsWith(`=${path}`)))
      found.push(`${pid}: ${args.join(' ')}`);
  }
  return found;
}

/** Nothing of the drill left: none of `dirs` exists and no process names one of them. */
export function assertNothingLeft(dirs: string[]): void {
  for (const dir of dirs) {
    assert.deepEqual(processesOn(dir), [], `no process runs on ${dir}`);
    assert.equal(existsSync(dir), false, `${dir} is removed`);
  }
}

/**
 * The drill of `drilled` alone breaks no rule; with `victim` in the plan, a component whose
 * production data sits where `drilled`'s drill writes (`victimDir`), the guard names that write.
 */
export function assertGuardSeesDrillDir(drilled: Component, victim: Component, victimDir: string): void {
  const context: StepContext = { mode: 'drill', targetTime: 'latest', drillSuffix: '-drill' };
  const runbooks = runbooksOf([drilled], context);
  assert.deepEqual(drillGuardViolations([drilled], runbooks), [], 'the drill writes no production resource');
  for (const step of [...runbooks[drilled.id]!.steps, ...runbooks[drilled.id]!.teardown])
    if (step.automation && 'activity' in step.automation)
      assert.ok(step.automation.writes, `drill step ${step.id} declares what it writes`);
  const violations = drillGuardViolations([drilled, victim], runbooks);
  assert.ok(violations.length > 0, `the guard reports a drill step writing ${victimDir}`);
  for (const v of violations) {
    assert.equal(v.component, drilled.id);
    assert.equal(v.production?.component, victim.id);
  }
  assert.ok(
    violations.some((v) => v.writes === `dir:${victimDir}`),
    `a drill step writes dir:${victimDir}: ${JSON.stringify(violations)}`,
  );
}
