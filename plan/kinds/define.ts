import { z } from 'zod';
import type { RecoveryActivities } from '../../activities';
import { backup, duration, objectives, slug } from '../schema/common';

/**
 * Recovery order by layer, used to order steps that the dependency graph leaves free: infrastructure,
 * then data, then stateful apps, then stateless apps, then traffic. Checks run where they are placed.
 */
export const TIERS = ['infrastructure', 'data', 'stateful-app', 'stateless-app', 'traffic', 'check'] as const;
export type Tier = (typeof TIERS)[number];

/** One step of a component's runbook, as an engineer would carry it out by hand. */
export interface RunbookStep {
  /** Short stable id: `restore`, `wait-available`. */
  id: string;
  /** Imperative title: "Restore the instance to the target time". */
  title: string;
  /** What the step does and why, in a sentence or two. */
  does: string;
  /** The exact command, with the plan's values filled in. */
  command: string;
  /** A command that shows the step worked; what to look for goes in a trailing `# comment`. */
  validate?: string;
  /** Commands that undo the step, when it can be undone; prose only as `# comments`. */
  rollback?: string;
  /**
   * The activity that performs this step when the engine runs the plan. A step without one is
   * manual: the engine stops there and hands it to an operator, with the command above.
   */
  automation?: StepAutomation | { coveredBy: string } | { timer: string };
}

/**
 * Names of the activities steps may use: every activity the worker registers, except the engine's
 * own. Adding a kind's activity to activities/index.ts makes it available here.
 */
export type AutomationActivity = Exclude<
  keyof RecoveryActivities,
  'notify' | 'loadRecoveryPlan' | 'simulateStep' | 'saveDrillEvidence'
>;

/**
 * An activity call that performs a step; `{ coveredBy: id }` marks a step done by another step's
 * call (earlier or later: it shows that step's outcome); `{ timer: duration }` is a durable wait in
 * the workflow itself.
 */
export interface StepAutomation {
  activity: AutomationActivity;
  /** The activity's single argument: plain JSON, never a secret (secrets are named, not given). */
  input: Record<string, unknown>;
  /**
   * `short` for calls that finish in minutes (retried quickly), `long` for waits of hours that
   * heartbeat (restores).
   */
  profile: 'short' | 'long';
  /**
   * Drills: the resources this call creates or changes (see plan/drill-guard.ts for the names);
   * `[]` for a call that only reads. The engine refuses a drill step that would write a production
   * resource of the plan, before the call.
   */
  writes?: string[];
}

/** The activity call that performs a step. */
export const automate = (
  activity: AutomationActivity,
  input: Record<string, unknown>,
  profile: StepAutomation['profile'] = 'short',
  writes?: string[],
): StepAutomation => ({ activity, input, profile, ...(writes && { writes }) });

/** Suffix of every resource a drill creates: `orders-prod` is drilled as `orders-prod-drill`. */
export const DRILL_SUFFIX = '-drill';

/** What a runbook depends on besides the component. */
export interface StepContext {
  mode: 'recover' | 'drill';
  /**
   * Point in time to restore to, as an ISO-8601 string; `latest` for the latest recovery point (the
   * request gave none); a placeholder such as `<TARGET_TIME>` in generated documents.
   */
  targetTime: string;
  /** Suffix of every resource a drill creates, so it never touches a production identifier. */
  drillSuffix: string;
}

/** Everything the engine knows about one kind of component. */
export interface KindDefinition<C extends { kind: string } = { kind: string }> {
  kind: C['kind'];
  /** For documents: "Amazon RDS DB instance". */
  title: string;
  /** Whether the component carries data: it may have `backup` and gets an RPO verdict. */
  stateful: boolean | ((component: C) => boolean);
  tier: Tier | ((component: C) => Tier);
  /** Expected recovery duration when the component gives no `estimate`. */
  defaultEstimate: string;
  schema: z.ZodType<C>;
  /** IAM actions the automated steps call, for a least-privilege policy (`recovery iam`). */
  permissions?: string[];
  /** The runbook: the steps that recover this component, in order. */
  steps(component: C, context: StepContext): RunbookStep[];
  /**
   * The component's production resources, named as in plan/drill-guard.ts (`rds:us-east-1/orders`,
   * `dir:/var/lib/mysql`, `tcp:127.0.0.1:3306`): no drill step of the plan may write one.
   */
  productionResources?(component: C): string[];
  /**
   * Drills only: the steps that remove everything the drill created, run as compensation once the
   * drill is over, also when it failed or was cancelled. Each is idempotent (removes what exists,
   * succeeds when nothing does); its title names the resource and where it is, so a teardown that
   * fails says exactly what is left.
   */
  teardown?(component: C, context: StepContext): RunbookStep[];
  /**
   * How the engine itself takes this kind's backups on the plan's schedules (absent: backups are
   * taken elsewhere, e.g. by AWS Backup). Each activity takes `{ component, type, backupId }`
   * (see backups/manifest.ts) and returns the committed backup's manifest.
   */
  backups?: {
    /** The schedule types this kind's backups can be (`log` needs `archiveLogs`); others fail validation. */
    types: readonly ('full' | 'incremental' | 'differential' | 'snapshot' | 'log')[];
    /** Takes a full, incremental or snapshot backup into the component's `backupDir`. */
    take: AutomationActivity;
    /** Archives the logs written since the last archive (`log` schedules): binlogs, WAL. */
    archiveLogs?: AutomationActivity;
    /** Restores the chain ending at `backupId` into a scratch server and validates it (`verify: restore`). */
    verifyByRestore?: AutomationActivity;
  };
}

/** Fields every component has, whatever its kind. */
const baseFields = {
  id: slug.describe('Unique id of the component, e.g. "orders-db"'),
  description: z.string().optional(),
  dependsOn: z.array(z.string()).default([]).describe('Ids of the components that must be recovered first'),
  objectives: objectives.optional().describe('Overrides the plan objectives for this component'),
  estimate: duration.optional().describe('Expected recovery duration; the kind default when absent'),
  approval: z.literal('required').optional().describe('A person approves before this component is recovered'),
};

/** Schema of a component of `kind` that carries no data (no backups, no RPO). */
export function componentSchema<K extends string, S extends z.ZodRawShape>(kind: K, settings: S) {
  return z.object({ kind: z.literal(kind), ...baseFields, ...settings }).strict();
}

/** Schema of a component of `kind` that carries data: it may list its backup schedules. */
export function dataComponentSchema<K extends string, S extends z.ZodRawShape>(kind: K, settings: S) {
  return z
    .object({
      kind: z.literal(kind),
      ...baseFields,
      backup: backup.optional().describe('Backup schedules and retention'),
      ...settings,
    })
    .strict();
}

/** Shell-quotes a value for the manual commands in runbooks. */
export function sh(value: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

/** A setting that names an environment variable holding a secret (never the secret itself). */
export const secretEnv = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, 'name an environment variable, e.g. AGAMA_DB_PASSWORD (never the secret itself)');

export const region = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'expected an AWS region such as us-east-1');
