/**
 * Runs the tests with node's test runner in a process group of its own, then checks that nothing
 * they started is still running: servers a test forgot (or could not) stop are listed, killed and
 * fail the run. Ctrl-C stops the whole group.
 *
 *   npm run test:unit                        every test/**\/*.test.ts
 *   npm run test:unit -- test/foo.test.ts    some of them (files, or folders of them)
 */
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function testFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.test.ts'))
    .map((file) => join(dir, file))
    .sort();
}

/** Processes still in the group: `pid command`. */
function groupMembers(pgid: number): string[] {
  const table = execFileSync('ps', ['-eo', 'pid=,pgid=,args='], { encoding: 'utf8' });
  return table
    .split('\n')
    .map((line) => /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null && Number(match[2]) === pgid)
    .map((match) => `${match[1]} ${match[3]!.slice(0, 160)}`);
}

async function main(): Promise<number> {
  // Arguments are test files or folders of them (npm run test:reliability: test/reliability).
  const args = process.argv.slice(2);
  const files = (args.length > 0 ? args : ['test']).flatMap((arg) =>
    statSync(arg).isDirectory() ? testFiles(arg) : [arg],
  );
  const runner = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', '--test-reporter=spec', '--test-timeout=900000', ...files],
    { stdio: 'inherit', detached: true },
  );
  const pgid = runner.pid!;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      try {
        process.kill(-pgid, signal);
      } catch {
        // the group is already gone
      }
    });
  }
  const code = await new Promise<number>((resolve) =>
    runner.once('exit', (exitCode, signal) => resolve(exitCode ?? (signal ? 1 : 0))),
  );

  // Stopped servers may take a moment to exit; anything left after that is an orphan.
  let leftovers = groupMembers(pgid);
  for (let i = 0; i < 20 && leftovers.length > 0; i++) {
    await sleep(250);
    leftovers = groupMembers(pgid);
  }
  if (leftovers.length > 0) {
    console.error(
      `\n✗ the tests left ${leftovers.length} process(es) running; killing them:\n  ${leftovers.join('\n  ')}`,
    );
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // exited meanwhile
    }
    return code || 1;
  }
  return code;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
