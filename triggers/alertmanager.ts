import { z } from 'zod';
import type { ReceivedAlert } from './alert';
import { isoTime, oneLine, parseOrReject, shortHash } from './parse';

const labelSet = z.record(z.string(), z.string());

/** One alert of a webhook notification (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config). */
const alertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: z.object({ alertname: z.string().min(1).max(200) }).catchall(z.string()),
  annotations: labelSet.default({}),
  startsAt: isoTime,
  /** `0001-01-01T00:00:00Z` or the resolve timeout while firing; when it resolved once resolved. */
  endsAt: isoTime.optional(),
  generatorURL: z.string().optional(),
  fingerprint: z.string().optional(),
});

/** The Alertmanager webhook payload, version 4. Fields the engine does not use are checked, never passed on. */
const payloadSchema = z.object({
  version: z.literal('4'),
  groupKey: z.string().min(1),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  alerts: z.array(alertSchema).min(1),
  groupLabels: labelSet.optional(),
  commonLabels: labelSet.optional(),
  commonAnnotations: labelSet.optional(),
  externalURL: z.string().optional(),
  truncatedAlerts: z.number().int().nonnegative().optional(),
});

/**
 * The alerts of one Alertmanager notification. The group is the incident: every alert shares the
 * incident key (a hash of `groupKey`, which is long and lists label values); each keeps its own
 * `startsAt`, which stays the same in every resend of the group (every `group_interval` /
 * `repeat_interval`), so a resend is recognized alert by alert. `alertname` is at most 200
 * characters: it becomes the record's alert name.
 */
export function alertsFromAlertmanager(body: unknown): ReceivedAlert[] {
  const payload = parseOrReject(payloadSchema, body, 'Alertmanager webhook payload');
  const incidentKey = `alertmanager:${shortHash(payload.groupKey, 32)}`;
  return payload.alerts.map((alert): ReceivedAlert => {
    const summary = oneLine(alert.annotations.summary ?? alert.annotations.description);
    return {
      source: 'alertmanager',
      status: alert.status,
      name: alert.labels.alertname,
      labels: { ...alert.labels },
      startsAt: alert.startsAt,
      ...(alert.status === 'resolved' && alert.endsAt ? { endsAt: alert.endsAt } : {}),
      incidentKey,
      ...(summary ? { summary } : {}),
    };
  });
}
