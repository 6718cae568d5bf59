import type { AwsClients } from './aws-clients';
import { createBackupActivities } from './backups';
import { createAutoScalingActivities } from './autoscaling';
import { createCloudFormationActivities } from './cloudformation';
import { createDrillEvidenceActivities } from './drill-evidence';
import { createDynamoDbPitrActivities } from './dynamodb-pitr';
import { createDynamoDbRestoreActivities } from './dynamodb-restore';
import { createEcsActivities } from './ecs';
import { httpCheck } from './http-check';
import { createNotifyActivities, type NotificationChannels } from './notify';
import { createPlanActivities } from './plans';
import { createRdsActivities } from './rds';
import { createRoute53Activities } from './route53';
import { runCommand } from './run-command';
import { simulateStep } from './simulate';
import { createS3RestoreActivities } from './s3-restore';
import { createTerraformActivities, type TerraformBinaries } from './terraform';
import { defaultReportsDir } from '../evidence/store';
import { locateDataServers, type DataServerBinaries } from '../toolchain/data-servers';
import type { DataStoreDependencies } from './data-stores';
import { createGitRepoActivities } from './git-repo';
import { createInfluxdbActivities } from './influxdb';
import { createMysqlActivities } from './mysql';
import { createPostgresActivities } from './postgres';
import { createRedisActivities } from './redis';

/** What activities need from the outside world; the worker builds it, tests build it against emulators. */
export interface ActivityDependencies {
  aws: AwsClients;
  /** Where plans named in a recovery request are read from. */
  plansDir: string;
  notifications: NotificationChannels;
  /** terraform / tofu executables; looked up on the worker's PATH when absent. */
  binaries?: TerraformBinaries;
  /** MariaDB, PostgreSQL, Redis, InfluxDB and git programs; found on the worker (Debian paths) when absent. */
  dataBinaries?: DataServerBinaries;
  /** Where drill evidence is saved; RECOVERY_REPORTS_DIR, else drill-reports/ under the current directory, when absent. */
  reportsDir?: string;
}

/** All activities, bound to their dependencies (samples-typescript's "activities with dependencies"). */
export function createActivities({
  aws,
  plansDir,
  notifications,
  binaries,
  dataBinaries,
  reportsDir,
}: ActivityDependencies) {
  // Looked up on first use: a worker that only recovers AWS resources needs none of these programs.
  let found = dataBinaries;
  const stores: DataStoreDependencies = { aws, binaries: () => (found ??= locateDataServers()) };
  return {
    ...createBackupActivities(aws),
    ...createMysqlActivities(stores),
    ...createPostgresActivities(stores),
    ...createRedisActivities(stores),
    ...createInfluxdbActivities(stores),
    ...createGitRepoActivities(stores),
    ...createDynamoDbRestoreActivities(aws),
    ...createDynamoDbPitrActivities(aws),
    ...createRdsActivities(aws),
    ...createS3RestoreActivities(aws),
    ...createRoute53Activities(aws),
    ...createEcsActivities(aws),
    ...createCloudFormationActivities(aws),
    ...createAutoScalingActivities(aws),
    ...createPlanActivities(plansDir),
    ...createNotifyActivities(aws, notifications),
    ...createTerraformActivities(binaries),
    ...createDrillEvidenceActivities(reportsDir ?? defaultReportsDir()),
    runCommand,
    httpCheck,
    simulateStep,
  };
}

export type RecoveryActivities = ReturnType<typeof createActivities>;
