/**
 * Bundles the workflow code once, ahead of time, so a worker started with
 * RECOVERY_WORKFLOW_BUNDLE=dist/workflow-bundle.js skips webpack (seconds of CPU at every start) and
 * every replica runs byte-for-byte the same workflow code. The Dockerfile runs it at build time.
 *
 *   npm run build                 writes dist/workflow-bundle.js
 *   npm run build -- <file>       writes <file>
 */
import { bundleWorkflowCode } from '@temporalio/worker';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';

/** Where `npm run build` writes the bundle (dist/ is git-ignored). */
const DEFAULT_BUNDLE_PATH = resolve(__dirname, '..', 'dist', 'workflow-bundle.js');

async function main(): Promise<void> {
  const target = resolve(process.argv[2] ?? DEFAULT_BUNDLE_PATH);
  const started = Date.now();
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    // webpack's progress lines drown what matters; warnings and errors still show.
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: (message) => console.warn(message),
      error: (message) => console.error(message),
    },
  });
  mkdirSync(dirname(target), { recursive: true });
  // Written beside and renamed: a worker starting meanwhile never loads half a bundle.
  const partial = `${target}.${process.pid}.partial`;
  writeFileSync(partial, code);
  renameSync(partial, target);
  const size = (Buffer.byteLength(code) / 1024 / 1024).toFixed(1);
  console.log(
    `Workflow bundle: ${relative(process.cwd(), target) || target} (${size} MiB) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
