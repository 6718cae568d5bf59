import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, DefaultLogger, Runtime, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { locateToolchain, type Toolchain } from '../../toolchain';
import { startMotoServer, type MotoServer } from '../../toolchain/moto-server';
import { registerSearchAttributes } from '../../workers/search-attributes';
import { once, onCleanup } from './cleanup';

// Warnings and errors only: the SDK's info lines drown the test report.
Runtime.install({ logger: new DefaultLogger('WARN') });

let toolchain: Promise<Toolchain> | undefined;

/** The bootstrapped toolchain; fails with "run npm run bootstrap" when it is missing. */
export function testToolchain(): Promise<Toolchain> {
  return (toolchain ??= locateToolchain());
}

/** Stops the environment on cleanup, and registers the recovery search attributes on it. */
async function prepare(env: TestWorkflowEnvironment): Promise<TestWorkflowEnvironment> {
  const teardown = once(env.teardown.bind(env));
  env.teardown = teardown;
  onCleanup(teardown);
  await registerSearchAttributes(env.connection, env.namespace ?? 'default');
  return env;
}

/** The Java time-skipping test server: timers of hours complete in milliseconds. */
export async function startTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const { testServer } = await testToolchain();
  return prepare(
    await TestWorkflowEnvironment.createTimeSkipping({
      server: { executable: { type: 'existing-path', path: testServer } },
    }),
  );
}

/** A real Temporal server (the CLI's dev server, in memory) on a free loopback port. */
export async function startDevServerEnv(): Promise<TestWorkflowEnvironment> {
  const { temporalCli } = await testToolchain();
  return prepare(
    await TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'existing-path', path: temporalCli },
        ip: '127.0.0.1',
        log: { format: 'pretty', level: 'error' },
      },
    }),
  );
}

/**
 * moto on a free loopback port. AWS SDK clients find dummy credentials through the standard chain
 * (environment variables), exactly as production finds real ones; only the endpoint differs.
 * `serverEnv` configures moto itself, e.g. MOTO_ECS_SERVICE_RUNNING.
 */
export async function startMoto(serverEnv?: NodeJS.ProcessEnv): Promise<MotoServer> {
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  process.env.AWS_REGION = 'us-east-1';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const moto = await startMotoServer(await testToolchain(), { env: serverEnv });
  const stop = once(() => moto.stop());
  onCleanup(stop);
  return { ...moto, stop };
}

/** The workflow code, bundled once per test file. */
export function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quietLogger });
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (message: string) => console.warn(message),
  error: (message: string) => console.error(message),
};
