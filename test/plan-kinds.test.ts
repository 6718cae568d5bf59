import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { commandKind, schema as commandSchema } from '../plan/kinds/command';
import type { KindDefinition, RunbookStep, StepContext } from '../plan/kinds/define';
import { autoScalingGroupKind, schema as autoScalingGroupSchema } from '../plan/kinds/autoscaling-group';
import { cloudFormationStackKind, schema as cloudFormationStackSchema } from '../plan/kinds/cloudformation-stack';
import { dynamoDbTableKind, schema as dynamoDbTableSchema } from '../plan/kinds/dynamodb-table';
import { ecsServiceKind, schema as ecsServiceSchema } from '../plan/kinds/ecs-service';
import { gitRepoKind, schema as gitRepoSchema } from '../plan/kinds/git-repo';
import { httpCheckKind, schema as httpCheckSchema } from '../plan/kinds/http-check';
import { influxDbKind, schema as influxDbSchema } from '../plan/kinds/influxdb';
import { mysqlKind, schema as mysqlSchema } from '../plan/kinds/mysql';
import { postgresKind, schema as postgresSchema } from '../plan/kinds/postgres';
import { rdsInstanceKind, schema as rdsInstanceSchema } from '../plan/kinds/rds-instance';
import { redisKind, schema as redisSchema } from '../plan/kinds/redis';
import { route53FailoverKind, schema as route53FailoverSchema } from '../plan/kinds/route53-failover';
import { s3BucketKind, schema as s3BucketSchema } from '../plan/kinds/s3-bucket';
import { describeViolation, drillGuardViolations } from '../plan/drill-guard-check';
import { KIND_NAMES, productionResourcesOf, runbooksOf, teardownOf, type Component } from '../plan/kinds';
import { schema as terraformSchema, terraformKind } from '../plan/kinds/terraform';
import { schema as waitSchema, waitKind } from '../plan/kinds/wait';

const DRILL_SUFFIX = '-drill';
const recover: StepContext = { mode: 'recover', targetTime: '2026-03-01T02:30:00Z', drillSuffix: DRILL_SUFFIX };
const drill: StepContext = { ...recover, mode: 'drill' };

interface Sample {
  kind: KindDefinition;
  component: { kind: string; passwordEnv?: string };
  /** In a drill, every command that could write must name this (the drill copy), if given. */
  drillMentions?: string;
  /** Patterns no drill command may contain: writes to production. */
  drillNever?: RegExp[];
}

