import type { ScenarioAnalysis } from '../analysis';
import { kindOf, tierOf, type Component } from '../kinds';
import { formatMinutes } from '../rpo';

const TIER_TITLES: Record<string, string> = {
  infrastructure: 'Infrastructure',
  data: 'Data',
  'stateful-app': 'Stateful applications',
  'stateless-app': 'Stateless applications',
  traffic: 'Traffic',
  check: 'Checks',
};

/** Mermaid ids must be plain words. */
export const nodeId = (id: string) => `c_${id.replace(/[^a-zA-Z0-9]/g, '_')}`;
/** Mermaid labels cannot hold double quotes. */
const label = (text: string) => text.replace(/"/g, "'");

/** Where a component fails over to, drawn as dashed edges: DNS endpoints and S3 replicas. */
function failoverLines(component: Component): string[] {
  const id = nodeId(component.id);
  if (component.kind === 'route53-failover') {
    const from = component.failoverTo === 'secondary' ? component.primary : component.secondary;
    const to = component.failoverTo === 'secondary' ? component.secondary : component.primary;
    return [
      `  ${id}_from(["${label(`${from.setIdentifier}: ${from.value}`)}"])`,
      `  ${id}_to(["${label(`${to.setIdentifier}: ${to.value}`)}"])`,
      `  ${id}_from -. "${label(`${component.recordName} fails over`)}" .-> ${id}_to`,
      `  ${id} -. flips .-> ${id}_to`,
    ];
  }
  if (component.kind === 's3-bucket' && component.replica) {
    return [
      `  ${id}_replica[("${label(`replica ${component.replica.bucket} (${component.replica.region})`)}")]`,
      `  ${id} -. "read from when ${component.region} is down" .-> ${id}_replica`,
    ];
  }
  return [];
}

/**
 * A flowchart of the scenario: components grouped by layer, an arrow from each dependency to what
 * waits for it, failover paths dashed, approval gates marked.
 */
export function dependencyFlowchart(analysis: ScenarioAnalysis, components: ReadonlyMap<string, Component>): string {
  const lines = ['flowchart LR'];
  const byTier = new Map<string, Component[]>();
  for (const id of analysis.components) {
    const component = components.get(id)!;
    const tier = tierOf(component);
    byTier.set(tier, [...(byTier.get(tier) ?? []), component]);
  }
  for (const [tier, members] of byTier) {
    lines.push(`  subgraph ${tier.replace(/-/g, '_')}["${TIER_TITLES[tier] ?? tier}"]`);
    for (const c of members) {
      const gate = c.approval === 'required' ? '<br/>approval required' : '';
      lines.push(`    ${nodeId(c.id)}["${label(`<b>${c.id}</b><br/>${kindOf(c).title}${gate}`)}"]`);
    }
    lines.push('  end');
  }
  for (const id of analysis.components) {
    for (const dep of components.get(id)!.dependsOn) lines.push(`  ${nodeId(dep)} --> ${nodeId(id)}`);
  }
  for (const id of analysis.components) lines.push(...failoverLines(components.get(id)!));
  const critical = analysis.criticalPath.map(nodeId);
  if (critical.length)
    lines.push(`  classDef critical stroke:#d33,stroke-width:3px`, `  class ${critical.join(',')} critical`);
  return lines.join('\n');
}

/** Minutes from the start as a Mermaid date on a fixed day (the diagram shows hours only); `dateFormat YYYY-MM-DD HH:mm`. */
export function ganttDate(minute: number): string {
  const total = Math.round(minute);
  const day = 1 + Math.floor(total / 1440);
  const hh = String(Math.floor((total % 1440) / 60)).padStart(2, '0');
  const mm = String(total % 60).padStart(2, '0');
  return `2000-01-${String(day).padStart(2, '0')} ${hh}:${mm}`;
}

/** A gantt of the estimated timeline, critical path highlighted, with the RTO as a milestone. */
export function timelineGantt(analysis: ScenarioAnalysis): string {
  const lines = [
    'gantt',
    `  title Estimated timeline of ${analysis.scenario}: ${formatMinutes(analysis.estimatedRtoMinutes)} against an RTO of ${formatMinutes(analysis.rtoMinutes)}`,
    '  dateFormat YYYY-MM-DD HH:mm',
    '  axisFormat %H:%M',
  ];
  const critical = new Set(analysis.criticalPath);
  let section = '';
  for (const t of [...analysis.timeline].sort(
    (a, b) => a.startMinute - b.startMinute || a.component.localeCompare(b.component),
  )) {
    const title = TIER_TITLES[t.tier] ?? t.tier;
    if (title !== section) {
      lines.push(`  section ${title}`);
      section = title;
    }
    const tags = [critical.has(t.component) ? 'crit' : undefined, nodeId(t.component)].filter(Boolean).join(', ');
    lines.push(
      `  ${t.component} :${tags}, ${ganttDate(t.startMinute)}, ${Math.max(1, Math.round(t.estimateMinutes))}m`,
    );
  }
  lines.push(
    '  section Objective',
    `  RTO ${formatMinutes(analysis.rtoMinutes)} :milestone, crit, rto, ${ganttDate(analysis.rtoMinutes)}, 0m`,
  );
  return lines.join('\n');
}
