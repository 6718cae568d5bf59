/**
 * Installs what the tests and the demo run — the Temporal CLI, the time-skipping test server and the
 * AWS emulator — into a per-user cache (see toolchain/cache.ts). Idempotent: a second run only checks.
 *
 *   npm run bootstrap
 */
import { toolchainCacheDir } from '../toolchain/cache';
import { ToolchainError } from '../toolchain/errors';
import { installMoto } from '../toolchain/moto';
import { findTemporalCli, installTemporalCli } from '../toolchain/temporal-cli';
import { installTestServer, measureTestServerStart } from '../toolchain/test-server';
import { TOOLCHAIN_VERSIONS } from '../toolchain/versions';

/** The SDK polls a freshly started test server 50 × 100 ms before giving up. */
const SDK_START_BUDGET_MS = 5_000;

const say = (line: string) => console.log(`  ${line}`);

async function step<T>(title: string, body: () => Promise<T>, describe: (result: T) => string): Promise<T> {
  console.log(`▸ ${title}`);
  const started = Date.now();
  const result = await body();
  console.log(`  ✓ ${describe(result)} [${((Date.now() - started) / 1000).toFixed(1)} s]`);
  return result;
}

async function main(): Promise<void> {
  const started = Date.now();
  const cacheDir = toolchainCacheDir();
  console.log(`Recovery Engine toolchain, cached in ${cacheDir} (override with RECOVERY_ENGINE_CACHE)`);

  await step(
    `Temporal CLI ${TOOLCHAIN_VERSIONS.temporalCli} (dev server + Web UI)`,
    async () =>
      (await findTemporalCli(cacheDir)) ?? {
        path: await installTemporalCli(cacheDir, say),
        from: 'installed' as const,
      },
    ({ path, from }) =>
      `${path} (${from === 'installed' ? 'installed now' : from === 'PATH' ? 'found on PATH' : 'found in the cache'})`,
  );

  const testServer = await step(
    `Time-skipping test server ${TOOLCHAIN_VERSIONS.temporalTestServer} (Java)`,
    () => installTestServer(cacheDir, say),
    (install) => install.executable,
  );
  await step(
    'Test server start-up time',
    () => measureTestServerStart(testServer.executable),
    (ms) => {
      const verdict =
        ms < SDK_START_BUDGET_MS / 2 ? 'well inside' : ms < SDK_START_BUDGET_MS ? 'inside, but close to' : 'OVER';
      return `answers after ${ms} ms, ${verdict} the SDK's ${SDK_START_BUDGET_MS} ms limit`;
    },
  );

  await step(
    `AWS emulator moto[server] ${TOOLCHAIN_VERSIONS.moto} (Python venv)`,
    () => installMoto(cacheDir, say),
    (install) => install.python,
  );

  console.log(`Toolchain ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((error: unknown) => {
  if (error instanceof ToolchainError) {
    console.error(`\n✗ ${error.message}`);
  } else {
    console.error('\n✗ bootstrap failed:', error);
  }
  process.exit(1);
});
