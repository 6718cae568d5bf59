/**
 * The least-privilege IAM policy of the worker that recovers a plan (or one of its scenarios): the
 * `permissions` of the kinds of the components involved, one statement per service prefix, with
 * Resource narrowed to ARNs built from the plan where the kind's resources are known and every
 * action of the service is authorized against them. Pure code.
 */
import { analyzeScenario, scenariosOf } from './analysis';
import { DRILL_SUFFIX, kindOf, type Component } from './kinds';
import type { DynamoDbTableComponent } from './kinds/dynamodb-table';
import type { EcsServiceComponent } from './kinds/ecs-service';
import type { Route53FailoverComponent } from './kinds/route53-failover';
import type { S3BucketComponent } from './kinds/s3-bucket';
import type { RecoveryPlan, Scenario } from './schema/plan';

export type Mode = Scenario['mode'];

/**
 * Suffix of the copies a drill creates. The engine's (workflows/recovery.ts) and the runbooks'
 * (plan/docs/runbook.ts) are `-drill` too; a test keeps them equal.
 */

export interface IamStatement {
  Sid: string;
  Effect: 'Allow';
  Action: string[];
  Resource: '*' | string[];
}

export interface IamPolicyDocument {
  Version: '2012-10-17';
  Statement: IamStatement[];
}

/** What one statement covers, and why its Resource is what it is. */
export interface ServiceCoverage {
  /** Service prefix: `dynamodb`. */
  service: string;
  sid: string;
  /** The components whose kinds contribute the actions. */
  components: string[];
  /** False when Resource stays `*`. */
  narrowed: boolean;
  /** Why Resource is `*`, or what the ARNs are. */
  why: string;
}

export interface IamPolicyReport {
  plan: string;
  /** The scenarios covered, each with its mode (drills touch `-drill` copies). */
  scenarios: { name: string; mode: Mode }[];
  policy: IamPolicyDocument;
  services: ServiceCoverage[];
  /** Components involved whose kinds call no AWS API. */
  withoutPermissions: { component: string; kind: string }[];
}

export interface IamPolicyOptions {
  /** One scenario; all of them when absent. The caller checks that it exists. */
  scenario?: string;
  /** The kind's permissions; for tests of kinds whose permissions change. */
  permissionsOf?: (component: Component) => readonly string[] | undefined;
}

/** Resources of one component for the actions of its kind, or why they cannot be narrowed. */
type Narrowing = { arns: string[]; what: string } | { anyResource: string; code: string };

/** How to narrow the actions of one kind: the actions it knows, and the ARNs of a component. */
interface KindResources {
  /** Actions whose resources are exactly the ARNs `arns` returns. */
  actions: ReadonlySet<string>;
  /** Actions that are only authorized against `*` (no resource-level permissions). */
  anyResourceActions?: ReadonlyMap<string, { code: string; why: string }>;
  /** The ARNs, what they are in words, and the names from the plan they are built from. */
  arns(component: Component, modes: ReadonlySet<Mode>): { arns: string[]; what: string; names: string[] };
}

/** ARN wildcards and policy variables: a prefix containing them cannot be put in an ARN as is. */
const UNSAFE_IN_ARN = /[*?$]/;
/** What a name from the plan may hold to be put in an ARN (no wildcards, no policy variables). */
const SAFE_NAME = /^[A-Za-z0-9_.:/-]+$/;

const dynamodb: KindResources = {
  actions: new Set([
    'dynamodb:DescribeBackup',
    'dynamodb:RestoreTableFromBackup',
    'dynamodb:RestoreTableToPointInTime',
    'dynamodb:DescribeTable',
    'dynamodb:Scan',
    'dynamodb:PutItem',
    'dynamodb:UpdateItem',
    'dynamodb:DeleteItem',
    'dynamodb:GetItem',
    'dynamodb:Query',
    'dynamodb:BatchWriteItem',
  ]),
  arns(component, modes) {
    const c = component as DynamoDbTableComponent;
    const table = (name: string) => `arn:aws:dynamodb:${c.region}:*:table/${name}`;
    const targets = [
      ...(modes.has('recover') ? [c.targetTableName ?? `${c.tableName}-restored`] : []),
      ...(modes.has('drill') ? [`${c.tableName}${DRILL_SUFFIX}`] : []),
    ];
    const backups =
      c.restoreFrom === 'backup' ? [c.backupArn ?? `arn:aws:dynamodb:${c.region}:*:table/${c.tableName}/backup/*`] : [];
    return {
      arns: [table(c.tableName), ...targets.map(table), ...backups],
      what: `table ${c.tableName} (${c.region}), the tables restored into (${targets.join(', ')})${backups.length ? ' and its backups' : ''}`,
      names: [c.tableName, ...targets, ...(c.backupArn && c.restoreFrom === 'backup' ? [c.backupArn] : [])],
    };
  },
};

