import { toolchainOf, type Toolchain } from '.';
import { toolchainCacheDir } from './cache';
import { installChromium } from './chromium';
import { installDataServers } from './data-servers';
import { installMoto } from './moto';
import { findTofu, installTofu } from './opentofu';
import { findTemporalCli, installTemporalCli } from './temporal-cli';
import { installTestServer, measureTestServerStart } from './test-server';
import { TOOLCHAIN_VERSIONS } from './versions';

/** The SDK polls a freshly started test server 50 × 100 ms before giving up. */
export const SDK_TEST_SERVER_START_BUDGET_MS = 5_000;

export interface EnsureReporter {
  /** A step begins. */
  step: (title: string) => void;
  /** Progress inside a step. */
  say: (line: string) => void;
  /** The step succeeded; `elapsedMs` is how long it took. */
  done: (summary: string, elapsedMs: number) => void;
}

/** Runs one step of the bootstrap, reporting its title, its outcome and how long it took. */
export async function timed<T>(
  report: EnsureReporter,
  title: string,
  body: () => Promise<T>,
  summary: (result: T) => string,
): Promise<T> {
  report.step(title);
  const started = Date.now();
  const result = await body();
  report.done(summary(result), Date.now() - started);
  return result;
}

/**
 * Installs whatever of the toolchain is missing (idempotent: a second run only checks) and
 * returns where it is. Throws ToolchainError naming what is missing and how to get it.
 */
export async function ensureToolchain(report: EnsureReporter, cacheDir = toolchainCacheDir()): Promise<Toolchain> {
  const cli = await timed(
    report,
    `Temporal CLI ${TOOLCHAIN_VERSIONS.temporalCli} (dev server + Web UI)`,
    async () =>
      (await findTemporalCli(cacheDir)) ?? {
        path: await installTemporalCli(cacheDir, report.say),
        from: 'installed' as const,
      },
    ({ path, from }) =>
      `${path} (${from === 'installed' ? 'installed now' : from === 'PATH' ? 'found on PATH' : 'found in the cache'})`,
  );
  const testServer = await timed(
    report,
    `Time-skipping test server ${TOOLCHAIN_VERSIONS.temporalTestServer} (Java)`,
    () => installTestServer(cacheDir, report.say),
    (install) => install.executable,
  );
  await timed(
    report,
    'Test server start-up time',
    () => measureTestServerStart(testServer.executable),
    (ms) => {
      const budget = SDK_TEST_SERVER_START_BUDGET_MS;
      const verdict = ms < budget / 2 ? 'well inside' : ms < budget ? 'inside, but close to' : 'OVER';
      return `answers after ${ms} ms, ${verdict} the SDK's ${budget} ms limit`;
    },
  );
  const moto = await timed(
    report,
    `AWS emulator moto[server] ${TOOLCHAIN_VERSIONS.moto} (Python venv)`,
    () => installMoto(cacheDir, report.say),
    (install) => install.python,
  );
  const tofu = await timed(
    report,
    `OpenTofu ${TOOLCHAIN_VERSIONS.opentofu} (built from the Go module proxy)`,
    async () =>
      (await findTofu(cacheDir)) ?? {
        path: await installTofu(cacheDir, report.say),
        from: 'installed' as const,
      },
    ({ path, from }) =>
      `${path} (${from === 'installed' ? 'built now' : from === 'PATH' ? 'found on PATH' : 'found in the cache'})`,
  );
  const data = await timed(
    report,
    'Data stores: MariaDB with mariadb-backup, PostgreSQL, Redis, InfluxDB 1.x, git (Debian packages)',
    () => Promise.resolve(installDataServers(report.say)),
    (found) => `${found.mariadbd}, ${found.postgresBin}, ${found.redisServer}, ${found.influxd}`,
  );
  const chromium = await timed(
    report,
    'Chromium (Debian package) for the Web UI browser test',
    () => Promise.resolve(installChromium(report.say)),
    (path) => path,
  );
  return toolchainOf(cacheDir, cli.path, testServer, moto, tofu.path, data, chromium);
}

/** Prints each step, its progress and its duration to the console. */
export const consoleReporter: EnsureReporter = {
  step: (title) => console.log(`▸ ${title}`),
  say: (line) => console.log(`  ${line}`),
  done: (summary, ms) => console.log(`  ✓ ${summary} [${(ms / 1000).toFixed(1)} s]`),
};