/** A realistic component of every kind, parsed by the kind's own schema. */
const samples: Sample[] = [
  {
    kind: rdsInstanceKind as unknown as KindDefinition,
    component: rdsInstanceSchema.parse({
      kind: 'rds-instance',
      id: 'orders-db',
      instanceId: 'orders-prod',
      region: 'eu-west-1',
      instanceClass: 'db.r6g.large',
      cutover: 'rename',
    }),
    drillMentions: 'orders-prod-drill',
    drillNever: [/modify-db-instance/, /--target-db-instance-identifier orders-prod(?!-drill)/],
  },
  {
    kind: dynamoDbTableKind as unknown as KindDefinition,
    component: dynamoDbTableSchema.parse({
      kind: 'dynamodb-table',
      id: 'sessions',
      tableName: 'sessions',
      region: 'eu-west-1',
    }),
    drillMentions: 'sessions-drill',
    drillNever: [/--target-table-name sessions(?!-drill)/],
  },
  {
    kind: s3BucketKind as unknown as KindDefinition,
    component: s3BucketSchema.parse({
      kind: 's3-bucket',
      id: 'uploads',
      bucket: 'acme-uploads',
      region: 'eu-west-1',
      prefix: 'invoices/',
      replica: { bucket: 'acme-uploads-replica', region: 'eu-central-1' },
    }),
    drillMentions: 'acme-uploads-drill',
    drillNever: [
      /delete-object/,
      /--arg dst acme-uploads /,
      /--bucket \\\(\$b\)/,
      /create-bucket --bucket acme-uploads /,
    ],
  },
  {
    kind: ecsServiceKind as unknown as KindDefinition,
    component: ecsServiceSchema.parse({
      kind: 'ecs-service',
      id: 'api',
      cluster: 'prod',
      service: 'orders-api',
      region: 'eu-west-1',
      desiredCount: 4,
      taskDefinition: 'orders-api:42',
    }),
    drillMentions: 'orders-api-drill',
    drillNever: [/update-service/, /delete-service .*--service orders-api(?!-drill)/],
  },
  {
    kind: cloudFormationStackKind as unknown as KindDefinition,
    component: cloudFormationStackSchema.parse({
      kind: 'cloudformation-stack',
      id: 'network',
      stackName: 'shop-network',
      region: 'eu-west-1',
      templateFile: '/srv/infra/network.yaml',
      parameters: { VpcCidr: '10.20.0.0/16', Environment: 'prod' },
      capabilities: ['CAPABILITY_NAMED_IAM'],
      action: 'recreate',
    }),
    drillMentions: 'shop-network-drill',
    drillNever: [/--stack-name shop-network(?!-drill)/],
  },
  {
    kind: autoScalingGroupKind as unknown as KindDefinition,
    component: autoScalingGroupSchema.parse({
      kind: 'autoscaling-group',
      id: 'web',
      groupName: 'shop-web',
      region: 'eu-west-1',
      minSize: 2,
      maxSize: 8,
      desiredCapacity: 4,
      targetGroupArns: ['arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-web/0123456789abcdef'],
    }),
    drillNever: [/update-auto-scaling-group/],
  },
  {
    kind: route53FailoverKind as unknown as KindDefinition,
    component: route53FailoverSchema.parse({
      kind: 'route53-failover',
      id: 'dns',
      hostedZoneId: 'Z123456ABCDEFG',
      recordName: 'shop.example.com',
      primary: { setIdentifier: 'Primary Region', value: '192.0.2.10', healthCheckId: 'hc-primary' },
      secondary: { setIdentifier: 'Secondary Region', value: '198.51.100.20', healthCheckId: 'hc-secondary' },
    }),
    drillNever: [/change-resource-record-sets/],
  },
  {
    kind: terraformKind as unknown as KindDefinition,
    component: terraformSchema.parse({
      kind: 'terraform',
      id: 'network',
      workingDir: '/srv/infra/network',
      workspace: 'prod',
      vars: { region: 'eu-west-1', az_count: '3' },
      varFiles: ['prod.tfvars'],
    }),
    drillNever: [/\bapply\b/],
  },
  {
    kind: mysqlKind as unknown as KindDefinition,
    component: mysqlSchema.parse({
      kind: 'mysql',
      id: 'shop-db',
      passwordEnv: 'SHOP_DB_PASSWORD',
      backupDir: '/var/backups/mariadb',
      binlogDir: '/var/backups/binlogs',
    }),
    drillMentions: '/var/lib/mysql-drill',
    drillNever: [/systemctl stop/, /mv \/var\/lib\/mysql /],
  },
  {
    kind: postgresKind as unknown as KindDefinition,
    component: postgresSchema.parse({
      kind: 'postgres',
      id: 'billing-db',
      passwordEnv: 'BILLING_DB_PASSWORD',
      dataDir: '/var/lib/postgresql/16/main',
      backupDir: '/var/backups/postgres',
      walArchiveDir: '/var/backups/wal',
    }),
    drillMentions: '/var/lib/postgresql/16/main-drill',
    drillNever: [
      /systemctl (stop|start)/,
      /mv \/var\/lib\/postgresql\/16\/main /,
      /-C \/var\/lib\/postgresql\/16\/main( |$)/m,
    ],
  },
  {
    kind: redisKind as unknown as KindDefinition,
    component: redisSchema.parse({
      kind: 'redis',
      id: 'cache',
      passwordEnv: 'CACHE_PASSWORD',
      backupDir: '/var/backups/redis',
    }),
    drillMentions: '/tmp/cache-drill',
    drillNever: [/systemctl/, /\/var\/lib\/redis/, /CONFIG SET/],
  },
  {
    kind: influxDbKind as unknown as KindDefinition,
    component: influxDbSchema.parse({
      kind: 'influxdb',
      id: 'metrics',
      databases: ['telegraf', 'app'],
      backupDir: '/var/backups/influxdb',
    }),
    drillMentions: '_drill',
    drillNever: [/systemctl/, /-db telegraf(?! -newdb telegraf_drill)/, /DROP DATABASE "(telegraf|app)"/],
  },
  {
    kind: gitRepoKind as unknown as KindDefinition,
    component: gitRepoSchema.parse({
      kind: 'git-repo',
      id: 'ansible',
      url: 'git@git.example.com:ops/ansible.git',
      backupDir: '/var/backups/git',
      checkoutDir: '/etc/ansible',
      paths: ['site.yml', 'inventory/production', 'ansible.cfg'],
    }),
    drillMentions: '/etc/ansible-drill',
    drillNever: [/push/, /remote set-url/, /mv \/etc\/ansible /],
  },
  {
    kind: httpCheckKind as unknown as KindDefinition,
    component: httpCheckSchema.parse({
      kind: 'http-check',
      id: 'shop-up',
      url: 'https://shop.example.com/healthz',
      expectBody: '"status":"ok"',
      timeout: '15s',
    }),
  },
  {
    kind: commandKind as unknown as KindDefinition,
    component: commandSchema.parse({
      kind: 'command',
      id: 'reindex',
      run: './reindex.sh --all',
      validate: './reindex.sh --check',
      rollback: './reindex.sh --restore-previous',
      workingDir: '/opt/search',
    }),
  },
  {
    kind: waitKind as unknown as KindDefinition,
    component: waitSchema.parse({ kind: 'wait', id: 'dns-ttl', duration: '5m', reason: 'Old DNS answers expire' }),
  },
];

