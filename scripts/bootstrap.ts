/**
 * Installs what the tests and the demo run — the Temporal CLI, the time-skipping test server and the
 * AWS emulator — into a per-user cache (see toolchain/cache.ts). Idempotent: a second run only checks.
 *
 *   npm run bootstrap
 */
import { toolchainCacheDir } from '../toolchain/cache';
import { consoleReporter, ensureToolchain } from '../toolchain/ensure';
import { ToolchainError } from '../toolchain/errors';

async function main(): Promise<void> {
  const started = Date.now();
  const cacheDir = toolchainCacheDir();
  console.log(`Recovery Engine toolchain, cached in ${cacheDir} (override with RECOVERY_ENGINE_CACHE)`);
  await ensureToolchain(consoleReporter, cacheDir);
  console.log(`Toolchain ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((error: unknown) => {
  console.error(error instanceof ToolchainError ? `\n✗ ${error.message}` : error);
  process.exit(1);
});
