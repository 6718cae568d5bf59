import type { AwsClients } from './aws-clients';
import { createDynamoDbPitrActivities } from './dynamodb-pitr';
import { createDynamoDbRestoreActivities } from './dynamodb-restore';
import { createEcsActivities } from './ecs';
import { httpCheck } from './http-check';
import { createNotifyActivities, type NotificationChannels } from './notify';
import { createPlanActivities } from './plans';
import { createRdsActivities } from './rds';
import { createRoute53Activities } from './route53';
import { runCommand } from './run-command';
import { createS3RestoreActivities } from './s3-restore';

/** What activities need from the outside world; the worker builds it, tests build it against emulators. */
export interface ActivityDependencies {
  aws: AwsClients;
  /** Where plans named in a recovery request are read from. */
  plansDir: string;
  notifications: NotificationChannels;
}

/** All activities, bound to their dependencies (samples-typescript's "activities with dependencies"). */
export function createActivities({ aws, plansDir, notifications }: ActivityDependencies) {
  return {
    ...createDynamoDbRestoreActivities(aws),
    ...createDynamoDbPitrActivities(aws),
    ...createRdsActivities(aws),
    ...createS3RestoreActivities(aws),
    ...createRoute53Activities(aws),
    ...createEcsActivities(aws),
    ...createPlanActivities(plansDir),
    ...createNotifyActivities(aws, notifications),
    runCommand,
    httpCheck,
  };
}

export type RecoveryActivities = ReturnType<typeof createActivities>;
