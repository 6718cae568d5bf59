import {
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  GetHealthCheckStatusCommand,
  ListResourceRecordSetsCommand,
  type ResourceRecordSet,
  type RRType,
} from '@aws-sdk/client-route-53';
import { activityInfo, heartbeat, log, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { FailoverChangeBatch, FailoverRecordSet } from '../plan/kinds/route53-failover';
import type { AwsClients } from './aws-clients';
import { awsCall } from './aws-errors';

export interface Route53CheckInput {
  hostedZoneId: string;
  /** The batch a recovery sends (failoverChangeBatch): its records are read and compared with it. */
  changeBatch?: FailoverChangeBatch;
  /** A health check whose endpoint must be healthy. */
  healthCheckId?: string;
}

export interface Route53ChangeInput {
  hostedZoneId: string;
  /** Exactly what the runbook's manual command sends: built by failoverChangeBatch. */
  changeBatch: FailoverChangeBatch;
  /** Health check of the endpoint traffic moves to: nothing changes unless it is healthy. */
  healthCheckId?: string;
}

/** A failover record as Route 53 serves it now, and whether it already carries the batch's values. */
export interface RecordState {
  setIdentifier: string;
  failover?: string;
  values: string[];
  ttl?: number;
  healthCheckId?: string;
  matchesChange: boolean;
}

export interface HealthState {
  healthCheckId: string;
  healthy: boolean;
  /** Route 53 checkers reporting success, out of `checkers`. */
  success: number;
  checkers: number;
}

export interface Route53CheckResult {
  records?: RecordState[];
  /** The records already carry every value of the batch: a recovery would send nothing. */
  matchesChange?: boolean;
  health?: HealthState;
}

export interface Route53ChangeResult {
  /** False when the records already carried the batch's values: no change was sent. */
  changed: boolean;
  changeId?: string;
  records: RecordState[];
}

/** Route 53 errors retrying cannot fix, which awsFailure does not know. */

/** How long a change may stay PENDING; Route 53 documents about 60 seconds. */
const MAX_INSYNC_WAIT_MS = 10 * 60_000;

/** Compares DNS names as Route 53 does: case-insensitive, trailing dot optional, `\052` escapes. */
const dnsName = (name = '') =>
  name
    .replace(/\\(\d{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)))
    .replace(/\.$/, '')
    .toLowerCase();

const values = (records: { Value?: string }[] = []) => records.map((r) => dnsName(r.Value)).sort();

function matches(want: FailoverRecordSet, have: ResourceRecordSet | undefined): boolean {
  return (
    have !== undefined &&
    !have.AliasTarget &&
    have.Failover === want.Failover &&
    have.TTL === want.TTL &&
    (have.HealthCheckId ?? '') === (want.HealthCheckId ?? '') &&
    values(have.ResourceRecords).join() === values(want.ResourceRecords).join()
  );
}

export function createRoute53Activities(aws: AwsClients, { pollIntervalMs = 5_000 } = {}) {
  /** The record sets of one name and type (each SetIdentifier is one), across pages. */
  async function readRecords(hostedZoneId: string, name: string, type: string): Promise<ResourceRecordSet[]> {
    const found: ResourceRecordSet[] = [];
    let start: { name?: string; type?: string; id?: string } = { name, type };
    for (;;) {
      const page = await awsCall(
        `list records ${name} ${type} in hosted zone ${hostedZoneId}`,
        'route53:ListResourceRecordSets',
        (abortSignal) =>
          aws.route53().send(
            new ListResourceRecordSetsCommand({
              HostedZoneId: hostedZoneId,
              StartRecordName: start.name,
              StartRecordType: start.type as RRType | undefined,
              StartRecordIdentifier: start.id,
            }),
            { abortSignal },
          ),
      );
      const sets = page.ResourceRecordSets ?? [];
      found.push(...sets.filter((r) => dnsName(r.Name) === dnsName(name) && r.Type === type));
      // The listing is sorted by name and type: stop once the next page starts past ours.
      if (!page.IsTruncated || dnsName(page.NextRecordName) !== dnsName(name) || page.NextRecordType !== type) {
        return found;
      }
      start = { name: page.NextRecordName, type: page.NextRecordType, id: page.NextRecordIdentifier };
    }
  }

  /** The batch's records as they are now; fails when one does not exist (a typo would add a record). */
  async function compare(hostedZoneId: string, batch: FailoverChangeBatch) {
    const wanted = batch.Changes.map((change) => change.ResourceRecordSet);
    const [first] = wanted;
    if (!first || wanted.some((r) => dnsName(r.Name) !== dnsName(first.Name) || r.Type !== first.Type)) {
      throw ApplicationFailure.nonRetryable(
        `change batch for hosted zone ${hostedZoneId}: expected the failover records of one name and type`,
        'InvalidChangeBatch',
      );
    }
    const current = await readRecords(hostedZoneId, first.Name, first.Type);
    const records = wanted.map((want): RecordState => {
      const have = current.find((r) => r.SetIdentifier === want.SetIdentifier);
      if (!have) {
        throw ApplicationFailure.nonRetryable(
          `record ${first.Name} ${first.Type} with SetIdentifier "${want.SetIdentifier}" not found in hosted zone ${hostedZoneId}; ` +
            `existing: ${current.map((r) => `"${r.SetIdentifier ?? '(none)'}"`).join(', ') || 'none'}. Check recordName, recordType and setIdentifier in the plan`,
          'RecordNotFound',
        );
      }
      return {
        setIdentifier: want.SetIdentifier,
        failover: have.Failover,
        values: (have.ResourceRecords ?? []).map((r) => r.Value ?? ''),
        ttl: have.TTL,
        healthCheckId: have.HealthCheckId,
        matchesChange: matches(want, have),
      };
    });
    return { records, matchesChange: records.every((r) => r.matchesChange) };
  }

  /** Healthy when most Route 53 checkers report success, as the manual step asks; else a retryable failure. */
  async function checkHealth(healthCheckId: string, endpoint: string): Promise<HealthState> {
    const { HealthCheckObservations: observations = [] } = await awsCall(
      `read health check ${healthCheckId}`,
      'route53:GetHealthCheckStatus',
      (abortSignal) =>
        aws.route53().send(new GetHealthCheckStatusCommand({ HealthCheckId: healthCheckId }), { abortSignal }),
    );
    const success = observations.filter((o) => o.StatusReport?.Status?.startsWith('Success')).length;
    const health = {
      healthCheckId,
      healthy: success * 2 > observations.length,
      success,
      checkers: observations.length,
    };
    if (!health.healthy) {
      throw ApplicationFailure.create({
        message: `health check ${healthCheckId} of ${endpoint}: ${success} of ${observations.length} Route 53 checkers report success; traffic only moves to an endpoint that answers`,
        type: 'EndpointUnhealthy',
        nonRetryable: false,
        details: [health],
      });
    }
    return health;
  }

  /** The endpoint a health check belongs to, for messages: its value in the batch. */
  const endpointOf = (healthCheckId: string, batch?: FailoverChangeBatch) => {
    const record = batch?.Changes.find((c) => c.ResourceRecordSet.HealthCheckId === healthCheckId)?.ResourceRecordSet;
    return record
      ? `${record.ResourceRecords.map((r) => r.Value).join(', ')} (${record.Failover} after the change)`
      : 'the endpoint';
  };

  /** Polls GetChange until INSYNC, heartbeating the change id so a retry resumes this wait. */
  async function waitInSync(changeId: string): Promise<void> {
    const deadline = Date.now() + MAX_INSYNC_WAIT_MS;
    for (;;) {
      const { ChangeInfo } = await awsCall(`read Route 53 change ${changeId}`, 'route53:GetChange', (abortSignal) =>
        aws.route53().send(new GetChangeCommand({ Id: changeId }), { abortSignal }),
      );
      heartbeat({ changeId, status: ChangeInfo?.Status });
      if (ChangeInfo?.Status === 'INSYNC') return;
      if (Date.now() > deadline) {
        throw ApplicationFailure.retryable(
          `Route 53 change ${changeId} is still ${ChangeInfo?.Status ?? 'unknown'} after ${MAX_INSYNC_WAIT_MS / 60_000} minutes`,
          'ChangeNotInSync',
        );
      }
      await sleep(pollIntervalMs); // rejects at once on cancellation
    }
  }

  return {
    /** Reads the failover records and/or a health check. Never changes anything: drills use it. */
    async checkRoute53Failover(input: Route53CheckInput): Promise<Route53CheckResult> {
      const result: Route53CheckResult = input.changeBatch ? await compare(input.hostedZoneId, input.changeBatch) : {};
      if (input.healthCheckId) {
        result.health = await checkHealth(input.healthCheckId, endpointOf(input.healthCheckId, input.changeBatch));
      }
      return result;
    },

    /**
     * UPSERTs the failover records, unless they already carry the batch's values, waits until the
     * change is INSYNC and reads the records back. Idempotent: a retry after the change was sent
     * finds the values in place and resumes waiting on the change id it heartbeated.
     */
    async changeRoute53Failover(input: Route53ChangeInput): Promise<Route53ChangeResult> {
      const { hostedZoneId, changeBatch, healthCheckId } = input;
      if (healthCheckId) await checkHealth(healthCheckId, endpointOf(healthCheckId, changeBatch));
      const before = await compare(hostedZoneId, changeBatch);
      const previous = (activityInfo().heartbeatDetails as { changeId?: string } | undefined)?.changeId;
      if (before.matchesChange && !previous) {
        log.info('Failover records already carry the target values; no change sent', { hostedZoneId });
        return { changed: false, records: before.records };
      }
      let changeId = previous;
      if (!before.matchesChange) {
        const { ChangeInfo } = await awsCall(
          `change failover records in hosted zone ${hostedZoneId} (${changeBatch.Comment})`,
          'route53:ChangeResourceRecordSets',
          (abortSignal) =>
            aws
              .route53()
              .send(new ChangeResourceRecordSetsCommand({ HostedZoneId: hostedZoneId, ChangeBatch: changeBatch }), {
                abortSignal,
              }),
        );
        changeId = ChangeInfo?.Id ?? '';
        log.info('Failover change sent', { hostedZoneId, changeId });
      }
      heartbeat({ changeId });
      await waitInSync(changeId!);
      const after = await compare(hostedZoneId, changeBatch);
      if (!after.matchesChange) {
        throw ApplicationFailure.retryable(
          `hosted zone ${hostedZoneId}: after change ${changeId} the records do not carry the target values: ${JSON.stringify(after.records)}`,
          'RecordsNotChanged',
        );
      }
      return { changed: true, changeId, records: after.records };
    },
  };
}
