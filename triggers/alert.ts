import type { AlertEvent } from '../workflows/progress';

/**
 * Alarm triggers: what every source (Alertmanager, CloudWatch through SNS, signed generic
 * webhooks) is turned into once its request is authenticated and parsed. Only these fields go on:
 * nothing else of a request body reaches a workflow history.
 */
export interface ReceivedAlert {
  source: AlertEvent['source'];
  status: AlertEvent['status'];
  /** Alertmanager `alertname`, the CloudWatch alarm name, the generic `name`. */
  name: string;
  /**
   * What trigger `match` entries are compared with: Alertmanager labels; for CloudWatch
   * `alarmName`, `region`, `account`; the generic payload's labels plus `name`.
   */
  labels: Record<string, string>;
  /** When this firing period started (Alertmanager startsAt, the ALARM state change), ISO-8601. */
  startsAt: string;
  /** When it resolved, for `resolved` alerts. */
  endsAt?: string;
  /**
   * Identifies the incident across repeats of the same alert: the Alertmanager group key, the
   * CloudWatch alarm (account, region, name), the generic `incident` field or name.
   */
  incidentKey: string;
  /** One line for people: summary annotation, alarm reason; at most 300 characters. */
  summary?: string;
}

/** A request the receiver refuses: the HTTP status and a reason the sender can act on. */
export class AlertRejected extends Error {
  constructor(
    readonly statusCode: 400 | 401 | 403 | 413 | 415 | 429,
    /** Short machine-readable reason for the metrics label: `bad-signature`, `stale-timestamp`, … */
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'AlertRejected';
  }
}

/** The workflow's view of an alert. */
export const alertEventOf = (alert: ReceivedAlert): AlertEvent => ({
  source: alert.source,
  status: alert.status,
  name: alert.name,
  at: alert.status === 'resolved' ? (alert.endsAt ?? alert.startsAt) : alert.startsAt,
  ...(alert.summary ? { summary: alert.summary.slice(0, 300) } : {}),
});
