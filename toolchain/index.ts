import { join } from 'node:path';
import { toolchainCacheDir } from './cache';
import { findChromium } from './chromium';
import { locateDataServers, type DataServerBinaries } from './data-servers';
import { ToolchainError } from './errors';
import { readMotoInstall } from './moto';
import { findTofu } from './opentofu';
import { findTemporalCli } from './temporal-cli';
import { findJava, javaIdentity, readTestServerInstall } from './test-server';

export { ToolchainError } from './errors';

/** Paths of the servers the tests and the demo start. */
export interface Toolchain {
  cacheDir: string;
  /** `temporal` CLI: dev server with the Web UI. */
  temporalCli: string;
  /** Wrapper that runs the Java time-skipping test server: `<path> <port>`. */
  testServer: string;
  /** Interpreter of the venv that holds moto. */
  motoPython: string;
  /** Launcher run by `motoPython`: `<launcher> <host> <port>`. */
  motoLauncher: string;
  /** OpenTofu `tofu`, at the pinned version: from PATH or built into the cache. */
  tofu: string;
  /** MariaDB, PostgreSQL, Redis, InfluxDB and git programs, from the distribution's packages. */
  data: DataServerBinaries;
  /** Debian's chromium, which the Web UI browser test drives through playwright-core. */
  chromium: string;
}

export const MOTO_LAUNCHER = join(__dirname, 'moto_server.py');

/** Finds the installed toolchain without installing anything; tells what is missing otherwise. */
export async function locateToolchain(cacheDir = toolchainCacheDir()): Promise<Toolchain> {
  const cli = await findTemporalCli(cacheDir);
  const testServer = readTestServerInstall(cacheDir, await javaIdentity(findJava()));
  const moto = readMotoInstall(cacheDir);
  const tofu = await findTofu(cacheDir);
  const chromium = findChromium();
  const missing = [
    !cli && 'the Temporal CLI',
    !testServer && 'the time-skipping test server',
    !moto && 'moto',
    !tofu && 'OpenTofu',
    !chromium && 'Chromium (Debian package chromium)',
  ].filter(Boolean);
  if (!cli || !testServer || !moto || !tofu || !chromium) {
    throw new ToolchainError(`Not installed in ${cacheDir}: ${missing.join(', ')}`, "run 'npm run bootstrap'");
  }
  return toolchainOf(cacheDir, cli.path, testServer, moto, tofu.path, locateDataServers(), chromium);
}

export function toolchainOf(
  cacheDir: string,
  temporalCli: string,
  testServer: { executable: string },
  moto: { python: string },
  tofu: string,
  data: DataServerBinaries,
  chromium: string,
): Toolchain {
  return {
    cacheDir,
    temporalCli,
    testServer: testServer.executable,
    motoPython: moto.python,
    motoLauncher: MOTO_LAUNCHER,
    tofu,
    data,
    chromium,
  };
}
