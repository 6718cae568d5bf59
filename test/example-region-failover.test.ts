/**
 * `examples/aws-region-failover.yaml`, as shipped, recovered end to end through the engine against
 * moto: infrastructure applied with OpenTofu, data restored and validated, services scaled up in
 * the secondary region after their data, DNS flipped after approval, and failed back. Then again
 * with 30 % of AWS calls throttled, failing, dropped or answered into the void, every side effect
 * counted at moto: exactly one of each. Only what exists in a real account alone is replaced
 * (see localizeRegionFailover); the session cache is a real redis-server, snapshotted by the engine
 * before the incident and restored into a fresh server during the failover. Last, the plan's
 * `failover-drill`, for real: isolated copies everywhere, DNS checked not flipped, and everything
 * the drill made torn down, leaving moto and the machine as they were, also when the drill fails
 * halfway.
 */
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DescribeServicesCommand, ListServicesCommand } from '@aws-sdk/client-ecs';
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { ListBucketsCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { startStorefronts, stageShop, type ShopCache } from '../demo/shop-stage';
import type { MotoServer } from '../toolchain/moto-server';
import { connectRedis } from '../activities/redis/connection';
import { stopRedis } from '../activities/redis/server';
import { backupWorkflow, recoveryWorkflow } from '../workflows';
import type { RecoveryProgress } from '../workflows/progress';
import { engineWorker } from './helpers/engine';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy';
import { actAsOnCall, type OnCallOptions } from './helpers/on-call';
import { bundleWorkflows, startDevServerEnv, startMoto, testToolchain } from './helpers/servers';

const EXAMPLE = readFileSync('examples/aws-region-failover.yaml', 'utf8');
const WEST = 'us-west-2';

describe('examples/aws-region-failover.yaml end to end (dev server, moto, OpenTofu)', () => {
  let env: TestWorkflowEnvironment;
  let moto: MotoServer;
  let bundle: WorkflowBundleWithSourceMap;
  let tofu: string;
  let direct: AwsClients;
  let storefronts: Awaited<ReturnType<typeof startStorefronts>>;
  let healthy = true;
  const caches: { dir: string; port: number }[] = [];
  const scratch = mkdtempSync(join(tmpdir(), 'recovery-example-'));

  before(async () => {
    [env, moto, bundle, { tofu }] = await Promise.all([
      startDevServerEnv(),
      // A service moto creates runs one task at once (a drill's copy of a service runs one).
      startMoto({ MOTO_ECS_SERVICE_RUNNING: '1' }),
      bundleWorkflows(),
      testToolchain(),
    ]);
    direct = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
    process.env.SHOP_REDIS_PASSWORD = `redis-${Date.now()}`;
    storefronts = await startStorefronts(() => healthy);
  });
  after(async () => {
    for (const cache of caches)
      await stopRedis({ ...cache, password: process.env.SHOP_REDIS_PASSWORD }).catch(() => undefined);
    await env?.teardown();
    await moto?.stop();
    await storefronts?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  /** A fresh moto with the example's resources, and the localized plan in a plans directory of its own. */
  async function stage(name: string): Promise<{ plansDir: string; zone: string; redis: ShopCache }> {
    await moto.reset();
    const staged = await stageShop({
      endpoint: moto.endpoint,
      dir: join(scratch, name),
      redisServer: (await testToolchain()).data.redisServer,
      healthBaseUrl: storefronts.baseUrl,
      example: EXAMPLE,
    });
    const { cache } = staged;
    caches.push({ dir: cache.dataDir, port: cache.port }, { dir: cache.restoreDir, port: cache.restorePort });
    return { plansDir: staged.plansDir, zone: staged.hostedZoneId, redis: cache };
  }

  /** Sessions the restored cache serves, read on its port. */
  async function restoredSessions(cache: ShopCache): Promise<unknown[]> {
    const password = process.env.SHOP_REDIS_PASSWORD!;
    const client = await connectRedis({ host: '127.0.0.1', port: cache.restorePort, password }, 5_000);
    const values = [await client.dbSize(), String(await client.get('session:7'))];
    client.destroy();
    return values;
  }

  /** The cache's snapshot, as its schedule takes it, on the worker of task queue `name`. */
  const snapshotCache = (name: string) =>
    env.client.workflow.execute(backupWorkflow, {
      taskQueue: name,
      workflowId: `${name}-cache-snapshot`,
      args: [{ plan: 'aws-region-failover', component: 'cache', type: 'snapshot' }],
    });

  /** Runs one scenario of the plan by name, as `recovery start` would, with AWS calls going through `proxy`. */
  async function recover(proxy: FaultProxy, plansDir: string, name: string, scenario: string) {
    const aws = createAwsClients({ endpoint: proxy.endpoint, region: 'us-east-1' });
    const worker = await engineWorker(env, bundle, name, aws, { plansDir, binaries: { tofu } });
    return worker.runUntil(async () => {
      if (scenario === 'region-failover') await snapshotCache(name); // before the region goes down
      const handle = await env.client.workflow.start(recoveryWorkflow, {
        taskQueue: name,
        workflowId: `${name}-${scenario}`,
        args: [{ plan: 'aws-region-failover', scenario, incident: { id: name, detectedAt: new Date().toISOString() } }],
      });
      return actAsOnCall(handle, ['dns-failover', 'dns-failback']);
    });
  }

  const primaryValue = async (zone: string) => {
    const { ResourceRecordSets = [] } = await direct
      .route53()
      .send(new ListResourceRecordSetsCommand({ HostedZoneId: zone }));
    return ResourceRecordSets.find((r) => r.Failover === 'PRIMARY')?.ResourceRecords?.[0]?.Value;
  };

  /** What a user checks after the failover: one of everything, in its new state, in the right order. */
  async function assertFailedOver(
    report: RecoveryProgress,
    decisions: string[],
    zone: string,
    cache: ShopCache,
  ): Promise<void> {
    const summary = JSON.stringify(report.components.map((c) => [c.id, c.status, c.lastError]));
    assert.equal(report.status, 'succeeded', summary);
    const network = report.components.find((c) => c.id === 'network-us-west-2');
    assert.match(
      JSON.stringify(network?.steps.map((s) => s.result)),
      /vpc-production-us-west-2/,
      'the Terraform outputs are reported',
    );

    const { DBInstances = [] } = await direct.rds(WEST).send(new DescribeDBInstancesCommand({}));
    assert.deepEqual(DBInstances.map((i) => i.DBInstanceIdentifier).sort(), ['shop-orders', 'shop-orders-dr']);
    const tables = (await direct.dynamodb(WEST).send(new ListTablesCommand({}))).TableNames ?? [];
    assert.deepEqual(tables.sort(), ['shop-sessions', 'shop-sessions-dr'], 'one restored table');
    const versions = await direct.s3().send(new ListObjectVersionsCommand({ Bucket: 'shop-assets' }));
    assert.equal(versions.Versions?.length, 1, 'assets unchanged: nothing to restore, nothing rewritten');

    const { services = [] } = await direct
      .ecs(WEST)
      .send(new DescribeServicesCommand({ cluster: 'shop-us-west-2', services: ['orders-api', 'web'] }));
    assert.deepEqual(
      services.map((s) => [s.serviceName, s.desiredCount, s.runningCount]),
      [
        ['orders-api', 6, 6],
        ['web', 4, 4],
      ],
      'the secondary region runs at production size',
    );
    assert.equal(await primaryValue(zone), '10.1.0.1', 'traffic goes to the secondary region');

    assert.deepEqual(
      await restoredSessions(cache),
      [20, 'cart-of-customer-7'],
      'the sessions are back in a fresh cache',
    );
    // What has no command in the plan is handed to a person: the cut-overs of the restored data
    // stores (for Redis, the runbook's steps that put the snapshot into the production server).
    const steps = decisions.map((d) => d.split(' ')[0]!);
    assert.deepEqual(
      steps.filter((s) => !s.startsWith('cache/')).sort(),
      ['orders-db/cut-over', 'sessions-table/cut-over'],
      decisions.join('\n'),
    );
    assert.deepEqual(
      steps.filter((s) => s.startsWith('cache/')),
      ['cache/check-aof', 'cache/replace-dump', 'cache/start', 'cache/validate', 'cache/reenable-aof'],
    );
    const at = (id: string, edge: 'startedAt' | 'finishedAt') =>
      Date.parse(report.components.find((c) => c.id === id)![edge]!);
    for (const [later, earlier] of [
      ['orders-db', 'network-us-west-2'],
      ['orders-api', 'orders-db'],
      ['orders-api', 'sessions-table'],
      ['orders-api', 'cache'],
      ['web', 'orders-api'],
      ['web', 'assets-bucket'],
      ['shop-health', 'web'],
      ['dns-failover', 'shop-health'],
    ] as const)
      assert.ok(at(later, 'startedAt') >= at(earlier, 'finishedAt'), `${later} starts after ${earlier} is done`);
  }

  it('fails over to us-west-2 after approval, then fails back', async () => {
    const proxy = await startFaultProxy(moto.endpoint, { rate: 0, faults: [] });
    const { plansDir, zone, redis } = await stage('clean');
    const failover = await recover(proxy, plansDir, 'clean', 'region-failover');
    await assertFailedOver(failover.report, failover.decisions, zone, redis);

    const failback = await recover(proxy, plansDir, 'clean', 'failback');
    assert.equal(failback.report.status, 'succeeded', JSON.stringify(failback.report.components));
    assert.equal(await primaryValue(zone), '10.0.0.1', 'traffic is back in the primary region');
    await proxy.stop();
  });

  it('fails over with 30 % of AWS calls failing, and every side effect happens exactly once', async () => {
    const proxy = await startFaultProxy(moto.endpoint, {
      rate: 0.3,
      faults: ['throttle', 'error500', 'drop', 'lose-response'],
      seed: 7,
    });
    const { plansDir, zone, redis } = await stage('faults');
    const { report, decisions } = await recover(proxy, plansDir, 'faults', 'region-failover');
    await assertFailedOver(report, decisions, zone, redis);
    const injected = Object.values(proxy.stats.faults).reduce((a, b) => a + b, 0);
    assert.ok(injected >= 5, `faults were injected: ${JSON.stringify(proxy.stats)}`);
    assert.ok(proxy.stats.faults['lose-response'] > 0, 'some calls happened at AWS without the caller hearing back');
    console.log(`faults: ${JSON.stringify(proxy.stats)}; operator decisions: ${JSON.stringify(decisions)}`);
    await proxy.stop();
  });

  /** Everything a drill could leave behind: AWS resources by name, DNS answers, Redis servers, drill folders. */
  async function inventory(zone: string) {
    const ecsServices = async (region: string, cluster: string) => {
      const listed = await direct
        .ecs(region)
        .send(new ListServicesCommand({ cluster }))
        .catch((error: Error) => {
          if (error.name === 'ClusterNotFoundException') return { serviceArns: [] };
          throw error;
        });
      const serviceArns = listed.serviceArns ?? [];
      if (serviceArns.length === 0) return [];
      const { services = [] } = await direct
        .ecs(region)
        .send(new DescribeServicesCommand({ cluster, services: serviceArns }));
      return services.filter((x) => x.status !== 'INACTIVE').map((x) => `${x.serviceName}:${x.desiredCount}`);
    };
    const regions = ['us-east-1', WEST];
    const lists = await Promise.all(
      regions.map(async (region) => ({
        region,
        rds: ((await direct.rds(region).send(new DescribeDBInstancesCommand({}))).DBInstances ?? []).map(
          (i) => i.DBInstanceIdentifier,
        ),
        tables: (await direct.dynamodb(region).send(new ListTablesCommand({}))).TableNames ?? [],
        ecs: await ecsServices(region, `shop-${region}`),
      })),
    );
    const buckets = ((await direct.s3().send(new ListBucketsCommand({}))).Buckets ?? []).map((b) => b.Name);
    const records = (
      (await direct.route53().send(new ListResourceRecordSetsCommand({ HostedZoneId: zone }))).ResourceRecordSets ?? []
    ).map((r) => `${r.Name} ${r.Type} ${r.Failover ?? ''} ${r.ResourceRecords?.[0]?.Value ?? ''}`);
    const redisServers = execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })
      .split('\n')
      .filter((line) => line.includes('redis-server') && line.includes(scratch))
      .sort();
    const drillFolders = execFileSync('find', [scratch, '-name', '*drill*'], { encoding: 'utf8' }).trim();
    return { lists, buckets: buckets.sort(), records: records.sort(), redisServers, drillFolders };
  }

  /** Runs the plan's failover drill as its monthly schedule would, acting as the on-call engineer. */
  async function drill(plansDir: string, name: string, onCall: OnCallOptions = {}) {
    const worker = await engineWorker(env, bundle, name, direct, { plansDir, binaries: { tofu } });
    return worker.runUntil(async () => {
      await snapshotCache(name); // what the drill restores
      const handle = await env.client.workflow.start(recoveryWorkflow, {
        taskQueue: name,
        workflowId: `${name}-failover-drill`,
        args: [{ plan: 'aws-region-failover', scenario: 'failover-drill', requestedBy: 'sre@drill-test' }],
      });
      return actAsOnCall(handle, ['dns-failover'], onCall);
    });
  }

  it('drills the failover into isolated copies, checks DNS without flipping it, and leaves nothing behind', async () => {
    const { plansDir, zone } = await stage('rehearsal');
    const before = await inventory(zone);
    const { report } = await drill(plansDir, 'rehearsal');
    const summary = JSON.stringify(report.components.map((c) => [c.id, c.status, c.lastError]));
    assert.equal(report.mode, 'drill');
    assert.equal(report.status, 'succeeded', summary);
    assert.equal(report.requestedBy, 'sre@drill-test');
    const restored = report.components.find((c) => c.id === 'sessions-table')!;
    assert.match(JSON.stringify(restored.steps.map((s) => s.result)), /shop-sessions-drill/, 'restored into a copy');
    assert.deepEqual(
      report.teardown?.map((t) => [t.component, t.status]),
      report.teardown?.map((t) => [t.component, 'done']),
      JSON.stringify(report.teardown),
    );
    assert.ok(
      ['orders-db', 'sessions-table', 'assets-bucket', 'orders-api', 'web', 'cache'].every((id) =>
        report.teardown?.some((t) => t.component === id),
      ),
      `every component that made a copy tore it down: ${JSON.stringify(report.teardown?.map((t) => t.component))}`,
    );
    assert.deepEqual(await inventory(zone), before, 'moto, DNS and the machine are as they were');
    assert.deepEqual(report.evidence?.files.map((f) => basename(f)).sort(), [
      'report.html',
      'report.json',
      'report.md',
    ]);
    assert.match(
      readFileSync(
        report.evidence.files.find((f) => f.endsWith('.md'))!,
        'utf8',
      ),
      /sre@drill-test/,
    );
  });

  it('tears down a drill that fails halfway (the storefront check fails; the on-call aborts)', async () => {
    const { plansDir, zone } = await stage('rehearsal-fails');
    const before = await inventory(zone);
    healthy = false;
    try {
      const { report, decisions } = await drill(plansDir, 'rehearsal-fails', {
        abortOn: (d) => d.component === 'shop-health',
      });
      assert.equal(report.status, 'aborted', JSON.stringify(report.components.map((c) => [c.id, c.status])));
      assert.ok(
        decisions.some((d) => d.startsWith('shop-health/')),
        decisions.join('\n'),
      );
      assert.equal(report.components.find((c) => c.id === 'dns-failover')!.status, 'not-started');
      assert.ok(report.teardown && report.teardown.length > 0, 'the copies made before the failure are torn down');
      assert.ok(
        report.teardown.every((t) => t.status === 'done'),
        JSON.stringify(report.teardown),
      );
    } finally {
      healthy = true;
    }
    assert.deepEqual(await inventory(zone), before, 'moto, DNS and the machine are as they were');
  });
});
