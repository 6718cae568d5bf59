import { LineCounter, parseDocument, stringify, visit } from 'yaml';
import type { Finding, PlanIssue } from './issues';
import { formatPath, SourcePositions } from './positions';
import { drillGuardFindings } from './drill-guard-check';
import { looseComponents, RULES } from './rules';
import { planSchema, type RecoveryPlan } from './schema/plan';
import { findingsFromZod } from './zod-issues';

export interface LoadResult {
  /** The validated plan, with defaults filled in; absent when there is any error. */
  plan?: RecoveryPlan;
  errors: PlanIssue[];
  warnings: PlanIssue[];
}

const byPosition = (a: PlanIssue, b: PlanIssue) =>
  a.line - b.line || a.col - b.col || a.message.localeCompare(b.message);

/**
 * Reads a plan from YAML text: parse, then validate against the schema (which also fills in the
 * defaults), then run the named rules. Every problem is reported at once, each with its position;
 * nothing is thrown for bad input. Pure code: no file access (see load-file.ts).
 */
export function loadPlan(text: string, file = '<plan>'): LoadResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const errors = doc.errors.map((error): PlanIssue => ({
      severity: 'error',
      rule: 'yaml',
      file,
      line: error.linePos?.[0].line ?? 1,
      col: error.linePos?.[0].col ?? 1,
      path: '(yaml)',
      message: `${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}: fix the YAML syntax`,
    }));
    return { errors: errors.sort(byPosition), warnings: [] };
  }

  const positions = new SourcePositions(doc, lines);
  const locate = (rule: string, finding: Finding): PlanIssue => ({
    severity: finding.severity,
    rule,
    file,
    ...positions.of(finding.path, finding.at),
    path: formatPath(finding.path),
    message: finding.message,
  });

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    // An alias to a missing anchor, or too many aliases (a "billion laughs"): the parser lets them
    // through and only resolving them fails. Pointed at the first alias.
    let offset = 0;
    visit(doc, { Alias: (_, node) => ((offset = node.range?.[0] ?? 0), visit.BREAK) });
    const { line, col } = lines.linePos(offset);
    const message = `${(error as Error).message.split('\n')[0]!}: fix the YAML aliases`;
    return { errors: [{ severity: 'error', rule: 'yaml', file, line, col, path: '(yaml)', message }], warnings: [] };
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    const message = 'a plan is a YAML mapping with at least `name` and `components`: see examples/';
    return { errors: [locate('yaml', { severity: 'error', path: [], message })], warnings: [] };
  }
  const record = raw as Record<string, unknown>;
  const parsed = planSchema.safeParse(record);
  const issues = [
    ...(parsed.success ? [] : findingsFromZod(parsed.error, record).map((finding) => locate('schema', finding))),
    ...RULES.flatMap((rule) =>
      rule.check({ raw: record, components: looseComponents(record) }).map((finding) => locate(rule.name, finding)),
    ),
  ].sort(byPosition);
  // Only a plan without other errors can be analysed for what its drills would write.
  if (parsed.success && !issues.some((issue) => issue.severity === 'error'))
    issues.push(...drillGuardFindings(parsed.data).map((finding) => locate('drill-guard', finding)));
  const errors = issues.filter((issue) => issue.severity === 'error');
  const warnings = issues.filter((issue) => issue.severity === 'warning');
  return { plan: parsed.success && errors.length === 0 ? parsed.data : undefined, errors, warnings };
}

/** Validates a plan given as an object (a workflow's inline plan), exactly as if it were YAML. */
export function loadPlanObject(raw: unknown, source = '<inline plan>'): LoadResult {
  // stringify(undefined) is undefined: an empty document, which says what a plan needs.
  return loadPlan(stringify(raw) ?? '', source);
}