const commands = (steps: RunbookStep[]) => steps.map((step) => step.command);

/** Lines of shell that read like prose: a capitalised word, then a space or punctuation ("The counts are equal."). */
const proseLines = (shell: string) =>
  shell.split('\n').filter((line) => !line.trim().startsWith('#') && /^\s*[A-Z][a-z]+[ ,.:;]/.test(line));

describe('plan kinds: runbook steps', () => {
  it('covers every kind', () => {
    assert.deepEqual(samples.map((s) => s.kind.kind).sort(), [...KIND_NAMES].sort());
  });

  for (const { kind, component, drillMentions, drillNever = [] } of samples) {
    describe(kind.kind, () => {
      for (const context of [recover, drill]) {
        it(`${context.mode}: non-empty steps, unique ids, every command filled in`, () => {
          const steps = kind.steps(component, context);
          assert.ok(steps.length > 0);
          const ids = steps.map((step) => step.id);
          assert.deepEqual(ids, [...new Set(ids)], `duplicate step ids: ${ids.join(', ')}`);
          for (const step of steps) {
            assert.ok(step.title.trim(), `${step.id}: title`);
            assert.ok(step.does.trim(), `${step.id}: does`);
            assert.ok(step.command.trim(), `${step.id}: command`);
          }
        });

        it(`${context.mode}: command, validate and rollback are shell, prose only in # comments`, () => {
          for (const step of kind.steps(component, context)) {
            for (const field of ['command', 'validate', 'rollback'] as const) {
              assert.deepEqual(proseLines(step[field] ?? ''), [], `${step.id}.${field}`);
            }
          }
        });
      }

      it('drill: every call says what it writes, and none is a production resource of the component', () => {
        const c = component as Component;
        const steps = [...kind.steps(component, drill), ...teardownOf(c, drill)];
        for (const step of steps)
          if (step.automation && 'activity' in step.automation)
            assert.ok(step.automation.writes, `${step.id}: automation.writes is missing`);
        assert.deepEqual(drillGuardViolations([c], runbooksOf([c], drill)).map(describeViolation), []);
        if (teardownOf(c, drill).length > 0)
          assert.ok(productionResourcesOf(c).length > 0, 'a kind that tears down names its production resources');
      });

      it('drill teardown: named resources, shell commands, idempotent calls; nothing in a recovery', () => {
        const c = component as Component;
        assert.deepEqual(teardownOf(c, recover), []);
        for (const step of teardownOf(c, drill)) {
          assert.ok(step.title.trim() && step.does.trim(), `${step.id}: title and does`);
          assert.ok(step.automation && 'activity' in step.automation, `${step.id}: the engine runs it`);
          assert.deepEqual(proseLines(step.command), [], `${step.id}.command`);
        }
      });

      it('drill: works on drill copies, never writes to production', () => {
        const drillCommands = commands(kind.steps(component, drill)).join('\n');
        if (drillMentions) assert.ok(drillCommands.includes(drillMentions), `drill commands name ${drillMentions}`);
        for (const pattern of drillNever) assert.doesNotMatch(drillCommands, pattern);
      });
    });
  }
});

