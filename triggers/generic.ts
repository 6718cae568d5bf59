import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { AlertRejected, type ReceivedAlert } from './alert';
import { isoTime, oneLine, parseOrReject } from './parse';

export const TIMESTAMP_HEADER = 'x-recovery-timestamp';
export const SIGNATURE_HEADER = 'x-recovery-signature';

/** `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`: what a sender puts in X-Recovery-Signature. */
export const signGeneric = (secret: string, timestamp: string, rawBody: Buffer | string): string =>
  `sha256=${createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('hex')}`;

/**
 * Authenticates a generic webhook: X-Recovery-Timestamp (unix seconds) within `windowSeconds` of
 * now either way — a captured request cannot be replayed later — and X-Recovery-Signature over the
 * timestamp and the raw body bytes, compared in constant time. Several secrets are accepted while
 * one is being rotated.
 */
export function verifyGenericRequest(input: {
  secret: string | readonly string[];
  timestamp: string | undefined;
  signature: string | undefined;
  rawBody: Buffer;
  now: Date;
  windowSeconds?: number;
}): void {
  const { timestamp, signature, rawBody, now, windowSeconds = 300 } = input;
  const secrets = (typeof input.secret === 'string' ? [input.secret] : input.secret).filter(Boolean);
  if (secrets.length === 0) throw new Error('no secret configured for generic webhooks');
  if (!timestamp || !signature)
    throw new AlertRejected(
      401,
      'unsigned',
      'sign the request: X-Recovery-Timestamp and X-Recovery-Signature are required',
    );
  if (!/^\d{1,12}$/.test(timestamp))
    throw new AlertRejected(401, 'stale-timestamp', 'X-Recovery-Timestamp must be unix time in seconds');
  const skew = Math.abs(now.getTime() / 1000 - Number(timestamp));
  if (skew > windowSeconds)
    throw new AlertRejected(
      401,
      'stale-timestamp',
      `X-Recovery-Timestamp ${timestamp} is ${Math.round(skew)} s away from the receiver's clock (window ${windowSeconds} s)`,
    );
  const given = /^sha256=([0-9a-f]{64})$/i.exec(signature.trim())?.[1];
  const matches = secrets.some((secret) => {
    const expected = Buffer.from(signGeneric(secret, timestamp, rawBody).slice('sha256='.length), 'hex');
    return given !== undefined && timingSafeEqual(Buffer.from(given, 'hex'), expected);
  });
  if (!matches)
    throw new AlertRejected(
      401,
      'bad-signature',
      'X-Recovery-Signature does not match: expected sha256=<hex HMAC-SHA256>',
    );
}

// A firing alert must say when its firing period began: repeats of it then reach the same
// recovery, and a storm of them starts one.
const genericAlertSchema = z
  .object({
    name: z.string().min(1).max(200),
    status: z.enum(['firing', 'resolved']),
    startsAt: isoTime.optional(),
    endsAt: isoTime.optional(),
    incident: z.string().min(1).max(200).optional(),
    labels: z.record(z.string(), z.string()).optional(),
    summary: z.string().optional(),
  })
  .refine((alert) => alert.status !== 'firing' || alert.startsAt !== undefined, {
    path: ['startsAt'],
    message: 'a firing alert needs startsAt, when its firing period began (repeat it unchanged in repeats)',
  });

const genericBodySchema = z.object({ alerts: z.array(genericAlertSchema).min(1).max(100) });

/**
 * The alerts of a generic webhook: one alert, or `{ alerts: [...] }`; `name` is added to the labels
 * the triggers match. The incident is `incident`, else `name`. `startsAt` is when the firing period
 * began, required for firing alerts: a sender repeats it unchanged in repeats, which reach the same
 * recovery. A resolved alert without it is delivered by its incident (`receivedAt` stands in).
 */
export function alertsFromGeneric(body: unknown, receivedAt: Date = new Date()): ReceivedAlert[] {
  const batch = body !== null && typeof body === 'object' && 'alerts' in body;
  const alerts = batch
    ? parseOrReject(genericBodySchema, body, 'generic alert').alerts
    : [parseOrReject(genericAlertSchema, body, 'generic alert')];
  return alerts.map((alert): ReceivedAlert => {
    const summary = oneLine(alert.summary);
    const endsAt = alert.status === 'resolved' ? (alert.endsAt ?? receivedAt.toISOString()) : undefined;
    return {
      source: 'generic',
      status: alert.status,
      name: alert.name,
      labels: { ...alert.labels, name: alert.name },
      startsAt: alert.startsAt ?? receivedAt.toISOString(),
      ...(endsAt ? { endsAt } : {}),
      incidentKey: alert.incident ?? alert.name,
      ...(summary ? { summary } : {}),
    };
  });
}
