/**
 * An AWS region failover through the engine, against moto behind a fault-injecting proxy: data
 * restored and validated, the service redeployed after its data, DNS flipped after approval — with
 * no faults, then with 30 % of AWS calls throttled, failing, dropped or answered into the void.
 * Every side effect is counted at moto: exactly one of each.
 */
import { DescribeServicesCommand } from '@aws-sdk/client-ecs';
import { ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { DescribeDBInstancesCommand } from '@aws-sdk/client-rds';
import { ListResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { stageOrdersIncident } from '../demo/orders-incident';
import type { MotoServer } from '../toolchain/moto-server';
import { recoveryWorkflow } from '../workflows';
import { approveUpdate, progressQuery, resolveUpdate } from '../workflows/messages';
import type { RecoveryProgress } from '../workflows/progress';
import { createEcsService, createFailoverRecords, createRdsInstance, SECONDARY_IP } from './helpers/aws-fixtures';
import { startFaultProxy, type FaultProxy } from './helpers/fault-proxy';
import { engineWorker } from './helpers/engine';
import { bundleWorkflows, startDevServerEnv, startMoto } from './helpers/servers';

describe('AWS region failover through the engine, with AWS faults injected (dev server, moto)', () => {
  let env: TestWorkflowEnvironment;
  let moto: MotoServer;
  let bundle: WorkflowBundleWithSourceMap;
  let direct: AwsClients;

  before(async () => {
    [env, moto, bundle] = await Promise.all([
      startDevServerEnv(),
      startMoto({ MOTO_ECS_SERVICE_RUNNING: '1' }),
      bundleWorkflows(),
    ]);
    direct = createAwsClients({ endpoint: moto.endpoint, region: 'us-east-1' });
  });
  after(async () => {
    await env?.teardown();
    await moto?.stop();
  });

  /**
   * Stages the incident, runs the recovery with the worker's AWS calls going through `proxy`, and acts
   * as the people on call: approves the DNS gate, skips manual steps (done by hand), retries the rest.
   */
  async function recover(
    proxy: FaultProxy,
    name: string,
  ): Promise<{ report: RecoveryProgress; decisions: string[]; zone: string }> {
    await moto.reset();
    const incident = await stageOrdersIncident(direct.dynamodb());
    await createRdsInstance(direct, 'orders-prod');
    await createEcsService(direct);
    const dns = await createFailoverRecords(direct);
    const aws = createAwsClients({ endpoint: proxy.endpoint, region: 'us-east-1' });
    const worker = await engineWorker(env, bundle, name, aws);
    const plan = {
      name: 'shop-failover',
      objectives: { rpo: '15m', rto: '4h' },
      contacts: [{ name: 'SRE on call', phone: '+1 555 0200' }],
      components: [
        {
          id: 'orders-table',
          kind: 'dynamodb-table',
          tableName: 'orders',
          region: 'us-east-1',
          restoreFrom: 'backup',
          backupArn: incident.backupArn,
          targetTableName: 'orders-dr',
          cutover: 'none',
          backup: { schedules: [{ type: 'log', every: '5m' }] },
        },
        {
          id: 'orders-db',
          kind: 'rds-instance',
          instanceId: 'orders-prod',
          region: 'us-east-1',
          targetInstanceId: 'orders-prod-dr',
          backup: { schedules: [{ type: 'log', every: '5m' }] },
        },
        {
          id: 'orders-api',
          kind: 'ecs-service',
          cluster: 'prod',
          service: 'orders-api',
          region: 'us-east-1',
          taskDefinition: 'orders-api:2',
          desiredCount: 1,
          dependsOn: ['orders-table', 'orders-db'],
        },
        { ...dns, approval: 'required', dependsOn: ['orders-api'] },
      ],
    };
    return worker.runUntil(async () => {
      const handle = await env.client.workflow.start(recoveryWorkflow, {
        taskQueue: name,
        workflowId: name,
        args: [{ plan, scenario: 'full-restore', incident: { id: name, detectedAt: new Date().toISOString() } }],
      });
      const decisions: string[] = [];
      let finished: RecoveryProgress | undefined;
      void handle.result().then((report) => (finished = report));
      while (!finished) {
        const progress = await handle.query(progressQuery).catch(() => undefined);
        for (const decision of progress?.pendingDecisions ?? []) {
          const action = decision.manualCommand ? 'skip' : 'retry';
          decisions.push(`${decision.component}/${decision.step} ${action}: ${decision.error}`);
          await handle.executeUpdate(resolveUpdate, {
            args: [{ component: decision.component, action, by: 'test-operator' }],
          });
        }
        if (progress?.gates.some((g) => g.gate === 'dns' && g.status === 'waiting')) {
          await handle.executeUpdate(approveUpdate, {
            args: [{ gate: 'dns', by: 'sre', comment: 'secondary healthy' }],
          });
        }
        await sleep(200);
      }
      return { report: finished, decisions, zone: dns.hostedZoneId };
    });
  }

  /** What a user checks at AWS after the recovery: one of everything, in its new state. */
  async function assertRecoveredOnce(report: RecoveryProgress, zone: string): Promise<void> {
    assert.equal(
      report.status,
      'succeeded',
      JSON.stringify(report.components.map((c) => [c.id, c.status, c.lastError])),
    );
    const tables = (await direct.dynamodb().send(new ListTablesCommand({}))).TableNames ?? [];
    assert.deepEqual(tables.sort(), ['orders', 'orders-dr'], 'one restored table');
    const { DBInstances = [] } = await direct.rds().send(new DescribeDBInstancesCommand({}));
    assert.deepEqual(
      DBInstances.map((i) => i.DBInstanceIdentifier).sort(),
      ['orders-prod', 'orders-prod-dr'],
      'one restored instance',
    );
    const { services = [] } = await direct
      .ecs()
      .send(new DescribeServicesCommand({ cluster: 'prod', services: ['orders-api'] }));
    assert.match(services[0]!.taskDefinition!, /orders-api:2$/, 'redeployed with the new task definition');
    const records = await direct.route53().send(new ListResourceRecordSetsCommand({ HostedZoneId: zone }));
    const primary = records.ResourceRecordSets?.find((r) => r.Failover === 'PRIMARY');
    assert.equal(primary?.ResourceRecords?.[0]?.Value, SECONDARY_IP, 'traffic goes to the secondary region');
    const order = (id: string) => Date.parse(report.components.find((c) => c.id === id)!.finishedAt!);
    const started = (id: string) => Date.parse(report.components.find((c) => c.id === id)!.startedAt!);
    assert.ok(
      started('orders-api') >= Math.max(order('orders-table'), order('orders-db')),
      'the service after its data',
    );
    assert.ok(started('dns') >= order('orders-api'), 'DNS after the service');
  }

  it('recovers the region end to end', async () => {
    const proxy = await startFaultProxy(moto.endpoint, { rate: 0, faults: [] });
    const { report, zone } = await recover(proxy, 'failover-clean');
    await assertRecoveredOnce(report, zone);
    await proxy.stop();
  });

  it('recovers again with 30 % of AWS calls failing, and every side effect happens exactly once', async () => {
    const proxy = await startFaultProxy(moto.endpoint, {
      rate: 0.3,
      faults: ['throttle', 'error500', 'drop', 'lose-response'],
      seed: 7,
    });
    const { report, decisions, zone } = await recover(proxy, 'failover-faults');
    await assertRecoveredOnce(report, zone);
    const injected = Object.values(proxy.stats.faults).reduce((a, b) => a + b, 0);
    assert.ok(injected >= 10, `faults were injected: ${JSON.stringify(proxy.stats)}`);
    assert.ok(proxy.stats.faults['lose-response'] > 0, 'some calls happened at AWS without the caller hearing back');
    console.log(`faults: ${JSON.stringify(proxy.stats)}; operator decisions: ${JSON.stringify(decisions)}`);
    await proxy.stop();
  });
});
