import { ApplicationFailure } from '@temporalio/common';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { analyzeScenario, scenariosOf } from '../plan/analysis';
import { DRILL_SUFFIX, runbooksOf, type ComponentRunbook } from '../plan/kinds';
import { formatIssue } from '../plan/issues';
import { loadPlanObject, type LoadResult } from '../plan/load';
import { loadPlanFile } from '../plan/load-file';
import type { RecoveryPlan } from '../plan/schema/plan';

export interface LoadRecoveryPlanInput {
  /** A plan name (the file `<plansDir>/<name>.yaml`) or a whole plan object. */
  plan: string | Record<string, unknown>;
  scenario: string;
  /** Run the scenario as a drill whatever its mode. */
  drill?: boolean;
  /** The request's target time; `latest` when absent. */
  targetTime?: string;
}

export interface LoadedRecoveryPlan {
  plan: RecoveryPlan;
  warnings: string[];
  /** The runbook (and drill teardown) of each component of the scenario, recorded in the history. */
  runbooks: Record<string, ComponentRunbook>;
}

export function createPlanActivities(plansDir: string) {
  async function fromDirectory(name: string): Promise<LoadResult> {
    if (!/^[a-z0-9]+(?:-[a-z0-9]+)*$/.test(name)) {
      throw ApplicationFailure.nonRetryable(
        `plan: "${name}" is not a plan name (lowercase letters, digits, dashes)`,
        'InvalidPlan',
      );
    }
    const files = await readdir(plansDir).catch(() => [] as string[]);
    const file = files.find((f) => f === `${name}.yaml` || f === `${name}.yml`);
    if (!file) {
      const known = files
        .filter((f) => /\.ya?ml$/.test(f))
        .map((f) => f.replace(/\.ya?ml$/, ''))
        .sort();
      throw ApplicationFailure.nonRetryable(
        `plan: no plan "${name}" in the worker's plans directory ${plansDir} (plans there: ${known.join(', ') || 'none'})`,
        'InvalidPlan',
      );
    }
    return loadPlanFile(join(plansDir, file));
  }

  return {
    /** Loads a plan by name from the plans directory; invalid plans fail naming every problem. */
    async loadNamedPlan(name: string): Promise<RecoveryPlan> {
      const result = await fromDirectory(name);
      if (!result.plan)
        throw ApplicationFailure.nonRetryable(
          `the plan is invalid:\n${result.errors.map(formatIssue).join('\n')}`,
          'InvalidPlan',
        );
      return result.plan;
    },

    /**
     * Loads and validates the plan of a recovery, by name from the worker's plans directory or
     * inline, and checks the scenario exists. Anything wrong fails at once, naming every problem:
     * retrying cannot fix a plan.
     */
    async loadRecoveryPlan({ plan, scenario, drill, targetTime }: LoadRecoveryPlanInput): Promise<LoadedRecoveryPlan> {
      const result = typeof plan === 'string' ? await fromDirectory(plan) : loadPlanObject(plan);
      if (!result.plan) {
        throw ApplicationFailure.nonRetryable(
          `the plan is invalid:\n${result.errors.map(formatIssue).join('\n')}`,
          'InvalidPlan',
        );
      }
      const names = scenariosOf(result.plan).map((s) => s.name);
      if (!names.includes(scenario)) {
        throw ApplicationFailure.nonRetryable(
          `scenario: plan "${result.plan.name}" has no scenario "${scenario}" (use one of ${names.join(', ')})`,
          'InvalidPlan',
        );
      }
      const analysis = analyzeScenario(result.plan, scenario);
      const byId = new Map(result.plan.components.map((c) => [c.id, c]));
      const runbooks = runbooksOf(
        analysis.components.map((id) => byId.get(id)!),
        { mode: drill ? 'drill' : analysis.mode, targetTime: targetTime ?? 'latest', drillSuffix: DRILL_SUFFIX },
      );
      return { plan: result.plan, warnings: result.warnings.map(formatIssue), runbooks };
    },
  };
}
