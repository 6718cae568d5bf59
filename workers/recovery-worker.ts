import type { DataConverter } from '@temporalio/common';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDependencies } from '../activities';

/**
 * How much one worker process takes on at once (SDK defaults when absent: 100 activities, 40
 * workflow tasks, a cache sized to memory), and how long its activities may finish after SIGTERM
 * before they are cancelled (and retried by another worker; SDK default: at once).
 */
export type WorkerTuning = Pick<
  WorkerOptions,
  | 'maxConcurrentActivityTaskExecutions'
  | 'maxConcurrentWorkflowTaskExecutions'
  | 'maxCachedWorkflows'
  | 'shutdownGraceTime'
>;

export interface RecoveryWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  dependencies: ActivityDependencies;
  /** A prebuilt bundle (tests bundle once per file; `npm run build` writes one); otherwise the workflows are bundled at start. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Payload codecs (encryption at rest); clients of the same namespace must use the same. */
  dataConverter?: DataConverter;
  tuning?: WorkerTuning;
}

/** The one worker of Recovery Engine: all workflows and activities on one task queue. */
export function createRecoveryWorker(options: RecoveryWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    activities: createActivities(options.dependencies),
    ...(options.workflowBundle
      ? { workflowBundle: options.workflowBundle }
      : { workflowsPath: require.resolve('../workflows') }),
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
    ...options.tuning,
  });
}
