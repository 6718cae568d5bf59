/**
 * The demo: the shop of examples/aws-region-failover.yaml loses its primary region, an alarm
 * starts the recovery, and it runs end to end, visible in the Temporal Web UI. Everything runs on
 * 127.0.0.1: the Temporal dev server with its Web UI (SQLite in ./data), moto seeded with the
 * example's AWS resources, the shop's Redis session cache, Agama's MariaDB backed up on its chain
 * (when MariaDB is installed), the recovery worker and the alarm receiver (`recovery serve`).
 *
 *   npm run demo [-- --keep] [-- --port 7233 --ui-port 8233 --receiver-port 9095 --data-dir data]
 */
import { Connection, Client } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pino } from 'pino';
import { createAwsClients } from '../activities/aws-clients';
import { stopMysqlServer } from '../activities/mysql/server';
import { stopRedis } from '../activities/redis/server';
import { backupsCommand } from '../cli/commands/backups';
import { followRecovery } from '../cli/start-recovery';
import type { TemporalTarget } from '../cli/temporal-client';
import { addReadings, AGAMA_COMPONENT, localizeAgamaMysql, readingsCount, startAgamaMysql } from '../demo/agama-mysql';
import { actAsOnCall } from '../demo/on-call';
import { SHOP_PLAN, SHOP_REDIS_PASSWORD_ENV, stageShop, startStorefronts } from '../demo/shop-stage';
import { ensureDemoToolchain } from '../demo/toolchain';
import type { BackupType } from '../backups/manifest';
import { startDevServer } from '../toolchain/dev-server';
import { consoleReporter } from '../toolchain/ensure';
import { ToolchainError } from '../toolchain/errors';
import { startMotoServer } from '../toolchain/moto-server';
import { PlanRegistry } from '../triggers/plan-registry';
import { recoveryIdOf } from '../triggers/routing';
import { buildAlertReceiver, LISTEN_BACKLOG, RECEIVER_VARIABLES } from '../triggers/server';
import { DEFAULT_TASK_QUEUE } from '../workers/config';
import { createRecoveryWorker } from '../workers/recovery-worker';
import { registerSearchAttributes } from '../workers/search-attributes';
import { backupWorkflow, recoveryWorkflow } from '../workflows';
import { reportMarkdown } from '../workflows/report-markdown';

const options = new Command('npm run demo --')
  .option('--keep', 'keep everything running after the recovery, to explore the Web UI; Ctrl-C stops it')
  .option('--port <port>', 'Temporal frontend port', '7233')
  .option('--ui-port <port>', 'Temporal Web UI port', '8233')
  .option('--receiver-port <port>', 'alarm receiver port', '9095')
  .option('--data-dir <dir>', 'where the Temporal database, the logs and the run’s files go', 'data')
  .parse()
  .opts<{ keep?: boolean; port: string; uiPort: string; receiverPort: string; dataDir: string }>();

const ROOT = resolve(__dirname, '..');
const DATA = resolve(ROOT, options.dataDir);
/** This run's servers, plans, backups and report; the previous run's are removed at start. */
const RUN = join(DATA, 'demo');
const SHOP_DIR = join(RUN, 'shop');
const AGAMA_DIR = join(RUN, 'agama');
const NAMESPACE = 'default';

const stops: { what: string; stop: () => Promise<unknown> }[] = [];
const onStop = (what: string, stop: () => Promise<unknown>) => stops.push({ what, stop });
async function stopAll(): Promise<void> {
  for (const { what, stop } of stops.splice(0).reverse())
    await stop().catch((error: unknown) => console.error(`  could not stop ${what}: ${(error as Error).message}`));
}

