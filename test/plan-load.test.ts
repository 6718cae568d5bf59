/** Loading plans: every problem at once, each at its line and column, with the field and a fix. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { formatIssue } from '../plan/issues';
import { loadPlan } from '../plan/load';
import { loadPlanFile } from '../plan/load-file';
import { EXAMPLE_PLANS } from '../plan/generated-files';

const BROKEN = 'test/fixtures/plans/broken.yaml';

describe('loading plans', () => {
  it('accepts every example, filling in the defaults', async () => {
    for (const file of EXAMPLE_PLANS) {
      const { plan, errors } = await loadPlanFile(file);
      assert.deepEqual(errors, [], file);
      assert.ok(plan, file);
    }
    const { plan, warnings } = await loadPlanFile('examples/agama.yaml');
    assert.equal(plan!.components.find((c) => c.id === 'agama-mysql')?.dependsOn.length, 0);
    assert.deepEqual(
      warnings.map((w) => w.rule),
      ['data-components-have-backups'],
      'the seed keeps the Ansible repository in git only',
    );
  });

  it('reports every error of a broken plan at once, each at its position, in source order', () => {
    const { plan, errors } = loadPlan(readFileSync(BROKEN, 'utf8'), BROKEN);
    assert.equal(plan, undefined);
    assert.deepEqual(errors.map(formatIssue), [
      `${BROKEN}:1:7 name use lowercase letters, digits and single dashes, e.g. "orders-db"`,
      `${BROKEN}:2:20 objectives.rpo expected a duration such as 90s, 45m, 4h, 1d or 1h30m`,
      `${BROKEN}:3:1 owner unknown field "owner": remove it (allowed here: name, description, objectives, contacts, components, scenarios, triggers)`,
      `${BROKEN}:5:5 components[0].backupDir missing required field "backupDir": add it (string)`,
      `${BROKEN}:8:5 components[0].dependson unknown field "dependson": did you mean "dependsOn"?`,
      `${BROKEN}:11:31 components[0].backup.schedules[0].cron invalid cron expression: CronPattern: Invalid value for dayOfWeek: 8`,
      `${BROKEN}:12:31 components[0].backup.schedules[1].every a duration must be longer than zero`,
      `${BROKEN}:13:9 components[1].id duplicate component id "db" (also components[0]): give each component its own id`,
      `${BROKEN}:14:11 components[1].kind unknown kind "mongodb": use one of rds-instance, dynamodb-table, s3-bucket, ecs-service, cloudformation-stack, autoscaling-group, route53-failover, terraform, mysql, postgres, redis, influxdb, git-repo, http-check, command, wait ("command" for anything else)`,
      `${BROKEN}:20:16 components[2].dependsOn dependency cycle api -> web -> api: nothing in it could ever start; remove one of these dependencies`,
      `${BROKEN}:20:21 components[2].dependsOn[1] unknown component "queue" in dependsOn: use one of api, db, reindex, sessions, web`,
      `${BROKEN}:30:18 components[4].restoreFrom restoreFrom: backup needs backupArn: add the ARN of the backup, or use restoreFrom: pitr`,
      `${BROKEN}:34:5 components[5].backup a command component carries no data unless it says \`stateful: true\`: add that, or remove \`backup\``,
      `${BROKEN}:38:37 scenarios[0].components[1] unknown component "ghost": use one of api, db, reindex, sessions, web`,
      `${BROKEN}:39:13 scenarios[1].name duplicate scenario "full": rename one`,
      `${BROKEN}:39:25 scenarios[1].mode expected one of "recover", "drill", got string "rehearse"`,
      `${BROKEN}:41:71 triggers[0].scenario unknown scenario "everything": use one of full, full`,
    ]);
  });

  it('warns about data without backups and objectives wider than the plan’s', () => {
    const { warnings } = loadPlan(readFileSync(BROKEN, 'utf8'), BROKEN);
    assert.deepEqual(warnings.map(formatIssue), [
      `${BROKEN}:25:24 components[3].objectives.rto warning: RTO 6h is wider than the plan's 4h: the plan's objective cannot hold while this component may take longer; tighten it or widen the plan's`,
      `${BROKEN}:26:9 components[4].id warning: "sessions" carries data but lists no backup schedules: its RPO cannot be met; add backup.schedules`,
    ]);
  });

  it('refuses a backup type the kind cannot take, at the schedule', () => {
    const yaml = [
      'name: types',
      'components:',
      '  - id: cache',
      '    kind: redis',
      '    backupDir: /srv/backups/cache',
      "    backup: { schedules: [{ type: full, cron: '0 * * * *' }] }",
      '  - id: ansible',
      '    kind: git-repo',
      '    url: https://git.example.com/ansible.git',
      '    backupDir: /srv/backups/ansible',
      "    backup: { schedules: [{ type: snapshot, cron: '0 1 * * *' }, { type: incremental, cron: '0 * * * *' }] }",
    ].join('\n');
    const { errors } = loadPlan(yaml, 'types.yaml');
    assert.deepEqual(errors.map(formatIssue), [
      'types.yaml:6:35 components[0].backup.schedules[0].type redis backups are snapshot, not full: the engine cannot take that kind of backup of it',
      'types.yaml:11:74 components[1].backup.schedules[1].type git-repo backups are full or snapshot, not incremental: the engine cannot take that kind of backup of it',
    ]);
  });

  it('reserves the id "start" for the start gate of held recoveries', () => {
    const { errors } = loadPlan('name: held\ncomponents:\n  - { id: start, kind: wait, duration: 1m }\n', 'held.yaml');
    assert.deepEqual(errors.map(formatIssue), [
      'held.yaml:3:11 components[0].id "start" is reserved for the start gate of held recoveries: name the component otherwise',
    ]);
  });

  it('points at YAML syntax errors', () => {
    const { errors } = loadPlan('name: shop\ncomponents:\n  - id: db\n   kind: mysql\n', 'bad.yaml');
    assert.equal(errors.length > 0, true);
    assert.equal(errors[0]!.file, 'bad.yaml');
    assert.equal(errors[0]!.line, 4);
    assert.match(errors[0]!.message, /fix the YAML syntax$/);
  });

  it('points at duplicate keys and rejects documents that are not mappings', () => {
    const duplicate = loadPlan('name: a\nname: b\ncomponents: []\n', 'dup.yaml');
    assert.match(duplicate.errors[0]!.message, /Map keys must be unique/);
    assert.equal(duplicate.errors[0]!.line, 2);
    const list = loadPlan('- just\n- a list\n', 'list.yaml');
    assert.match(list.errors[0]!.message, /a plan is a YAML mapping/);
  });

  it('names a missing kind and suggests a near miss', () => {
    const text = 'name: s\ncomponents:\n  - id: a\n    kind: dynamo-table\n  - id: b\n';
    const { errors } = loadPlan(text, 'k.yaml');
    assert.match(errors[0]!.message, /^unknown kind "dynamo-table": did you mean "dynamodb-table"\?/);
    assert.equal(errors[1]!.path, 'components[1].kind');
    assert.match(errors[1]!.message, /^missing required field "kind": one of rds-instance, /);
  });

  it('reports a file that cannot be read as an error, not a crash', async () => {
    const { errors } = await loadPlanFile('test/fixtures/plans/missing.yaml');
    assert.equal(
      formatIssue(errors[0]!),
      'test/fixtures/plans/missing.yaml:1:1 (file) cannot read the plan: no such file',
    );
  });
});
