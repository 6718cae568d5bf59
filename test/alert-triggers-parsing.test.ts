import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, sign, type KeyObject, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadPlan } from '../plan/load';
import type { RecoveryPlan } from '../plan/schema/plan';
import { AlertRejected, type ReceivedAlert } from '../triggers/alert';
import { alertsFromAlertmanager } from '../triggers/alertmanager';
import { alertsFromGeneric, signGeneric, verifyGenericRequest } from '../triggers/generic';
import { tokenBuckets } from '../triggers/rate-limit';
import { recoveryIdOf, routeAlert } from '../triggers/routing';
import { requestOf } from '../triggers/start-recovery-from-alert';
import {
  CertificateUnavailable,
  cloudWatchAlertOf,
  httpsCertificateSource,
  isSnsHost,
  snsMessageOf,
  stringToSign,
  verifySnsMessage,
} from '../triggers/sns';

const FIXTURES = join(__dirname, 'fixtures', 'alerts');
const fixture = (name: string): unknown => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));
const fixtureText = (name: string): string => readFileSync(join(FIXTURES, name), 'utf8');

/** The instant every check in this file is made at. */
const NOW = new Date('2024-05-01T10:05:00Z');
const FIRST_STARTS_AT = '2024-05-01T10:00:02.123Z';
const SECOND_STARTS_AT = '2024-05-01T10:01:32.500Z';
const CERT_URL = 'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem';
const TOPIC = 'arn:aws:sns:us-east-1:123456789012:recovery-alarms';

/** Asserts `run` throws AlertRejected with this status and reason, and returns its message. */
async function rejected(run: () => unknown, statusCode: number, reason: string): Promise<string> {
  try {
    await run();
  } catch (error) {
    assert.ok(error instanceof AlertRejected, `expected AlertRejected, got ${String(error)}`);
    assert.equal(error.reason, reason, error.message);
    assert.equal(error.statusCode, statusCode, error.message);
    return error.message;
  }
  assert.fail(`expected a rejection ${statusCode} ${reason}`);
}

const clone = <T>(value: T): T => structuredClone(value);

describe('Alertmanager webhook payloads', () => {
  it('turns a grouped firing notification into one incident with the start of its firing period', () => {
    const alerts = alertsFromAlertmanager(fixture('alertmanager-firing.json'));
    assert.equal(alerts.length, 2);
    const [first, second] = alerts as [ReceivedAlert, ReceivedAlert];
    assert.equal(first.source, 'alertmanager');
    assert.equal(first.status, 'firing');
    assert.equal(first.name, 'AgamaDown');
    assert.deepEqual(first.labels, {
      alertname: 'AgamaDown',
      instance: 'agama-1.internal:9100',
      job: 'agama',
      severity: 'critical',
    });
    assert.equal(first.summary, 'Agama is down on agama-1.internal');
    assert.equal(second.summary, 'agama-2.internal:9100 has not answered the scrape for 2 minutes.', 'description');
    // One group, one incident: both alerts share the key; each keeps its own start.
    assert.equal(first.incidentKey, second.incidentKey);
    assert.equal(first.startsAt, FIRST_STARTS_AT);
    assert.equal(second.startsAt, SECOND_STARTS_AT);
    assert.equal(first.endsAt, undefined, 'a firing alert has no end, whatever endsAt Alertmanager sends');
    // The group key lists label values and is long: it is hashed.
    assert.ok(!first.incidentKey.includes('AgamaDown'), first.incidentKey);
  });

  it('records resolved alerts with their end, on the incident they fired on', () => {
    const firing = alertsFromAlertmanager(fixture('alertmanager-firing.json'));
    const resolved = alertsFromAlertmanager(fixture('alertmanager-resolved.json'));
    assert.deepEqual(
      resolved.map((alert) => [alert.status, alert.endsAt]),
      [
        ['resolved', '2024-05-01T10:42:17.500Z'],
        ['resolved', '2024-05-01T10:42:17.500Z'],
      ],
    );
    assert.equal(resolved[0]!.incidentKey, firing[0]!.incidentKey);
  });

  it('refuses other versions and shapes with a 400 that names the field', async () => {
    const cases: [string, (payload: Record<string, unknown>) => unknown, RegExp][] = [
      ['version 3', (p) => ({ ...p, version: '3' }), /version: expected "4", got string "3"/],
      ['no version', (p) => ({ ...p, version: undefined }), /version is missing/],
      ['no groupKey', (p) => ({ ...p, groupKey: undefined }), /groupKey is missing/],
      ['no alerts', (p) => ({ ...p, alerts: [] }), /alerts: /],
      ['alerts not a list', (p) => ({ ...p, alerts: {} }), /alerts: expected array, got an object/],
      [
        'an alert without alertname',
        (p) => {
          const alerts = p.alerts as { labels: Record<string, string> }[];
          delete alerts[1]!.labels.alertname;
          return p;
        },
        /alerts\[1\]\.labels\.alertname is missing/,
      ],
      [
        'startsAt not a time',
        (p) => {
          (p.alerts as Record<string, unknown>[])[0]!.startsAt = 'yesterday';
          return p;
        },
        /alerts\[0\]\.startsAt: expected an RFC 3339 time/,
      ],
      [
        'an unknown status',
        (p) => {
          (p.alerts as Record<string, unknown>[])[0]!.status = 'pending';
          return p;
        },
        /alerts\[0\]\.status: expected "firing" or "resolved", got string "pending"/,
      ],
      ['not an object', () => 'AgamaDown', /\(body\): expected object, got string/],
    ];
    for (const [name, change, message] of cases) {
      const payload = clone(fixture('alertmanager-firing.json')) as Record<string, unknown>;
      const text = await rejected(() => alertsFromAlertmanager(change(payload)), 400, 'malformed');
      assert.match(text, message, name);
      assert.match(text, /^Alertmanager webhook payload: /, name);
    }
  });
});

