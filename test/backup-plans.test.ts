/**
 * AWS Backup backup plans from a plan's backup schedules: the cron conversion (checked against the
 * plan's own cron reading), the rules of the AWS example, and the activity on moto: created once,
 * unchanged the second time, updated when a schedule changes. moto 5.2.5 has no UpdateBackupPlan and
 * no backup selections: those calls are mocked, and the tests that rely on them say so.
 */
import {
  BackupClient,
  CreateBackupSelectionCommand,
  DeleteBackupSelectionCommand,
  DescribeBackupVaultCommand,
  GetBackupPlanCommand,
  GetBackupSelectionCommand,
  ListBackupPlansCommand,
  ListBackupSelectionsCommand,
  UpdateBackupPlanCommand,
  type BackupSelection,
  type BackupPlanInput,
} from '@aws-sdk/client-backup';
import { mockClient } from 'aws-sdk-client-mock';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  awsBackupCron,
  backupPlansFromPlan,
  createBackupClients,
  createBackupPlanActivities,
  type ApplyBackupPlanInput,
} from '../activities/backup-plans';
import { parseCron } from '../plan/cron';
import { loadPlan } from '../plan/load';
import { formatPath } from '../plan/positions';
import type { RecoveryPlan } from '../plan/schema/plan';
import type { MotoServer } from '../toolchain/moto-server';
import { runActivity } from './helpers/activity';
import { recovery } from './helpers/cli';
import { startMoto } from './helpers/servers';

const EXAMPLE = 'examples/aws-region-failover.yaml';
const exampleText = readFileSync(EXAMPLE, 'utf8');
/** moto's account. */
const ACCOUNT = '123456789012';

function planOf(text: string): RecoveryPlan {
  const { plan, errors } = loadPlan(text, 'plan.yaml');
  assert.ok(plan, errors.map((e) => `${e.path} ${e.message}`).join('\n'));
  return plan;
}

/** The example with orders-db's daily snapshot at another time. */
const withSnapshotAt = (cron: string) => exampleText.replace(`cron: '0 3 * * *' }`, `cron: '${cron}' }`);

describe('awsBackupCron', () => {
  const cases: [string, string][] = [
    ['0 3 * * *', 'cron(0 3 * * ? *)'],
    ['10 16 * * 1', 'cron(10 16 ? * MON *)'],
    ['10 16 * * 0,2-6', 'cron(10 16 ? * SUN,TUE-SAT *)'],
    ['0 4 * * 7', 'cron(0 4 ? * SUN *)'],
    ['0 4 * * mon-fri', 'cron(0 4 ? * MON-FRI *)'],
    ['0 4 * * 5-7', 'cron(0 4 ? * SUN,FRI,SAT *)'],
    ['0 */6 * * *', 'cron(0 0,6,12,18 * * ? *)'],
    ['15 * * * *', 'cron(15 * * * ? *)'],
    ['30 2 1 * *', 'cron(30 2 1 * ? *)'],
    ['0 4 1,15 jan,jul *', 'cron(0 4 1,15 1,7 ? *)'],
    ['45 23 10-20/5 * *', 'cron(45 23 10,15,20 * ? *)'],
    ['0 1-5 * * *', 'cron(0 1-5 * * ? *)'],
  ];
  for (const [cron, expected] of cases)
    it(`"${cron}" is ${expected}`, () => assert.deepEqual(awsBackupCron(cron), { expression: expected }));

  const refused: [string, RegExp][] = [
    ['*/15 * * * *', /4 times an hour.*at most hourly/],
    ['0,30 3 * * *', /2 times an hour/],
    ['0 3 1 * 1', /both day-of-month \("1"\) and day-of-week \("1"\).*split it into two schedules/],
    ['0 3 L * *', /day-of-month "L"/],
    ['0 3 * * 5#3', /day-of-week "5#3"/],
  ];
  for (const [cron, message] of refused)
    it(`refuses "${cron}"`, () => {
      const result = awsBackupCron(cron);
      assert.ok('problem' in result, JSON.stringify(result));
      assert.match(result.problem, message);
    });

  /** When AWS's cron (1 = SUN) fires, read independently of the converter: a test of a UTC time. */
  function awsSchedule(expression: string): (at: Date) => boolean {
    const days = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
    const [minute, hour, dom, month, dow] = /^cron\((.*) \*\)$/
      .exec(expression)![1]!
      .split(' ')
      .map((field) => {
        if (field === '*' || field === '?') return () => true;
        const ranges = field.split(',').map((part) => {
          const [a, b] = part.split('-').map((v) => (days.includes(v) ? days.indexOf(v) + 1 : Number(v)));
          return [a!, b ?? a!] as const;
        });
        return (value: number) => ranges.some(([a, b]) => value >= a && value <= b);
      }) as [
      (v: number) => boolean,
      (v: number) => boolean,
      (v: number) => boolean,
      (v: number) => boolean,
      (v: number) => boolean,
    ];
    return (at) =>
      minute(at.getUTCMinutes()) &&
      hour(at.getUTCHours()) &&
      dom(at.getUTCDate()) &&
      month(at.getUTCMonth() + 1) &&
      dow(at.getUTCDay() + 1);
  }

  const part = (min: number, max: number) =>
    fc.oneof(
      fc.integer({ min, max }).map(String),
      fc
        .tuple(fc.integer({ min, max }), fc.integer({ min, max }))
        .map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
      fc.integer({ min: 1, max: Math.max(1, max - min) }).map((step) => `*/${step}`),
    );
  const field = (min: number, max: number) =>
    fc.oneof(
      fc.constant('*'),
      fc.array(part(min, max), { minLength: 1, maxLength: 3 }).map((parts) => parts.join(',')),
    );
  const expressions = fc
    .tuple(fc.integer({ min: 0, max: 59 }), field(0, 23), field(1, 31), field(1, 12), field(0, 7), fc.boolean())
    .map(([minute, hour, dom, month, dow, byWeekday]) =>
      [minute, hour, byWeekday ? '*' : dom, month, byWeekday ? dow : '*'].join(' '),
    );

  it('fires exactly when the plan says, over a leap year (UTC)', () => {
    fc.assert(
      fc.property(expressions, (cron) => {
        const converted = awsBackupCron(cron);
        assert.ok('expression' in converted, `${cron}: ${JSON.stringify(converted)}`);
        // The minute is a single value: compare every hour of 2024 (a leap year) at that minute.
        const minute = Number(cron.split(' ')[0]);
        const plan = parseCron(cron);
        const fires = awsSchedule(converted.expression);
        const [expected, actual]: [number[], number[]] = [[], []];
        for (let hour = Date.UTC(2024, 0, 1); hour < Date.UTC(2025, 0, 1); hour += 3_600_000) {
          const at = new Date(hour + minute * 60_000);
          if (plan.match(at)) expected.push(at.getTime());
          if (fires(at)) actual.push(at.getTime());
        }
        assert.deepEqual(actual, expected, `${cron} -> ${converted.expression}`);
      }),
      { numRuns: 40 },
    );
  });
});

