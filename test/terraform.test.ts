/**
 * The terraform kind's activities with a real OpenTofu (built by the bootstrap) on throw-away working
 * directories: built-in `terraform_data` resources and local state only, no provider downloads.
 */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTerraformActivities, REDACTED, type TerraformPlanInput } from '../activities/terraform';
import { DRILL_SUFFIX } from '../plan/kinds/define';
import { schema, terraformKind } from '../plan/kinds/terraform';
import { runActivity } from './helpers/activity';
import { testToolchain } from './helpers/servers';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-terraform-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const MAIN_TF = `
variable "name" {
  type = string
}

variable "size" {
  type    = number
  default = 1
}

resource "terraform_data" "app" {
  input = "\${var.name}-\${var.size}"
}

output "app" {
  value = terraform_data.app.output
}

output "token" {
  value     = "s3cr3t-\${var.name}"
  sensitive = true
}
`;

let activities: ReturnType<typeof createTerraformActivities>;
let tofu: string;

before(async () => {
  tofu = (await testToolchain()).tofu;
  activities = createTerraformActivities({ tofu });
});

/** A root module in a fresh directory, with a var file setting `size`. */
function workingDir(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'main.tf'), MAIN_TF);
  writeFileSync(join(dir, 'sizes.tfvars'), 'size = 3\n');
  return dir;
}

function component(dir: string, vars: Record<string, string> = { name: 'orders' }) {
  return schema.parse({
    kind: 'terraform',
    id: 'infra',
    workingDir: dir,
    binary: 'tofu',
    vars,
    varFiles: ['sizes.tfvars'],
  });
}

/** Runs the automated steps of the kind in order, as the component workflow would; returns the results by step. */
async function runSteps(
  dir: string,
  mode: 'recover' | 'drill',
  vars?: Record<string, string>,
): Promise<Record<string, unknown>> {
  const steps = terraformKind.steps(component(dir, vars), { mode, targetTime: 'latest', drillSuffix: DRILL_SUFFIX });
  const results: Record<string, unknown> = {};
  for (const step of steps) {
    assert.ok(step.automation, `${step.id} is automated`);
    if ('coveredBy' in step.automation) {
      assert.ok(step.automation.coveredBy in results, `${step.id} is covered by an earlier step`);
      continue;
    }
    assert.ok(!('timer' in step.automation));
    const { activity, input } = step.automation;
    const run = activities[activity as keyof typeof activities] as (input: unknown) => Promise<unknown>;
    assert.ok(run, `${activity} is a terraform activity`);
    results[step.id] = await runActivity(run, input);
  }
  return results;
}

function state(dir: string): { serial: number; text: string } {
  const text = readFileSync(join(dir, 'terraform.tfstate'), 'utf8');
  return { serial: (JSON.parse(text) as { serial: number }).serial, text };
}

