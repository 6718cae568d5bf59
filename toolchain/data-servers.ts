import { existsSync, readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { aptInstall } from './apt';
import { ToolchainError } from './errors';

/**
 * The self-hosted data stores' programs, from the distribution's packages: the servers the tests
 * start on loopback, and the backup and restore tools the activities run on a worker.
 */
export interface DataServerBinaries {
  mariadbd: string;
  mariadbInstallDb: string;
  mariadb: string;
  mariadbBackup: string;
  mysqlbinlog: string;
  /** Directory of PostgreSQL's server programs (initdb, postgres, pg_ctl, pg_basebackup, psql, pg_waldump…). */
  postgresBin: string;
  redisServer: string;
  redisCli: string;
  influxd: string;
  influx: string;
  git: string;
}

/** Debian packages and the program that proves each is installed. */
const PACKAGES: { pkg: string; program: keyof DataServerBinaries; names: string[] }[] = [
  { pkg: 'mariadb-server', program: 'mariadbd', names: ['mariadbd'] },
  { pkg: 'mariadb-server', program: 'mariadbInstallDb', names: ['mariadb-install-db', 'mysql_install_db'] },
  { pkg: 'mariadb-client', program: 'mariadb', names: ['mariadb'] },
  { pkg: 'mariadb-backup', program: 'mariadbBackup', names: ['mariadb-backup'] },
  { pkg: 'mariadb-client', program: 'mysqlbinlog', names: ['mariadb-binlog', 'mysqlbinlog'] },
  { pkg: 'redis-server', program: 'redisServer', names: ['redis-server'] },
  { pkg: 'redis-tools', program: 'redisCli', names: ['redis-cli'] },
  { pkg: 'influxdb', program: 'influxd', names: ['influxd'] },
  { pkg: 'influxdb-client', program: 'influx', names: ['influx'] },
  { pkg: 'git', program: 'git', names: ['git'] },
];

const SEARCH_PATH = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin'];

function which(names: string[]): string | undefined {
  for (const name of names)
    for (const dir of SEARCH_PATH) {
      const candidate = join(dir, name);
      if (dir && existsSync(candidate)) return candidate;
    }
  return undefined;
}

/** Debian keeps PostgreSQL's server programs per major version; the newest one installed wins. */
function findPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0]) return join(root, versions[0], 'bin');
  const initdb = which(['initdb']);
  return initdb && existsSync(join(initdb, '..', 'postgres')) ? join(initdb, '..') : undefined;
}

/** Where each program is, and which packages are missing. Installs nothing. */
export function findDataServers(): { binaries: Partial<DataServerBinaries>; missing: string[] } {
  const binaries: Partial<DataServerBinaries> = {};
  const missing = new Set<string>();
  for (const { pkg, program, names } of PACKAGES) {
    const path = which(names);
    if (path) binaries[program] = path;
    else missing.add(pkg);
  }
  const postgresBin = findPostgresBin();
  if (postgresBin) binaries.postgresBin = postgresBin;
  else missing.add('postgresql');
  return { binaries, missing: [...missing] };
}

/** The programs, or a ToolchainError naming the packages to install. */
export function locateDataServers(): DataServerBinaries {
  const { binaries, missing } = findDataServers();
  if (missing.length > 0)
    throw new ToolchainError(
      `Data store packages missing: ${missing.join(', ')}`,
      `run 'npm run bootstrap' as root, or: apt-get install ${missing.join(' ')}`,
    );
  return binaries as DataServerBinaries;
}

/** Installs the missing packages when this process may (root on Debian/Ubuntu); idempotent. */
export function installDataServers(say: (line: string) => void): DataServerBinaries {
  const { missing } = findDataServers();
  if (missing.length > 0) aptInstall(missing, 'Data store packages', say);
  return locateDataServers();
}
