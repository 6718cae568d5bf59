/**
 * The demo: a Temporal dev server with its Web UI (SQLite in ./data), the AWS emulator and a recovery
 * worker; an `orders` DynamoDB table loses every item, and a recovery restores them from last night's
 * backup. Prints the UI link and the report, then stops everything (or keeps it running: --keep).
 *
 *   npm run demo [-- --keep] [-- --port 7233 --ui-port 8233]
 */
import { Connection, Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createAwsClients } from '../activities/aws-clients';
import { stageOrdersIncident } from '../demo/orders-incident';
import { startDevServer } from '../toolchain/dev-server';
import { consoleReporter, ensureToolchain } from '../toolchain/ensure';
import { ToolchainError } from '../toolchain/errors';
import { startMotoServer } from '../toolchain/moto-server';
import { DEFAULT_TASK_QUEUE } from '../workers/config';
import { createRecoveryWorker } from '../workers/recovery-worker';
import { formatMinutes } from '../plan/rpo';
import { registerSearchAttributes } from '../workers/search-attributes';
import { recoveryWorkflow } from '../workflows';

const options = new Command('npm run demo --')
  .option('--keep', 'keep the servers and the worker running after the recovery, to explore the Web UI')
  .option('--port <port>', 'Temporal frontend port', '7233')
  .option('--ui-port <port>', 'Temporal Web UI port', '8233')
  .parse()
  .opts<{ keep?: boolean; port: string; uiPort: string }>();

const stops: (() => Promise<void>)[] = [];
async function stopAll(): Promise<void> {
  for (const stop of stops.splice(0).reverse()) await stop().catch((error: unknown) => console.error(error));
}
let interrupted: () => void = () => undefined;
const interruption = new Promise<void>((resolve) => (interrupted = resolve));
process.once('SIGINT', () => interrupted());
process.once('SIGTERM', () => interrupted());

async function main(): Promise<void> {
  const dataDir = resolve(__dirname, '..', 'data');
  mkdirSync(dataDir, { recursive: true });
  Runtime.install({ logger: new DefaultLogger('WARN'), shutdownSignals: [] });

  console.log('Toolchain');
  const toolchain = await ensureToolchain(consoleReporter);

  console.log('\nServers');
  const temporal = await startDevServer(toolchain.temporalCli, {
    port: Number(options.port),
    uiPort: Number(options.uiPort),
    dbFile: join(dataDir, 'temporal.db'),
    logFile: join(dataDir, 'temporal.log'),
  });
  stops.push(temporal.stop);
  console.log(`  Temporal dev server ${temporal.address}, Web UI ${temporal.uiUrl} (history kept in data/temporal.db)`);
  const moto = await startMotoServer(toolchain, { logFile: join(dataDir, 'moto.log') });
  stops.push(moto.stop);
  console.log(`  AWS emulator (moto) ${moto.endpoint}`);

  // The emulator takes any credentials; the worker finds these through the standard AWS chain.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'demo', AWS_SECRET_ACCESS_KEY: 'demo', AWS_REGION: 'us-east-1' });
  // Node 20 is supported until January 2027; the SDK's reminder would only clutter the demo.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const aws = createAwsClients({ endpoint: moto.endpoint });
  const incident = await stageOrdersIncident(aws.dynamodb());
  console.log(`\nIncident: all ${incident.orders.length} items of DynamoDB table "orders" were deleted.`);
  console.log(`  Last good backup: ${incident.backupArn}`);

  const workerConnection = await NativeConnection.connect({ address: temporal.address });
  const worker = await createRecoveryWorker({
    connection: workerConnection,
    namespace: 'default',
    taskQueue: DEFAULT_TASK_QUEUE,
    dependencies: { aws, plansDir: join(__dirname, '..', 'examples'), notifications: {} },
  });
  const workerRun = worker.run();
  stops.push(async () => {
    worker.shutdown();
    await workerRun;
    await workerConnection.close();
  });
  console.log(`  Recovery worker polling task queue "${DEFAULT_TASK_QUEUE}"`);

  const connection = await Connection.connect({ address: temporal.address });
  stops.push(() => connection.close());
  await registerSearchAttributes(connection, 'default');
  const client = new Client({ connection });
  const workflowId = `demo-orders-restore-${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}`;
  const handle = await client.workflow.start(recoveryWorkflow, {
    taskQueue: DEFAULT_TASK_QUEUE,
    workflowId,
    args: [
      {
        plan: {
          name: 'orders',
          objectives: { rpo: '24h', rto: '1h' },
          contacts: [{ name: 'Demo on-call', role: 'primary', email: 'oncall@example.com' }],
          components: [
            {
              id: 'orders-table',
              kind: 'dynamodb-table',
              description: 'Orders of the shop, restored from last night’s backup.',
              tableName: incident.tableName,
              region: 'us-east-1',
              restoreFrom: 'backup',
              backupArn: incident.backupArn,
              targetTableName: 'orders-restored',
              cutover: 'none',
              estimate: '20m',
              backup: { schedules: [{ type: 'snapshot', cron: '0 3 * * *' }] },
            },
            {
              id: 'clients-reconnect',
              kind: 'wait',
              duration: '3s',
              reason: 'Clients pick up the restored table',
              dependsOn: ['orders-table'],
            },
          ],
        },
        scenario: 'full-restore',
        incident: {
          id: 'DEMO-1',
          detectedAt: new Date().toISOString(),
          source: 'demo',
          summary: 'every order was deleted',
        },
      },
    ],
  });
  const link = `${temporal.uiUrl}/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${handle.firstExecutionRunId}/history`;
  console.log(`\nRecovery started: ${workflowId}\n  Web UI: ${link}`);

  const report = await handle.result();
  console.log(
    `\nRecovery ${report.status} in ${formatMinutes(report.elapsedMinutes)} (RTO ${formatMinutes(report.rtoMinutes)}: ${report.rtoMet ? 'met' : 'NOT met'}):`,
  );
  for (const component of report.components) {
    console.log(
      `  ${component.status === 'succeeded' ? '✓' : '✗'} ${component.id}: ${component.steps.map((step) => `${step.id} ${step.status}`).join(', ')}`,
    );
  }
  const restore = report.components[0]?.steps[0]?.result as { itemCount: number; tableName: string } | undefined;
  console.log(
    `  ${restore?.itemCount} items restored into table "${restore?.tableName}" from the backup of ${report.components[0]?.recoveryPoint}.`,
  );
  console.log(`\nReport (also: npx recovery report ${workflowId}):\n${JSON.stringify(report, null, 2)}`);

  if (options.keep) {
    console.log(`\nEverything keeps running: open ${temporal.uiUrl} to explore. Press Ctrl-C to stop.`);
    await interruption;
  }
}

main()
  .catch((error: unknown) => {
    console.error(
      `\n✗ ${error instanceof ToolchainError ? error.message : error instanceof Error ? error.message : String(error)}`,
    );
    process.exitCode = 1;
  })
  .finally(async () => {
    console.log('\nStopping the worker, the emulator and the dev server…');
    await stopAll();
  });
