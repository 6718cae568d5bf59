/**
 * The whole shop of `examples/aws-region-failover.yaml` staged on this machine, as the day of the
 * incident finds it: its AWS resources in moto, its session cache in a real redis-server, both
 * regions' storefronts answering their health checks, and the example localized into a plans
 * directory of its own. Shared by the demo and the end-to-end test.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createAwsClients } from '../activities/aws-clients';
import { connectRedis } from '../activities/redis/connection';
import { startRedis } from '../activities/redis/server';
import { loadPlan } from '../plan/load';
import type { RecoveryPlan } from '../plan/schema/plan';
import { freePort } from '../toolchain/net';
import {
  createDnsPrerequisites,
  localizeRegionFailover,
  seedRegionFailover,
  STAND_IN_MODULE,
} from './aws-region-failover';

/** The example plan's name, and the variable its `cache` component reads the Redis password from. */
export const SHOP_PLAN = 'aws-region-failover';
export const SHOP_REDIS_PASSWORD_ENV = 'SHOP_REDIS_PASSWORD';

/** Where the session cache runs, keeps its snapshots, and where a restore puts its new server. */
export interface ShopCache {
  port: number;
  dataDir: string;
  backupDir: string;
  restoreDir: string;
  restorePort: number;
}

export interface StagedShop {
  plan: RecoveryPlan;
  plansDir: string;
  hostedZoneId: string;
  cache: ShopCache;
}

export interface StageOptions {
  /** moto's endpoint. */
  endpoint: string;
  /** A folder of this stage alone: the plans, the OpenTofu module, the cache's files. */
  dir: string;
  redisServer: string;
  /** Base URL of the storefronts' health server (startStorefronts). */
  healthBaseUrl: string;
  /** The example's YAML, as shipped. */
  example: string;
}

/** Stages the shop; the Redis password is read from SHOP_REDIS_PASSWORD, which must be set. */
export async function stageShop(o: StageOptions): Promise<StagedShop> {
  const aws = createAwsClients({ endpoint: o.endpoint, region: 'us-east-1' });
  const dns = await createDnsPrerequisites(aws);
  const cache = await startShopCache(o.redisServer, join(o.dir, 'redis'));
  const terraformDir = join(o.dir, 'infra');
  mkdirSync(terraformDir, { recursive: true });
  writeFileSync(join(terraformDir, 'main.tf'), STAND_IN_MODULE);
  const yaml = localizeRegionFailover(o.example, {
    ...dns,
    terraformDir,
    healthBaseUrl: o.healthBaseUrl,
    redis: cache,
  });
  const loaded = loadPlan(yaml);
  if (!loaded.plan) throw new Error(`the localized example does not load: ${JSON.stringify(loaded.errors)}`);
  await seedRegionFailover(o.endpoint, loaded.plan);
  const plansDir = join(o.dir, 'plans');
  mkdirSync(plansDir, { recursive: true });
  writeFileSync(join(plansDir, `${SHOP_PLAN}.yaml`), yaml);
  return { plan: loaded.plan, plansDir, hostedZoneId: dns.hostedZoneId, cache };
}

/** The session cache: a real redis-server holding 20 customers' sessions. */
async function startShopCache(redisServer: string, root: string): Promise<ShopCache> {
  const password = process.env[SHOP_REDIS_PASSWORD_ENV];
  if (!password) throw new Error(`set ${SHOP_REDIS_PASSWORD_ENV} before staging the shop`);
  const cache = {
    port: await freePort(),
    dataDir: join(root, 'data'),
    backupDir: join(root, 'backups'),
    restoreDir: join(root, 'restored'),
    restorePort: await freePort(),
  };
  await startRedis({ redisServer, dir: cache.dataDir, port: cache.port, password, persistence: 'rdb' });
  const client = await connectRedis({ host: '127.0.0.1', port: cache.port, password }, 5_000);
  for (let i = 1; i <= 20; i++) await client.set(`session:${i}`, `cart-of-customer-${i}`);
  client.destroy();
  return cache;
}

/** Both regions' storefronts: `/<region>/health` answers ok while `healthy()` says so, 503 otherwise. */
export async function startStorefronts(healthy: () => boolean = () => true) {
  const server = createServer((_, res) => {
    res.setHeader('content-type', 'application/json');
    if (healthy()) res.end('{"status":"ok"}');
    else res.writeHead(503).end('{"status":"down"}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
