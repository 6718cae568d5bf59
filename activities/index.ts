import type { AwsClients } from './aws-clients';
import { createDynamoDbRestoreActivities } from './dynamodb-restore';

/** What activities need from the outside world; the worker builds it, tests build it against emulators. */
export interface ActivityDependencies {
  aws: AwsClients;
}

/** All activities, bound to their dependencies (samples-typescript's "activities with dependencies"). */
export function createActivities({ aws }: ActivityDependencies) {
  return {
    ...createDynamoDbRestoreActivities(aws),
  };
}

export type RecoveryActivities = ReturnType<typeof createActivities>;