/** The string SNS signs, written out from the AWS documentation independently of triggers/sns.ts. */
function awsStringToSign(m: Record<string, string | undefined>): string {
  if (m.Type === 'Notification') {
    return (
      `Message\n${m.Message}\nMessageId\n${m.MessageId}\n` +
      (m.Subject !== undefined ? `Subject\n${m.Subject}\n` : '') +
      `Timestamp\n${m.Timestamp}\nTopicArn\n${m.TopicArn}\nType\n${m.Type}\n`
    );
  }
  return (
    `Message\n${m.Message}\nMessageId\n${m.MessageId}\nSubscribeURL\n${m.SubscribeURL}\n` +
    `Timestamp\n${m.Timestamp}\nToken\n${m.Token}\nTopicArn\n${m.TopicArn}\nType\n${m.Type}\n`
  );
}

describe('SNS messages', () => {
  let dir: string;
  let key: KeyObject;
  let validPem: string;
  let expiredPem: string;
  let notYetValidPem: string;
  const fetched: string[] = [];
  /** Serves the test certificate for any URL, and records which URLs were asked for. */
  const certificates = (pem: () => string) => (url: string) => {
    fetched.push(url);
    return Promise.resolve(pem());
  };

  before(() => {
    // A CA of the test's own and SNS signing certificates it issues, with fixed validity periods.
    dir = mkdtempSync(join(tmpdir(), 'sns-certs-'));
    const openssl = (...args: string[]) => execFileSync('/usr/bin/openssl', args, { cwd: dir, stdio: 'pipe' });
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '1000\n');
    writeFileSync(
      join(dir, 'ca.cnf'),
      [
        '[ca]',
        'default_ca = test',
        '[test]',
        `database = ${join(dir, 'index.txt')}`,
        `new_certs_dir = ${dir}`,
        `serial = ${join(dir, 'serial')}`,
        'default_md = sha256',
        'policy = any',
        'unique_subject = no',
        'copy_extensions = none',
        '[any]',
        'commonName = supplied',
        '',
      ].join('\n'),
    );
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '1',
      '-subj',
      '/CN=Test SNS CA',
    );
    openssl(
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'sns.key',
      '-out',
      'sns.csr',
      '-subj',
      '/CN=sns.amazonaws.com',
    );
    const issue = (out: string, start: string, end: string) =>
      openssl(
        'ca', '-batch', '-notext', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', 'sns.csr',
        '-startdate', start, '-enddate', end, '-out', out,
      ); // prettier-ignore
    issue('valid.pem', '20240101000000Z', '20340101000000Z');
    issue('expired.pem', '20200101000000Z', '20210101000000Z');
    issue('future.pem', '20250101000000Z', '20260101000000Z');
    key = createPrivateKey(readFileSync(join(dir, 'sns.key')));
    validPem = readFileSync(join(dir, 'valid.pem'), 'utf8');
    expiredPem = readFileSync(join(dir, 'expired.pem'), 'utf8');
    notYetValidPem = readFileSync(join(dir, 'future.pem'), 'utf8');
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  /** A message as SNS would deliver it, signed with the test key (or `signer`). */
  function signed(
    fields: Record<string, string | undefined>,
    version: '1' | '2',
    signer: KeyObject = key,
  ): Record<string, string> {
    const message = Object.fromEntries(
      Object.entries({ ...fields, SignatureVersion: version, SigningCertURL: CERT_URL }).filter(
        ([, v]) => v !== undefined,
      ),
    ) as Record<string, string>;
    const algorithm = version === '1' ? 'RSA-SHA1' : 'RSA-SHA256';
    message.Signature = sign(algorithm, Buffer.from(awsStringToSign(message), 'utf8'), signer).toString('base64');
    return message;
  }

  const confirmation = {
    Type: 'SubscriptionConfirmation',
    MessageId: '165545c9-2a5c-472c-8df2-7ff2be2b3b1b',
    Token:
      '2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736',
    TopicArn: TOPIC,
    Message:
      'You have chosen to subscribe to the topic arn:aws:sns:us-east-1:123456789012:recovery-alarms.\nTo confirm the subscription, visit the SubscribeURL included in this message.',
    SubscribeURL:
      'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:recovery-alarms&Token=2336412f37',
    Timestamp: '2024-05-01T10:00:03.456Z',
  };
  const notification = (message: string, subject?: string) => ({
    Type: 'Notification',
    MessageId: '22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324',
    TopicArn: TOPIC,
    Subject: subject,
    Message: message,
    Timestamp: '2024-05-01T10:00:03.456Z',
    UnsubscribeURL:
      'https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:recovery-alarms:c9135db0-26c4-47ec-8998-413945fb5a96',
  });
  const alarmNotification = (file: string) =>
    notification(fixtureText(file), 'ALARM: "shop-us-east-1-unreachable" in US East (N. Virginia)');

  it('verifies subscription confirmations and notifications, with and without Subject, signature versions 1 and 2', async () => {
    for (const version of ['1', '2'] as const) {
      for (const fields of [
        confirmation,
        { ...confirmation, Type: 'UnsubscribeConfirmation' },
        alarmNotification('cloudwatch-alarm.json'),
        notification('a plain text message without a subject'),
      ]) {
        // SNS posts text/plain: the receiver may hand over the raw text.
        const message = snsMessageOf(JSON.stringify(signed(fields, version)));
        fetched.length = 0;
        await verifySnsMessage(
          message,
          certificates(() => validPem),
          { now: NOW },
        );
        assert.deepEqual(fetched, [CERT_URL], `${fields.Type} v${version}`);
      }
    }
  });

  it('signs exactly the fields AWS documents, in their order', () => {
    const withSubject = snsMessageOf(signed(notification('hello', 'greeting'), '2'));
    assert.equal(
      stringToSign(withSubject),
      `Message\nhello\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\nSubject\ngreeting\nTimestamp\n2024-05-01T10:00:03.456Z\nTopicArn\n${TOPIC}\nType\nNotification\n`,
    );
    const withoutSubject = snsMessageOf(signed(notification('hello'), '2'));
    assert.ok(!stringToSign(withoutSubject).includes('Subject'));
    const confirm = snsMessageOf(signed(confirmation, '1'));
    assert.equal(stringToSign(confirm), awsStringToSign(confirm as unknown as Record<string, string>));
    assert.match(
      stringToSign(confirm),
      /^Message\n[^]*\nMessageId\n[^]*\nSubscribeURL\n[^]*\nTimestamp\n[^]*\nToken\n/,
    );
  });

  it('rejects tampered messages and signatures that do not verify', async () => {
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const good = signed(alarmNotification('cloudwatch-alarm.json'), '2');
    const cases: [string, Record<string, string>][] = [
      ['message changed', { ...good, Message: good.Message!.replace('"ALARM"', '"OK"') }],
      ['subject dropped', Object.fromEntries(Object.entries(good).filter(([k]) => k !== 'Subject'))],
      ['topic changed', { ...good, TopicArn: 'arn:aws:sns:us-east-1:123456789012:other-topic' }],
      ['timestamp changed', { ...good, Timestamp: '2024-05-01T10:00:04.456Z' }],
      ['signed by another key', signed(alarmNotification('cloudwatch-alarm.json'), '2', other)],
      ['version 1 claimed for a version 2 signature', { ...good, SignatureVersion: '1' }],
      ['garbage signature', { ...good, Signature: 'bm90IGEgc2lnbmF0dXJl' }],
    ];
    for (const [name, body] of cases) {
      const message = await rejected(
        async () =>
          verifySnsMessage(
            snsMessageOf(body),
            certificates(() => validPem),
            { now: NOW },
          ),
        403,
        'bad-signature',
      );
      assert.match(message, /does not verify/, name);
    }
  });

  it('refuses certificate URLs off the SNS host of the topic region without fetching them', async () => {
    const urls = [
      'https://sns.us-east-1.amazonaws.com.evil.com/SimpleNotificationService-0123abcd.pem',
      'http://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem',
      'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123abcd.pem',
      'https://evil.com/sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem',
      'https://sns.us-east-1.amazonaws.com.cn/SimpleNotificationService-0123abcd.pem',
      'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem.txt',
      'https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-0123abcd.pem',
      'https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem',
      'sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem',
      // On the SNS host, but not one of its signing certificates: no fetch either.
      'https://sns.us-east-1.amazonaws.com/anything.pem',
      'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123abcd.pem?x=1',
      `https://sns.us-east-1.amazonaws.com/${'a'.repeat(500)}.pem`,
    ];
    fetched.length = 0;
    for (const url of urls) {
      const body = { ...signed(confirmation, '2'), SigningCertURL: url };
      const message = await rejected(
        async () =>
          verifySnsMessage(
            snsMessageOf(body),
            certificates(() => validPem),
            { now: NOW },
          ),
        403,
        'bad-cert-url',
      );
      assert.ok(message.includes(JSON.stringify(url.slice(0, 200))), message);
      assert.ok(message.length < 400, 'sender text is capped');
    }
    assert.deepEqual(fetched, [], 'no certificate fetched');
    assert.ok(isSnsHost('sns.cn-north-1.amazonaws.com.cn', 'cn-north-1'));
    assert.ok(isSnsHost('sns.eu-west-1.amazonaws.com', 'eu-west-1'));
  });

  it('refuses unknown signature versions, old messages and topics not allowed, without fetching', async () => {
    fetched.length = 0;
    const source = certificates(() => validPem);
    const v3 = { ...signed(confirmation, '2'), SignatureVersion: '3' };
    await rejected(() => verifySnsMessage(snsMessageOf(v3), source, { now: NOW }), 403, 'bad-signature-version');
    const message = snsMessageOf(signed(confirmation, '2'));
    const later = new Date(NOW.getTime() + 3_600_000);
    await rejected(() => verifySnsMessage(message, source, { now: later }), 403, 'stale-timestamp');
    const earlier = new Date('2024-05-01T09:50:00Z');
    await rejected(() => verifySnsMessage(message, source, { now: earlier }), 403, 'stale-timestamp');
    const allowedTopicArns = ['arn:aws:sns:us-east-1:123456789012:other-topic'];
    await rejected(() => verifySnsMessage(message, source, { now: NOW, allowedTopicArns }), 403, 'unknown-topic');
    assert.deepEqual(fetched, []);
    await verifySnsMessage(message, source, { now: NOW, allowedTopicArns: [TOPIC] });
  });

  it('refuses certificates outside their validity period, or that are not certificates', async () => {
    const message = snsMessageOf(signed(confirmation, '2'));
    for (const pem of [expiredPem, notYetValidPem]) {
      const text = await rejected(
        () =>
          verifySnsMessage(
            message,
            certificates(() => pem),
            { now: NOW },
          ),
        403,
        'expired-cert',
      );
      assert.match(text, /is valid from .* to .* only/);
    }
    await rejected(
      () =>
        verifySnsMessage(
          message,
          certificates(() => 'not a certificate'),
          { now: NOW },
        ),
      403,
      'bad-cert',
    );
  });

  it('passes on a certificate source failure, for a 5xx that SNS retries', async () => {
    const message = snsMessageOf(signed(confirmation, '2'));
    const failing = () => Promise.reject(new CertificateUnavailable(`${CERT_URL} did not answer within 5000 ms`));
    await assert.rejects(verifySnsMessage(message, failing, { now: NOW }), CertificateUnavailable);
  });

  it('refuses malformed messages with a 400 naming the field', async () => {
    const cases: [string | Record<string, unknown>, RegExp][] = [
      ['{"Type": "Notification"', /not JSON/],
      [{ ...confirmation, Token: undefined }, /Token is missing/],
      [{ ...notification('x'), Message: 42 }, /Message: expected string, got number 42/],
      [{ ...confirmation, TopicArn: 'recovery-alarms' }, /TopicArn: expected an SNS topic ARN/],
      [{ ...confirmation, Type: 'Unsubscribe' }, /Type: /],
      [{ ...notification('x'), Timestamp: 'now' }, /Timestamp: expected an RFC 3339 time/],
    ];
    for (const [body, message] of cases) {
      const withSignature =
        typeof body === 'string'
          ? body
          : { SignatureVersion: '2', Signature: 'c2ln', SigningCertURL: CERT_URL, ...body };
      const text = await rejected(() => snsMessageOf(withSignature), 400, 'malformed');
      assert.match(text, message);
    }
  });

  describe('CloudWatch alarm state changes', () => {
    const alertOf = (file: string): ReceivedAlert | undefined =>
      cloudWatchAlertOf(snsMessageOf(signed(alarmNotification(file), '2')));

    it('fires on ALARM, labelled with the alarm name, region code and account', () => {
      const alert = alertOf('cloudwatch-alarm.json');
      assert.deepEqual(alert, {
        source: 'cloudwatch',
        status: 'firing',
        name: 'shop-us-east-1-unreachable',
        labels: { alarmName: 'shop-us-east-1-unreachable', region: 'us-east-1', account: '123456789012' },
        startsAt: '2024-05-01T10:00:02.345Z',
        incidentKey: 'cloudwatch:123456789012:us-east-1:shop-us-east-1-unreachable',
        summary:
          'Threshold Crossed: 1 out of the last 1 datapoints [0.0 (01/05/24 09:59:00)] was less than the threshold (1.0) (minimum 1 datapoint for OK -> ALARM transition).',
      });
    });

    it('resolves on OK, on the same incident, at the time of the OK', () => {
      const alert = alertOf('cloudwatch-ok.json')!;
      assert.equal(alert.status, 'resolved');
      assert.equal(alert.endsAt, '2024-05-01T10:37:02.901Z');
      assert.equal(alert.startsAt, alert.endsAt, 'an OK does not say when the ALARM began');
      assert.equal(alert.incidentKey, alertOf('cloudwatch-alarm.json')!.incidentKey);
    });

    it('ignores INSUFFICIENT_DATA', () => {
      assert.equal(alertOf('cloudwatch-insufficient-data.json'), undefined);
    });

    it('refuses anything that is not an alarm state change', async () => {
      const plain = snsMessageOf(signed(notification('the nightly export finished'), '2'));
      assert.match(await rejected(() => cloudWatchAlertOf(plain), 400, 'not-an-alarm'), /not JSON/);
      const event = snsMessageOf(signed(notification(JSON.stringify({ 'detail-type': 'EC2 Instance State' })), '2'));
      assert.match(await rejected(() => cloudWatchAlertOf(event), 400, 'not-an-alarm'), /AlarmName is missing/);
      const confirm = snsMessageOf(signed(confirmation, '2'));
      await rejected(() => cloudWatchAlertOf(confirm), 400, 'not-an-alarm');
    });
  });
});

