import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AlertBatch, AlertEvent, RecoveryProgress, StepEvent } from './progress';

/** Everything about a running (or finished) recovery: components, steps, gates, RTO projection. */
export const progressQuery = defineQuery<RecoveryProgress>('progress');

export interface ApproveInput {
  /** The gate: the id of the component that waits for approval. */
  gate: string;
  /** Who approves, for the record. */
  by: string;
  comment?: string;
}

export interface ResolveInput {
  /** A component in `needs-operator`. */
  component: string;
  /** retry: run the failed step again; skip: count it done (by hand, or not needed) and go on; abort: stop the recovery. */
  action: 'retry' | 'skip' | 'abort';
  by: string;
  comment?: string;
}

// Approvals and decisions are Updates, not Signals: the person gets an answer — accepted, or why
// not (an unknown gate, one already decided, a component that is not waiting) — instead of a
// signal that is silently recorded and ignored.
export const approveUpdate = defineUpdate<string, [ApproveInput]>('approve');
export const resolveUpdate = defineUpdate<string, [ResolveInput]>('resolve');

/** A component's child workflow reports each step to its recovery, for the progress view. */
export const stepEventSignal = defineSignal<[StepEvent]>('stepEvent');

/**
 * Alerts about the incident a recovery runs for, after the one that started it (and that one too):
 * the alert receiver sends them, and the recovery records them. Only the fields of AlertEvent.
 */
export const alertSignal = defineSignal<[AlertEvent]>('alert');

/**
 * What the alert receiver sends: the new or changed alerts of one notification in one signal (a
 * signal per alert would exhaust the history under a large Alertmanager group). The old `alert`
 * signal stays handled: recorded histories carry it.
 */
export const alertsSignal = defineSignal<[AlertBatch]>('alerts');

/** The gate a recovery started by an alarm with `requireApproval` waits at before anything runs. */
export const START_GATE = 'start';
