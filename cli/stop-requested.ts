/**
 * Resolves on SIGTERM, SIGINT or `signal`: how the long-running commands (`serve`, `codec-server`)
 * know to close their listener and let requests in flight finish.
 */
export function stopRequested(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
      signal?.removeEventListener('abort', stop);
      resolve();
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    signal?.addEventListener('abort', stop);
    if (signal?.aborted) stop();
  });
}
