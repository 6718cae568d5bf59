/**
 * The Agama system of examples/agama-compliant.yaml on loopback, for end-to-end tests: "production"
 * MariaDB, InfluxDB and git servers in a scratch folder, a health endpoint, and the example's YAML
 * with only their addresses, folders and the application's commands written in.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { InfluxClient } from '../../activities/influxdb/client';
import { startInfluxd, stopInfluxdIn, type InfluxdInstance } from '../../activities/influxdb/server';
import { runDirOf, stopMysqlServer } from '../../activities/mysql/server';
import { sh } from '../../plan/kinds/define';
import type { RecoveryPlan } from '../../plan/schema/plan';
import type { DataServerBinaries } from '../../toolchain/data-servers';
import { freePort } from '../../toolchain/net';
import { once, onCleanup } from './cleanup';
import { startSourceMysql, type SourceMysql } from './mysql-fixtures';

/** The environment variable the example names for the MariaDB password (passwordEnv, kept as shipped). */
export const AGAMA_PASSWORD_ENV = 'AGAMA_MYSQL_PASSWORD';

export interface AgamaProduction {
  scratch: string;
  mysql: SourceMysql;
  influx: InfluxdInstance;
  influxClient: InfluxClient;
  /** The bare repository the Ansible checkout comes from (the "git server"). */
  gitServer: string;
  /** The control node's checkout of it: what the recovery finds in checkoutDir. */
  checkoutDir: string;
  /** Commits `files` on main and pushes them to the git server; returns the commit. */
  commit(message: string, files: Record<string, string>): string;
  /** Writes line-protocol points to the production InfluxDB. */
  writePoints(database: string, lines: string[]): Promise<void>;
  healthUrl: string;
  /** Where the plan keeps each component's backups (`<backupsDir>/<component>`). */
  backupsDir: string;
  /** Where agama-app's stand-in commands leave their traces. */
  appDir: string;
  /** Stops every server this fixture started, and any the recovery started in its folder. */
  stop(): Promise<void>;
}

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Ops',
  GIT_AUTHOR_EMAIL: 'ops@example.com',
  GIT_COMMITTER_NAME: 'Ops',
  GIT_COMMITTER_EMAIL: 'ops@example.com',
};

/** Starts MariaDB (binlog on), InfluxDB, the git server with the Ansible repository, and a health endpoint. */
export async function startAgamaProduction(binaries: DataServerBinaries, scratch: string): Promise<AgamaProduction> {
  const git = (cwd: string, ...args: string[]) =>
    execFileSync(binaries.git, args, { cwd, env: GIT_ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  const influxDir = join(scratch, 'influxdb');
  const backupsDir = join(scratch, 'backups');
  const health = createServer((_, res) => res.setHeader('content-type', 'application/json').end('{"status":"ok"}'));
  const stop = once(async () => {
    // The servers a recovery starts beside production (the restored MariaDB, a restored influxd).
    await stopMysqlServer(`${join(scratch, 'source', 'data')}-restored`);
    await stopInfluxdIn(join(backupsDir, 'agama-influxdb', '.restore'));
    await stopInfluxdIn(influxDir);
    await stopMysqlServer(join(scratch, 'source', 'data'));
    await new Promise<void>((resolve) => health.close(() => resolve()));
  });
  onCleanup(stop);

  const [mysql, influx] = await Promise.all([
    startSourceMysql(binaries, scratch, AGAMA_PASSWORD_ENV),
    (async () =>
      startInfluxd({
        influxd: binaries.influxd,
        dir: influxDir,
        httpPort: await freePort(),
        rpcPort: await freePort(),
      }))(),
    new Promise<void>((resolve) => health.listen(0, '127.0.0.1', resolve)),
  ]);

  const gitServer = join(scratch, 'git-server', 'agama-ansible.git');
  const work = join(scratch, 'ansible-work');
  mkdirSync(join(scratch, 'git-server'));
  git(scratch, 'init', '-q', '--bare', '-b', 'main', gitServer);
  git(scratch, 'clone', '-q', `file://${gitServer}`, work);
  git(work, 'checkout', '-q', '-b', 'main');
  const commit = (message: string, files: Record<string, string>) => {
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(work, path, '..'), { recursive: true });
      writeFileSync(join(work, path), content);
    }
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', message);
    git(work, 'push', '-q', 'origin', 'main');
    return git(work, 'rev-parse', 'HEAD');
  };
  commit('Agama playbook', {
    'site.yml': '- hosts: agama\n  roles: [agama]\n',
    'inventory/production': '[agama]\nagama-1.example.com\n',
    'ansible.cfg': '[defaults]\ninventory = inventory/production\n',
  });
  // The control node's checkout, as the recovery will find it.
  const checkoutDir = join(scratch, 'etc-ansible', 'agama');
  mkdirSync(join(scratch, 'etc-ansible'));
  git(scratch, 'clone', '-q', `file://${gitServer}`, checkoutDir);

  const appDir = join(scratch, 'agama-app');
  mkdirSync(appDir);
  const influxClient = new InfluxClient(influx.url, 'production');
  return {
    scratch,
    mysql,
    influx,
    influxClient,
    gitServer,
    checkoutDir,
    commit,
    async writePoints(database, lines) {
      const response = await fetch(`${influx.url}/write?db=${encodeURIComponent(database)}`, {
        method: 'POST',
        body: lines.join('\n'),
      });
      if (response.status !== 204) throw new Error(`write to ${database}: ${response.status} ${await response.text()}`);
    },
    healthUrl: `http://127.0.0.1:${(health.address() as AddressInfo).port}/health`,
    backupsDir,
    appDir,
    stop,
  };
}

