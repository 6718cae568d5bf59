/**
 * The real recovery worker (createRecoveryWorker, SDK default tuning) in the bench's own process, on
 * a test server. Its AWS clients point at a closed port: no bench plan calls AWS, and a call made by
 * mistake fails at once instead of reaching an account the environment may hold keys for.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ActivityDependencies } from '../activities';
import { createAwsClients } from '../activities/aws-clients';
import { TEST_REPORTS_DIR } from '../test/helpers/engine';
import { bundleWorkflows } from '../test/helpers/servers';
import { createRecoveryWorker } from '../workers/recovery-worker';

const NO_AWS = 'http://127.0.0.1:9';

/** `more` replaces the plans folder (examples/), the reports folder (a temporary one) or adds dependencies. */
export async function inProcessWorker(
  env: TestWorkflowEnvironment,
  taskQueue: string,
  more: Partial<Omit<ActivityDependencies, 'aws'>> = {},
) {
  return createRecoveryWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    dependencies: {
      aws: createAwsClients({ endpoint: NO_AWS, region: 'us-east-1' }),
      plansDir: 'examples',
      notifications: {},
      reportsDir: TEST_REPORTS_DIR,
      ...more,
    },
    workflowBundle: await bundleWorkflows(),
  });
}
