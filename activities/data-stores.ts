import type { DataServerBinaries } from '../toolchain/data-servers';
import type { AwsClients } from './aws-clients';

/** What the self-hosted data stores' activities need from the worker. */
export interface DataStoreDependencies {
  /** Paths of mariadbd, mariadb-backup, pg_basebackup, redis-server, influxd, git…; resolved on first use. */
  binaries: () => DataServerBinaries;
  aws: AwsClients;
}
