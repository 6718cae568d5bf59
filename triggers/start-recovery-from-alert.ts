import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  encodeWorkflowIdConflictPolicy,
  encodeWorkflowIdReusePolicy,
  TypedSearchAttributes,
  WorkflowExecutionAlreadyStartedError,
} from '@temporalio/common';
import { encodeUnifiedSearchAttributes } from '@temporalio/common/lib/converter/payload-search-attributes';
import { encodeToPayloads } from '@temporalio/common/lib/internal-non-workflow';
import { temporal } from '@temporalio/proto';
import { randomUUID } from 'node:crypto';
import { RECOVERY_WORKFLOW_TYPE } from '../cli/recoveries';
import type { RecoveryPlan, Trigger } from '../plan/schema/plan';
import { alertsSignal } from '../workflows/messages';
import { ALERT_BATCH_LIMIT, type AlertBatch, type AlertEvent } from '../workflows/progress';
import type { RecoveryRequest } from '../workflows/request';
import { RECOVERY_INCIDENT, RECOVERY_PLAN, RECOVERY_SCENARIO, RECOVERY_STATUS } from '../workflows/search-attributes';
import { alertEventOf, type ReceivedAlert } from './alert';
import { shortHash } from './parse';
import { recoveryIdOf } from './routing';

/** Where recoveries start: the namespace's client and the task queue the recovery worker polls. */
export interface RecoveryTarget {
  client: Client;
  namespace: string;
  taskQueue: string;
}

/** Why alerts reached no recovery although they matched a trigger. */
export type DropReason =
  /** A late repeat of an incident whose recovery completed (it began firing before that). */
  | 'finished'
  /** Same, but the last recovery failed, was terminated or timed out: someone must look. */
  | 'previous-failed'
  /** A CloudWatch ALARM too old to start a recovery, and none runs to record it. */
  | 'stale-alarm'
  /** This receiver already sent the recovery `signalCap` signals: its history is protected. */
  | 'signal-cap';

/** What became of the alerts of one notification for one plan and scenario. */
export type Delivery =
  /** This call started the recovery. `startedAt`: performance.now() when Temporal answered. */
  | { outcome: 'started'; workflowId: string; startedAt: number }
  /** The recovery already runs: the new alerts were recorded in it (repeats were not sent again). */
  | { outcome: 'running'; workflowId: string }
  /** Only resolved alerts: recorded by the recovery if it runs, nothing started. */
  | { outcome: 'resolved'; workflowId: string; recorded: boolean }
  /** Nothing started and nothing recorded, for `reason`; `previous` is the status of the last run. */
  | { outcome: 'dropped'; workflowId: string; reason: DropReason; previous?: string };

export interface DeliveryOptions {
  /** How long one delivery may take on Temporal before the receiver answers 503 (10 s). */
  deadlineMs?: number;
  /** How long an alert already passed on is not sent again (6 h: beyond Alertmanager's repeat_interval). */
  repeatTtlMs?: number;
  /** Alerts remembered for that (50,000; the oldest forgotten first). */
  repeatCacheSize?: number;
  /** Signals one recovery gets from this process at most (1,000, ~50,000 alerts); more are dropped and counted. */
  signalCap?: number;
}

/**
 * The incident's id in the request, the record and the RecoveryIncident search attribute: short,
 * readable, and the same for every alert of the incident, whatever its firing period.
 */
export function incidentIdOf(alert: ReceivedAlert): string {
  const name = alert.name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return `${alert.source}-${name || 'alert'}-${shortHash(alert.incidentKey)}`;
}

/**
 * The request of a recovery alerts start: only these fields of the alerts reach the history. The
 * incident is the first firing alert's; it was detected when the earliest of them began firing.
 */
export function requestOf(
  plan: RecoveryPlan,
  trigger: Trigger,
  alerts: ReceivedAlert | ReceivedAlert[],
): RecoveryRequest {
  const list = Array.isArray(alerts) ? alerts : [alerts];
  const firing = list.filter((a) => a.status === 'firing');
  const first = firing[0] ?? list[0]!;
  const detectedAt = (firing.length > 0 ? firing : list).map((a) => a.startsAt).sort()[0]!;
  return {
    plan: plan.name,
    scenario: trigger.scenario,
    incident: {
      id: incidentIdOf(first),
      detectedAt,
      source: first.source,
      ...(first.summary ? { summary: first.summary.slice(0, 300) } : {}),
    },
    requestedBy: `alert:${first.source}/${first.name}`.slice(0, 200),
    ...(trigger.requireApproval ? { hold: true } : {}),
  };
}