class Interrupted extends Error {}
const interrupted = new Promise<never>((_, reject) => {
  const stop = () => reject(new Interrupted('interrupted'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
});
interrupted.catch(() => undefined);

const section = (title: string) => console.log(`\n━━ ${title}`);
const rel = (path: string) => relative(process.cwd(), path) || '.';

/** Servers a previous demo run left (killed before it could stop them), then its files. */
async function clearPreviousRun(): Promise<void> {
  for (const dir of ['data', 'restored'].map((d) => join(SHOP_DIR, 'redis', d))) await stopRedis({ dir }, 0);
  for (const dir of ['', '-restored'].map((suffix) => join(AGAMA_DIR, 'source', `data${suffix}`)))
    await stopMysqlServer(dir);
  rmSync(RUN, { recursive: true, force: true });
  mkdirSync(RUN, { recursive: true });
}

async function demo(): Promise<void> {
  mkdirSync(DATA, { recursive: true });
  // The worker's log goes to a file; the notifications it sends (its log channel) show here too.
  const workerLog = createWriteStream(join(DATA, 'worker.log'), { flags: 'a' });
  const logger = new DefaultLogger('INFO', ({ level, message, meta }) => {
    workerLog.write(`${JSON.stringify({ level, message, ...meta })}\n`);
    if (meta?.activityType === 'notify' && meta.event) console.log(`  ✉ ${shortNotification(message)}`);
  });
  Runtime.install({ logger, shutdownSignals: [] });
  // Node 20 is supported until January 2027; the SDK's reminder would only clutter the demo.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

  section('Toolchain (installed into the cache when missing)');
  const tools = await ensureDemoToolchain(consoleReporter);
  await clearPreviousRun();

  section('Servers, all on 127.0.0.1');
  const temporal = await startDevServer(tools.temporalCli, {
    port: Number(options.port),
    uiPort: Number(options.uiPort),
    dbFile: join(DATA, 'temporal.db'),
    logFile: join(DATA, 'temporal.log'),
  });
  onStop('the Temporal dev server', temporal.stop);
  console.log(
    `  Temporal dev server ${temporal.address}; Web UI ${temporal.uiUrl} (history kept in ${rel(join(DATA, 'temporal.db'))})`,
  );
  const moto = await startMotoServer(tools.moto, { logFile: join(DATA, 'moto.log') });
  onStop('moto', moto.stop);
  console.log(`  AWS emulator (moto) ${moto.endpoint}`);
  // The emulator takes any credentials; the worker finds these through the standard AWS chain.
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'demo', AWS_SECRET_ACCESS_KEY: 'demo', AWS_REGION: 'us-east-1' });
  const storefronts = await startStorefronts();
  onStop('the storefronts', storefronts.close);
  console.log(`  Storefront health checks of both regions ${storefronts.baseUrl}/<region>/health`);

  // Secrets stay in this process's environment: plans and workflow histories only name the variables.
  process.env[SHOP_REDIS_PASSWORD_ENV] = `shop-${randomBytes(9).toString('hex')}`;
  process.env[RECEIVER_VARIABLES.alertmanagerToken] = randomBytes(18).toString('base64url');
  const example = readFileSync(join(ROOT, 'examples', `${SHOP_PLAN}.yaml`), 'utf8');
  const shop = await stageShop({
    endpoint: moto.endpoint,
    dir: SHOP_DIR,
    redisServer: tools.data.redisServer!,
    healthBaseUrl: storefronts.baseUrl,
    example,
  });
  const password = process.env[SHOP_REDIS_PASSWORD_ENV];
  onStop('the session cache', () => stopRedis({ dir: shop.cache.dataDir, port: shop.cache.port, password }));
  onStop('the restored session cache', () =>
    stopRedis({ dir: shop.cache.restoreDir, port: shop.cache.restorePort, password }),
  );
  console.log(
    `  The shop, staged from examples/${SHOP_PLAN}.yaml: RDS shop-orders, DynamoDB shop-sessions, S3 shop-assets and its\n` +
      `  replica, ECS services orders-api and web (0 tasks in us-west-2), Route 53 myapp.example.com → us-east-1,\n` +
      `  the session cache on redis-server :${shop.cache.port} with 20 sessions; plan in ${rel(shop.plansDir)}`,
  );

  const agama = await startAgama(tools.data, tools.missing.install, shop.plansDir);

  const aws = createAwsClients({ endpoint: moto.endpoint });
  const workerConnection = await NativeConnection.connect({ address: temporal.address });
  const worker = await createRecoveryWorker({
    connection: workerConnection,
    namespace: NAMESPACE,
    taskQueue: DEFAULT_TASK_QUEUE,
    dependencies: {
      aws,
      plansDir: shop.plansDir,
      notifications: {},
      binaries: { tofu: tools.tofu },
      reportsDir: join(RUN, 'reports'),
    },
  });
  const workerRun = worker.run();
  onStop('the worker', async () => {
    worker.shutdown();
    await workerRun;
    await workerConnection.close();
  });
  console.log(`  Recovery worker on task queue "${DEFAULT_TASK_QUEUE}", plans from ${rel(shop.plansDir)}`);

  const connection = await Connection.connect({ address: temporal.address });
  onStop('the client connection', () => connection.close());
  await registerSearchAttributes(connection, NAMESPACE);
  const client = new Client({ connection, namespace: NAMESPACE });
  await terminateLeftovers(client);
  const target: TemporalTarget = {
    client,
    namespace: NAMESPACE,
    taskQueue: DEFAULT_TASK_QUEUE,
    close: () => Promise.resolve(),
  };

  const plans = new PlanRegistry(shop.plansDir, pino({ level: 'warn' }));
  await plans.reload();
  const receiver = buildAlertReceiver({
    temporal: target,
    plans,
    auth: { alertmanagerToken: process.env[RECEIVER_VARIABLES.alertmanagerToken] },
    sources: ['alertmanager'],
    logger: pino({ level: 'info' }, pino.destination({ dest: join(RUN, 'receiver.log'), sync: false })),
  });
  await receiver.listen({ host: '127.0.0.1', port: Number(options.receiverPort), backlog: LISTEN_BACKLOG });
  onStop('the alarm receiver', () => receiver.close());
  const receiverUrl = `http://127.0.0.1:${options.receiverPort}`;
  console.log(`  Alarm receiver (recovery serve) ${receiverUrl}, log in ${rel(join(RUN, 'receiver.log'))}`);

  const backup = async (plan: string, component: string, type: BackupType) => {
    const report = await client.workflow.execute(backupWorkflow, {
      taskQueue: DEFAULT_TASK_QUEUE,
      workflowId: `demo-backup-${component}-${type}-${Date.now()}`,
      args: [{ plan, component, type }],
    });
    console.log(
      `  ✓ ${component} ${type} backup ${report.backupId}: ${report.files} files, ${(report.bytes / 1024).toFixed(0)} KiB, chain checked (${report.integrity.checksums.chain.length} link${report.integrity.checksums.chain.length === 1 ? '' : 's'})`,
    );
  };

  section('Before the incident: backups, taken by the engine (backupWorkflow) as their schedules would');
  await backup(SHOP_PLAN, 'cache', 'snapshot');
  if (agama) {
    await backup(agama.plan, AGAMA_COMPONENT, 'full');
    addReadings(agama.mysql, 200);
    await backup(agama.plan, AGAMA_COMPONENT, 'incremental');
    addReadings(agama.mysql, 100);
    await backup(agama.plan, AGAMA_COMPONENT, 'log');
    console.log(
      `  Agama's chain: full → incremental → binlogs, ${readingsCount(agama.mysql)} readings in all. Its RPO view:`,
    );
    const view = await backupsCommand(agama.planFile, {});
    console.log(view.stdout.replace(/^/gm, '    ').trimEnd());
  }

  section('The incident: us-east-1 stops answering, and Alertmanager fires ShopRegionDown');
  const startsAt = new Date().toISOString();
  const notification = alertmanagerNotification('ShopRegionDown', startsAt);
  console.log(
    `  What Alertmanager sends (the token is in $${RECEIVER_VARIABLES.alertmanagerToken}):\n` +
      `  $ curl -X POST ${receiverUrl}/alerts/alertmanager -H "Authorization: Bearer $${RECEIVER_VARIABLES.alertmanagerToken}" \\\n` +
      `      -H 'content-type: application/json' -d '${JSON.stringify(notification)}'`,
  );
  const response = await fetch(`${receiverUrl}/alerts/alertmanager`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${process.env[RECEIVER_VARIABLES.alertmanagerToken]}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify(notification),
  });
  console.log(`  Receiver answered ${response.status}: ${await response.text()}`);
  if (response.status !== 202) throw new Error('the receiver did not accept the alarm');

  const workflowId = recoveryIdOf(SHOP_PLAN, 'region-failover');
  const handle = client.workflow.getHandle<typeof recoveryWorkflow>(workflowId);
  const { runId } = await handle.describe();
  const link = `${temporal.uiUrl}/namespaces/${NAMESPACE}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`;
  console.log(`\n  Recovery ${workflowId} started; watch it in the Web UI:\n  ${link}`);

  section('The recovery (the plan asks for approval before it starts, and before DNS moves)');
  // One status line per change; the on-call's lines below say what is done about each stop.
  const live = { write: (text: string) => process.stdout.write(text.replace(/^ {2}.*\n?/gm, '')) };
  const following = followRecovery(target, handle, { live });
  // Awaited together: when Ctrl-C closes the connections under both, neither failure goes unhandled.
  const [outcome] = await Promise.all([following, actAsOnCall(target, handle, following)]);
  if (!('report' in outcome))
    throw new Error(`the recovery did not finish: ${'refused' in outcome ? outcome.refused : outcome.ended}`);
  const report = outcome.report;
  const reportFile = join(RUN, 'report.md');
  writeFileSync(reportFile, reportMarkdown(report));

  section(`Report (also: npx recovery report ${workflowId}; saved in ${rel(reportFile)})`);
  console.log(reportMarkdown(report).split('\n## Timeline')[0]!.trimEnd());

  section('Where to look');
  console.log(`  This recovery:   ${link}`);
  console.log(
    `  All recoveries:  ${temporal.uiUrl}/namespaces/${NAMESPACE}/workflows?query=${encodeURIComponent('RecoveryPlan IS NOT NULL')}`,
  );
  console.log(
    `  Backups:         ${temporal.uiUrl}/namespaces/${NAMESPACE}/workflows?query=${encodeURIComponent("WorkflowType = 'backupWorkflow'")}`,
  );
  console.log(
    `  From a shell:    TEMPORAL_ADDRESS=${temporal.address} npx recovery status ${workflowId}   (also: list, report)`,
  );
  if (report.status !== 'succeeded') throw new Error(`the recovery ended ${report.status}`);

  if (options.keep) {
    console.log(`\nEverything keeps running to explore: ${temporal.uiUrl}. Press Ctrl-C to stop it all.`);
    await new Promise(() => undefined); // until Ctrl-C
  }
}

