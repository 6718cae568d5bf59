import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { randomUUID } from 'node:crypto';
import { RECOVERY_WORKFLOW_TYPE } from '../cli/recoveries';
import type { RecoveryPlan, Trigger } from '../plan/schema/plan';
import { alertSignal } from '../workflows/messages';
import type { recoveryWorkflow } from '../workflows/recovery';
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

/** What became of one alert for one matching trigger. */
export type Delivery =
  /** This call started the recovery (the first alert of the incident). */
  | { outcome: 'started'; workflowId: string }
  /** The incident's recovery already runs: the alert went to it as a signal. */
  | { outcome: 'running'; workflowId: string }
  /** The incident's recovery is over: a late repeat, dropped (never a second recovery). */
  | { outcome: 'finished'; workflowId: string }
  /** A resolved alert, recorded by the recoveries of its incident that still run. */
  | { outcome: 'resolved'; workflowIds: string[] };

/** Memo key naming the start request that created a recovery, to tell our start from a duplicate. */
const STARTED_BY_MEMO = 'alertReceiverStart';

/**
 * The incident's id in the request, the record and the RecoveryIncident search attribute: short,
 * readable, and the same for every alert of the incident, whatever its firing period (a CloudWatch
 * OK finds the recovery its ALARM started by it).
 */
export function incidentIdOf(alert: ReceivedAlert): string {
  const name = alert.name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40);
  return `${alert.source}-${name || 'alert'}-${shortHash(alert.incidentKey)}`;
}

/** The request of a recovery an alert starts: only these fields of the alert reach the history. */
export function requestOf(plan: RecoveryPlan, trigger: Trigger, alert: ReceivedAlert): RecoveryRequest {
  return {
    plan: plan.name,
    scenario: trigger.scenario,
    incident: {
      id: incidentIdOf(alert),
      detectedAt: alert.startsAt,
      source: alert.source,
      ...(alert.summary ? { summary: alert.summary.slice(0, 300) } : {}),
    },
    requestedBy: `alert:${alert.source}/${alert.name}`.slice(0, 200),
    ...(trigger.requireApproval ? { hold: true } : {}),
  };
}

/**
 * Starts recoveries for alerts and passes the alerts on to them, exactly once per incident:
 *
 * - the workflow id comes from plan, scenario, incident key and firing start (`recoveryIdOf`), and
 *   the start uses `USE_EXISTING` while it runs and `REJECT_DUPLICATE` once it is over, so a storm
 *   of repeats or a late one never starts a second recovery of the same incident;
 * - concurrent alerts for one id in this process share one start call (a storm costs one RPC);
 * - whether a start created the recovery is told by its memo (the id of the start that created it),
 *   which holds across receiver restarts and several receivers, unlike anything kept in memory.
 */
export class AlertDelivery {
  private starting = new Map<string, Promise<{ runId: string; startId: string } | 'finished'>>();
  /** runId → the start request that created it; bounded, oldest dropped first. */
  private creators = new Map<string, Promise<unknown>>();

  constructor(private readonly target: RecoveryTarget) {}

  /** Starts (or finds) the incident's recovery and signals the alert to it. */
  async deliver(plan: RecoveryPlan, trigger: Trigger, alert: ReceivedAlert): Promise<Delivery> {
    if (alert.status === 'resolved') return this.deliverResolved(plan, trigger, alert);
    const workflowId = recoveryIdOf(plan, trigger.scenario, alert);
    let flight = this.starting.get(workflowId);
    const owner = flight === undefined;
    if (!flight) {
      flight = this.start(workflowId, plan, trigger, alert).finally(() => this.starting.delete(workflowId));
      this.starting.set(workflowId, flight);
    }
    const started = await flight;
    if (started === 'finished') return { outcome: 'finished', workflowId };
    // The signal and the check of who created the run go together: one round trip after the start.
    const [ours, signalled] = await Promise.all([
      owner ? this.creatorOf(workflowId, started.runId).then((id) => id === started.startId) : false,
      this.handle(workflowId)
        .signal(alertSignal, alertEventOf(alert))
        .then(
          () => true,
          (error: unknown) => {
            // It finished between the start and the signal: a late repeat like any other.
            if (error instanceof WorkflowNotFoundError) return false;
            throw error;
          },
        ),
    ]);
    if (!signalled) return { outcome: 'finished', workflowId };
    return { outcome: ours ? 'started' : 'running', workflowId };
  }

