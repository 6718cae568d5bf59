import { verify, X509Certificate } from 'node:crypto';
import { get } from 'node:https';
import { z } from 'zod';
import { AlertRejected, type ReceivedAlert } from './alert';
import { describeIssue, isoTime, oneLine, parseOrReject, rfc3339 } from './parse';

const TOPIC_ARN = /^arn:aws[a-z-]*:sns:([a-z0-9-]+):(\d{12}):[A-Za-z0-9_.-]{1,256}$/;

// Signed fields are kept exactly as sent (no trimming, no normalizing): the signature covers them.
const common = {
  MessageId: z.string().min(1),
  TopicArn: z.string().regex(TOPIC_ARN, 'expected an SNS topic ARN such as arn:aws:sns:us-east-1:123456789012:alarms'),
  Message: z.string(),
  Timestamp: rfc3339,
  SignatureVersion: z.string().min(1),
  Signature: z.string().min(1),
  SigningCertURL: z.string().min(1),
};

const notificationSchema = z.object({
  Type: z.literal('Notification'),
  ...common,
  Subject: z.string().optional(),
  UnsubscribeURL: z.string().min(1),
});

const confirmationSchema = z.object({
  Type: z.enum(['SubscriptionConfirmation', 'UnsubscribeConfirmation']),
  ...common,
  Token: z.string().min(1),
  SubscribeURL: z.string().min(1),
});

const messageSchema = z.discriminatedUnion('Type', [notificationSchema, confirmationSchema]);

/** An SNS HTTP(S) delivery (https://docs.aws.amazon.com/sns/latest/dg/http-message-format.html). */
export type SnsMessage = z.infer<typeof messageSchema>;
export type SnsNotification = z.infer<typeof notificationSchema>;
export type SnsConfirmation = z.infer<typeof confirmationSchema>;

/** Parses an SNS delivery: the JSON body (SNS sends it as text/plain, so a string is accepted too). */
export function snsMessageOf(body: unknown): SnsMessage {
  let value = body;
  if (typeof body === 'string' || Buffer.isBuffer(body)) {
    try {
      value = JSON.parse(body.toString());
    } catch {
      throw new AlertRejected(400, 'malformed', 'SNS message: the body is not JSON');
    }
  }
  return parseOrReject(messageSchema, value, 'SNS message');
}

/** Where a signing certificate comes from: its PEM text for a URL that `verifySnsMessage` already vetted. */
export interface CertificateSource {
  (url: string): Promise<string /* PEM */>;
}

/** The certificate could not be fetched: not the sender's fault, so the receiver answers 5xx and SNS retries. */
export class CertificateUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateUnavailable';
  }
}

/**
 * Fetches signing certificates over https only (TLS-verified: the host is the trust anchor), with a
 * timeout and a size limit, no redirects, and keeps the latest `cacheSize` by URL (AWS rotates them
 * rarely, and a new one has a new URL). A failed fetch is remembered for `failureTtlMs`; a 4xx
 * from the host is a forged certificate URL (403), anything else unavailable (5xx, SNS retries).
 */
export function httpsCertificateSource(
  options: {
    timeoutMs?: number;
    maxBytes?: number;
    cacheSize?: number;
    failureTtlMs?: number;
    ca?: string | Buffer;
  } = {},
): CertificateSource {
  const { timeoutMs = 5_000, maxBytes = 16_384, cacheSize = 32, failureTtlMs = 60_000, ca } = options;
  const cache = new Map<string, Promise<string>>();
  const fetchPem = (url: string) =>
    new Promise<string>((resolve, reject) => {
      if (!url.startsWith('https://')) return reject(new CertificateUnavailable(`refusing ${url}: not https`));
      const request = get(url, ca ? { ca } : {}, (response) => {
        if (response.statusCode !== 200) {
          response.resume();
          const status = response.statusCode ?? 0;
          // No such certificate on the SNS host: the message names one SNS never used, forged.
          if (status >= 400 && status < 500)
            return reject(new AlertRejected(403, 'bad-cert', `${url} answered HTTP ${status}: no such certificate`));
          return reject(new CertificateUnavailable(`${url} answered HTTP ${status}`));
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            request.destroy(new CertificateUnavailable(`${url} sent more than ${maxBytes} bytes`));
          } else chunks.push(chunk);
        });
        response.on('error', reject);
        response.on('end', () => {
          const pem = Buffer.concat(chunks).toString('utf8');
          if (!pem.includes('-----BEGIN CERTIFICATE-----'))
            reject(new CertificateUnavailable(`${url} did not send a PEM certificate`));
          else resolve(pem);
        });
      });
      // A deadline for the whole exchange, not an idle timeout: a server trickling bytes is cut off too.
      const deadline = setTimeout(
        () => request.destroy(new CertificateUnavailable(`${url} did not answer within ${timeoutMs} ms`)),
        timeoutMs,
      );
      request.on('close', () => clearTimeout(deadline));
      request.on('error', (error) =>
        reject(
          error instanceof CertificateUnavailable ? error : new CertificateUnavailable(`${url}: ${error.message}`),
        ),
      );
    });
  return (url) => {
    let pem = cache.get(url);
    if (pem) {
      cache.delete(url); // re-inserted below: the Map's order is the recency order
    } else {
      pem = fetchPem(url);
      // A failure stands for a minute: forged messages naming a certificate cost one fetch a minute.
      const failed = pem;
      failed.catch(() => setTimeout(() => cache.get(url) === failed && cache.delete(url), failureTtlMs).unref());
    }
    cache.set(url, pem);
    while (cache.size > cacheSize) cache.delete(cache.keys().next().value!);
    return pem;
  };
}

