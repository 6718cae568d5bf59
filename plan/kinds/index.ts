import { z } from 'zod';
import * as autoScalingGroup from './autoscaling-group';
import * as cloudFormationStack from './cloudformation-stack';
import * as command from './command';
import * as dynamoDbTable from './dynamodb-table';
import * as ecsService from './ecs-service';
import * as gitRepo from './git-repo';
import * as httpCheck from './http-check';
import * as influxDb from './influxdb';
import * as mysql from './mysql';
import * as postgres from './postgres';
import * as rdsInstance from './rds-instance';
import * as redis from './redis';
import * as route53Failover from './route53-failover';
import * as s3Bucket from './s3-bucket';
import * as terraform from './terraform';
import * as wait from './wait';
import { automate, sh, type KindDefinition, type RunbookStep, type StepContext, type Tier } from './define';

export type { KindDefinition, RunbookStep, StepContext, Tier } from './define';
export { DRILL_SUFFIX, TIERS } from './define';

/** Every kind a plan may use. A new kind is one file in this folder plus a line here. */
export const componentSchema = z.discriminatedUnion('kind', [
  rdsInstance.schema,
  dynamoDbTable.schema,
  s3Bucket.schema,
  ecsService.schema,
  cloudFormationStack.schema,
  autoScalingGroup.schema,
  route53Failover.schema,
  terraform.schema,
  mysql.schema,
  postgres.schema,
  redis.schema,
  influxDb.schema,
  gitRepo.schema,
  httpCheck.schema,
  command.schema,
  wait.schema,
]);

export type Component = z.infer<typeof componentSchema>;
export type ComponentKind = Component['kind'];

const KINDS = [
  rdsInstance.rdsInstanceKind,
  dynamoDbTable.dynamoDbTableKind,
  s3Bucket.s3BucketKind,
  ecsService.ecsServiceKind,
  cloudFormationStack.cloudFormationStackKind,
  autoScalingGroup.autoScalingGroupKind,
  route53Failover.route53FailoverKind,
  terraform.terraformKind,
  mysql.mysqlKind,
  postgres.postgresKind,
  redis.redisKind,
  influxDb.influxDbKind,
  gitRepo.gitRepoKind,
  httpCheck.httpCheckKind,
  command.commandKind,
  wait.waitKind,
] as unknown as KindDefinition[];

export const KIND_NAMES = KINDS.map((kind) => kind.kind) as ComponentKind[];

/** The definition of `component`'s kind. */
export function kindOf<C extends Component>(component: C): KindDefinition<C> {
  const kind = KINDS.find((k) => k.kind === component.kind);
  if (!kind) throw new Error(`unknown component kind "${component.kind}"`);
  return kind as unknown as KindDefinition<C>;
}

export function isStateful(component: Component): boolean {
  const { stateful } = kindOf(component);
  return typeof stateful === 'function' ? stateful(component) : stateful;
}

export function tierOf(component: Component): Tier {
  const { tier } = kindOf(component);
  return typeof tier === 'function' ? tier(component) : tier;
}

/**
 * The steps that recover `component`: its kind's runbook, preceded, for a component whose backups
 * the engine copies offsite, by fetching from the offsite copy whatever the restore needs that the
 * local backup directory lacks (the machine that held it may be the one that is gone).
 */
export function runbookOf(component: Component, context: StepContext): RunbookStep[] {
  const kind = kindOf(component);
  const steps = kind.steps(component, context);
  const offsite = 'backup' in component ? component.backup?.offsite?.s3 : undefined;
  if (!offsite || !kind.backups || !('backupDir' in component)) return steps;
  const source = `s3://${offsite.bucket}/${[offsite.prefix.replace(/\/+$/, ''), component.id].filter(Boolean).join('/')}/`;
  const region = offsite.region ? ` --region ${offsite.region}` : '';
  return [
    {
      id: 'fetch-offsite',
      title: 'Fetch the backups the restore needs from the offsite copy',
      does: `Only the backups of the chain for ${context.targetTime} that ${component.backupDir} lacks are downloaded from ${source}, each checked against its manifest; with all of them present, nothing is fetched.`,
      command: `aws s3 sync${region} ${source} ${sh(component.backupDir)}/`,
      validate: `ls ${sh(component.backupDir)}   # one folder per backup, each with its manifest.json`,
      automation: automate('fetchOffsiteBackups', { component, targetTime: context.targetTime }, 'long'),
    },
    ...steps,
  ];
}

/** The component's `estimate`, or its kind's default. */
export function estimateOf(component: Component): string {
  return component.estimate ?? kindOf(component).defaultEstimate;
}

/** Drills: the steps that remove what the drill of `component` created (none in a recovery). */
export function teardownOf(component: Component, context: StepContext): RunbookStep[] {
  return context.mode === 'drill' ? (kindOf(component).teardown?.(component, context) ?? []) : [];
}

/** The production resources of `component` that no drill step may write. */
export function productionResourcesOf(component: Component): string[] {
  return kindOf(component).productionResources?.(component) ?? [];
}

/** What the engine runs for one component: its runbook, and (drills) its teardown. */
export interface ComponentRunbook {
  steps: RunbookStep[];
  teardown: RunbookStep[];
}

/**
 * The runbooks of `components` in `context`. A recovery gets them from an activity, so they are
 * recorded in its history: a worker running newer kind code replays an older recovery unchanged.
 */
export function runbooksOf(components: Component[], context: StepContext): Record<string, ComponentRunbook> {
  return Object.fromEntries(
    components.map((c) => [c.id, { steps: runbookOf(c, context), teardown: teardownOf(c, context) }]),
  );
}
