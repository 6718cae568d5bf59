import type { ScenarioAnalysis } from '../analysis';
import { DRILL_SUFFIX, estimateOf, kindOf, runbookOf, teardownOf, type Component, type StepContext } from '../kinds';
import { OBJECTIVES_HEADER, objectivesRows } from '../objectives-table';
import { formatMinutes } from '../rpo';
import type { RecoveryPlan } from '../schema/plan';
import { dependencyFlowchart, timelineGantt } from './mermaid';

/** Placeholders the engineer replaces when following a runbook by hand. */
export const DOC_CONTEXT = { targetTime: '<TARGET_TIME>', drillSuffix: DRILL_SUFFIX } as const;

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
const table = (header: string[], rows: string[][]) =>
  [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(cell).join(' | ')} |`),
  ].join('\n');
const verdict = (ok: boolean) => (ok ? '✅ met' : '❌ **not met**');
const fence = (lang: string, body: string) => `\`\`\`${lang}\n${body}\n\`\`\``;

function objectivesSection(analysis: ScenarioAnalysis): string {
  const rows = objectivesRows(analysis, { verdict, none: '—', name: (id) => `\`${id}\`` });
  const failing = analysis.rpo.filter((r) => !r.compliant);
  return [
    '## Objectives',
    '',
    `- **RTO**: estimated ${formatMinutes(analysis.estimatedRtoMinutes)} along the critical path ` +
      `(${analysis.criticalPath.map((id) => `\`${id}\``).join(' → ')}) against an objective of ${formatMinutes(analysis.rtoMinutes)}: ${verdict(analysis.rtoMet)}.`,
    `- **RPO**: ${analysis.rpo.length === 0 ? 'no data components in this scenario.' : failing.length === 0 ? 'every data component meets its objective.' : `${failing.length} of ${analysis.rpo.length} data components do not meet their objective:`}`,
    ...failing.map((r) => `  - \`${r.component}\`: ${r.reason}.`),
    '',
    table(
      OBJECTIVES_HEADER.map((h) => h.charAt(0).toUpperCase() + h.slice(1)),
      rows,
    ),
    '',
    'Estimates are the plan\'s `estimate` values (or the kind defaults); "done after" assumes each component starts as soon as its dependencies are done.',
  ].join('\n');
}

function contactsSection(plan: RecoveryPlan): string {
  if (plan.contacts.length === 0)
    return '## Contacts\n\nThe plan names no contacts. Add `contacts` to the plan: an outage is no time to look for phone numbers.';
  const rows = plan.contacts.map((c, i) => [
    String(i + 1),
    c.name,
    c.role ?? '',
    c.phone ?? '',
    c.email ?? '',
    c.slack ?? '',
    c.escalateAfter ?? '',
  ]);
  const chain = plan.contacts
    .map((c, i) =>
      i === 0
        ? `call **${c.name}**`
        : `if there is no answer after ${plan.contacts[i - 1]!.escalateAfter ?? '30m'}, call **${c.name}**`,
    )
    .join('; ');
  return [
    '## Contacts and escalation',
    '',
    `Escalate in order: ${chain}.`,
    '',
    table(['#', 'Name', 'Role', 'Phone', 'Email', 'Slack', 'Escalate after'], rows),
  ].join('\n');
}

function componentSection(component: Component, position: string, context: StepContext): string {
  const kind = kindOf(component);
  const deps = component.dependsOn.length ? component.dependsOn.map((d) => `\`${d}\``).join(', ') : 'nothing';
  const lines = [
    `### ${position} \`${component.id}\`: ${kind.title}`,
    '',
    ...(component.description ? [component.description, ''] : []),
    `Waits for: ${deps}. Estimate: ${estimateOf(component)}.`,
    ...(component.approval === 'required'
      ? ['', `> **Approval required.** Get a named person's go-ahead before the first step, and note who and when.`]
      : []),
    '',
  ];
  runbookOf(component, context).forEach((step, i) => {
    lines.push(`${i + 1}. **${step.title}.** ${step.does}`, '', fence('bash', step.command).replace(/^/gm, '   '), '');
    if (step.validate) lines.push('   *Check:*', '', fence('bash', step.validate).replace(/^/gm, '   '), '');
    if (step.rollback) lines.push('   *Undo:*', '', fence('bash', step.rollback).replace(/^/gm, '   '), '');
  });
  return lines.join('\n').replace(/\n+$/, '');
}