describe('the https certificate source', () => {
  it('a 4xx from the certificate host is a forged URL (403), remembered for a while; a 5xx is unavailable (retry)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'recovery-cert-host-'));
    try {
      execFileSync(
        '/usr/bin/openssl',
        [
          'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1',
          '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
        ],
        { cwd: dir, stdio: 'pipe' },
      ); // prettier-ignore
      const key = readFileSync(join(dir, 'key.pem'));
      const cert = readFileSync(join(dir, 'cert.pem'));
      const requests: string[] = [];
      const server = createHttpsServer({ key, cert }, (request, response) => {
        requests.push(request.url!);
        if (request.url!.includes('dead')) response.writeHead(404).end('no');
        else if (request.url!.includes('broken')) response.writeHead(500).end('oops');
        else response.writeHead(200).end(cert);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const source = httpsCertificateSource({ ca: cert, failureTtlMs: 200 });
        const gone = `${origin}/SimpleNotificationService-dead.pem`;
        await rejected(() => source(gone), 403, 'bad-cert');
        await rejected(() => source(gone), 403, 'bad-cert');
        assert.equal(requests.filter((u) => u.includes('dead')).length, 1, 'the failure is remembered');
        await new Promise((resolve) => setTimeout(resolve, 300));
        await rejected(() => source(gone), 403, 'bad-cert');
        assert.equal(requests.filter((u) => u.includes('dead')).length, 2, 'and asked again after failureTtlMs');
        await assert.rejects(source(`${origin}/broken.pem`), CertificateUnavailable);
        const good = `${origin}/SimpleNotificationService-0123.pem`;
        assert.equal(await source(good), cert.toString('utf8'));
        assert.equal(await source(good), cert.toString('utf8'));
        assert.equal(requests.filter((u) => u.includes('0123')).length, 1, 'cached');
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('signed generic webhooks', () => {
  const secret = 'generic-webhook-secret-for-tests';
  const rawBody = Buffer.from(JSON.stringify({ name: 'OrdersDown', status: 'firing' }));
  const timestamp = String(NOW.getTime() / 1000);
  const request = (changes: Partial<Parameters<typeof verifyGenericRequest>[0]> = {}) => ({
    secret,
    timestamp,
    signature: signGeneric(secret, timestamp, rawBody),
    rawBody,
    now: NOW,
    ...changes,
  });

  it('accepts the HMAC-SHA256 of timestamp and body, within the window either way', () => {
    verifyGenericRequest(request());
    // Written out with node:crypto's primitives the way a sender's script would.
    assert.match(signGeneric(secret, timestamp, rawBody), /^sha256=[0-9a-f]{64}$/);
    for (const offset of [-300, 300]) {
      const at = String(NOW.getTime() / 1000 + offset);
      verifyGenericRequest(request({ timestamp: at, signature: signGeneric(secret, at, rawBody) }));
    }
    verifyGenericRequest(request({ secret: ['the-new-secret', secret] }));
  });

  it('refuses stale and future timestamps: no replays', async () => {
    for (const offset of [-301, 301, -86_400]) {
      const at = String(NOW.getTime() / 1000 + offset);
      const message = await rejected(
        () => verifyGenericRequest(request({ timestamp: at, signature: signGeneric(secret, at, rawBody) })),
        401,
        'stale-timestamp',
      );
      assert.match(message, /window 300 s/);
    }
    await rejected(() => verifyGenericRequest(request({ timestamp: '2024-05-01T10:05:00Z' })), 401, 'stale-timestamp');
  });

  it('refuses wrong signatures', async () => {
    const cases = [
      request({ signature: signGeneric('another-secret', timestamp, rawBody) }),
      request({ rawBody: Buffer.from(JSON.stringify({ name: 'OrdersDown', status: 'resolved' })) }),
      request({ signature: signGeneric(secret, String(Number(timestamp) - 1), rawBody) }),
      request({ signature: 'sha256=abc' }),
      request({ signature: signGeneric(secret, timestamp, rawBody).replace('sha256=', 'sha1=') }),
    ];
    for (const input of cases) await rejected(() => verifyGenericRequest(input), 401, 'bad-signature');
  });

  it('refuses unsigned requests', async () => {
    await rejected(() => verifyGenericRequest(request({ signature: undefined })), 401, 'unsigned');
    await rejected(() => verifyGenericRequest(request({ timestamp: undefined })), 401, 'unsigned');
    await rejected(() => verifyGenericRequest(request({ signature: '' })), 401, 'unsigned');
  });

  it('reads one alert or a batch; labels include the name; the incident defaults to the name', () => {
    const [one] = alertsFromGeneric({
      name: 'OrdersDown',
      status: 'firing',
      startsAt: '2024-05-01T12:00:00+02:00',
      labels: { team: 'shop' },
      summary: 'orders API answers 503',
    });
    assert.deepEqual(one, {
      source: 'generic',
      status: 'firing',
      name: 'OrdersDown',
      labels: { team: 'shop', name: 'OrdersDown' },
      startsAt: '2024-05-01T10:00:00.000Z',
      incidentKey: 'OrdersDown',
      summary: 'orders API answers 503',
    });
    const batch = alertsFromGeneric(
      {
        alerts: [
          { name: 'OrdersDown', status: 'firing', incident: 'INC-1234', startsAt: '2024-05-01T10:00:00Z' },
          { name: 'OrdersDown', status: 'resolved', incident: 'INC-1234', startsAt: '2024-05-01T10:00:00Z' },
        ],
      },
      NOW,
    );
    assert.deepEqual(
      batch.map((a) => [a.status, a.incidentKey, a.endsAt]),
      [
        ['firing', 'INC-1234', undefined],
        ['resolved', 'INC-1234', NOW.toISOString()],
      ],
    );
    const [resolved] = alertsFromGeneric({ name: 'OrdersDown', status: 'resolved' }, NOW);
    assert.equal(resolved!.startsAt, NOW.toISOString(), 'a resolved alert without startsAt: the time received');
  });

  it('refuses malformed alerts with a 400 naming the field', async () => {
    const cases: [unknown, RegExp][] = [
      [{ status: 'firing' }, /name is missing/],
      [{ name: 'OrdersDown', status: 'firing' }, /startsAt: a firing alert needs startsAt/],
      [{ name: 'OrdersDown', status: 'on fire' }, /status: expected "firing" or "resolved"/],
      [{ name: 'OrdersDown', status: 'firing', labels: { team: 7 } }, /labels\.team: expected string, got number 7/],
      [{ alerts: [{ name: 'a', status: 'resolved' }, { name: 'b' }] }, /alerts\[1\]\.status is missing/],
      [{ alerts: [] }, /alerts: /],
      [[], /\(body\): expected object, got a list/],
    ];
    for (const [body, message] of cases) {
      assert.match(await rejected(() => alertsFromGeneric(body, NOW), 400, 'malformed'), message);
    }
  });
});

describe('routing and recovery ids', () => {
  const plan = (yaml: string): RecoveryPlan => {
    const result = loadPlan(yaml);
    assert.deepEqual(result.errors, []);
    return result.plan!;
  };
  const components = `
components:
  - { kind: command, id: app, run: "true" }
`;
  let agama: RecoveryPlan;
  let shop: RecoveryPlan;

  before(() => {
    agama = loadPlan(readFileSync(join(__dirname, '..', 'examples', 'agama.yaml'), 'utf8')).plan!;
    shop = loadPlan(readFileSync(join(__dirname, '..', 'examples', 'aws-region-failover.yaml'), 'utf8')).plan!;
    assert.ok(agama && shop, 'the examples load');
  });

  const alert = (changes: Partial<ReceivedAlert> = {}): ReceivedAlert => ({
    source: 'alertmanager',
    status: 'firing',
    name: 'ShopRegionDown',
    labels: { alertname: 'ShopRegionDown', region: 'us-east-1', severity: 'critical' },
    startsAt: '2024-05-01T10:00:02.123Z',
    incidentKey: 'alertmanager:0123456789abcdef',
    ...changes,
  });

  it('routes an alert to the triggers of its source whose labels all match exactly', () => {
    const routes = routeAlert([agama, shop], alert());
    assert.deepEqual(
      routes.map((r) => [r.plan.name, r.trigger.scenario, r.trigger.requireApproval]),
      [[shop.name, 'region-failover', true]],
    );
    const [agamaDown] = alertsFromAlertmanager(fixture('alertmanager-firing.json'));
    assert.deepEqual(
      routeAlert([agama, shop], agamaDown!).map((r) => [r.plan.name, r.trigger.scenario]),
      [[agama.name, 'full-restore']],
    );
  });

  it('leaves unmatched alerts unrouted', () => {
    const none = [
      alert({ labels: { alertname: 'ShopRegionDown', region: 'us-west-2' } }),
      alert({ labels: { alertname: 'ShopRegionDown' } }),
      alert({ labels: { alertname: 'shopregiondown', region: 'us-east-1' } }),
      alert({ labels: { alertname: 'ShopRegionDown ', region: 'us-east-1' } }),
      alert({ source: 'generic', labels: { alertname: 'ShopRegionDown', region: 'us-east-1' } }),
    ];
    for (const unmatched of none) assert.deepEqual(routeAlert([agama, shop], unmatched), [], JSON.stringify(unmatched));
    assert.deepEqual(routeAlert([], alert()), []);
  });

  it('routes CloudWatch alarms by alarm name, and one scenario once per plan', () => {
    const cloudwatch = alert({
      source: 'cloudwatch',
      labels: { alarmName: 'shop-us-east-1-unreachable', region: 'us-east-1', account: '123456789012' },
    });
    assert.deepEqual(
      routeAlert([agama, shop], cloudwatch).map((r) => r.trigger.scenario),
      ['region-failover'],
    );
    const twice = plan(`
name: twice
${components}
triggers:
  - { source: generic, match: { name: OrdersDown }, scenario: full-restore }
  - { source: generic, match: { team: shop }, scenario: full-restore, requireApproval: true }
  - { source: generic, match: { constructor: x }, scenario: full-restore }
`);
    const [generic] = alertsFromGeneric(
      { name: 'OrdersDown', status: 'firing', startsAt: NOW.toISOString(), labels: { team: 'shop' } },
      NOW,
    );
    const routes = routeAlert([twice], generic!);
    assert.equal(routes.length, 1);
    assert.equal(routes[0]!.trigger.requireApproval, true, 'held if any matching trigger asks for approval');
  });

  it('gives every alert of a plan and scenario one id, whatever its incident or firing period (at most one recovery runs)', () => {
    const firing = () => alertsFromAlertmanager(fixture('alertmanager-firing.json'));
    assert.equal(recoveryIdOf('agama', 'full-restore'), 'alert-agama-full-restore');
    assert.notEqual(recoveryIdOf('agama', 'database-restore'), recoveryIdOf('agama', 'full-restore'));
    assert.equal(
      recoveryIdOf({ name: 'aws-region-failover' }, 'region-failover'),
      'alert-aws-region-failover-region-failover',
    );
    assert.match(recoveryIdOf('my plan', 'a/b'), /^[A-Za-z0-9._-]+$/, 'a workflow id without spaces');
    // The group's earliest alert resolving no longer moves anything: each alert keeps its own start.
    const [first, second] = firing();
    const later = clone(fixture('alertmanager-firing.json')) as { alerts: { status: string; startsAt: string }[] };
    later.alerts[0]!.status = 'resolved';
    const [, secondAgain] = alertsFromAlertmanager(later);
    assert.equal(secondAgain!.startsAt, second!.startsAt);
    assert.equal(secondAgain!.incidentKey, first!.incidentKey);
  });

  it('the request of a recovery started by several alerts: the earliest firing start, the first firing alert', () => {
    const plan = { name: 'agama' } as Parameters<typeof requestOf>[0];
    const trigger = {
      source: 'alertmanager',
      match: {},
      scenario: 'full-restore',
      requireApproval: true,
    } as Parameters<typeof requestOf>[1];
    const request = requestOf(plan, trigger, [
      alert({ status: 'resolved', name: 'Gone', startsAt: '2024-05-01T09:00:00.000Z' }),
      alert({ name: 'Late', startsAt: '2024-05-01T10:05:00.000Z' }),
      alert({ name: 'Early', startsAt: '2024-05-01T10:00:00.000Z' }),
    ]);
    assert.equal(request.incident?.detectedAt, '2024-05-01T10:00:00.000Z');
    assert.equal(request.requestedBy, 'alert:alertmanager/Late');
    assert.equal(request.hold, true);
  });

  it('caps an alertname at 200 characters (it becomes the record name)', () => {
    const payload = clone(fixture('alertmanager-firing.json')) as { alerts: { labels: { alertname: string } }[] };
    payload.alerts[0]!.labels.alertname = 'A'.repeat(201);
    assert.throws(
      () => alertsFromAlertmanager(payload),
      (error: AlertRejected) => error.statusCode === 400 && /alertname/.test(error.message),
    );
  });

  it('rate-limit buckets: at most maxKeys, the least recently used forgotten', () => {
    let t = 0;
    const buckets = tokenBuckets({ burst: 1, perSecond: 0.001 }, () => t, 3);
    assert.equal(buckets.take('a'), 0);
    assert.ok(buckets.take('a') > 0, 'a is empty');
    for (const key of ['b', 'c', 'd']) assert.equal(buckets.take(key), 0);
    t += 1;
    assert.equal(buckets.take('a'), 0, 'a was forgotten: a full bucket again');
  });
});
