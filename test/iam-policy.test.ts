/** `recovery iam`: the worker's least-privilege policy from a plan, pure and through the CLI. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { iamPolicyOf, type IamPolicyDocument, type IamStatement } from '../plan/iam-policy';
import { kindOf, type Component } from '../plan/kinds';
import { loadPlan } from '../plan/load';
import type { RecoveryPlan } from '../plan/schema/plan';
import { recovery } from './helpers/cli';

const EXAMPLE = 'examples/aws-region-failover.yaml';

function planOf(text: string): RecoveryPlan {
  const { plan, errors } = loadPlan(text, 'plan.yaml');
  assert.ok(plan, errors.map((e) => `${e.path} ${e.message}`).join('\n'));
  return plan;
}

const example = planOf(readFileSync(EXAMPLE, 'utf8'));
const statementOf = (policy: IamPolicyDocument, service: string): IamStatement | undefined =>
  policy.Statement.find(
    (s) => !s.Sid.endsWith('DrillTeardown') && s.Action.every((action) => action.startsWith(`${service}:`)),
  );

const AWS_COMPONENTS = `
  - id: orders
    kind: dynamodb-table
    tableName: orders
    region: eu-west-1
  - id: files
    kind: s3-bucket
    bucket: shop-files
    region: eu-west-1
    prefix: invoices/
`;
const OTHER_COMPONENTS = `
  - { id: infra, kind: terraform, workingDir: infra }
  - { id: db, kind: mysql, host: db.internal, user: backup, passwordEnv: DB_PASSWORD, backupDir: /srv/backups/db }
  - { id: cache, kind: redis, host: 10.0.0.5, backupDir: /srv/backups/redis }
  - { id: app, kind: command, run: systemctl restart app }
  - { id: health, kind: http-check, url: 'https://shop.example.com/health' }
  - { id: settle, kind: wait, duration: 5m }
`;

describe('iamPolicyOf', () => {
  it('the example: DynamoDB narrowed to its tables, one sorted statement per service', () => {
    const { policy, services } = iamPolicyOf(example);
    assert.equal(policy.Version, '2012-10-17');
    const dynamodb = statementOf(policy, 'dynamodb')!;
    assert.ok(dynamodb.Action.includes('dynamodb:RestoreTableToPointInTime'));
    assert.deepEqual(dynamodb.Resource, [
      'arn:aws:dynamodb:us-west-2:*:table/shop-sessions',
      'arn:aws:dynamodb:us-west-2:*:table/shop-sessions-dr',
      'arn:aws:dynamodb:us-west-2:*:table/shop-sessions-drill', // failover-drill restores into a copy
    ]);
    assert.deepEqual(statementOf(policy, 'route53')!.Resource, [
      'arn:aws:route53:::change/*',
      'arn:aws:route53:::healthcheck/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0',
      'arn:aws:route53:::hostedzone/Z0123456789ABCDEFGHIJ',
    ]);
    // S3 ARNs have no region and no account.
    assert.ok((statementOf(policy, 's3')!.Resource as string[]).includes('arn:aws:s3:::shop-assets-replica/*'));
    // A drill's teardown deletes the copies it made, and nothing else: never a production name.
    const teardown = policy.Statement.find((s) => s.Sid === 'DynamodbDrillTeardown')!;
    assert.deepEqual(teardown.Action, ['dynamodb:DeleteTable']);
    assert.deepEqual(teardown.Resource, ['arn:aws:dynamodb:us-west-2:*:table/shop-sessions-drill']);
    assert.ok(!dynamodb.Action.includes('dynamodb:DeleteTable'));
    const recoverOnly = iamPolicyOf(example, { scenario: 'region-failover' }).policy.Statement;
    assert.deepEqual(
      recoverOnly.flatMap((s) => s.Action).filter((a) => /:Delete(Table|Bucket|Service|DBInstance)$/.test(a)),
      [],
      'a recovery never deletes',
    );
    const rds = statementOf(policy, 'rds')!;
    assert.equal(rds.Resource, '*');
    assert.match(rds.Sid, /^RdsAnyResource/);
    assert.match(services.find((s) => s.service === 'rds')!.why, /subnet, option and parameter groups/);

    const sids = policy.Statement.map((s) => s.Sid);
    assert.deepEqual(sids, [...new Set(sids)].sort());
    for (const statement of policy.Statement) {
      assert.match(statement.Sid, /^[A-Za-z0-9]+$/, 'IAM Sids are alphanumeric');
      assert.deepEqual(statement.Action, [...new Set(statement.Action)].sort());
      assert.equal(new Set(statement.Action.map((a) => a.split(':')[0])).size, 1, 'one service per statement');
    }
  });

  it('kinds without AWS permissions add nothing', () => {
    const aws = iamPolicyOf(planOf(`name: shop\ncomponents:${AWS_COMPONENTS}`));
    const mixed = iamPolicyOf(planOf(`name: shop\ncomponents:${AWS_COMPONENTS}${OTHER_COMPONENTS}`));
    assert.deepEqual(mixed.policy, aws.policy);
    assert.deepEqual(
      mixed.withoutPermissions.map((c) => c.kind),
      ['terraform', 'mysql', 'redis', 'command', 'http-check', 'wait'],
    );
    const none = iamPolicyOf(planOf(`name: shop\ncomponents:${OTHER_COMPONENTS}`));
    assert.deepEqual(none.policy.Statement, []);
  });

  it('a scenario covers its components and their dependencies only, in its mode', () => {
    const { policy } = iamPolicyOf(example, { scenario: 'data-restore' });
    assert.deepEqual(
      policy.Statement.map((s) => s.Action[0]!.split(':')[0]),
      ['dynamodb', 'rds', 's3'],
    );
    assert.deepEqual(statementOf(policy, 'dynamodb')!.Resource, [
      'arn:aws:dynamodb:us-west-2:*:table/shop-sessions',
      'arn:aws:dynamodb:us-west-2:*:table/shop-sessions-dr',
    ]);
    const drill = iamPolicyOf(example, { scenario: 'failover-drill' });
    assert.ok((statementOf(drill.policy, 's3')!.Resource as string[]).includes('arn:aws:s3:::shop-assets-drill'));
    assert.ok(!(statementOf(drill.policy, 'dynamodb')!.Resource as string[]).some((arn) => arn.endsWith('-dr')));
  });

  it('two tables share one statement; a backup ARN and an S3 prefix narrow further', () => {
    const { policy } = iamPolicyOf(
      planOf(`name: shop
components:${AWS_COMPONENTS}
  - id: carts
    kind: dynamodb-table
    tableName: carts
    region: eu-west-1
    restoreFrom: backup
    backupArn: arn:aws:dynamodb:eu-west-1:111122223333:table/carts/backup/01700000000000-abcdef12
    targetTableName: carts-back
`),
    );
    assert.deepEqual(statementOf(policy, 'dynamodb')!.Resource, [
      'arn:aws:dynamodb:eu-west-1:*:table/carts',
      'arn:aws:dynamodb:eu-west-1:*:table/carts-back',
      'arn:aws:dynamodb:eu-west-1:*:table/orders',
      'arn:aws:dynamodb:eu-west-1:*:table/orders-restored',
      'arn:aws:dynamodb:eu-west-1:111122223333:table/carts/backup/01700000000000-abcdef12',
    ]);
    assert.deepEqual(statementOf(policy, 's3')!.Resource, [
      'arn:aws:s3:::shop-files',
      'arn:aws:s3:::shop-files/invoices/*',
    ]);
  });

  it('keeps * and says why for actions without a resource mapping or without resource-level permissions', () => {
    const plan = planOf(`name: shop
components:${AWS_COMPONENTS}
  - { id: api, kind: ecs-service, cluster: shop, service: api, region: eu-west-1 }
`);
    const extra = (c: Component) =>
      c.kind === 'dynamodb-table' ? [...kindOf(c).permissions!, 'dynamodb:ListTables'] : kindOf(c).permissions;
    const report = iamPolicyOf(plan, { permissionsOf: extra });
    const dynamodb = statementOf(report.policy, 'dynamodb')!;
    assert.equal(dynamodb.Resource, '*');
    assert.equal(dynamodb.Sid, 'DynamodbAnyResourceUnmappedActions');
    assert.match(
      report.services.find((s) => s.service === 'dynamodb')!.why,
      /orders: no resource mapping for dynamodb:ListTables/,
    );

    // ECS services are narrowed (both ARN formats) unless an action has no resource-level permissions.
    const ecs = (permissions: string[]) =>
      statementOf(
        iamPolicyOf(plan, { permissionsOf: (c) => (c.kind === 'ecs-service' ? permissions : kindOf(c).permissions) })
          .policy,
        'ecs',
      )!;
    assert.deepEqual(ecs(['ecs:DescribeServices', 'ecs:UpdateService']).Resource, [
      'arn:aws:ecs:eu-west-1:*:service/api',
      'arn:aws:ecs:eu-west-1:*:service/shop/api',
    ]);
    const withTaskDefinitions = ecs(['ecs:DescribeServices', 'ecs:DescribeTaskDefinition']);
    assert.equal(withTaskDefinitions.Resource, '*');
    assert.equal(withTaskDefinitions.Sid, 'EcsAnyResourceDescribeTaskDefinitionHasNoResourceLevelPermissions');
  });

  it('keeps * for names that are not plain ARN parts', () => {
    const { policy, services } = iamPolicyOf(
      planOf(`name: shop
components:
  - { id: orders, kind: dynamodb-table, tableName: orders, region: eu-west-1, targetTableName: 'orders-*' }
`),
    );
    assert.equal(statementOf(policy, 'dynamodb')!.Resource, '*');
    assert.match(services[0]!.why, /"orders-\*"/);
  });
});

describe('recovery iam', () => {
  it('--json: the policy only; DynamoDB narrowed to the table; nothing from kinds without AWS permissions', async () => {
    const { stdout, stderr, code } = await recovery(['iam', EXAMPLE, '--json']);
    assert.equal(code, 0, stderr);
    const policy = JSON.parse(stdout) as IamPolicyDocument;
    assert.deepEqual(Object.keys(policy), ['Version', 'Statement']);
    const dynamodb = statementOf(policy, 'dynamodb')!;
    assert.ok(dynamodb.Action.includes('dynamodb:RestoreTableToPointInTime'));
    assert.ok(Array.isArray(dynamodb.Resource));
    assert.ok(dynamodb.Resource.includes('arn:aws:dynamodb:us-west-2:*:table/shop-sessions'));
    assert.ok(dynamodb.Resource.every((arn) => arn.startsWith('arn:aws:dynamodb:us-west-2:*:table/shop-sessions')));
    // Only the services of the kinds that declare permissions.
    const declared = new Set(
      example.components.flatMap((c) => (kindOf(c).permissions ?? []).map((action) => action.split(':')[0])),
    );
    for (const statement of policy.Statement)
      for (const action of statement.Action) assert.ok(declared.has(action.split(':')[0]), action);
  });

  it('prints a note under the policy; exits 2 for an unknown scenario or an invalid plan', async () => {
    const plain = await recovery(['iam', EXAMPLE, '--scenario', 'data-restore']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /^}\n\nCovers plan aws-region-failover, scenario data-restore \(recover\)/m);
    assert.match(plain.stdout, /^ {2}rds \(RdsAnyResource\w+\): any resource, because orders-db: /m);
    assert.match(plain.stdout, /^No AWS permissions: network-us-west-2 \(terraform\)\.$/m);

    const unknown = await recovery(['iam', EXAMPLE, '--scenario', 'nope']);
    assert.equal(unknown.code, 2);
    assert.match(
      unknown.stderr,
      /no scenario "nope": use one of region-failover, failback, data-restore, failover-drill/,
    );

    const broken = await recovery(['iam', 'test/fixtures/plans/broken.yaml']);
    assert.equal(broken.code, 2);
    assert.equal(broken.stdout, '');
    assert.ok(broken.stderr.trim().split('\n').length >= 17, broken.stderr);
  });
});
