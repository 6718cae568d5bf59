/**
 * Agama's MariaDB for the demo: a real server on loopback holding the Agama data (weather stations
 * and their readings), and the example plan `agama` cut down to that one component, localized to
 * this server and to a backup folder of the demo's, with binlog archiving on its chain.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { runDirOf } from '../activities/mysql/server';
import type { RecoveryPlan } from '../plan/schema/plan';
import type { DataServerBinaries } from '../toolchain/data-servers';
import { startLocalMysql, type LocalMysql } from './local-mysql';

/** The variable examples/agama.yaml names for the MariaDB password (passwordEnv, as shipped). */
export const AGAMA_PASSWORD_ENV = 'AGAMA_MYSQL_PASSWORD';
export const AGAMA_COMPONENT = 'agama-mysql';

/** Starts the server with the Agama schema and `readings` rows; sets AGAMA_MYSQL_PASSWORD. */
export async function startAgamaMysql(binaries: DataServerBinaries, root: string): Promise<LocalMysql> {
  const password = `agama-${randomBytes(9).toString('hex')}`;
  process.env[AGAMA_PASSWORD_ENV] = password;
  const mysql = await startLocalMysql(binaries, root, password);
  mysql.sql(
    'CREATE DATABASE agama; ' +
      'CREATE TABLE agama.stations (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL) ENGINE=InnoDB; ' +
      'CREATE TABLE agama.readings (id INT AUTO_INCREMENT PRIMARY KEY, station INT NOT NULL, ' +
      'taken_at DATETIME(6) NOT NULL DEFAULT NOW(6), celsius DECIMAL(4,1) NOT NULL) ENGINE=InnoDB; ' +
      "INSERT INTO agama.stations VALUES (1, 'Riga'), (2, 'Tartu'), (3, 'Vilnius')",
  );
  addReadings(mysql, 300);
  return mysql;
}

/** `count` more readings, spread over the stations (the Sequence engine makes the rows). */
export function addReadings(mysql: LocalMysql, count: number): void {
  mysql.sql(
    `INSERT INTO agama.readings (station, celsius) SELECT 1 + seq % 3, ROUND(-10 + (seq * 7) % 350 / 10, 1) FROM agama.seq_1_to_${count}`,
  );
}

export const readingsCount = (mysql: LocalMysql): number =>
  Number(mysql.sql('SELECT COUNT(*) FROM agama.readings')[0]?.[0]);

/** examples/agama.yaml with only `agama-mysql`, pointed at `mysql` and at `<backupsDir>/agama-mysql`. */
export function localizeAgamaMysql(exampleYaml: string, mysql: LocalMysql, backupsDir: string): string {
  const doc = parseDocument(exampleYaml);
  const plan = doc.toJS() as RecoveryPlan & { triggers?: { scenario: string }[] };
  const index = plan.components.findIndex((c) => c.id === AGAMA_COMPONENT);
  const keep = <T>(path: string, items: T[], wanted: (item: T) => boolean) =>
    [...items.keys()].reverse().forEach((i) => wanted(items[i]!) || doc.deleteIn([path, i]));
  for (const [key, value] of Object.entries({
    port: mysql.port,
    dataDir: mysql.dataDir,
    configFiles: [mysql.configFile],
    logDir: runDirOf(mysql.dataDir),
    backupDir: join(backupsDir, AGAMA_COMPONENT),
    binlogDir: mysql.dataDir,
  }))
    doc.setIn(['components', index, key], doc.createNode(value));
  // The chain of the backup document: weekly full, daily incremental, and binlogs in between.
  doc.addIn(['components', index, 'backup', 'schedules'], doc.createNode({ type: 'log', every: '15m' }));
  keep('components', plan.components, (c) => c.id === AGAMA_COMPONENT);
  keep('scenarios', plan.scenarios ?? [], (s) => (s.components ?? []).every((id) => id === AGAMA_COMPONENT));
  keep('triggers', plan.triggers ?? [], (t) => t.scenario === 'database-restore');
  return doc.toString({ lineWidth: 0 });
}
