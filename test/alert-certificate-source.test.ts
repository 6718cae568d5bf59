import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AlertRejected } from '../triggers/alert';
import { CertificateUnavailable, httpsCertificateSource } from '../triggers/sns';

/** The https fetch of SNS signing certificates, against a real https server on loopback with its own certificate. */
describe('https certificate source', () => {
  let dir: string;
  let server: Server;
  let base: string;
  let pem: string;
  const hits = new Map<string, number>();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cert-source-'));
    execFileSync(
      '/usr/bin/openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1'].concat([
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ]),
      { cwd: dir, stdio: 'pipe' },
    );
    pem = readFileSync(join(dir, 'cert.pem'), 'utf8');
    server = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: pem }, (request, response) => {
      const path = (request.url ?? '').split('?')[0]!;
      const hit = (hits.get(path) ?? 0) + 1;
      hits.set(path, hit);
      if (path === '/SimpleNotificationService-ok.pem') return response.end(pem);
      if (path === '/SimpleNotificationService-big.pem') return response.end(pem + 'x'.repeat(100_000));
      if (path === '/SimpleNotificationService-text.pem') return response.end('<html>hello</html>');
      if (path === '/SimpleNotificationService-flaky.pem') {
        response.statusCode = hit === 1 ? 503 : 200;
        return response.end(hit === 1 ? 'busy' : pem);
      }
      if (path === '/SimpleNotificationService-slow.pem') return; // never answers
      response.statusCode = 404;
      response.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('fetches a certificate once and serves it from the cache after', async () => {
    const source = httpsCertificateSource({ ca: pem });
    const url = `${base}/SimpleNotificationService-ok.pem`;
    const [first, second] = await Promise.all([source(url), source(url)]);
    assert.equal(first, pem);
    assert.equal(second, pem);
    assert.equal(await source(url), pem);
    assert.equal(hits.get('/SimpleNotificationService-ok.pem'), 1);
  });

  it('keeps only the latest certificates', async () => {
    const source = httpsCertificateSource({ ca: pem, cacheSize: 1 });
    hits.clear();
    await source(`${base}/SimpleNotificationService-ok.pem`);
    await source(`${base}/SimpleNotificationService-ok.pem?other`);
    await source(`${base}/SimpleNotificationService-ok.pem`);
    assert.equal(hits.get('/SimpleNotificationService-ok.pem'), 3, 'evicted by the other URL, fetched again');
  });

  it('refuses http, untrusted servers, errors, oversized and non-PEM answers, and slow servers', async () => {
    const source = httpsCertificateSource({ ca: pem, timeoutMs: 300, maxBytes: 8_192 });
    const cases: [string, RegExp][] = [
      [`http://127.0.0.1:1/SimpleNotificationService-ok.pem`, /not https/],
      [`${base}/SimpleNotificationService-big.pem`, /more than 8192 bytes/],
      [`${base}/SimpleNotificationService-text.pem`, /did not send a PEM certificate/],
      [`${base}/SimpleNotificationService-slow.pem`, /did not answer within 300 ms/],
    ];
    for (const [url, message] of cases) {
      await assert.rejects(
        source(url),
        (error: Error) => error instanceof CertificateUnavailable && message.test(error.message),
      );
    }
    // No such certificate on the SNS host: the message names one SNS never used, so it is forged.
    await assert.rejects(
      source(`${base}/SimpleNotificationService-missing.pem`),
      (error: Error) =>
        error instanceof AlertRejected &&
        error.statusCode === 403 &&
        error.reason === 'bad-cert' &&
        /answered HTTP 404/.test(error.message),
    );
    // Without the test CA the server's certificate is not trusted: TLS is what vouches for the host.
    await assert.rejects(httpsCertificateSource()(`${base}/SimpleNotificationService-ok.pem`), CertificateUnavailable);
  });

  it('remembers a failed fetch for a while (forged messages cost one fetch per period), then fetches again', async () => {
    const source = httpsCertificateSource({ ca: pem, failureTtlMs: 200 });
    const url = `${base}/SimpleNotificationService-flaky.pem`;
    hits.clear();
    await assert.rejects(source(url), /answered HTTP 503/);
    await assert.rejects(source(url), /answered HTTP 503/);
    assert.equal(hits.get('/SimpleNotificationService-flaky.pem'), 1, 'the failure is remembered');
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(await source(url), pem);
  });
});
