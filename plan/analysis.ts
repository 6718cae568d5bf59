import { parseDuration } from './duration';
import { schedule, topologicalStages, withDependencies } from './graph';
import { estimateOf, isStateful, tierOf, TIERS, type Component, type ComponentKind } from './kinds';
import { explainDataLoss, formatMinutes, worstCaseDataLoss } from './rpo';
import { PLAN_DEFAULT_OBJECTIVES, type RecoveryPlan, type Scenario } from './schema/plan';

/** The RPO verdict of one data component. */
export interface RpoVerdict {
  component: string;
  objectiveMinutes: number;
  /** Null when the component has no backups: nothing to restore from. */
  worstCaseMinutes: number | null;
  compliant: boolean;
  reason: string;
}

/** When a component is expected to start and finish, in minutes from the start of the recovery. */
export interface ComponentTiming {
  component: string;
  kind: ComponentKind;
  tier: string;
  estimateMinutes: number;
  startMinute: number;
  finishMinute: number;
  rtoObjectiveMinutes: number;
  rtoMet: boolean;
  approval: boolean;
}

/** What a DR review asks of a scenario before anything runs. */
export interface ScenarioAnalysis {
  plan: string;
  scenario: string;
  mode: Scenario['mode'];
  /** Components the scenario names, plus their dependencies. */
  components: string[];
  /** Dependencies the scenario did not name but needs. */
  pulledIn: string[];
  stages: string[][];
  criticalPath: string[];
  estimatedRtoMinutes: number;
  rtoMinutes: number;
  rtoMet: boolean;
  timeline: ComponentTiming[];
  rpo: RpoVerdict[];
}

const minutes = (duration: string) => parseDuration(duration)! / 60_000;

/** The plan's scenarios; a plan without any has one, "full-restore", of every component. */
export function scenariosOf(plan: RecoveryPlan): Scenario[] {
  return plan.scenarios.length > 0
    ? plan.scenarios
    : [{ name: 'full-restore', mode: 'recover', description: 'Recover every component of the plan' }];
}

/** What to do so that a component meets its RPO, by kind. */
const RPO_REMEDY: Partial<Record<ComponentKind, (rpo: string) => string>> = {
  mysql: (rpo) => `ship binlogs every ≤${rpo}`,
  postgres: (rpo) => `archive WAL every ≤${rpo} (archive_timeout)`,
  'rds-instance': () => 'enable automated backups for point-in-time recovery',
  'dynamodb-table': () => 'enable point-in-time recovery',
  's3-bucket': () => 'enable versioning and replication',
  redis: (rpo) => `snapshot every ≤${rpo} or enable AOF`,
  'git-repo': (rpo) => `bundle the repository every ≤${rpo}`,
};

function rpoVerdict(component: Component, planRpo: string): RpoVerdict {
  const objective = component.objectives?.rpo ?? planRpo;
  const objectiveMinutes = minutes(objective);
  const schedules = 'backup' in component && component.backup ? component.backup.schedules : [];
  const loss = worstCaseDataLoss(schedules);
  if (!loss) {
    return {
      component: component.id,
      objectiveMinutes,
      worstCaseMinutes: null,
      compliant: false,
      reason: `no backup schedules: there is nothing to restore from; add backup.schedules (objective ${objective})`,
    };
  }
  const compliant = loss.worstCaseMinutes <= objectiveMinutes;
  const why = explainDataLoss(loss, schedules);
  const remedy = (RPO_REMEDY[component.kind] ?? ((rpo: string) => `back up every ≤${rpo}`))(objective);
  return {
    component: component.id,
    objectiveMinutes,
    worstCaseMinutes: Number.isFinite(loss.worstCaseMinutes) ? loss.worstCaseMinutes : null,
    compliant,
    reason: compliant ? `${why}; objective ${objective}: met` : `${why}; objective ${objective}; ${remedy} to meet it`,
  };
}

/**
 * Orders, times and judges one scenario: stages from the dependencies, the critical path through the
 * estimates against the RTO, and the worst-case data loss of each data component against its RPO.
 * Expects a plan that passed validation (no unknown ids, no cycles). Throws on an unknown scenario.
 */
export function analyzeScenario(plan: RecoveryPlan, scenarioName: string): ScenarioAnalysis {
  const scenarios = scenariosOf(plan);
  const scenario = scenarios.find((s) => s.name === scenarioName);
  if (!scenario) {
    throw new Error(
      `plan "${plan.name}" has no scenario "${scenarioName}"; its scenarios: ${scenarios.map((s) => s.name).join(', ')}`,
    );
  }
  const byId = new Map(plan.components.map((c) => [c.id, c]));
  const fullGraph = new Map(plan.components.map((c) => [c.id, c.dependsOn]));
  const named = scenario.components ?? plan.components.map((c) => c.id);
  const ids = withDependencies(named, fullGraph);
  const graph = new Map(ids.map((id) => [id, fullGraph.get(id) ?? []]));
  const rank = (id: string) => TIERS.indexOf(tierOf(byId.get(id)!));
  const order = (a: string, b: string) => rank(a) - rank(b) || a.localeCompare(b);

  const planRto = plan.objectives.rto ?? PLAN_DEFAULT_OBJECTIVES.rto;
  const planRpo = plan.objectives.rpo ?? PLAN_DEFAULT_OBJECTIVES.rpo;
  const estimate = (id: string) => minutes(estimateOf(byId.get(id)!));
  const { start, finish, criticalPath, makespan } = schedule(graph, estimate, order);
  const stages = topologicalStages(graph, order);
  const timeline = stages.flat().map((id): ComponentTiming => {
    const component = byId.get(id)!;
    const rtoObjectiveMinutes = minutes(component.objectives?.rto ?? planRto);
    return {
      component: id,
      kind: component.kind,
      tier: tierOf(component),
      estimateMinutes: estimate(id),
      startMinute: start.get(id)!,
      finishMinute: finish.get(id)!,
      rtoObjectiveMinutes,
      rtoMet: finish.get(id)! <= rtoObjectiveMinutes,
      approval: component.approval === 'required',
    };
  });
  const rtoMinutes = minutes(planRto);
  return {
    plan: plan.name,
    scenario: scenario.name,
    mode: scenario.mode,
    components: stages.flat(),
    pulledIn: ids.filter((id) => !named.includes(id)).sort(),
    stages,
    criticalPath,
    estimatedRtoMinutes: makespan,
    rtoMinutes,
    rtoMet: makespan <= rtoMinutes,
    timeline,
    rpo: stages
      .flat()
      .map((id) => byId.get(id)!)
      .filter(isStateful)
      .map((component) => rpoVerdict(component, planRpo)),
  };
}

export { formatMinutes };
