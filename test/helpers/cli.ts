import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

const BIN = resolve(__dirname, '..', '..', 'bin', 'recovery.js');

/** Runs the real `recovery` command, as a user would, and returns what it printed and its exit code. */
export function recovery(
  args: string[],
  options: { cwd?: string } = {},
): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: options.cwd ?? resolve(__dirname, '..', '..') },
      (error, stdout, stderr) =>
        done({ stdout, stderr, code: error ? (typeof error.code === 'number' ? error.code : 1) : 0 }),
    );
  });
}