/** One signal's worth of events: the first ALERT_BATCH_LIMIT listed, the rest counted. */
function batchOf(events: AlertEvent[]): AlertBatch {
  const rest = events.slice(ALERT_BATCH_LIMIT);
  if (rest.length === 0) return { events };
  const resolved = rest.filter((e) => e.status === 'resolved').length;
  return { events: events.slice(0, ALERT_BATCH_LIMIT), omitted: { firing: rest.length - resolved, resolved } };
}

const FAILED_STATUSES = new Set(['FAILED', 'TERMINATED', 'TIMED_OUT', 'CANCELLED']);

/** A repeat's view of the delivery that sent its alert first. */
const asRepeat = (delivery: Delivery): Delivery =>
  delivery.outcome === 'started' ? { outcome: 'running', workflowId: delivery.workflowId } : delivery;

/**
 * Starts recoveries for alerts and passes the alerts on to them, at most one running recovery per
 * plan and scenario:
 *
 * - the workflow id is `alert-<plan>-<scenario>` (`recoveryIdOf`), started by SignalWithStart with
 *   USE_EXISTING: one RPC starts it or records the alerts in the run in progress, whatever incident
 *   or firing period they belong to. When its last run is closed, a new run starts only for an
 *   alert that began firing after that run closed; an older one is a late repeat, dropped.
 * - alerts already passed on (same recovery, incident, name, status and time) within `repeatTtlMs`
 *   are not sent again: Alertmanager resends whole groups every group_interval, and the history of
 *   the recovery must not grow with them. Concurrent identical requests share one RPC; a repeat
 *   costs none. The new alerts of one notification go in one `alerts` signal, and one recovery gets
 *   at most `signalCap` signals from this process.
 * - every delivery has a deadline (`deadlineMs`): past it, the caller answers 503 and the sender retries.
 */
export class AlertDelivery {
  /** Alert key → the delivery that passed it on (pending or done), and until when it stands. */
  private passedOn = new Map<string, { until: number; delivery: Promise<Delivery> }>();
  /** Workflow id → signals this process sent it; bounded like passedOn. */
  private signals = new Map<string, number>();
  private readonly deadlineMs: number;
  private readonly repeatTtlMs: number;
  private readonly repeatCacheSize: number;
  private readonly signalCap: number;

  constructor(
    private readonly target: RecoveryTarget,
    options: DeliveryOptions = {},
  ) {
    this.deadlineMs = options.deadlineMs ?? 10_000;
    this.repeatTtlMs = options.repeatTtlMs ?? 6 * 3_600_000;
    this.repeatCacheSize = options.repeatCacheSize ?? 50_000;
    this.signalCap = options.signalCap ?? 1_000;
  }

  /**
   * Passes one notification's alerts (all routed to this plan and scenario) on: starts the recovery
   * when one of them fires and `mayStart`, else only records them in the running one.
   */
  async deliver(
    plan: RecoveryPlan,
    trigger: Trigger,
    alerts: ReceivedAlert[],
    { mayStart = true }: { mayStart?: boolean } = {},
  ): Promise<Delivery> {
    const workflowId = recoveryIdOf(plan, trigger.scenario);
    const now = Date.now();
    const fresh = new Map<string, ReceivedAlert>();
    const repeats: Promise<Delivery>[] = [];
    for (const alert of alerts) {
      const event = alertEventOf(alert);
      const key = [workflowId, alert.incidentKey, event.name, event.status, event.at].join('\n');
      const known = this.passedOn.get(key);
      if (known && known.until > now) repeats.push(known.delivery);
      else fresh.set(key, alert);
    }
    if (fresh.size === 0) {
      const earlier = await Promise.all(repeats);
      return asRepeat(earlier.find((d) => d.outcome === 'started' || d.outcome === 'running') ?? earlier[0]!);
    }

    const delivery = this.target.client.withDeadline(now + this.deadlineMs, () =>
      this.send(workflowId, plan, trigger, [...fresh.values()], mayStart),
    );
    for (const key of fresh.keys()) {
      const entry = { until: now + this.repeatTtlMs, delivery };
      this.passedOn.delete(key); // re-inserted last: the Map's order is the age order
      this.passedOn.set(key, entry);
      // A failed delivery is retried by the sender: it must not count as passed on.
      delivery.catch(() => this.passedOn.get(key) === entry && this.passedOn.delete(key));
    }
    while (this.passedOn.size > this.repeatCacheSize) this.passedOn.delete(this.passedOn.keys().next().value!);
    const [mine, ...earlier] = await Promise.all([delivery, ...repeats]);
    // Only a resolution was new, and the firing alerts beside it are recorded already.
    if (mine.outcome === 'resolved' && earlier.some((d) => d.outcome === 'started' || d.outcome === 'running'))
      return { outcome: 'running', workflowId };
    return mine;
  }

