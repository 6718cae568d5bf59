/**
 * `npm run bench -- <name> [options]`: runs one benchmark of bench/ (they start their own servers
 * on loopback and stop them). Benchmarks measure; they are not tests and `npm test` does not run them.
 */
const BENCHMARKS: Record<string, () => Promise<unknown>> = {
  alerts: () => import('./alerts-load'),
};

const name = process.argv[2];
const run = name ? BENCHMARKS[name] : undefined;
if (!run) {
  console.error(`usage: npm run bench -- <${Object.keys(BENCHMARKS).join('|')}> [options]`);
  process.exit(2);
}
void run();