/** What the localized plan names besides production's own addresses. */
export interface AgamaLocal {
  mysqlRestorePort: number;
  influxRestorePort: number;
  influxRestoreBackupPort: number;
  /** The mariadb client agama-app's stand-in uses to read the restored database. */
  mariadb: string;
}

/** agama-app's client option file: the MariaDB cut-over points it at the restored server. */
export const appMysqlConfigOf = (p: AgamaProduction) => join(p.appDir, 'mysql-client.cnf');
/** What agama-app's stand-in saw: the orders count of the database it connects to, and the Ansible commit. */
export const appTracesOf = (p: AgamaProduction) => ({
  orders: join(p.appDir, 'orders-seen'),
  commit: join(p.appDir, 'ansible-commit'),
});

/**
 * examples/agama-compliant.yaml for this machine: ports, folders, config, socket and log paths,
 * the git URL, the health URL and agama-app's commands. Schedules, retention, objectives,
 * dependencies and scenarios stay as shipped. One addition: agama-mysql's cutover.command, which
 * points agama-app's client configuration at the restored server (the automated cut-over); the
 * InfluxDB cut-over stays manual, as shipped.
 */
export function localizeAgamaCompliant(yamlText: string, p: AgamaProduction, local: AgamaLocal): string {
  const doc = parseDocument(yamlText);
  const components = (doc.toJS() as RecoveryPlan).components;
  const at = (id: string, ...path: string[]) => {
    const index = components.findIndex((c) => c.id === id);
    if (index < 0) throw new Error(`the example has no component ${id}`);
    return ['components', index, ...path];
  };
  const set = (id: string, values: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(values)) doc.setIn(at(id, key), doc.createNode(value));
  };
  const cnf = appMysqlConfigOf(p);
  const traces = appTracesOf(p);

  set('agama-mysql', {
    port: p.mysql.port,
    dataDir: p.mysql.dataDir,
    configFiles: [p.mysql.configFile],
    logDir: runDirOf(p.mysql.dataDir),
    backupDir: join(p.backupsDir, 'agama-mysql'),
    // Where the server writes its binlogs (log-bin in its data directory).
    binlogDir: p.mysql.dataDir,
    restorePort: local.mysqlRestorePort,
    cutover: {
      command: `printf '[client]\\nhost=127.0.0.1\\nport=%s\\nuser=root\\n' "$RESTORED_MYSQL_PORT" > ${sh(cnf)}`,
    },
  });
  set('agama-influxdb', {
    port: p.influx.httpPort,
    backupPort: p.influx.rpcPort,
    configFile: p.influx.configFile,
    dataDir: p.influx.dir,
    backupDir: join(p.backupsDir, 'agama-influxdb'),
    restorePort: local.influxRestorePort,
    restoreBackupPort: local.influxRestoreBackupPort,
  });
  set('agama-ansible', {
    url: `file://${p.gitServer}`,
    backupDir: join(p.backupsDir, 'agama-ansible'),
    checkoutDir: p.checkoutDir,
  });
  // Stand-ins for ansible-playbook and its check: read the restored playbook, then connect to the
  // database the way the application does and note what it sees.
  set('agama-app', {
    workingDir: p.checkoutDir,
    run: [
      'cat site.yml inventory/production ansible.cfg > /dev/null',
      `MYSQL_PWD="$${AGAMA_PASSWORD_ENV}" ${sh(local.mariadb)} --defaults-file=${sh(cnf)} --batch --skip-column-names -e 'SELECT COUNT(*) FROM agama.orders' > ${sh(traces.orders)}`,
      `git rev-parse HEAD > ${sh(traces.commit)}`,
    ].join(' && '),
    validate: `test -s ${sh(traces.orders)} && test -s ${sh(traces.commit)}`,
  });
  set('agama-health', { url: p.healthUrl });
  return doc.toString({ lineWidth: 0 });
}

/** Removes what `startAgamaProduction` made on disk (after `stop`). */
export function removeScratch(scratch: string): void {
  rmSync(scratch, { recursive: true, force: true });
}