describe('backupPlansFromPlan', () => {
  it('the AWS example: a daily snapshot rule kept 35 days and one continuous rule, in us-east-1', () => {
    const spec = backupPlansFromPlan(planOf(exampleText));
    assert.deepEqual(spec.problems, []);
    assert.equal(spec.regions.length, 1);
    const [region] = spec.regions;
    assert.equal(region!.region, 'us-east-1'); // orders-db's source region, and the bucket's
    assert.equal(region!.name, 'recovery-aws-region-failover');
    assert.deepEqual(
      region!.rules.map((r) => ({
        expression: r.scheduleExpression,
        continuous: r.continuous,
        days: r.deleteAfterDays,
        from: r.sources.map((s) => s.component),
      })),
      [
        { expression: 'cron(0 5 ? * * *)', continuous: true, days: 35, from: ['orders-db', 'assets-bucket'] },
        { expression: 'cron(0 3 * * ? *)', continuous: false, days: 35, from: ['orders-db'] },
      ],
    );
    assert.deepEqual(region!.rules[0]!.name, 'continuous-35d');
    assert.match(region!.rules[1]!.name, /^snapshot-[0-9a-f]{8}$/);
    assert.deepEqual(
      region!.resources.map((r) => [r.component, r.type, r.name, r.region]),
      [
        ['orders-db', 'rds-db', 'shop-orders', 'us-east-1'],
        ['assets-bucket', 's3-bucket', 'shop-assets', 'us-east-1'],
      ],
    );
    const notes = spec.notes.join('\n');
    assert.match(notes, /enable point-in-time recovery on DynamoDB table shop-sessions \(us-west-2\)/);
    assert.match(notes, /assets-bucket: continuous backups are kept 35 days.*no retention/);
    assert.match(notes, /assets-bucket also gets snapshot-[0-9a-f]{8} \(from orders-db\)/);
    assert.match(notes, /not AWS Backup resources.*cache \(redis\)/);
  });

  it('one rule per distinct schedule; time zones kept; what AWS Backup cannot express is named by path', () => {
    const plan = planOf(`
name: shop
components:
  - id: a
    kind: dynamodb-table
    tableName: table-a
    region: eu-west-1
    backup:
      schedules:
        - { type: full, cron: '0 2 * * 0' }
        - { type: snapshot, cron: '30 1 * * *', timezone: Europe/Tallinn }
      retention: 14d
  - id: b
    kind: dynamodb-table
    tableName: table-b
    region: eu-west-1
    backup:
      schedules:
        - { type: incremental, cron: '0 2 * * 0' }
      retention: 14d
`);
    const spec = backupPlansFromPlan(plan);
    assert.deepEqual(spec.problems, []);
    const rules = spec.regions[0]!.rules;
    assert.equal(rules.length, 2);
    const weekly = rules.find((r) => r.scheduleExpression === 'cron(0 2 ? * SUN *)')!;
    assert.match(weekly.name, /^full-incremental-[0-9a-f]{8}$/);
    assert.deepEqual(
      weekly.sources.map((s) => s.component),
      ['a', 'b'],
    );
    const nightly = rules.find((r) => r.scheduleExpression === 'cron(30 1 * * ? *)')!;
    assert.equal(nightly.timezone, 'Europe/Tallinn');

    const bad = backupPlansFromPlan(
      planOf(
        `
name: shop
components:
  - id: a
    kind: rds-instance
    instanceId: db-a
    region: eu-west-1
    backup:
      schedules:
        - { type: snapshot, cron: '*/20 * * * *' }
        - { type: snapshot, cron: '0 3 1 * 1' }
        - { type: snapshot, cron: '0 3 * * *' }
      retention: 36h
`,
      ),
    );
    assert.deepEqual(
      bad.problems.map((p) => formatPath(p.path)),
      [
        'components[0].backup.schedules[0].cron',
        'components[0].backup.schedules[1].cron',
        'components[0].backup.retention',
      ],
    );
    assert.match(bad.problems[2]!.message, /whole days.*2d/);
  });
});

