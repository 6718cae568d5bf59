import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { overlaps, resource } from '../plan/drill-guard';
import { loadPlanObject } from '../plan/load';
import { recoveryWorkflow } from '../workflows';
import { recovery } from './helpers/cli';
import { scriptedActivities, testPlan, testWorker } from './helpers/engine';
import { bundleWorkflows, startTimeSkippingEnv } from './helpers/servers';

/**
 * `orders` drills into `orders-drill`, which is the production table of `orders-archive`: a drill
 * of either would overwrite production.
 */
const collidingPlan = testPlan(
  [
    { id: 'orders', kind: 'dynamodb-table', tableName: 'orders', region: 'eu-west-1' },
    { id: 'orders-archive', kind: 'dynamodb-table', tableName: 'orders-drill', region: 'eu-west-1' },
  ],
  {
    scenarios: [
      { name: 'full-restore', mode: 'recover' },
      { name: 'monthly-drill', mode: 'drill', components: ['orders'] },
    ],
  },
);
const GUARD_MESSAGE =
  /orders: drill step "[a-z-]+" would write dynamodb:eu-west-1\/orders-drill, a production resource \(of orders-archive: dynamodb:eu-west-1\/orders-drill\)/;

describe('drill guard: resource names', () => {
  it('matches the same resource, a folder and what is inside it, an S3 prefix and its bucket', () => {
    assert.ok(overlaps(resource.aws('rds', 'us-east-1', 'orders'), 'rds:us-east-1/orders'));
    assert.ok(!overlaps(resource.aws('rds', 'us-east-1', 'orders-drill'), 'rds:us-east-1/orders'));
    assert.ok(!overlaps(resource.aws('rds', 'eu-west-1', 'orders'), 'rds:us-east-1/orders'), 'another region');
    assert.ok(overlaps(resource.dir('/var/lib/mysql/../mysql/data/'), resource.dir('/var/lib/mysql')));
    assert.ok(overlaps(resource.dir('/var/lib'), resource.dir('/var/lib/mysql')), 'removing a parent removes it');
    assert.ok(overlaps(resource.dir('/'), resource.dir('/srv/data')));
    assert.ok(!overlaps(resource.dir('/var/lib/mysql-drill'), resource.dir('/var/lib/mysql')));
    assert.ok(overlaps(resource.s3('uploads', 'photos/2026'), resource.s3('uploads')));
    assert.ok(!overlaps(resource.s3('uploads-drill'), resource.s3('uploads')));
    assert.ok(overlaps(resource.tcp('localhost', 3306), resource.tcp('127.0.0.1', 3306)));
    assert.ok(overlaps(resource.tcp('0.0.0.0', 3306), resource.tcp('127.0.0.1', 3306)), 'all addresses');
    assert.ok(!overlaps(resource.tcp('127.0.0.1', 3307), resource.tcp('127.0.0.1', 3306)));
  });
});

describe('drill guard: validation', () => {
  it('names the drill scenario, the step and whose production resource it would write', () => {
    const { errors } = loadPlanObject(collidingPlan);
    // The restore and the teardown of `orders` would both write the table.
    assert.ok(errors.length >= 1);
    for (const error of errors) {
      assert.equal(error.rule, 'drill-guard');
      assert.equal(error.path, 'scenarios[1]');
      assert.match(error.message, GUARD_MESSAGE);
    }
  });

  it('recovery validate refuses the plan', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drill-guard-'));
    try {
      writeFileSync(join(dir, 'plan.yaml'), stringify(collidingPlan));
      const { stdout, code } = await recovery(['validate', join(dir, 'plan.yaml')]);
      assert.equal(code, 2, 'an invalid plan');
      assert.match(stdout, GUARD_MESSAGE);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('drill guard: engine (time-skipping server)', () => {
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundleWithSourceMap;
  before(async () => {
    [env, bundle] = await Promise.all([startTimeSkippingEnv(), bundleWorkflows()]);
  });
  after(() => env?.teardown());

  it('refuses a drill aimed at production before any step runs, even one started as --real from a recover scenario', async () => {
    // The plan was not validated by a CLI: a request carries it inline, and the workflow checks it.
    const plan = { ...collidingPlan, scenarios: [{ name: 'full-restore', mode: 'recover' }] };
    const { activities, calls } = scriptedActivities();
    let restores = 0;
    const counted = {
      ...activities,
      restoreDynamoDbTableFromBackup: (input: Parameters<typeof activities.restoreDynamoDbTableFromBackup>[0]) => {
        restores += 1;
        return activities.restoreDynamoDbTableFromBackup(input);
      },
    };
    const taskQueue = 'drill-guard';
    const worker = await testWorker(env, bundle, taskQueue, counted);
    await worker.runUntil(async () => {
      const error = await env.client.workflow
        .execute(recoveryWorkflow, {
          taskQueue,
          workflowId: 'drill-guard-1',
          args: [{ plan, scenario: 'full-restore', drill: true, requestedBy: 'ana@laptop' }],
        })
        .then(
          () => assert.fail('the drill ran'),
          (e: unknown) => e,
        );
      assert.ok(error instanceof WorkflowFailedError);
      assert.ok(error.cause instanceof ApplicationFailure);
      assert.equal(error.cause.type, 'DrillGuard');
      assert.match(error.cause.message, /nothing was run/);
      assert.match(error.cause.message, GUARD_MESSAGE);
    });
    assert.equal(restores, 0);
    assert.deepEqual(calls.commands, []);
    assert.deepEqual(calls.notifications, [], 'not even started');
  });
});
