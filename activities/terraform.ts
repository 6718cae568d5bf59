import { activityInfo } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { which } from '../toolchain/exec';
import { runProcess, type ProcessRun } from './process';

/** Where the worker finds the binaries; a missing one is looked up on PATH when a step needs it. */
export interface TerraformBinaries {
  tofu?: string;
  terraform?: string;
}

export interface TerraformInput {
  workingDir: string;
  binary: 'terraform' | 'tofu';
  workspace?: string;
}

export interface TerraformPlanInput extends TerraformInput {
  /** -var name=value: never secrets (the plan schema says so). */
  vars?: Record<string, string>;
  varFiles?: string[];
  /** Relative to workingDir. */
  planFile: string;
  /** false for drills: a drill must not hold the state lock a real recovery needs. */
  lock?: boolean;
}

export interface TerraformRunResult {
  durationMs: number;
  /** The last lines of output, for the report. */
  outputTail: string;
}

export interface TerraformPlanResult extends TerraformRunResult {
  changes: boolean;
  /** "Plan: 1 to add, 0 to change, 0 to destroy." or "No changes. …" */
  summary: string;
  planFile: string;
}

export interface TerraformApplyResult extends TerraformRunResult {
  applied: boolean;
  /** Whether this attempt planned again instead of applying the saved plan (a retry, or a stale plan). */
  replanned: boolean;
  summary: string;
}

export interface TerraformOutput {
  type?: unknown;
  sensitive: boolean;
  /** `<sensitive>` for sensitive outputs: the report and the workflow history never hold them. */
  value: unknown;
}

export const REDACTED = '<sensitive>';
const STDOUT_LIMIT = 32 * 1024 * 1024;

type Run = ProcessRun;

/** The lines of "Lock Info:" in a state lock error, or undefined if `output` is not one. */
export function parseLockError(output: string): { info: string; id?: string } | undefined {
  if (!output.includes('Error acquiring the state lock')) return undefined;
  const lines = output.split('\n');
  const start = lines.findIndex((line) => line.trim() === 'Lock Info:');
  const info: string[] = [];
  if (start >= 0) {
    for (const line of lines.slice(start + 1)) {
      if (!line.trim()) break;
      info.push(line.trim());
    }
  }
  const id = /^ID:\s*(\S+)/.exec(info.find((line) => line.startsWith('ID:')) ?? '')?.[1];
  return { info: info.join('\n'), id };
}

/** The outputs of `output -json`, sensitive values replaced by `<sensitive>`. */
export function redactOutputs(json: string): Record<string, TerraformOutput> {
  const parsed = JSON.parse(json || '{}') as Record<string, { sensitive?: boolean; type?: unknown; value?: unknown }>;
  return Object.fromEntries(
    Object.entries(parsed).map(([name, output]) => [
      name,
      output.sensitive
        ? { type: output.type, sensitive: true, value: REDACTED }
        : { type: output.type, sensitive: false, value: output.value },
    ]),
  );
}

/** The line that sums up a plan: "Plan: …", "No changes. …", or "Changes to Outputs:". */
export function planSummary(output: string): string {
  const lines = output.split('\n').map((line) => line.trim());
  return (
    lines.find((line) => line.startsWith('Plan:')) ??
    lines.find((line) => line.startsWith('No changes.')) ??
    lines.find((line) => line.startsWith('Changes to Outputs')) ??
    ''
  );
}

/** Whether a saved plan (`show -json`) would change anything: resources or outputs. */
export function planHasChanges(showJson: string): boolean {
  const plan = JSON.parse(showJson) as {
    resource_changes?: { change?: { actions?: string[] } }[];
    output_changes?: Record<string, { actions?: string[] }>;
  };
  const changes = (actions: string[] | undefined) => !!actions && actions.some((action) => action !== 'no-op');
  return (
    (plan.resource_changes ?? []).some((r) => changes(r.change?.actions)) ||
    Object.values(plan.output_changes ?? {}).some((o) => changes(o.actions))
  );
}

