import { Command } from 'commander';
import { version } from '../package.json';

/** The `recovery` command line. Commands are added as the engine grows (see the README). */
export function createProgram(): Command {
  return new Command('recovery')
    .description('Recovery Engine: disaster-recovery plans run as durable Temporal workflows')
    .version(version)
    .showHelpAfterError();
}

/** Runs the CLI and resolves to its exit code. */
export async function main(argv: string[]): Promise<number> {
  await createProgram().parseAsync(argv);
  return 0;
}