/**
 * The backup selections moto lacks, kept in memory per region, and UpdateBackupPlan recorded.
 * Every other call goes through to moto.
 */
class MissingInMoto {
  readonly selections = new Map<string, { planId: string; id: string; selection: BackupSelection }>();
  readonly updates: { BackupPlanId?: string; BackupPlan?: BackupPlanInput }[] = [];
  readonly created: BackupSelection[] = [];
  private readonly stubs: { restore(): void }[] = [];
  private next = 1;

  constructor(private readonly clients: BackupClient[]) {}

  install() {
    for (const client of this.clients) {
      const stub = mockClient(client);
      this.stubs.push(stub);
      stub.send.callThrough();
      stub.on(ListBackupSelectionsCommand).callsFake((input: { BackupPlanId: string }) => ({
        BackupSelectionsList: [...this.selections.values()]
          .filter((s) => s.planId === input.BackupPlanId)
          .map((s) => ({ SelectionId: s.id, SelectionName: s.selection.SelectionName, BackupPlanId: s.planId })),
      }));
      stub.on(GetBackupSelectionCommand).callsFake((input: { SelectionId: string }) => ({
        BackupSelection: this.selections.get(input.SelectionId)!.selection,
      }));
      stub
        .on(CreateBackupSelectionCommand)
        .callsFake((input: { BackupPlanId: string; BackupSelection: BackupSelection }) => {
          const id = `selection-${this.next++}`;
          this.created.push(input.BackupSelection);
          this.selections.set(id, { planId: input.BackupPlanId, id, selection: input.BackupSelection });
          return { SelectionId: id, BackupPlanId: input.BackupPlanId };
        });
      stub.on(DeleteBackupSelectionCommand).callsFake((input: { SelectionId: string }) => {
        this.selections.delete(input.SelectionId);
        return {};
      });
      stub.on(UpdateBackupPlanCommand).callsFake((input: { BackupPlanId: string; BackupPlan: BackupPlanInput }) => {
        this.updates.push(input);
        return { BackupPlanId: input.BackupPlanId, VersionId: `v${this.updates.length + 1}` };
      });
    }
  }

  restore() {
    for (const stub of this.stubs.splice(0)) stub.restore();
    this.selections.clear();
    this.updates.length = 0;
    this.created.length = 0;
  }
}

