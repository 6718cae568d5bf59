import { Argument, Command, CommanderError, Option } from 'commander';
import { version } from '../package.json';
import { cancelCommand } from './commands/cancel';
import { addCodecServerCommand } from './commands/codec-server';
import { approveCommand, RESOLVE_ACTIONS, resolveCommand } from './commands/decide';
import { docsCommand } from './commands/docs';
import { backupsCommand } from './commands/backups';
import { drillCommand, type DrillOptions } from './commands/drill';
import { drillsCommand } from './commands/drills';
import { iamCommand } from './commands/iam';
import { listCommand, RECOVERY_STATUSES } from './commands/list';
import { planCommand } from './commands/plan';
import { REPORT_FORMATS, reportCommand } from './commands/report';
import { schedulesApplyCommand, type SchedulesApplyOptions } from './commands/schedules';
import { serveCommand, type ServeOptions } from './commands/serve';
import { startCommand, type StartOptions } from './commands/start';
import { statusCommand } from './commands/status';
import { validateCommand } from './commands/validate';
import { CommandFailure, UsageError, type CommandResult } from './result';

/** Where the commands that talk to Temporal find it; shown under their --help. */
const CONNECTION_HELP = `
Temporal is found as the worker finds it: TEMPORAL_ADDRESS (default localhost:7233),
TEMPORAL_NAMESPACE (default "default"), TEMPORAL_API_KEY or TEMPORAL_TLS_*, or a TEMPORAL_PROFILE
of ~/.config/temporalio/temporal.toml; recoveries start on task queue RECOVERY_TASK_QUEUE
(default "recovery-engine"). Payloads are encrypted and decrypted with RECOVERY_PAYLOAD_KEY (and
RECOVERY_PAYLOAD_OLD_KEYS) when set, the same keys as the worker's.`;

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

  program
    .command('iam')
    .description('Print the least-privilege IAM policy of the worker that recovers a plan (every scenario, or one)')
    .argument('<plan>', 'plan file (YAML)')
    .option('-s, --scenario <name>', 'only what this scenario needs (default: every scenario)')
    .option('--json', 'the policy document only')
    .action((file: string, options: { scenario?: string; json?: boolean }) => run(iamCommand(file, options)));

  const collect = (value: string, previous: string[]) => [...previous, value];
  program
    .command('drill')
    .description(
      'Rehearse a scenario. --simulate: the real recovery workflow on the time-skipping test server, every step taking its estimate (or, with --from-history, what past real drills took), in seconds of wall time, touching nothing. --real: the scenario as a drill on the Temporal cluster, by its workers, into isolated copies torn down afterwards. Both print the timeline and the verdict and save the evidence (Markdown, JSON, HTML) under the reports folder; exit 1 when the RTO is missed (--real: also when the drill failed or its teardown did)',
    )
    .argument('<plan>', "plan file (YAML); with --real also a plan name of the worker's plans directory")
    .option('--scenario <name>', 'scenario to rehearse (default: the only one, or full-restore)')
    .option('--simulate', 'simulate on the time-skipping test server (npm run bootstrap installs it)')
    .option('--real', 'run it as a real drill on the Temporal cluster and wait for its verdict')
    .option(
      '--from-history',
      'with --simulate: each component takes the median of its last 5 real drills instead of its estimate',
    )
    .option(
      '--reports-dir <dir>',
      'where the evidence goes and past drills are read (default: $RECOVERY_REPORTS_DIR, else drill-reports/)',
    )
    .option('--auto-approve', 'with --real: approve every gate automatically')
    .option(
      '--fail <component:attempts>',
      "make the component's first step fail this many attempts (repeatable)",
      collect,
      [],
    )
    .option('--slow <component:factor>', "multiply the component's estimate (repeatable)", collect, [])
    .option('--approval-delay <duration>', 'how long people take to approve each gate, e.g. 10m', '0m')
    .option('--json', 'machine-readable output')
    .addHelpText('after', CONNECTION_HELP)
    .action((file: string, options: DrillOptions) =>
      run(drillCommand(file, { ...options, live: options.json ? process.stderr : process.stdout })),
    );

  program
    .command('drills')
    .description(
      "List a plan's past drills from the reports folder, newest first, and the trend of each component's achieved RTO across real drills, flagging the ones getting slower",
    )
    .argument('<plan>', 'plan name, or plan file (YAML)')
    .option(
      '--reports-dir <dir>',
      'where drill evidence is saved (default: $RECOVERY_REPORTS_DIR, else drill-reports/)',
    )
    .option('--last <n>', 'real drills per component in the trend', '5')
    .option('--json', 'machine-readable output')
    .action((plan: string, options: { reportsDir?: string; last: string; json?: boolean }) =>
      run(drillsCommand(plan, { ...options, last: Number(options.last) })),
    );

  program
    .command('backups')
    .description(
      'What the backups of each self-hosted data component hold: the newest moment they restore, against the RPO (exit 1 when one is out)',
    )
    .argument('<plan>', 'plan file (YAML)')
    .option('--json', 'machine-readable output')
    .action((file: string, options: { json?: boolean }) => run(backupsCommand(file, options)));

  const schedules = program.command('schedules').description("Put a plan's backup schedules into effect");
  schedules
    .command('apply')
    .description(
      "Create or update the plan's backup schedules: Temporal Schedules for the backups the engine takes (and the RPO watchdog), or with --aws AWS Backup backup plans",
    )
    .argument('<plan>', 'plan file (YAML)')
    .option('--aws', "apply the AWS data components' schedules as AWS Backup backup plans, one per region")
    .option('--vault <name>', 'backup vault of the rules, created when missing (default: Default)')
    .option('--copy-to-region <region>', 'copy every snapshot to this region (with --copy-vault)')
    .option('--copy-vault <name>', 'backup vault to copy into, created when missing (with --copy-to-region)')
    .option('--backup-role <arn>', "role AWS Backup assumes (default: the account's AWSBackupDefaultServiceRole)")
    .option('--dry-run', 'only read, and say what would change')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `\nWith --aws, AWS credentials and region come from the standard chain (environment, profile, role); AWS_ENDPOINT_URL is honoured.\n${CONNECTION_HELP}`,
    )
    .action((file: string, options: SchedulesApplyOptions) => run(schedulesApplyCommand(file, options)));

  program
    .command('start')
    .description('Start a recovery of a scenario of a plan; with --wait, follow it to the end and print its report')
    .argument(
      '<plan>',
      "a plan name of the worker's plans directory (e.g. agama), or a plan file (.yaml/.yml or a path)",
    )
    .option('-s, --scenario <name>', 'scenario to recover (default for a plan file: its only one)')
    .option('--incident <id>', 'incident id: names the recovery, and the RTO clock starts at its detection')
    .option('--detected-at <iso>', 'when the incident was detected (default: now)')
    .option('--target-time <iso>', 'point in time to restore data to (default: the latest recovery point)')
    .option('--auto-approve', 'approve every gate automatically: for drills and tests, never for a real incident')
    .option(
      '--alongside',
      'start even though a recovery of the same plan and scenario is running (one an alarm started, say)',
    )
    .option('--wait', 'show progress until the recovery is over, then its report; exit 1 unless it succeeded')
    .option('--json', 'machine-readable output: {"workflowId","runId"}, or with --wait the final report')
    .addHelpText('after', CONNECTION_HELP)
    .action((plan: string, options: StartOptions) =>
      run(startCommand(plan, { ...options, live: options.json ? process.stderr : process.stdout })),
    );

  program
    .command('status')
    .description('Show where a recovery stands: RTO, components and steps, and what waits for a person')
    .argument('<id>', 'recovery (workflow) id')
    .option('--json', 'the progress object (without a worker: what the server knows)')
    .addHelpText('after', CONNECTION_HELP)
    .action((id: string, options: { json?: boolean }) => run(statusCommand(id, options)));

  program
    .command('approve')
    .description('Approve a gate of a running recovery, so the component behind it starts')
    .argument('<id>', 'recovery (workflow) id')
    .argument('<gate>', 'the gate: the id of the component that waits for approval')
    .option('--by <name>', 'who approves, for the record (default: $USER)')
    .option('--comment <text>', 'why, for the record')
    .option('--json', 'machine-readable output')
    .addHelpText('after', CONNECTION_HELP)
    .action((id: string, gate: string, options: { by?: string; comment?: string; json?: boolean }) =>
      run(approveCommand(id, gate, options)),
    );

  program
    .command('resolve')
    .description(
      'Decide for a component whose step keeps failing: retry it, skip it (done by hand), or abort the recovery',
    )
    .argument('<id>', 'recovery (workflow) id')
    .argument('<component>', 'the component that waits for a decision')
    .addArgument(new Argument('<action>', 'retry, skip or abort').choices(RESOLVE_ACTIONS))
    .option('--by <name>', 'who decides, for the record (default: $USER)')
    .option('--comment <text>', 'why, for the record')
    .option('--json', 'machine-readable output')
    .addHelpText('after', CONNECTION_HELP)
    .action(
      (id: string, component: string, action: string, options: { by?: string; comment?: string; json?: boolean }) =>
        run(resolveCommand(id, component, action, options)),
    );

  program
    .command('cancel')
    .description('Cancel a running recovery: running steps stop, nothing new starts, the record is kept')
    .argument('<id>', 'recovery (workflow) id')
    .option('--reason <text>', "why, for the workflow's history")
    .option('--json', 'machine-readable output')
    .addHelpText('after', CONNECTION_HELP)
    .action((id: string, options: { reason?: string; json?: boolean }) => run(cancelCommand(id, options)));

  program
    .command('report')
    .description('Print the report of a recovery: objectives against what was achieved, and the actual timeline')
    .argument('<id>', 'recovery (workflow) id')
    .addOption(
      new Option('--format <format>', 'Markdown with a Mermaid gantt, or JSON').choices(REPORT_FORMATS).default('md'),
    )
    .option('--json', 'same as --format json')
    .addHelpText('after', CONNECTION_HELP)
    .action((id: string, options: { format?: string; json?: boolean }) => run(reportCommand(id, options)));

  program
    .command('list')
    .description('List recent recoveries, newest first, by their search attributes')
    .addOption(new Option('--status <status>', 'only recoveries in this status').choices(RECOVERY_STATUSES))
    .option('--plan <name>', 'only recoveries of this plan')
    .option('--limit <n>', 'at most this many', '20')
    .option('--json', 'machine-readable output')
    .addHelpText('after', CONNECTION_HELP)
    .action((options: { status?: string; plan?: string; limit?: string; json?: boolean }) => run(listCommand(options)));

  program
    .command('serve')
    .description(
      "Receive alarms (Alertmanager, CloudWatch through SNS, signed webhooks) and start the scenario of the plans' triggers, one recovery per incident; until SIGTERM",
    )
    .option('--port <port>', 'port to listen on', '9095')
    .option('--host <address>', 'address to listen on (0.0.0.0: every interface)', '127.0.0.1')
    .option('--plans-dir <dir>', "the worker's plans directory (default: $RECOVERY_PLANS_DIR, else examples/)")
    .option('--sources <list>', 'alert endpoints to serve, comma-separated', 'alertmanager,sns,generic')
    .option('--insecure-local', 'endpoints whose secret is not set accept anyone: trying it out on 127.0.0.1 only')
    .addHelpText(
      'after',
      `
Secrets come from the environment: RECOVERY_ALERTMANAGER_TOKEN (bearer token of /alerts/alertmanager),
RECOVERY_WEBHOOK_SECRET (HMAC key of /alerts/generic), RECOVERY_SNS_TOPIC_ARNS (comma-separated topics
/alerts/sns accepts), RECOVERY_METRICS_TOKEN (bearer token of /metrics and /-/reload; default: the
Alertmanager token), RECOVERY_TRUST_PROXY (true: client addresses from X-Forwarded-For, behind a load
balancer). SIGHUP or POST /-/reload reloads the plans. GET /healthz is liveness; GET /readyz says
whether plans with triggers are loaded and Temporal answers.
${CONNECTION_HELP}`,
    )
    .action((options: ServeOptions) => run(serveCommand(options)));
  addCodecServerCommand(program, run);

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
    if (error instanceof CommandFailure) {
      process.stderr.write(`${error.message}\n`);
      return 1;
    }
    process.stderr.write(
      `internal error (a bug in recovery, please report it):\n${(error as Error).stack ?? String(error)}\n`,
    );
    return 1;
  }
}