/** The region of an SNS topic ARN. */
export const regionOfTopic = (topicArn: string): string => TOPIC_ARN.exec(topicArn)?.[1] ?? '';

/** SNS signs with certificates served from its own regional endpoint, nowhere else. */
export const isSnsHost = (host: string, region: string): boolean =>
  host === `sns.${region}.amazonaws.com` || (region.startsWith('cn-') && host === `sns.${region}.amazonaws.com.cn`);

/** The text SNS signs: the listed fields in this order, each as "Key\nvalue\n", Subject only when present. */
export function stringToSign(message: SnsMessage): string {
  const keys =
    message.Type === 'Notification'
      ? (['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'] as const)
      : (['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'] as const);
  const fields = message as Record<string, string | undefined>;
  return keys.map((key) => (fields[key] === undefined ? '' : `${key}\n${fields[key]}\n`)).join('');
}

const ALGORITHMS: Record<string, string> = { '1': 'RSA-SHA1', '2': 'RSA-SHA256' };

function certificateUrlProblem(url: string, region: string, allowedHost: (host: string, region: string) => boolean) {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not a URL';
  }
  if (parsed.protocol !== 'https:') return 'is not https';
  if (parsed.username || parsed.password || parsed.port) return 'has credentials or a port';
  if (!allowedHost(parsed.hostname, region)) return `is not on the SNS host of the topic's region ${region}`;
  if (!/^\/SimpleNotificationService-[0-9a-f]+\.pem$/.test(parsed.pathname) || parsed.search)
    return 'is not an SNS signing certificate (/SimpleNotificationService-<hex>.pem)';
  return undefined;
}

/**
 * Verifies that SNS sent this message (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html):
 * the signing certificate's URL is vetted before anything is fetched, then the certificate must be
 * currently valid and the signature (version 1: SHA1, 2: SHA256) must verify over the fields SNS signs.
 *
 * A valid signature proves only that SNS delivered it from `TopicArn`: anyone can create a topic and
 * subscribe this endpoint, so give `allowedTopicArns`. `maxAgeSeconds` (default one hour, SNS's
 * retries included) refuses replays of old messages; the clock skew allowed ahead is five minutes.
 * Errors from the certificate source other than AlertRejected (e.g. CertificateUnavailable) are
 * passed on: answer them with a 5xx so that SNS retries.
 */