describe('terraform kind with OpenTofu', () => {
  it('plans, applies the saved plan and captures the outputs, sensitive ones redacted', async () => {
    const dir = workingDir('apply');
    const results = await runSteps(dir, 'recover');
    assert.deepEqual(Object.keys(results), ['init', 'plan', 'apply', 'outputs']);
    assert.equal((results.plan as { changes: boolean }).changes, true);
    assert.match((results.plan as { summary: string }).summary, /^Plan: 1 to add, 0 to change, 0 to destroy/);
    assert.equal((results.apply as { applied: boolean }).applied, true);
    assert.match((results.apply as { summary: string }).summary, /Apply complete! Resources: 1 added/);
    assert.match(state(dir).text, /"orders-3"/, 'the var file and the vars reached the plan');

    const { outputs } = results.outputs as { outputs: Record<string, { value: unknown; sensitive: boolean }> };
    assert.deepEqual(outputs.app, { type: 'string', sensitive: false, value: 'orders-3' });
    assert.deepEqual(outputs.token, { type: 'string', sensitive: true, value: REDACTED });
    assert.ok(!JSON.stringify(results).includes('s3cr3t'), 'no sensitive value in any result');
  });

  it('changes nothing the second time', async () => {
    const dir = workingDir('twice');
    await runSteps(dir, 'recover');
    const first = state(dir);
    const results = await runSteps(dir, 'recover');
    assert.equal((results.plan as { changes: boolean }).changes, false);
    assert.match((results.plan as { summary: string }).summary, /^No changes\./);
    assert.equal((results.apply as { applied: boolean }).applied, false);
    assert.equal(state(dir).serial, first.serial, 'the state was not written again');
  });

  it('does not apply a plan twice: a retry, or a saved plan already applied, plans again', async () => {
    const dir = workingDir('retry');
    await runSteps(dir, 'recover');
    const input: TerraformPlanInput = {
      workingDir: dir,
      binary: 'tofu',
      vars: { name: 'billing' },
      varFiles: ['sizes.tfvars'],
      planFile: 'recovery.tfplan',
    };
    assert.equal((await runActivity(activities.terraformPlan, input)).changes, true);
    copyFileSync(join(dir, 'recovery.tfplan'), join(scratch, 'saved.tfplan'));
    const applied = await runActivity(activities.terraformApply, input);
    assert.deepEqual([applied.applied, applied.replanned], [true, false]);
    const serial = state(dir).serial;

    // The same saved plan again (a worker that crashed before reporting the apply): stale, so re-planned.
    copyFileSync(join(scratch, 'saved.tfplan'), join(dir, 'recovery.tfplan'));
    const again = await runActivity(activities.terraformApply, input);
    assert.deepEqual([again.applied, again.replanned], [false, true]);

    // A retry attempt plans again whatever is on disk.
    const retry = await runActivity(activities.terraformApply, input, new MockActivityEnvironment({ attempt: 2 }));
    assert.deepEqual([retry.applied, retry.replanned], [false, true]);
    assert.equal(state(dir).serial, serial, 'applied once');
    assert.match(state(dir).text, /"billing-3"/);
  });

  it('fails without retrying when another run holds the state lock, saying who holds it', async () => {
    const dir = workingDir('locked');
    await runSteps(dir, 'recover');
    // An apply waiting for its "yes" holds the lock, as a colleague's terminal would.
    const holder: ChildProcess = spawn(tofu, ['apply', '-no-color', '-var=name=held', '-var-file=sizes.tfvars'], {
      cwd: dir,
      env: { ...process.env, CHECKPOINT_DISABLE: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        let seen = '';
        const timer = setTimeout(() => reject(new Error(`no approval prompt:\n${seen}`)), 60_000);
        const watch = (chunk: Buffer) => {
          seen += chunk.toString();
          if (seen.includes('Enter a value')) {
            clearTimeout(timer);
            resolve();
          }
        };
        holder.stdout!.on('data', watch);
        holder.stderr!.on('data', watch);
        holder.once('exit', () => reject(new Error(`the lock holder exited:\n${seen}`)));
      });
      assert.ok(existsSync(join(dir, '.terraform.tfstate.lock.info')), 'the holder wrote its lock info');
      const input: TerraformPlanInput = {
        workingDir: dir,
        binary: 'tofu',
        vars: { name: 'orders' },
        varFiles: ['sizes.tfvars'],
        planFile: 'recovery.tfplan',
      };
      await assert.rejects(runActivity(activities.terraformPlan, input), (error) => {
        assert.ok(error instanceof ApplicationFailure);
        assert.equal(error.nonRetryable, true);
        assert.equal(error.type, 'TerraformStateLocked');
        assert.match(error.message, /is locked by another run/);
        assert.match(error.message, /^ID:\s+\S+/m);
        assert.match(error.message, /^Operation:\s+OperationTypeApply/m);
        assert.match(error.message, /^Who:\s+\S+/m);
        assert.match(error.message, /tofu force-unlock [0-9a-f-]{36}` is a person's decision/);
        return true;
      });
      // A drill plans without the lock: it is not stopped by a running apply.
      const drill = await runActivity(activities.terraformPlan, { ...input, lock: false, planFile: 'drill.tfplan' });
      assert.equal(drill.changes, false);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('drill: only plans, never applies', async () => {
    const dir = workingDir('drill');
    const results = await runSteps(dir, 'drill');
    assert.deepEqual(Object.keys(results), ['init', 'plan']);
    assert.equal((results.plan as { changes: boolean }).changes, true);
    assert.ok(existsSync(join(dir, `recovery${DRILL_SUFFIX}.tfplan`)), 'the drill plan is saved for review');
    const stateFile = join(dir, 'terraform.tfstate');
    assert.ok(!existsSync(stateFile) || !readFileSync(stateFile, 'utf8').includes('terraform_data'), 'nothing applied');
  });

  it('selects an existing workspace; a missing one fails the step', async () => {
    const dir = workingDir('workspace');
    await runActivity(activities.terraformInit, { workingDir: dir, binary: 'tofu' });
    await runActivity(activities.terraformSelectWorkspace, { workingDir: dir, binary: 'tofu', workspace: 'default' });
    await assert.rejects(
      runActivity(activities.terraformSelectWorkspace, { workingDir: dir, binary: 'tofu', workspace: 'missing' }),
      (error) => error instanceof ApplicationFailure && error.type === 'TerraformFailed',
    );
  });

  it('names a missing working directory or binary without retrying', async () => {
    await assert.rejects(
      runActivity(activities.terraformInit, { workingDir: join(scratch, 'nowhere'), binary: 'tofu' }),
      (error) => error instanceof ApplicationFailure && error.nonRetryable && /does not exist/.test(error.message),
    );
    const none = createTerraformActivities({});
    const saved = process.env.PATH;
    process.env.PATH = join(scratch, 'empty');
    try {
      await assert.rejects(
        runActivity(none.terraformInit, { workingDir: scratch, binary: 'terraform' }),
        (error) => error instanceof ApplicationFailure && error.nonRetryable && error.type === 'TerraformNotFound',
      );
    } finally {
      process.env.PATH = saved;
    }
  });
});