  private async start(
    workflowId: string,
    plan: RecoveryPlan,
    trigger: Trigger,
    alert: ReceivedAlert,
  ): Promise<{ runId: string; startId: string } | 'finished'> {
    const request = requestOf(plan, trigger, alert);
    const startId = randomUUID();
    try {
      const handle = await this.target.client.workflow.start<typeof recoveryWorkflow>(RECOVERY_WORKFLOW_TYPE, {
        taskQueue: this.target.taskQueue,
        workflowId,
        args: [request],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        memo: { [STARTED_BY_MEMO]: startId },
        typedSearchAttributes: new TypedSearchAttributes([
          { key: RECOVERY_PLAN, value: plan.name },
          { key: RECOVERY_SCENARIO, value: trigger.scenario },
          { key: RECOVERY_STATUS, value: 'loading' },
          { key: RECOVERY_INCIDENT, value: request.incident!.id },
        ]),
      });
      return { runId: handle.firstExecutionRunId, startId };
    } catch (error) {
      if (error instanceof WorkflowExecutionAlreadyStartedError) return 'finished';
      throw error;
    }
  }

  /** The start request that created run `runId`, from its memo; one describe per run. */
  private creatorOf(workflowId: string, runId: string): Promise<unknown> {
    let creator = this.creators.get(runId);
    if (!creator) {
      creator = this.target.client.workflow
        .getHandle(workflowId, runId)
        .describe()
        .then((d) => d.memo?.[STARTED_BY_MEMO]);
      // A failed describe is asked again next time rather than remembered.
      creator.catch(() => this.creators.delete(runId));
      this.creators.set(runId, creator);
      if (this.creators.size > 10_000) this.creators.delete(this.creators.keys().next().value!);
    }
    return creator;
  }

  /**
   * A resolved alert goes to the recovery of its firing period when that still runs (Alertmanager
   * keeps startsAt), else to every running recovery of the plan and scenario with its incident id
   * (a CloudWatch OK carries the time of the OK, not of the ALARM). Nothing is started for it.
   */
  private async deliverResolved(plan: RecoveryPlan, trigger: Trigger, alert: ReceivedAlert): Promise<Delivery> {
    const event = alertEventOf(alert);
    const workflowId = recoveryIdOf(plan, trigger.scenario, alert);
    try {
      await this.handle(workflowId).signal(alertSignal, event);
      return { outcome: 'resolved', workflowIds: [workflowId] };
    } catch (error) {
      if (!(error instanceof WorkflowNotFoundError)) throw error;
    }
    const query = [
      `WorkflowType = '${RECOVERY_WORKFLOW_TYPE}'`,
      `ExecutionStatus = 'Running'`,
      `${RECOVERY_PLAN.name} = '${plan.name}'`,
      `${RECOVERY_SCENARIO.name} = '${trigger.scenario}'`,
      `${RECOVERY_INCIDENT.name} = '${incidentIdOf(alert)}'`,
    ].join(' AND ');
    const delivered: string[] = [];
    for await (const execution of this.target.client.workflow.list({ query, pageSize: 20 })) {
      try {
        await this.handle(execution.workflowId).signal(alertSignal, event);
        delivered.push(execution.workflowId);
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
      if (delivered.length >= 20) break;
    }
    return { outcome: 'resolved', workflowIds: delivered };
  }

  private handle(workflowId: string): WorkflowHandle<typeof recoveryWorkflow> {
    return this.target.client.workflow.getHandle<typeof recoveryWorkflow>(workflowId);
  }
}