describe('applyAwsBackupPlan (moto)', () => {
  let moto: MotoServer;
  let clients: (region: string) => BackupClient;
  let missing: MissingInMoto;
  let apply: ReturnType<typeof createBackupPlanActivities>['applyAwsBackupPlan'];
  const scratch = mkdtempSync(join(tmpdir(), 'backup-plans-'));

  before(async () => {
    moto = await startMoto();
    clients = createBackupClients({ endpoint: moto.endpoint });
    const activities = createBackupPlanActivities(clients);
    apply = (i) => activities.applyAwsBackupPlan(i);
  });
  after(async () => {
    missing?.restore();
    rmSync(scratch, { recursive: true, force: true });
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    missing?.restore();
    missing = new MissingInMoto([clients('us-east-1'), clients('us-west-2')]);
    missing.install();
  });

  const input = (text: string, extra: Partial<ApplyBackupPlanInput> = {}): ApplyBackupPlanInput => ({
    spec: backupPlansFromPlan(planOf(text)).regions[0]!,
    vault: 'shop-vault',
    copyTo: { region: 'us-west-2', vault: 'shop-dr-vault' },
    ...extra,
  });
  const plansInMoto = async (region = 'us-east-1') =>
    (await clients(region).send(new ListBackupPlansCommand({}))).BackupPlansList ?? [];

  it('(selections mocked: moto lacks them) creates the vaults, the backup plan of the example and its selection', async () => {
    const result = await apply(input(exampleText));
    assert.equal(result.vault.action, 'created');
    assert.equal(result.copyVault?.action, 'created');
    assert.equal(result.backupPlan.action, 'created');
    assert.equal(result.selection.action, 'created');

    const [listed] = await plansInMoto();
    assert.equal(listed?.BackupPlanName, 'recovery-aws-region-failover');
    const { BackupPlan } = await clients('us-east-1').send(
      new GetBackupPlanCommand({ BackupPlanId: listed.BackupPlanId }),
    );
    const rules = BackupPlan!.Rules!;
    const snapshot = rules.find((r) => r.ScheduleExpression === 'cron(0 3 * * ? *)')!;
    assert.equal(snapshot.TargetBackupVaultName, 'shop-vault');
    assert.deepEqual(snapshot.Lifecycle, { DeleteAfterDays: 35 });
    assert.equal(snapshot.StartWindowMinutes, 60);
    assert.deepEqual(snapshot.CopyActions, [
      {
        DestinationBackupVaultArn: `arn:aws:backup:us-west-2:${ACCOUNT}:backup-vault:shop-dr-vault`,
        Lifecycle: { DeleteAfterDays: 35 },
      },
    ]);
    assert.equal(snapshot.EnableContinuousBackup, undefined);
    const continuous = rules.find((r) => r.EnableContinuousBackup)!;
    assert.equal(continuous.RuleName, 'continuous-35d');
    assert.deepEqual(continuous.Lifecycle, { DeleteAfterDays: 35 });
    assert.equal(continuous.CopyActions, undefined);
    assert.equal(rules.length, 2);

    const vault = await clients('us-west-2').send(new DescribeBackupVaultCommand({ BackupVaultName: 'shop-dr-vault' }));
    assert.equal(vault.BackupVaultArn, `arn:aws:backup:us-west-2:${ACCOUNT}:backup-vault:shop-dr-vault`);
    assert.deepEqual(missing.created, [
      {
        SelectionName: 'recovery-aws-region-failover',
        IamRoleArn: `arn:aws:iam::${ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole`,
        Resources: [`arn:aws:rds:us-east-1:${ACCOUNT}:db:shop-orders`, 'arn:aws:s3:::shop-assets'],
      },
    ]);
  });

  it('(selections mocked: moto lacks them) applying twice changes nothing the second time', async () => {
    await apply(input(exampleText));
    const again = await apply(input(exampleText));
    assert.equal(again.vault.action, 'exists');
    assert.equal(again.copyVault?.action, 'exists');
    assert.equal(again.backupPlan.action, 'unchanged');
    assert.deepEqual(again.backupPlan.changes, []);
    assert.equal(again.selection.action, 'unchanged');
    assert.equal((await plansInMoto()).length, 1);
    assert.equal(missing.updates.length, 0);
    assert.equal(missing.created.length, 1);
  });

  it('(UpdateBackupPlan mocked: moto lacks it) a changed schedule updates the plan found by name', async () => {
    const first = await apply(input(exampleText));
    const changed = await apply(input(withSnapshotAt('0 4 * * 1-5')));
    assert.equal(changed.backupPlan.action, 'updated');
    assert.equal(changed.backupPlan.id, first.backupPlan.id);
    assert.equal(missing.updates.length, 1);
    const [update] = missing.updates;
    assert.equal(update!.BackupPlanId, first.backupPlan.id);
    assert.equal(update!.BackupPlan!.BackupPlanName, 'recovery-aws-region-failover');
    assert.deepEqual(update!.BackupPlan!.Rules!.map((r) => r.ScheduleExpression).sort(), [
      'cron(0 4 ? * MON-FRI *)',
      'cron(0 5 ? * * *)',
    ]);
    const changes = changed.backupPlan.changes.join('\n');
    assert.match(changes, /^add rule snapshot-[0-9a-f]{8}: cron\(0 4 \? \* MON-FRI \*\)$/m);
    assert.match(changes, /^remove rule snapshot-[0-9a-f]{8}$/m);
    assert.doesNotMatch(changes, /continuous/);
    // The resources did not change.
    assert.equal(changed.selection.action, 'unchanged');
    assert.equal((await plansInMoto()).length, 1);
  });

  it('(selections mocked: moto lacks them) a selection that differs is replaced', async () => {
    await apply(input(exampleText));
    const other = await apply(input(exampleText, { backupRoleArn: `arn:aws:iam::${ACCOUNT}:role/backup` }));
    assert.equal(other.selection.action, 'replaced');
    assert.deepEqual(other.selection.changes, [
      `role arn:aws:iam::${ACCOUNT}:role/service-role/AWSBackupDefaultServiceRole -> arn:aws:iam::${ACCOUNT}:role/backup`,
    ]);
    assert.equal(missing.selections.size, 1);
    assert.equal([...missing.selections.values()][0]!.selection.IamRoleArn, `arn:aws:iam::${ACCOUNT}:role/backup`);
  });

  it('a dry run, in an activity context, only reads', async () => {
    const result = await runActivity(apply, { ...input(exampleText), dryRun: true });
    assert.equal(result.vault.action, 'would-create');
    assert.equal(result.backupPlan.action, 'would-create');
    assert.equal(result.selection.action, 'would-create');
    assert.equal((await plansInMoto()).length, 0);
    await assert.rejects(
      clients('us-east-1').send(new DescribeBackupVaultCommand({ BackupVaultName: 'shop-vault' })),
      /shop-vault|not found/i,
    );
  });

  describe('recovery schedules apply (the CLI, on moto)', () => {
    const run = (args: string[]) => {
      process.env.AWS_ENDPOINT_URL = moto.endpoint;
      return recovery(['schedules', 'apply', ...args]);
    };
    after(() => delete process.env.AWS_ENDPOINT_URL);

    it('--dry-run says what it would create, and creates nothing', async () => {
      const { stdout, stderr, code } = await run([
        EXAMPLE,
        '--aws',
        '--dry-run',
        '--copy-to-region',
        'us-west-2',
        '--copy-vault',
        'dr',
      ]);
      assert.equal(code, 0, stderr);
      assert.match(stdout, /^us-east-1: backup plan recovery-aws-region-failover: would be created$/m);
      assert.match(
        stdout,
        /^ {4}snapshot-[0-9a-f]{8}: cron\(0 3 \* \* \? \*\) UTC, kept 35 days, copied to arn:aws:backup:us-west-2:<account>:backup-vault:dr {2}<- orders-db snapshot 0 3 \* \* \*$/m,
      );
      assert.match(stdout, /enable point-in-time recovery on DynamoDB table shop-sessions/);
      assert.equal((await plansInMoto()).length, 0);
    });

    it('a cron AWS Backup cannot express is refused, with its position, before anything is touched', async () => {
      const file = join(scratch, 'every-20-minutes.yaml');
      writeFileSync(file, withSnapshotAt('*/20 * * * *'));
      const { stdout, stderr, code } = await run([file, '--aws']);
      assert.equal(code, 2, stdout);
      assert.match(
        stderr,
        new RegExp(
          `^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+ components\\[1\\]\\.backup\\.schedules\\[0\\]\\.cron AWS Backup cannot run "\\*/20 \\* \\* \\* \\*": runs 3 times an hour`,
          'm',
        ),
      );
      assert.equal((await plansInMoto()).length, 0);
      await assert.rejects(
        clients('us-east-1').send(new DescribeBackupVaultCommand({ BackupVaultName: 'Default' })),
        /not found|Default/i,
      );
    });

    it('needs both copy options together, and AWS Backup options only with --aws', async () => {
      const stray = await run([EXAMPLE, '--copy-to-region', 'us-west-2', '--vault', 'shop']);
      assert.equal(stray.code, 2);
      assert.match(stray.stderr, /--vault, --copy-to-region: only with --aws/);
      const half = await run([EXAMPLE, '--aws', '--copy-to-region', 'us-west-2']);
      assert.equal(half.code, 2);
      assert.match(half.stderr, /--copy-to-region and --copy-vault go together/);
    });
  });
});
