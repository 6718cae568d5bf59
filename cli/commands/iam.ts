import { iamPolicyOf, type IamPolicyReport } from '../../plan/iam-policy';
import { loadValidPlan } from '../load-or-fail';
import type { CommandResult } from '../result';
import { pickScenario } from './plan';

/** What the policy covers, as a person reads it under the JSON. */
export function renderIamNote(report: IamPolicyReport): string {
  const scenarios = report.scenarios.map((s) => `${s.name} (${s.mode})`).join(', ');
  const lines = [
    `Covers plan ${report.plan}, scenario${report.scenarios.length === 1 ? '' : 's'} ${scenarios}: the AWS calls of the automated steps.`,
  ];
  if (report.services.length === 0) lines.push('No component involved calls AWS: the worker needs no AWS permissions.');
  for (const s of report.services) {
    lines.push(
      s.narrowed
        ? `  ${s.service} (${s.sid}): restricted to ${s.why}`
        : `  ${s.service} (${s.sid}): any resource, because ${s.why}`,
    );
  }
  if (report.withoutPermissions.length)
    lines.push(`No AWS permissions: ${report.withoutPermissions.map((c) => `${c.component} (${c.kind})`).join(', ')}.`);
  if (report.services.some((s) => s.narrowed))
    lines.push('ARNs use * for the account: put your account id in its place to tighten them further.');
  lines.push(
    'Not included: what people run by hand for manual steps (their own credentials), and sns:Publish on the',
    'RECOVERY_SNS_TOPIC_ARN topic when the worker sends notifications there.',
  );
  return lines.join('\n');
}

/** `recovery iam <plan.yaml> [--scenario <name>] [--json]` */
export async function iamCommand(file: string, options: { scenario?: string; json?: boolean }): Promise<CommandResult> {
  const { plan, warnings } = await loadValidPlan(file);
  // An unknown scenario is a UsageError listing the plan's scenarios.
  const scenario = options.scenario === undefined ? undefined : pickScenario(plan, options.scenario);
  const report = iamPolicyOf(plan, { scenario });
  const policy = JSON.stringify(report.policy, null, 2);
  return {
    stdout: options.json ? `${policy}\n` : `${policy}\n\n${renderIamNote(report)}\n`,
    stderr: warnings.length ? `${warnings.join('\n')}\n` : undefined,
    exitCode: 0,
  };
}
