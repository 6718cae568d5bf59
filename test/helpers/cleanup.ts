/**
 * Stops what a test file started, also when the run is interrupted: node's test runner sends its
 * children SIGTERM/SIGINT, which would otherwise kill this process before any `after` hook runs.
 */
const cleanups: (() => Promise<void>)[] = [];

export function onCleanup(cleanup: () => Promise<void>): void {
  cleanups.push(cleanup);
}

/** Runs `cleanup` at most once, whether from a test's `after` hook or from an interruption. */
export function once(cleanup: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= cleanup());
}

async function runAll(): Promise<void> {
  for (const cleanup of cleanups.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      console.error('cleanup failed:', error);
    }
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void runAll().finally(() => process.exit(130));
  });
}