/**
 * Workflows an interrupted earlier run left running in data/temporal.db: their servers are gone,
 * and the alarm would join that recovery instead of starting a new one.
 */
async function terminateLeftovers(client: Client): Promise<void> {
  for await (const w of client.workflow.list({ query: 'ExecutionStatus = "Running"' })) {
    await client.workflow.getHandle(w.workflowId, w.runId).terminate('left running by an interrupted demo run');
    console.log(`  Terminated ${w.workflowId}, left running by an interrupted demo run`);
  }
}

/** Agama's MariaDB with its data and its plan in the plans directory; skipped when MariaDB is missing. */
async function startAgama(
  data: Awaited<ReturnType<typeof ensureDemoToolchain>>['data'],
  install: string,
  plansDir: string,
) {
  const binaries = data as Required<typeof data>;
  if (!binaries.mariadbd || !binaries.mariadbBackup || !binaries.mysqlbinlog || !binaries.mariadb) {
    console.log(
      `  MariaDB or mariadb-backup is not installed: skipping Agama's database backups (to include them: ${install})`,
    );
    return undefined;
  }
  onStop("Agama's MariaDB", () => stopMysqlServer(join(AGAMA_DIR, 'source', 'data')));
  // A database-restore started from the UI or the CLI (the tour) brings up a restored server beside it.
  onStop("Agama's restored MariaDB", () => stopMysqlServer(join(AGAMA_DIR, 'source', 'data-restored')));
  const mysql = await startAgamaMysql(binaries, AGAMA_DIR);
  const planFile = join(plansDir, 'agama.yaml');
  writeFileSync(
    planFile,
    localizeAgamaMysql(readFileSync(join(ROOT, 'examples', 'agama.yaml'), 'utf8'), mysql, join(AGAMA_DIR, 'backups')),
  );
  console.log(
    `  Agama's MariaDB :${mysql.port} with ${readingsCount(mysql)} weather readings; plan in ${rel(planFile)}`,
  );
  return { mysql, plan: 'agama', planFile };
}