export async function verifySnsMessage(
  message: SnsMessage,
  certificates: CertificateSource,
  options: {
    allowedCertHost?: (host: string, region: string) => boolean;
    allowedTopicArns?: readonly string[];
    maxAgeSeconds?: number;
    now?: Date;
  } = {},
): Promise<void> {
  const { allowedCertHost = isSnsHost, allowedTopicArns, maxAgeSeconds = 3_600, now = new Date() } = options;
  const region = regionOfTopic(message.TopicArn);
  const urlProblem = certificateUrlProblem(message.SigningCertURL, region, allowedCertHost);
  if (urlProblem)
    throw new AlertRejected(
      403,
      'bad-cert-url',
      `SigningCertURL ${JSON.stringify(message.SigningCertURL.slice(0, 200))} ${urlProblem}`,
    );
  const algorithm = ALGORITHMS[message.SignatureVersion];
  if (!algorithm)
    throw new AlertRejected(
      403,
      'bad-signature-version',
      `SignatureVersion ${JSON.stringify(message.SignatureVersion)} is not supported: expected "1" or "2"`,
    );
  if (allowedTopicArns && !allowedTopicArns.includes(message.TopicArn))
    throw new AlertRejected(403, 'unknown-topic', `TopicArn ${message.TopicArn} is not one this receiver accepts`);
  const age = (now.getTime() - Date.parse(message.Timestamp)) / 1000;
  if (age > maxAgeSeconds || age < -300)
    throw new AlertRejected(
      403,
      'stale-timestamp',
      `Timestamp ${message.Timestamp} is ${age > 0 ? `${Math.round(age)} s old` : 'in the future'}: more than ${age > 0 ? maxAgeSeconds : 300} s off`,
    );

  const pem = await certificates(message.SigningCertURL);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(pem);
  } catch {
    throw new AlertRejected(403, 'bad-cert', `the certificate at ${message.SigningCertURL} cannot be read`);
  }
  if (certificate.publicKey.asymmetricKeyType !== 'rsa')
    throw new AlertRejected(403, 'bad-cert', `the certificate at ${message.SigningCertURL} has no RSA key`);
  if (now < new Date(certificate.validFrom) || now > new Date(certificate.validTo))
    throw new AlertRejected(
      403,
      'expired-cert',
      `the certificate at ${message.SigningCertURL} is valid from ${certificate.validFrom} to ${certificate.validTo} only`,
    );
  const signed = verify(
    algorithm,
    Buffer.from(stringToSign(message), 'utf8'),
    certificate.publicKey,
    Buffer.from(message.Signature, 'base64'),
  );
  if (!signed)
    throw new AlertRejected(403, 'bad-signature', `the signature of SNS message ${message.MessageId} does not verify`);
}

/** A CloudWatch alarm state change as CloudWatch publishes it to SNS (only what the engine uses). */
const alarmSchema = z.object({
  AlarmName: z.string().min(1),
  AWSAccountId: z.string().min(1),
  NewStateValue: z.enum(['ALARM', 'OK', 'INSUFFICIENT_DATA']),
  OldStateValue: z.string().optional(),
  NewStateReason: z.string().optional(),
  /** `2024-05-01T10:01:02.345+0000` */
  StateChangeTime: isoTime,
  /** The region's display name, e.g. "US East (N. Virginia)". */
  Region: z.string().optional(),
  AlarmArn: z.string().optional(),
});

const ALARM_ARN_REGION = /^arn:aws[a-z-]*:cloudwatch:([a-z0-9-]+):/;

/**
 * The alert in a CloudWatch alarm notification: ALARM fires, OK resolves, INSUFFICIENT_DATA is
 * ignored (undefined). The incident is the alarm (account, region code, name); an ALARM's start is
 * its StateChangeTime. An OK message does not say when the ALARM began, so a resolved alert has
 * `startsAt` = `endsAt` = the OK time: its recovery id differs from the firing one, and the receiver
 * must find the running recovery by `incidentKey` to deliver it.
 */
export function cloudWatchAlertOf(message: SnsMessage): ReceivedAlert | undefined {
  if (message.Type !== 'Notification')
    throw new AlertRejected(400, 'not-an-alarm', `SNS ${message.Type} is not a CloudWatch alarm notification`);
  let body: unknown;
  try {
    body = JSON.parse(message.Message);
  } catch {
    throw new AlertRejected(400, 'not-an-alarm', 'SNS Message is not JSON: not a CloudWatch alarm state change');
  }
  const parsed = alarmSchema.safeParse(body);
  if (!parsed.success)
    throw new AlertRejected(
      400,
      'not-an-alarm',
      `SNS Message is not a CloudWatch alarm state change: ${describeIssue(parsed.error.issues[0]!, body)}`,
    );
  const alarm = parsed.data;
  if (alarm.NewStateValue === 'INSUFFICIENT_DATA') return undefined;
  const region = ALARM_ARN_REGION.exec(alarm.AlarmArn ?? '')?.[1] ?? regionOfTopic(message.TopicArn);
  const summary = oneLine(alarm.NewStateReason);
  return {
    source: 'cloudwatch',
    status: alarm.NewStateValue === 'ALARM' ? 'firing' : 'resolved',
    name: alarm.AlarmName,
    labels: { alarmName: alarm.AlarmName, region, account: alarm.AWSAccountId },
    startsAt: alarm.StateChangeTime,
    ...(alarm.NewStateValue === 'OK' ? { endsAt: alarm.StateChangeTime } : {}),
    incidentKey: `cloudwatch:${alarm.AWSAccountId}:${region}:${alarm.AlarmName}`,
    ...(summary ? { summary } : {}),
  };
}
