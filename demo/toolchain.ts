/**
 * What the demo needs, installed when missing: the Temporal CLI, moto and OpenTofu always; the
 * Debian data-store packages when this process may install them (root), else only what is there.
 * MariaDB is optional (the demo skips its part and says how to get it); Redis is not, since the
 * example's session cache is part of the failover.
 */
import { toolchainCacheDir } from '../toolchain/cache';
import { findDataServers, installDataServers, type DataServerBinaries } from '../toolchain/data-servers';
import { timed, type EnsureReporter } from '../toolchain/ensure';
import { ToolchainError } from '../toolchain/errors';
import { MOTO_LAUNCHER } from '../toolchain/index';
import { installMoto } from '../toolchain/moto';
import { findTofu, installTofu } from '../toolchain/opentofu';
import { findTemporalCli, installTemporalCli } from '../toolchain/temporal-cli';

export interface DemoToolchain {
  temporalCli: string;
  moto: { motoPython: string; motoLauncher: string };
  tofu: string;
  data: Partial<DataServerBinaries>;
  /** Debian packages still missing, with the command that installs them. */
  missing: { packages: string[]; install: string };
}

export async function ensureDemoToolchain(
  report: EnsureReporter,
  cacheDir = toolchainCacheDir(),
): Promise<DemoToolchain> {
  const temporalCli = await timed(
    report,
    'Temporal CLI (dev server + Web UI)',
    async () => (await findTemporalCli(cacheDir))?.path ?? installTemporalCli(cacheDir, report.say),
    (path) => path,
  );
  const moto = await timed(
    report,
    'AWS emulator moto (Python venv)',
    () => installMoto(cacheDir, report.say),
    (m) => m.python,
  );
  const tofu = await timed(
    report,
    'OpenTofu',
    async () => (await findTofu(cacheDir))?.path ?? installTofu(cacheDir, report.say),
    (path) => path,
  );
  const { binaries, missing } = await timed(
    report,
    'Data stores: Redis (required), MariaDB with mariadb-backup (optional)',
    () => {
      const found = findDataServers();
      if (found.missing.length === 0 || process.getuid?.() !== 0) return Promise.resolve(found);
      try {
        installDataServers(report.say);
      } catch (error) {
        report.say((error as Error).message); // what is missing is said, and skipped, below
      }
      return Promise.resolve(findDataServers());
    },
    (found) => (found.missing.length ? `missing: ${found.missing.join(', ')}` : 'all installed'),
  );
  const install = `sudo apt-get install ${missing.join(' ')}`;
  if (!binaries.redisServer)
    throw new ToolchainError('redis-server is missing: the shop’s session cache runs on it', install);
  return {
    temporalCli,
    moto: { motoPython: moto.python, motoLauncher: MOTO_LAUNCHER },
    tofu,
    data: binaries,
    missing: { packages: missing, install },
  };
}