/** A notification without what the demo shows anyway: the recovery's name and the decide command. */
const shortNotification = (message: string) =>
  message
    .replace(/^(\[\w+\]) Recovery \S+ \([^)]*\): /, '$1 ')
    .replace(/; decide with: .*?(?= Call:)/, '')
    .replace(/ Call: /, ' → ');

/** An Alertmanager webhook notification (version 4) of one firing alert, as the example's trigger matches it. */
function alertmanagerNotification(alertname: string, startsAt: string) {
  const labels = { alertname, region: 'us-east-1', severity: 'critical' };
  return {
    version: '4',
    groupKey: `{}:{alertname="${alertname}"}`,
    status: 'firing',
    receiver: 'recovery-engine',
    groupLabels: { alertname },
    commonLabels: labels,
    commonAnnotations: { summary: 'The shop does not answer in us-east-1' },
    externalURL: 'http://127.0.0.1:9093',
    alerts: [
      {
        status: 'firing',
        labels,
        annotations: { summary: 'The shop does not answer in us-east-1' },
        startsAt,
        endsAt: '0001-01-01T00:00:00Z',
        generatorURL: 'http://127.0.0.1:9090/graph',
      },
    ],
  };
}

Promise.race([demo(), interrupted])
  .catch((error: unknown) => {
    if (error instanceof Interrupted) {
      console.log('\nInterrupted.');
      process.exitCode = 130;
    } else {
      console.error(
        `\n✗ ${error instanceof ToolchainError ? error.message : error instanceof Error ? error.message : String(error)}`,
      );
      process.exitCode = 1;
    }
  })
  .finally(async () => {
    console.log(`\nStopping everything the demo started…${existsSync(RUN) ? ` (its files stay in ${rel(RUN)})` : ''}`);
    await stopAll();
    process.exit();
  });