/** Activities of the terraform kind, running `binaries.tofu` / `binaries.terraform` (else PATH). */
export function createTerraformActivities(binaries: TerraformBinaries = {}) {
  function executable(binary: TerraformInput['binary']): string {
    const path = binaries[binary] ?? which(binary);
    if (!path) {
      throw ApplicationFailure.nonRetryable(
        `${binary} is not installed on the worker: put it on the worker's PATH`,
        'TerraformNotFound',
      );
    }
    return path;
  }

  async function exec(input: TerraformInput, args: string[], options: { workspaceEnv?: boolean } = {}): Promise<Run> {
    const { workingDir, binary, workspace } = input;
    if (!existsSync(workingDir)) {
      throw ApplicationFailure.nonRetryable(
        `working directory ${workingDir} does not exist on the worker`,
        'TerraformNotRunnable',
      );
    }
    const command = executable(binary);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      TF_IN_AUTOMATION: '1',
      TF_INPUT: '0',
      CHECKPOINT_DISABLE: '1',
    };
    delete env.TF_WORKSPACE;
    if (options.workspaceEnv !== false && workspace) env.TF_WORKSPACE = workspace;
    // SIGTERM first on cancellation: terraform and tofu then stop gracefully and release the state lock.
    return runProcess(command, args, {
      cwd: workingDir,
      env,
      graceMs: 10_000,
      stdoutLimit: STDOUT_LIMIT,
      details: () => ({ command: `${binary} ${args[0]}` }),
    });
  }

  /** Fails the attempt: non-retryable for a held state lock, retryable otherwise. */
  function failure(input: TerraformInput, args: string[], run: Run): ApplicationFailure {
    const lock = parseLockError(run.tail) ?? parseLockError(run.stdout);
    if (lock) {
      return ApplicationFailure.nonRetryable(
        [
          `the state of ${input.workingDir}${input.workspace ? ` (workspace ${input.workspace})` : ''} is locked by another run:`,
          lock.info || '(no lock info given)',
          'Wait for that run to finish, then retry this step. Releasing the lock with ' +
            `\`${input.binary} force-unlock ${lock.id ?? '<LOCK_ID>'}\` is a person's decision, for someone who knows ` +
            'that no one else is running: the engine never does it.',
        ].join('\n'),
        'TerraformStateLocked',
        { lockInfo: lock.info, lockId: lock.id },
      );
    }
    return ApplicationFailure.retryable(
      `${input.binary} ${args[0]} exited with status ${run.exitCode} in ${input.workingDir}\n${run.tail.slice(-1_500)}`,
      'TerraformFailed',
      { exitCode: run.exitCode, outputTail: run.tail },
    );
  }

  async function mustRun(input: TerraformInput, args: string[], options?: { workspaceEnv?: boolean }): Promise<Run> {
    const run = await exec(input, args, options);
    if (run.exitCode !== 0) throw failure(input, args, run);
    return run;
  }

  function planArgs(input: TerraformPlanInput): string[] {
    // Later options win: the plan's own vars override its var files.
    return [
      'plan',
      '-input=false',
      '-no-color',
      '-detailed-exitcode',
      ...(input.lock === false ? ['-lock=false'] : []),
      `-out=${input.planFile}`,
      ...(input.varFiles ?? []).map((file) => `-var-file=${file}`),
      ...Object.entries(input.vars ?? {}).map(([name, value]) => `-var=${name}=${value}`),
    ];
  }

  async function plan(input: TerraformPlanInput): Promise<TerraformPlanResult> {
    const args = planArgs(input);
    const run = await exec(input, args);
    // -detailed-exitcode: 0 no changes, 2 changes, 1 an error.
    if (run.exitCode !== 0 && run.exitCode !== 2) throw failure(input, args, run);
    return {
      changes: run.exitCode === 2,
      summary: planSummary(run.stdout),
      planFile: input.planFile,
      durationMs: run.durationMs,
      outputTail: run.tail,
    };
  }

  return {
    /** Drill teardown: deletes the drill's saved plan, and only a file named like one; nothing to do when it is gone. */
    removeTerraformDrillPlan: ({ workingDir, planFile }: { workingDir: string; planFile: string }) => {
      if (!/^recovery-[a-z0-9-]*drill\.tfplan$/.test(planFile))
        throw ApplicationFailure.nonRetryable(`${planFile} is not a drill's saved plan`, 'NotADrillPlan');
      rmSync(join(workingDir, planFile), { force: true });
      return Promise.resolve({ removed: join(workingDir, planFile) });
    },

    /** `init -input=false`: providers, modules and the state backend. */
    terraformInit: async (input: TerraformInput): Promise<TerraformRunResult> => {
      const run = await mustRun(input, ['init', '-input=false', '-no-color'], { workspaceEnv: false });
      return { durationMs: run.durationMs, outputTail: run.tail };
    },

    /** `workspace select`: the workspace whose state is planned and applied. */
    terraformSelectWorkspace: async (input: TerraformInput & { workspace: string }): Promise<TerraformRunResult> => {
      const run = await mustRun(input, ['workspace', 'select', '-no-color', input.workspace], { workspaceEnv: false });
      return { durationMs: run.durationMs, outputTail: run.tail };
    },

    /** `plan -out=<planFile>`: saves the actions; a drill plans without the lock and never applies. */
    terraformPlan: plan,

    /**
     * Applies the saved plan. Idempotent: a retry (or a stale saved plan, the state having changed
     * since) plans again and applies only when that plan has changes, so an apply that already
     * happened is not repeated.
     */
    terraformApply: async (input: TerraformPlanInput): Promise<TerraformApplyResult> => {
      const planPath = join(input.workingDir, input.planFile);
      let replanned = false;
      let current: TerraformPlanResult | undefined;
      if (activityInfo().attempt === 1 && existsSync(planPath)) {
        const shown = await mustRun(input, ['show', '-json', '-no-color', input.planFile]);
        if (!planHasChanges(shown.stdout)) {
          rmSync(planPath, { force: true });
          return {
            applied: false,
            replanned,
            summary: 'No changes: the saved plan has nothing to apply.',
            durationMs: shown.durationMs,
            outputTail: '',
          };
        }
      } else {
        replanned = true;
        current = await plan(input);
        if (!current.changes) {
          rmSync(planPath, { force: true });
          return {
            applied: false,
            replanned,
            summary: current.summary,
            durationMs: current.durationMs,
            outputTail: '',
          };
        }
      }
      const args = ['apply', '-input=false', '-no-color', '-auto-approve', input.planFile];
      let run = await exec(input, args);
      if (run.exitCode !== 0 && !replanned && /Saved plan is stale/i.test(run.tail)) {
        // The state changed since the plan (an earlier apply of it, or another run): plan again.
        replanned = true;
        current = await plan(input);
        if (!current.changes) {
          rmSync(planPath, { force: true });
          return { applied: false, replanned, summary: current.summary, durationMs: run.durationMs, outputTail: '' };
        }
        run = await exec(input, args);
      }
      if (run.exitCode !== 0) throw failure(input, args, run);
      // Applied: a retry finds no saved plan and plans again instead of applying it twice.
      rmSync(planPath, { force: true });
      const summary = run.stdout
        .split('\n')
        .map((line) => line.trim())
        .find((line) => line.startsWith('Apply complete!'));
      return {
        applied: true,
        replanned,
        summary: summary ?? 'Apply complete!',
        durationMs: run.durationMs,
        outputTail: run.tail,
      };
    },

    /** `output -json`, for the report; sensitive outputs are redacted. */
    terraformOutputs: async (input: TerraformInput): Promise<{ outputs: Record<string, TerraformOutput> }> => {
      const run = await mustRun(input, ['output', '-json', '-no-color']);
      try {
        return { outputs: redactOutputs(run.stdout) };
      } catch (error) {
        throw ApplicationFailure.retryable(
          `${input.binary} output -json printed no JSON: ${(error as Error).message}`,
          'TerraformFailed',
        );
      }
    },
  };
}
