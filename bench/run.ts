/**
 * `npm run bench`: every benchmark of bench/ in sequence; `npm run bench -- <name> [options]`: one.
 * Each starts what it needs on loopback and stops it. Prints one table of every figure next to its
 * same-run baseline and writes bench/results/<ISO time>.json with the machine it ran on. Exits 1
 * when a benchmark throws (naming it; the others still run). Benchmarks measure; `npm test` does
 * not run them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, platform, release } from 'node:os';
import { dirname, join } from 'node:path';
import type { BenchResult, Benchmark, Figure } from './figures';

/** Loaded lazily: a benchmark's module starts nothing on import, and one missing breaks only itself. */
const BENCHMARKS: Record<string, () => Promise<{ run: Benchmark }>> = {
  overhead: () => import('./overhead'),
  simulation: () => import('./simulation'),
  history: () => import('./history'),
  alerts: () => import('./alerts-load'),
  scale: () => import('./scale'),
  restore: () => import('./restore'),
};

/** The machine, recorded with the figures: they mean little without it. */
function machine() {
  const cores = cpus();
  return {
    cpu: cores[0]?.model ?? 'unknown',
    cores: cores.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
  };
}

const number = (value: number) =>
  Number.isNaN(value) ? '-' : Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(Math.abs(value) >= 1 ? 2 : 3);

/** One table of every figure, as Markdown (pasted into the README as is). */
function table(figures: Figure[]): string {
  const rows = figures.map((f) => [
    f.bench,
    f.figure,
    number(f.value),
    f.unit,
    f.baseline ? `${f.baseline.what}: ${number(f.baseline.value)}` : '',
    f.ratio === undefined ? '' : f.ratio.toFixed(f.ratio < 0.01 ? 5 : 2),
    f.note ?? '',
  ]);
  const header = ['bench', 'figure', 'value', 'unit', 'baseline', 'ratio', 'note'];
  return [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
}

async function main(): Promise<number> {
  const [name, ...args] = process.argv.slice(2);
  if (name !== undefined && !BENCHMARKS[name]) {
    console.error(`usage: npm run bench [-- <${Object.keys(BENCHMARKS).join('|')}> [options]]`);
    return 2;
  }
  const names = name ? [name] : Object.keys(BENCHMARKS);
  const results: BenchResult[] = [];
  const failed: { bench: string; error: string }[] = [];
  const at = new Date().toISOString();
  const file = join(__dirname, 'results', `${at.replace(/:/g, '-')}.json`);
  let current: string | undefined;
  /** Saves and prints what was measured so far: at the end, and on Ctrl-C or SIGTERM (synchronously). */
  const report = () => {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${JSON.stringify({ at, machine: machine(), results, failed }, null, 2)}\n`);
    console.log(`\n${table(results.flatMap((r) => r.figures))}\n`);
    const m = machine();
    console.log(`Machine: ${m.cpu} × ${m.cores}, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}. Saved to ${file}`);
    for (const f of failed) console.error(`FAILED: ${f.bench}: ${f.error.split('\n')[0]}`);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const)
    process.once(signal, () => {
      if (current) failed.push({ bench: current, error: `interrupted by ${signal}` });
      report();
      // The servers' clean-up (test/helpers/cleanup) exits once done; without one, exit here.
      if (process.listenerCount(signal) === 0) process.exit(130);
    });
  for (const bench of names) {
    console.log(`\n== ${bench}`);
    current = bench;
    const started = performance.now();
    try {
      const { run } = await BENCHMARKS[bench]!();
      results.push(await run(name ? args : []));
      console.log(`== ${bench} done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
    } catch (error) {
      console.error(`== ${bench} FAILED:`, error);
      failed.push({ bench, error: error instanceof Error ? error.message : String(error) });
    }
  }
  current = undefined;
  report();
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