/** A drill's teardown, dependents first: what the engine runs as compensation, by hand. */
function teardownSection(order: Component[], context: StepContext): string[] {
  const parts = [...order].reverse().flatMap((component) => {
    const steps = teardownOf(component, context);
    if (steps.length === 0) return [];
    return [
      `### \`${component.id}\``,
      '',
      ...steps.flatMap((step, i) => [
        `${i + 1}. **${step.title}.** ${step.does}`,
        '',
        fence('bash', step.command).replace(/^/gm, '   '),
        '',
      ]),
    ];
  });
  if (parts.length === 0) return [];
  return [
    '## Tear down the drill',
    '',
    'Run these even when the drill failed or was stopped halfway: each removes only what the drill created, and does nothing when it is already gone. Dependents come first.',
    '',
    ...parts,
  ];
}

/**
 * The Markdown runbook of one scenario: what an on-call engineer needs to recover by hand, in the
 * order the engine would. Deterministic: the same plan gives the same bytes.
 */
export function renderRunbook(plan: RecoveryPlan, analysis: ScenarioAnalysis, source: string): string {
  const components = new Map(plan.components.map((c) => [c.id, c]));
  const scenario = plan.scenarios.find((s) => s.name === analysis.scenario);
  const context: StepContext = { mode: analysis.mode, ...DOC_CONTEXT };
  const stages = analysis.stages.map((stage, s) =>
    [
      `## Stage ${s + 1}${stage.length > 1 ? ' (these run in parallel)' : ''}`,
      '',
      ...stage
        .map((id, i) => componentSection(components.get(id)!, `${s + 1}.${i + 1}`, context))
        .join('\n\n')
        .split('\n'),
    ].join('\n'),
  );
  return [
    `# Runbook: ${plan.name}, scenario ${analysis.scenario}`,
    '',
    `> Generated by \`recovery docs\` from \`${source}\`. Do not edit by hand: change the plan and regenerate.`,
    '',
    ...(plan.description ? [plan.description, ''] : []),
    `**Scenario:** ${scenario?.description ?? 'recover every component of the plan'}. **Mode:** ${analysis.mode}` +
      (analysis.mode === 'drill'
        ? ` (restores into isolated copies suffixed \`${DOC_CONTEXT.drillSuffix}\`; production is not touched).`
        : '.'),
    ...(analysis.pulledIn.length
      ? [
          '',
          `Also recovered, because the scenario's components depend on them: ${analysis.pulledIn.map((id) => `\`${id}\``).join(', ')}.`,
        ]
      : []),
    '',
    '## Before you start',
    '',
    `1. Open an incident record and note the time. The RTO clock (${formatMinutes(analysis.rtoMinutes)}) runs from the moment the incident was detected.`,
    `2. Choose the **target time**: the last moment before the damage, in UTC (ISO 8601, e.g. \`2026-03-01T14:05:00Z\`). Replace \`${DOC_CONTEXT.targetTime}\` with it in the commands below.`,
    '3. Call the first contact below, and keep a log of every command you run, with its time and result.',
    '4. Work stage by stage. Inside a stage, components are independent: split them between people.',
    '',
    objectivesSection(analysis),
    '',
    contactsSection(plan),
    '',
    '## Dependencies and failover paths',
    '',
    'An arrow points from a component to the ones that wait for it; dashed arrows are failover paths; the critical path is outlined in red.',
    '',
    fence('mermaid', dependencyFlowchart(analysis, components)),
    '',
    '## Estimated timeline',
    '',
    fence('mermaid', timelineGantt(analysis)),
    '',
    ...stages.flatMap((stage) => [stage, '']),
    ...teardownSection(
      analysis.stages.flat().map((id) => components.get(id)!),
      context,
    ),
    '## After the recovery',
    '',
    '1. Check every component once more, in stage order, with the *Check* commands above.',
    '2. Record in the incident: the time each component was back, the target time used, and the achieved RTO and RPO.',
    '3. Remove what the *Undo* notes kept aside (renamed directories, old instances) only once the service is confirmed healthy.',
    '',
  ].join('\n');
}
