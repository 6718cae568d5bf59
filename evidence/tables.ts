import { formatMinutes } from '../plan/rpo';
import type { RecoveryProgress } from '../workflows/progress';
import { resultText, rtoText, type DrillSummary } from './summary';

/**
 * The tables of a drill report as plain text cells, for every format: the Markdown and the HTML
 * renderers escape and lay them out, so the two reports always say the same.
 */
export interface Table {
  header: string[];
  rows: string[][];
}

export const at = (minute: number | undefined) =>
  minute === undefined ? '-' : `+${formatMinutes(Math.max(0, minute))}`;
export const took = (minutes: number | undefined) => (minutes === undefined ? '-' : formatMinutes(minutes));

export const componentsTable = (s: DrillSummary): Table => ({
  header: [
    'component',
    'kind',
    'status',
    'start',
    'end',
    'took',
    'estimate',
    'RTO (achieved / objective)',
    'RPO (achieved / objective)',
  ],
  rows: s.components.map((c) => [
    c.id,
    c.kind,
    c.status,
    at(c.startMinute),
    at(c.endMinute),
    took(c.durationMinutes),
    formatMinutes(c.estimateMinutes),
    rtoText(c.rto),
    c.rpo ? rtoText(c.rpo) : '-',
  ]),
});

export const stepsTable = (s: DrillSummary): Table => ({
  header: ['component', 'step', 'title', 'status', 'start', 'end', 'took', 'attempts', 'notes'],
  rows: s.steps.map((step) => [
    step.component,
    step.step,
    step.title,
    step.status,
    at(step.startMinute),
    at(step.endMinute),
    took(step.durationMinutes),
    String(step.attempts),
    [step.failedAttempts ? `${step.failedAttempts} failed` : '', step.actor ? `by ${step.actor}` : '', step.error ?? '']
      .filter(Boolean)
      .join('; '),
  ]),
});

export const integrityTable = (s: DrillSummary): Table => ({
  header: ['component', 'check', 'result', 'details'],
  rows: s.integrityChecks.map((c) => [
    c.component,
    c.step,
    c.status === 'succeeded' ? 'passed' : c.status === 'failed' ? 'FAILED' : c.status,
    c.status === 'failed' ? (c.error ?? '') : resultText(c.result),
  ]),
});

export const NO_INTEGRITY_CHECKS = 'This scenario has no validate or verify steps.';

export const teardownTable = (p: RecoveryProgress): Table => ({
  header: ['component', 'status', 'steps'],
  rows: (p.teardown ?? []).map((r) => [
    r.component,
    r.status,
    r.steps.map((step) => `${step.title}: ${step.status}${step.error ? ` (${step.error})` : ''}`).join('; '),
  ]),
});

export const noTeardown = (simulated: boolean) =>
  simulated ? 'Simulated: nothing was created, nothing to remove.' : 'Nothing to remove.';
