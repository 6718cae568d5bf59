/**
 * How fast a drill is rehearsed on paper: `recovery drill <plan> --simulate`, as a user runs it (a
 * process: the time-skipping server's start, the workflow bundle, the real recovery workflow with
 * every step a durable timer of its estimate, the evidence saved), on a generated plan of 40
 * components whose critical path is exactly 4 hours. The baseline is those 4 hours.
 *
 *   npm run bench -- simulation [--runs 2]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import type { SimulatedDrill } from '../cli/commands/drill';
import { compared, type Benchmark } from './figures';
import { criticalPathSeconds, dagPlan, generateDag } from './plans';

/** Step durations in seconds: the DAG's critical path of five of them adds up to 4 h. */
const DURATIONS = [864, 1440, 2304];

export const run: Benchmark = async (args) => {
  const { values } = parseArgs({ args, options: { runs: { type: 'string', default: '2' } } });
  const dag = generateDag(8, 5, DURATIONS);
  const ideal = criticalPathSeconds(dag);
  const scratch = mkdtempSync(join(tmpdir(), 'recovery-bench-sim-'));
  try {
    const file = join(scratch, 'bench-4h.yaml');
    writeFileSync(file, stringify(dagPlan(dag, 'bench-4h', '5h')));
    // The first run pays for the JVM's and tsx's cold start; the later ones are what a user sees on a second try.
    const walls: number[] = [];
    let drill: SimulatedDrill | undefined;
    for (let i = 0; i < Math.max(1, Number(values.runs)); i++) {
      const started = performance.now();
      drill = await simulate(file, join(scratch, 'reports'));
      walls.push((performance.now() - started) / 1000);
    }
    if (Math.abs(drill!.achievedRtoMinutes - ideal.seconds / 60) > 1)
      throw new Error(
        `the simulation took ${drill!.achievedRtoMinutes} min of plan time, expected ${ideal.seconds / 60}`,
      );
    const best = Math.min(...walls);
    return {
      bench: 'simulation',
      settings: { components: dag.length, steps: drill!.steps.length, criticalPathMinutes: ideal.seconds / 60, walls },
      figures: [
        compared({
          bench: 'simulation',
          figure: `recovery drill --simulate, ${drill!.steps.length}-step 4 h plan, first run`,
          value: walls[0]!,
          unit: 's',
          baseline: { what: 'the plan in real time', value: ideal.seconds },
          note: `simulated RTO ${drill!.achievedRtoMinutes} min; whole command: JVM, bundle, workflow, evidence`,
        }),
        compared({
          bench: 'simulation',
          figure: `recovery drill --simulate, best of ${walls.length}`,
          value: best,
          unit: 's',
          baseline: { what: 'the plan in real time', value: ideal.seconds },
          note: `${Math.round(ideal.seconds / best)}× faster than real time`,
        }),
      ],
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
};

/** Runs the `recovery` command as a user would, and returns its JSON report. */
function simulate(file: string, reportsDir: string): Promise<SimulatedDrill> {
  const bin = join(__dirname, '..', 'bin', 'recovery.js');
  const child = spawn(process.execPath, [bin, 'drill', file, '--simulate', '--json', '--reports-dir', reportsDir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr = `${stderr}${chunk}`.slice(-4_000)));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0)
        reject(new Error(`recovery drill --simulate exited with ${code}:\n${stderr}${stdout.slice(-2_000)}`));
      else resolve(JSON.parse(stdout) as SimulatedDrill);
    });
  });
}
