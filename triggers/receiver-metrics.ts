import { Counter, Histogram, Registry } from 'prom-client';

/** The receiver's endpoints, as the `source` label of request-level metrics. */
export type Endpoint = 'alertmanager' | 'sns' | 'generic' | 'metrics' | 'reload';

/**
 * The alert receiver's Prometheus metrics, in a registry of its own (not prom-client's global one),
 * so two receivers in one process (the tests) count separately.
 */
export function createReceiverMetrics() {
  const registry = new Registry();
  const received = new Counter({
    name: 'recovery_alerts_received_total',
    help: 'Alerts received in authenticated, well-formed requests',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const matched = new Counter({
    name: 'recovery_alerts_matched_total',
    help: 'Alerts that matched at least one trigger of a plan',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const unmatched = new Counter({
    name: 'recovery_alerts_unmatched_total',
    help: 'Alerts that matched no trigger (logged, not an error)',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const started = new Counter({
    name: 'recovery_recoveries_started_total',
    help: 'Recoveries this receiver started',
    labelNames: ['plan', 'scenario'] as const,
    registers: [registry],
  });
  const deduplicated = new Counter({
    name: 'recovery_alerts_deduplicated_total',
    help: 'Firing alerts for a plan and scenario whose recovery already runs (new ones recorded in it, repeats not sent again)',
    labelNames: ['plan', 'scenario'] as const,
    registers: [registry],
  });
  const dropped = new Counter({
    name: 'recovery_alerts_dropped_total',
    help: 'Matched alerts that started nothing and were not recorded, by reason (finished, previous-failed, stale-alarm, signal-cap)',
    labelNames: ['plan', 'scenario', 'reason'] as const,
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'recovery_alerts_rejected_total',
    help: 'Requests refused, by endpoint and reason (bad-signature, stale-timestamp, no-token, body-too-large, ...)',
    labelNames: ['source', 'reason'] as const,
    registers: [registry],
  });
  const ignored = new Counter({
    name: 'recovery_alerts_ignored_total',
    help: 'Authentic alerts routed nowhere on purpose, by source and reason (superseded-by-ok: a CloudWatch ALARM older than its OK; insufficient-data)',
    labelNames: ['source', 'reason'] as const,
    registers: [registry],
  });
  const failures = new Counter({
    name: 'recovery_alert_delivery_failures_total',
    help: 'Alerts that could not be passed to Temporal (answered 503, so the sender retries)',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'recovery_alert_to_started_seconds',
    help: 'From the request carrying the alert to Temporal answering that the recovery started',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    registry,
    received,
    matched,
    unmatched,
    started,
    deduplicated,
    dropped,
    ignored,
    rejected,
    failures,
    latency,
  };
}

export type ReceiverMetrics = ReturnType<typeof createReceiverMetrics>;