const s3: KindResources = {
  actions: new Set([
    's3:GetBucketVersioning',
    's3:ListBucket',
    's3:ListBucketVersions',
    's3:GetObjectVersion',
    's3:GetObjectVersionTagging',
    's3:PutObject',
    's3:PutObjectTagging',
    's3:DeleteObject',
    's3:CreateBucket',
    's3:PutBucketVersioning',
  ]),
  arns(component, modes) {
    const c = component as S3BucketComponent;
    // S3 ARNs have neither region nor account: bucket names are global.
    const objects = c.prefix && !UNSAFE_IN_ARN.test(c.prefix) ? `${c.prefix}*` : '*';
    const buckets = [
      c.bucket,
      ...(c.replica ? [c.replica.bucket] : []),
      ...(modes.has('drill') ? [`${c.bucket}${DRILL_SUFFIX}`] : []),
    ];
    return {
      arns: buckets.flatMap((bucket) => [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/${objects}`]),
      what: `buckets ${buckets.join(', ')} and their objects${objects === '*' ? '' : ` under ${c.prefix}`}`,
      names: buckets,
    };
  },
};

const route53: KindResources = {
  actions: new Set([
    'route53:ListResourceRecordSets',
    'route53:ChangeResourceRecordSets',
    'route53:GetHealthCheckStatus',
    'route53:GetChange',
  ]),
  arns(component) {
    const c = component as Route53FailoverComponent;
    const checks = [c.primary.healthCheckId, c.secondary.healthCheckId].filter((id): id is string => !!id);
    // Route 53 is global: no region, no account. Change ids are only known once a change is sent.
    return {
      arns: [
        `arn:aws:route53:::hostedzone/${c.hostedZoneId}`,
        ...checks.map((id) => `arn:aws:route53:::healthcheck/${id}`),
        'arn:aws:route53:::change/*',
      ],
      what: `hosted zone ${c.hostedZoneId}${checks.length ? `, health checks ${checks.join(', ')}` : ''} and the changes it sends`,
      names: [c.hostedZoneId, ...checks],
    };
  },
};

const ecs: KindResources = {
  actions: new Set([
    'ecs:DescribeServices',
    'ecs:UpdateService',
    'ecs:CreateService',
    'ecs:TagResource',
    'ecs:ListTagsForResource',
  ]),
  anyResourceActions: new Map([
    [
      'ecs:DescribeTaskDefinition',
      {
        code: 'DescribeTaskDefinitionHasNoResourceLevelPermissions',
        why: 'ecs:DescribeTaskDefinition supports no resource-level permissions',
      },
    ],
  ]),
  arns(component, modes) {
    const c = component as EcsServiceComponent;
    const cluster = /^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:cluster\/(.+)$/.exec(c.cluster)?.[1] ?? c.cluster;
    const services = [c.service, ...(modes.has('drill') ? [`${c.service}${DRILL_SUFFIX}`] : [])];
    // Both ARN formats: services created before the long ARN format have no cluster in theirs.
    return {
      arns: services.flatMap((service) => [
        `arn:aws:ecs:${c.region}:*:service/${cluster}/${service}`,
        `arn:aws:ecs:${c.region}:*:service/${service}`,
      ]),
      what: `services ${services.join(', ')} of cluster ${cluster} (${c.region})`,
      names: [cluster, ...services],
    };
  },
};

/** Kinds whose resources are known from the plan; a kind missing here keeps `*`. */
const KIND_RESOURCES: Partial<Record<Component['kind'], KindResources>> = {
  'dynamodb-table': dynamodb,
  's3-bucket': s3,
  'route53-failover': route53,
  'ecs-service': ecs,
};

/** Kinds whose resources are known but deliberately not narrowed, and why. */
const NOT_NARROWED: Partial<Record<Component['kind'], { code: string; why: string }>> = {
  'rds-instance': {
    code: 'RestoreAlsoAuthorizesGroupsAndBackupsNotInPlan',
    why: 'rds:RestoreDBInstanceToPointInTime is also authorized against the subnet, option and parameter groups and the automated backups (by resource id), which the plan does not all name',
  },
};

/**
 * Actions only a drill's teardown calls: granted only when a drill scenario is covered, and only on
 * the drill copies (`-drill`), never on a production name, in a statement of their own.
 */
const DRILL_TEARDOWN_ACTIONS = new Set([
  'rds:DeleteDBInstance',
  'dynamodb:DeleteTable',
  's3:DeleteObjectVersion',
  's3:DeleteBucket',
  'ecs:DeleteService',
]);

/** The ARNs of what the drill of `component` creates, which its teardown deletes. */
function drillCopyArns(component: Component): string[] | undefined {
  const drill = (name: string) => `${name}${DRILL_SUFFIX}`;
  switch (component.kind) {
    case 'rds-instance':
      return [`arn:aws:rds:${component.region}:*:db:${drill(component.instanceId)}`];
    case 'dynamodb-table':
      return [`arn:aws:dynamodb:${component.region}:*:table/${drill(component.tableName)}`];
    case 's3-bucket':
      return [`arn:aws:s3:::${drill(component.bucket)}`, `arn:aws:s3:::${drill(component.bucket)}/*`];
    case 'ecs-service': {
      const cluster =
        /^arn:aws[a-z-]*:ecs:[^:]*:[^:]*:cluster\/(.+)$/.exec(component.cluster)?.[1] ?? component.cluster;
      return [
        `arn:aws:ecs:${component.region}:*:service/${cluster}/${drill(component.service)}`,
        `arn:aws:ecs:${component.region}:*:service/${drill(component.service)}`,
      ];
    }
    default:
      return undefined;
  }
}

const serviceOf = (action: string) => action.split(':')[0]!;
const pascal = (text: string) =>
  text
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((word) => word[0]!.toUpperCase() + word.slice(1))
    .join('');
const sorted = (values: Iterable<string>) => [...new Set(values)].sort();

/** `a, b: text; c: other text`: components that share a text are named together. */
function grouped(entries: [component: string, text: string][]): string {
  const byText = new Map<string, string[]>();
  for (const [component, text] of entries) byText.set(text, [...(byText.get(text) ?? []), component]);
  return [...byText].map(([text, ids]) => `${ids.join(', ')}: ${text}`).join('; ');
}

/** How the actions of `service` that `component` needs are narrowed. */
function narrowing(component: Component, actions: string[], modes: ReadonlySet<Mode>): Narrowing {
  const deliberate = NOT_NARROWED[component.kind];
  if (deliberate) return { anyResource: deliberate.why, code: deliberate.code };
  const known = KIND_RESOURCES[component.kind];
  if (!known) return { anyResource: `no resource mapping for kind ${component.kind}`, code: 'NoResourceMapping' };
  for (const action of actions) {
    const any = known.anyResourceActions?.get(action);
    if (any) return { anyResource: any.why, code: any.code };
  }
  const unknown = actions.filter((action) => !known.actions.has(action));
  if (unknown.length)
    return {
      anyResource: `no resource mapping for ${unknown.join(', ')} (kind ${component.kind})`,
      code: 'UnmappedActions',
    };
  const { arns, what, names } = known.arns(component, modes);
  const unsafe = names.filter((name) => !SAFE_NAME.test(name));
  if (unsafe.length)
    return {
      anyResource: `names with characters that do not belong in an ARN: ${unsafe.map((n) => JSON.stringify(n)).join(', ')}`,
      code: 'UnusualNames',
    };
  return { arns, what };
}

/** The components of each scenario covered, with the modes they run in. */
function involved(plan: RecoveryPlan, scenario: string | undefined) {
  const scenarios = scenariosOf(plan).filter((s) => scenario === undefined || s.name === scenario);
  const modes = new Map<string, Set<Mode>>();
  for (const s of scenarios)
    for (const id of analyzeScenario(plan, s.name).components) {
      if (!modes.has(id)) modes.set(id, new Set());
      modes.get(id)!.add(s.mode);
    }
  // Plan order, so that output is stable.
  const components = plan.components.filter((c) => modes.has(c.id));
  return { scenarios: scenarios.map((s) => ({ name: s.name, mode: s.mode })), components, modes };
}

/** The least-privilege policy of the worker for `plan` (every scenario, or `options.scenario`). */
export function iamPolicyOf(plan: RecoveryPlan, options: IamPolicyOptions = {}): IamPolicyReport {
  const allPermissionsOf = options.permissionsOf ?? ((c: Component) => kindOf(c).permissions);
  const { scenarios, components, modes } = involved(plan, options.scenario);
  const permissionsOf = (c: Component) => allPermissionsOf(c)?.filter((a) => !DRILL_TEARDOWN_ACTIONS.has(a));

  const byService = new Map<string, { actions: Set<string>; components: Component[] }>();
  const withoutPermissions: IamPolicyReport['withoutPermissions'] = [];
  for (const component of components) {
    const permissions = permissionsOf(component) ?? [];
    if (permissions.length === 0) withoutPermissions.push({ component: component.id, kind: component.kind });
    for (const action of permissions) {
      const service = serviceOf(action);
      if (!byService.has(service)) byService.set(service, { actions: new Set(), components: [] });
      const entry = byService.get(service)!;
      entry.actions.add(action);
      if (!entry.components.includes(component)) entry.components.push(component);
    }
  }

  const statements: IamStatement[] = [];
  const services: ServiceCoverage[] = [];
  for (const service of sorted(byService.keys())) {
    const { actions, components: users } = byService.get(service)!;
    const narrowings = users.map((component) => ({
      component,
      result: narrowing(
        component,
        (permissionsOf(component) ?? []).filter((action) => serviceOf(action) === service),
        modes.get(component.id)!,
      ),
    }));
    const blocked = narrowings.filter(
      (n): n is { component: Component; result: { anyResource: string; code: string } } => 'anyResource' in n.result,
    );
    const ids = users.map((c) => c.id);
    if (blocked.length) {
      const sid = `${pascal(service)}AnyResource${blocked[0]!.result.code}`;
      statements.push({ Sid: sid, Effect: 'Allow', Action: sorted(actions), Resource: '*' });
      services.push({
        service,
        sid,
        components: ids,
        narrowed: false,
        why: grouped(blocked.map((b) => [b.component.id, b.result.anyResource])),
      });
    } else {
      const sid = `${pascal(service)}PlanResources`;
      const arns = narrowings.flatMap((n) => ('arns' in n.result ? n.result.arns : []));
      statements.push({ Sid: sid, Effect: 'Allow', Action: sorted(actions), Resource: sorted(arns) });
      services.push({
        service,
        sid,
        components: ids,
        narrowed: true,
        why: grouped(narrowings.map((n) => [n.component.id, 'what' in n.result ? n.result.what : ''])),
      });
    }
  }

  // Teardown deletes: drill copies only, and only for components that are drilled.
  const teardown = new Map<string, { actions: Set<string>; arns: string[]; components: string[] }>();
  for (const component of components.filter((c) => modes.get(c.id)!.has('drill'))) {
    const actions = (allPermissionsOf(component) ?? []).filter((a) => DRILL_TEARDOWN_ACTIONS.has(a));
    const arns = drillCopyArns(component);
    for (const action of actions) {
      const service = serviceOf(action);
      if (!teardown.has(service)) teardown.set(service, { actions: new Set(), arns: [], components: [] });
      const entry = teardown.get(service)!;
      entry.actions.add(action);
      entry.arns.push(...(arns ?? ['*']));
      if (!entry.components.includes(component.id)) entry.components.push(component.id);
    }
  }
  for (const service of sorted(teardown.keys())) {
    const { actions, arns, components: ids } = teardown.get(service)!;
    const sid = `${pascal(service)}DrillTeardown`;
    const resource = arns.includes('*') ? '*' : sorted(arns);
    statements.push({ Sid: sid, Effect: 'Allow', Action: sorted(actions), Resource: resource });
    services.push({
      service,
      sid,
      components: ids,
      narrowed: resource !== '*',
      why: `deletes the drill copies (${DRILL_SUFFIX}) the drills of ${ids.join(', ')} create, once each drill is over`,
    });
  }

  return {
    plan: plan.name,
    scenarios,
    policy: { Version: '2012-10-17', Statement: statements.sort((a, b) => a.Sid.localeCompare(b.Sid)) },
    services,
    withoutPermissions,
  };
}