  private async send(
    workflowId: string,
    plan: RecoveryPlan,
    trigger: Trigger,
    alerts: ReceivedAlert[],
    mayStart: boolean,
  ): Promise<Delivery> {
    const batch = batchOf(alerts.map(alertEventOf));
    const firing = alerts.filter((a) => a.status === 'firing');
    if (!this.countSignal(workflowId)) return { outcome: 'dropped', workflowId, reason: 'signal-cap' };
    if (firing.length === 0 || !mayStart) {
      const recorded = await this.target.client.workflow
        .getHandle(workflowId)
        .signal(alertsSignal, batch)
        .then(
          () => true,
          (error: unknown) => {
            if (error instanceof WorkflowNotFoundError) return false;
            throw error;
          },
        );
      if (firing.length === 0) return { outcome: 'resolved', workflowId, recorded };
      return recorded ? { outcome: 'running', workflowId } : { outcome: 'dropped', workflowId, reason: 'stale-alarm' };
    }
    try {
      return await this.signalWithStart(workflowId, requestOf(plan, trigger, alerts), batch, 'REJECT_DUPLICATE');
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
    // The id's last run is closed (or closed just now).
    const last = await this.target.client.workflow.getHandle(workflowId).describe();
    const closedAt = last.closeTime?.getTime();
    if (closedAt === undefined)
      // Started again meanwhile (another receiver): record the alerts in it.
      return this.signalWithStart(workflowId, requestOf(plan, trigger, alerts), batch, 'REJECT_DUPLICATE');
    const newer = firing.filter((a) => Date.parse(a.startsAt) > closedAt);
    if (newer.length > 0)
      return this.signalWithStart(workflowId, requestOf(plan, trigger, newer), batch, 'ALLOW_DUPLICATE');
    const reason = FAILED_STATUSES.has(last.status.name) ? 'previous-failed' : 'finished';
    return { outcome: 'dropped', workflowId, reason, previous: last.status.name };
  }

  /** Counts a signal to `workflowId`; false once it had `signalCap`. */
  private countSignal(workflowId: string): boolean {
    const sent = this.signals.get(workflowId) ?? 0;
    if (sent >= this.signalCap) return false;
    this.signals.delete(workflowId);
    this.signals.set(workflowId, sent + 1);
    if (this.signals.size > 10_000) this.signals.delete(this.signals.keys().next().value!);
    return true;
  }

  /**
   * One RPC: starts the recovery with the alerts as its first signal, or signals the run in
   * progress (USE_EXISTING). Called on the service directly: its answer says whether it started one.
   */
  private async signalWithStart(
    workflowId: string,
    request: RecoveryRequest,
    batch: AlertBatch,
    reuse: 'REJECT_DUPLICATE' | 'ALLOW_DUPLICATE',
  ): Promise<Delivery> {
    const { client, taskQueue } = this.target;
    const converter = client.workflow.options.loadedDataConverter;
    const [input, signalInput] = await Promise.all([
      encodeToPayloads(converter, request),
      encodeToPayloads(converter, batch),
    ]);
    try {
      const response = await client.workflowService.signalWithStartWorkflowExecution({
        namespace: client.options.namespace,
        identity: client.options.identity,
        requestId: randomUUID(),
        workflowId,
        workflowIdReusePolicy: encodeWorkflowIdReusePolicy(reuse),
        workflowIdConflictPolicy: encodeWorkflowIdConflictPolicy('USE_EXISTING'),
        workflowType: { name: RECOVERY_WORKFLOW_TYPE },
        input: { payloads: input },
        signalName: alertsSignal.name,
        signalInput: { payloads: signalInput },
        taskQueue: { kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL, name: taskQueue },
        searchAttributes: {
          indexedFields: encodeUnifiedSearchAttributes(
            undefined,
            new TypedSearchAttributes([
              { key: RECOVERY_PLAN, value: request.plan as string },
              { key: RECOVERY_SCENARIO, value: request.scenario },
              { key: RECOVERY_STATUS, value: 'loading' },
              { key: RECOVERY_INCIDENT, value: request.incident!.id },
            ]),
          ),
        },
      });
      if (!response.started) return { outcome: 'running', workflowId };
      this.signals.set(workflowId, 1);
      return { outcome: 'started', workflowId, startedAt: performance.now() };
    } catch (error) {
      // gRPC ALREADY_EXISTS: the id's last run is closed and the reuse policy refuses a new one.
      if ((error as { code?: number }).code === 6)
        throw new WorkflowExecutionAlreadyStartedError('closed', workflowId, RECOVERY_WORKFLOW_TYPE);
      throw error;
    }
  }
}