describe('plan kinds: secrets', () => {
  const withPassword = samples.flatMap(({ kind, component }) =>
    component.passwordEnv ? [{ kind, component, env: component.passwordEnv }] : [],
  );

  it('has components with a password to check', () => {
    assert.deepEqual(withPassword.map((s) => s.kind.kind).sort(), ['mysql', 'postgres', 'redis']);
  });

  for (const { kind, component, env } of withPassword) {
    for (const context of [recover, drill]) {
      it(`${kind.kind} ${context.mode}: references $${env}, never a password value`, () => {
        const text = kind
          .steps(component, context)
          .flatMap((step) => [step.command, step.validate ?? '', step.rollback ?? ''])
          .join('\n');
        assert.ok(text.includes(`"$${env}"`), `references "$${env}"`);
        // Every password setting takes the variable, never a literal.
        for (const setting of text.matchAll(/(--password=|PGPASSWORD=|REDISCLI_AUTH=)(\S*)/g)) {
          assert.equal(setting[2], `"$${env}"`, setting[0]);
        }
        assert.doesNotMatch(text, /redis-cli[^\n]* -a /, 'redis-cli -a would put the password on the command line');
      });
    }
  }
});

describe('plan kinds: specific runbooks', () => {
  const stepsOf = (kindName: string, context: StepContext) => {
    const sample = samples.find((s) => s.kind.kind === kindName)!;
    return sample.kind.steps(sample.component, context);
  };

  it('rds-instance: restores to the target time, then swaps identifiers', () => {
    const steps = stepsOf('rds-instance', recover);
    const restore = steps.find((s) => s.id === 'restore')!;
    assert.match(restore.command, /--restore-time 2026-03-01T02:30:00Z/);
    assert.match(restore.command, /--target-db-instance-identifier orders-prod-restored/);
    assert.match(restore.command, /--db-instance-class db\.r6g\.large/);
    assert.deepEqual(
      steps.map((s) => s.id),
      ['check-source', 'restore', 'wait-available', 'validate', 'rename-old', 'rename-restored', 'multi-az'],
    );
    const renameRestored = steps.find((s) => s.id === 'rename-restored')!;
    assert.match(
      renameRestored.command,
      /--db-instance-identifier orders-prod-restored --new-db-instance-identifier orders-prod /,
    );
    assert.ok(renameRestored.rollback);
  });

  it('rds-instance: from another region, restores the replicated backups and cannot rename', () => {
    const component = rdsInstanceSchema.parse({
      kind: 'rds-instance',
      id: 'orders-db',
      instanceId: 'shop-orders',
      region: 'us-west-2',
      sourceRegion: 'us-east-1',
      subnetGroup: 'shop-dr-db',
      cutover: 'rename',
    });
    const steps = rdsInstanceKind.steps(component, recover);
    const restore = steps.find((s) => s.id === 'restore')!;
    assert.match(restore.command, /--region us-west-2 restore-db-instance-to-point-in-time/);
    assert.match(restore.command, /--source-db-instance-automated-backups-arn/);
    assert.match(restore.command, /--db-subnet-group-name shop-dr-db/);
    assert.doesNotMatch(restore.command, /--source-db-instance-identifier/);
    assert.deepEqual(
      steps.map((s) => s.id),
      ['check-source', 'restore', 'wait-available', 'validate', 'apply-settings', 'cut-over'],
    );
  });

  it('s3-bucket: restores in place with a generated undo, and shows the replica commands', () => {
    const steps = stepsOf('s3-bucket', recover);
    const restore = steps.find((s) => s.id === 'restore')!;
    assert.equal(restore.command, 'sh -ex /tmp/acme-uploads-restore.sh');
    assert.match(restore.rollback ?? '', /--slurpfile before \/tmp\/acme-uploads-versions\.json/);
    const replica = steps.find((s) => s.id === 'replica')!;
    assert.match(
      replica.command,
      /aws s3api --region eu-central-1 list-object-versions --bucket acme-uploads-replica --prefix invoices\//,
    );
  });

  it('route53-failover: the PRIMARY record carries the secondary value when failing over', () => {
    const change = stepsOf('route53-failover', recover).find((s) => s.id === 'change')!;
    const json = /--change-batch '([^']*)'/.exec(change.command)?.[1];
    assert.ok(json, 'the change batch is given inline');
    const batch = JSON.parse(json) as {
      Changes: {
        Action: string;
        ResourceRecordSet: { Failover: string; ResourceRecords: { Value: string }[]; HealthCheckId?: string };
      }[];
    };
    const record = (failover: string) => batch.Changes.find((c) => c.ResourceRecordSet.Failover === failover)!;
    assert.ok(batch.Changes.every((c) => c.Action === 'UPSERT'));
    assert.equal(record('PRIMARY').ResourceRecordSet.ResourceRecords[0]!.Value, '198.51.100.20');
    assert.equal(record('PRIMARY').ResourceRecordSet.HealthCheckId, 'hc-secondary');
    assert.equal(record('SECONDARY').ResourceRecordSet.ResourceRecords[0]!.Value, '192.0.2.10');
    assert.match(change.rollback ?? '', /change-resource-record-sets/);
  });

  it('terraform: recovery applies the saved plan; a drill only plans', () => {
    assert.ok(
      commands(stepsOf('terraform', recover)).some((c) => c.includes('terraform apply -input=false recovery.tfplan')),
    );
    const plan = stepsOf('terraform', drill).find((s) => s.id === 'plan')!;
    assert.match(plan.command, /terraform plan -input=false -lock=false -out=recovery-drill\.tfplan/);
    assert.match(plan.command, /-var-file=prod\.tfvars -var region=eu-west-1 -var az_count=3/);
  });

  it('postgres: recovery_target_time is written in a form PostgreSQL accepts', () => {
    const configure = stepsOf('postgres', recover).find((s) => s.id === 'configure-recovery')!;
    assert.match(configure.command, /recovery_target_time = '2026-03-01T02:30:00\+00:00'/);
    assert.match(configure.command, /restore_command = 'cp \/var\/backups\/wal\/%f "%p"'/);
    assert.match(
      stepsOf('postgres', drill).find((s) => s.id === 'configure-recovery')!.command,
      /archive_mode = 'off'/,
    );
  });

  it('http-check: curl with the timeout in seconds, and the body check', () => {
    const [check] = stepsOf('http-check', recover);
    assert.match(
      check!.command,
      /curl --fail-with-body --max-time 15 -sS -o \/dev\/null -w '%\{http_code\}\\n' https:\/\/shop\.example\.com\/healthz/,
    );
    assert.match(check!.command, /grep -F -q -- '"status":"ok"'/);
  });

  it('command: runs in the working directory, with its check and rollback', () => {
    const [run, validate] = stepsOf('command', drill);
    assert.equal(run!.command, 'cd /opt/search\n./reindex.sh --all');
    assert.equal(run!.rollback, 'cd /opt/search\n./reindex.sh --restore-previous');
    assert.equal(validate!.command, 'cd /opt/search\n./reindex.sh --check');
    assert.match(run!.does, /plan author is responsible/);
  });
});
