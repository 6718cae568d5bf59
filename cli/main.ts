import { Command, CommanderError } from 'commander';
import { version } from '../package.json';
import { docsCommand } from './commands/docs';
import { planCommand } from './commands/plan';
import { validateCommand } from './commands/validate';
import { UsageError, type CommandResult } from './result';

/** The `recovery` command line; each action returns a CommandResult and prints nothing itself. */
export function createProgram(run: (result: Promise<CommandResult>) => void): Command {
  const program = new Command('recovery')
    .description('Recovery Engine: disaster-recovery plans run as durable Temporal workflows')
    .version(version)
    .showHelpAfterError()
    .exitOverride();

  program
    .command('validate')
    .description('Check plan files: prints "ok", or one line per problem as <file>:<line>:<col> <path> <message>')
    .argument('<plan...>', 'plan files (YAML)')
    .action((files: string[]) => run(validateCommand(files)));

  program
    .command('plan')
    .description('Show the recovery order, the critical path and the RPO/RTO verdicts of a scenario')
    .argument('<plan>', 'plan file (YAML)')
    .option('-s, --scenario <name>', 'scenario to analyse (default: the only one)')
    .option('--json', 'machine-readable output')
    .action((file: string, options: { scenario?: string; json?: boolean }) => run(planCommand(file, options)));

  program
    .command('docs')
    .description('Write a Markdown runbook per scenario, with dependency and timeline diagrams')
    .argument('<plan>', 'plan file (YAML)')
    .requiredOption('-o, --out <dir>', 'output folder; runbooks go to <dir>/<plan>/<scenario>.md')
    .action((file: string, options: { out: string }) => run(docsCommand(file, options)));

  return program;
}

/** Runs the CLI and resolves to its exit code: 0 ok, 2 invalid input, 1 anything else. */
export async function main(argv: string[]): Promise<number> {
  let pending: Promise<CommandResult> | undefined;
  try {
    await createProgram((result) => {
      pending = result;
    }).parseAsync(argv);
    if (!pending) return 0;
    const result = await pending;
    process.stdout.write(result.stdout);
    if (result.stderr) process.stderr.write(result.stderr);
    return result.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof UsageError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    process.stderr.write(
      `internal error (a bug in recovery, please report it):\n${(error as Error).stack ?? String(error)}\n`,
    );
    return 1;
  }
}
