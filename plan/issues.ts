import type { FieldPath } from './positions';

/** A problem with a plan, where it is, and what to do about it. */
export interface PlanIssue {
  severity: 'error' | 'warning';
  /** Name of the rule that found it: `schema`, `known-dependencies`, … */
  rule: string;
  file: string;
  line: number;
  col: number;
  /** `components[1].dependsOn[0]` */
  path: string;
  message: string;
}

/** `<file>:<line>:<col> <path> <message>`: one line per issue, as editors and CI logs link them. */
export function formatIssue(issue: PlanIssue): string {
  return `${issue.file}:${issue.line}:${issue.col} ${issue.path} ${issue.severity === 'warning' ? 'warning: ' : ''}${issue.message}`;
}

/** What a rule reports; the loader adds the position. */
export interface Finding {
  severity: 'error' | 'warning';
  path: FieldPath;
  message: string;
  /** Point at the key rather than the value (unknown fields). */
  at?: 'key' | 'value';
}
