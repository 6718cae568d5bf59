/**
 * Payload encryption (codec/): AES-256-GCM payloads a key id names, key rotation, the errors of a
 * missing or wrong key, the key variables; and the codec server over real HTTP on loopback: the
 * remote codec protocol, its namespace path, bearer token, CORS for the configured UI origins only.
 */
import { ApplicationFailure, defaultPayloadConverter, type Payload } from '@temporalio/common';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildCodecServer } from '../codec/codec-server';
import { ENCRYPTED_ENCODING, EncryptionCodec, KEY_ID_METADATA } from '../codec/encryption-codec';
import { payloadKeyringFromEnv, type PayloadKeyring } from '../codec/keys';
import { codecServerCommand } from '../cli/commands/codec-server';
import { UsageError } from '../cli/result';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-codec-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const newKey = () => randomBytes(32).toString('base64');
const keyringOf = (env: Record<string, string>): PayloadKeyring => {
  const { keyring, problems } = payloadKeyringFromEnv(env);
  assert.deepEqual(problems, []);
  return keyring!;
};
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');
const SECRET_INPUT = { plan: 'payments-secret-plan', note: 'the database password is hunter2' };
const plainPayload = () => defaultPayloadConverter.toPayload(SECRET_INPUT);

/** The failure a promise rejects with, for assertions on its message and type. */
async function failureOf(promise: Promise<unknown>): Promise<ApplicationFailure> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ApplicationFailure, `an ApplicationFailure, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a failure');
}

describe('payload encryption codec', () => {
  const keyA = newKey();
  const keyB = newKey();

  it('encrypts a payload whole: its data and its encoding, with the key id in clear', async () => {
    const codec = new EncryptionCodec(keyringOf({ RECOVERY_PAYLOAD_KEY: keyA, RECOVERY_PAYLOAD_KEY_ID: 'a-2026' }));
    const [encrypted] = await codec.encode([plainPayload()]);
    assert.equal(text(encrypted!.metadata!.encoding), ENCRYPTED_ENCODING);
    assert.equal(text(encrypted!.metadata![KEY_ID_METADATA]), 'a-2026');
    assert.deepEqual(Object.keys(encrypted!.metadata!).sort(), ['encoding', KEY_ID_METADATA].sort());
    const raw = Buffer.from(encrypted!.data!);
    for (const secret of ['payments-secret-plan', 'hunter2', 'json/plain'])
      assert.equal(raw.includes(secret), false, `${secret} is not readable in the ciphertext`);

    const [decoded] = await codec.decode([encrypted!]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(decoded!), SECRET_INPUT);
    assert.equal(text(decoded!.metadata!.encoding), 'json/plain');
  });

  it('uses a fresh IV each time: the same value never gives the same bytes', async () => {
    const codec = new EncryptionCodec(keyringOf({ RECOVERY_PAYLOAD_KEY: keyA }));
    const [first, second] = await codec.encode([plainPayload(), plainPayload()]);
    assert.notDeepEqual(Buffer.from(first!.data!), Buffer.from(second!.data!));
  });

  it('passes payloads written before encryption was turned on through', async () => {
    const codec = new EncryptionCodec(keyringOf({ RECOVERY_PAYLOAD_KEY: keyA }));
    const plain = plainPayload();
    assert.deepEqual(await codec.decode([plain]), [plain]);
  });

  it('rotates: a new current key encrypts, the old one still decrypts what it wrote', async () => {
    const before = new EncryptionCodec(keyringOf({ RECOVERY_PAYLOAD_KEY: keyA, RECOVERY_PAYLOAD_KEY_ID: 'a' }));
    const [old] = await before.encode([plainPayload()]);
    const rotated = new EncryptionCodec(
      keyringOf({ RECOVERY_PAYLOAD_KEY: keyB, RECOVERY_PAYLOAD_KEY_ID: 'b', RECOVERY_PAYLOAD_OLD_KEYS: `a=${keyA}` }),
    );
    assert.deepEqual(defaultPayloadConverter.fromPayload((await rotated.decode([old!]))[0]!), SECRET_INPUT);
    const [fresh] = await rotated.encode([plainPayload()]);
    assert.equal(text(fresh!.metadata![KEY_ID_METADATA]), 'b');
    // Old keys alone (encryption turned off): new payloads in clear, old ones still readable.
    const off = new EncryptionCodec(keyringOf({ RECOVERY_PAYLOAD_OLD_KEYS: `a=${keyA}` }));
    assert.equal(text((await off.encode([plainPayload()]))[0]!.metadata!.encoding), 'json/plain');
    assert.deepEqual(defaultPayloadConverter.fromPayload((await off.decode([old!]))[0]!), SECRET_INPUT);
  });

  it('refuses, naming the key id, a payload whose key this process lacks', async () => {
    const [encrypted] = await new EncryptionCodec(
      keyringOf({ RECOVERY_PAYLOAD_KEY: keyA, RECOVERY_PAYLOAD_KEY_ID: 'a-2026' }),
    ).encode([plainPayload()]);
    const other = await failureOf(
      new EncryptionCodec(keyringOf({ RECOVERY_PAYLOAD_KEY: keyB, RECOVERY_PAYLOAD_KEY_ID: 'b-2027' })).decode([
        encrypted!,
      ]),
    );
    assert.equal(other.type, 'PayloadKeyUnknown');
    assert.equal(other.nonRetryable, true);
    assert.match(other.message, /encrypted with key "a-2026", which this process does not have \(it has "b-2027"\)/);
    assert.match(other.message, /RECOVERY_PAYLOAD_OLD_KEYS/);

    const none = await failureOf(new EncryptionCodec(undefined).decode([encrypted!]));
    assert.equal(none.type, 'PayloadKeyUnknown');
    assert.match(
      none.message,
      /encrypted with key "a-2026" and this process has no payload key: set RECOVERY_PAYLOAD_KEY/,
    );
  });

  it('refuses, naming the key id, a wrong key under the right id and an altered payload: never garbage', async () => {
    const [encrypted] = await new EncryptionCodec(
      keyringOf({ RECOVERY_PAYLOAD_KEY: keyA, RECOVERY_PAYLOAD_KEY_ID: 'shared-id' }),
    ).encode([plainPayload()]);
    const wrong = await failureOf(
      new EncryptionCodec(keyringOf({ RECOVERY_PAYLOAD_KEY: keyB, RECOVERY_PAYLOAD_KEY_ID: 'shared-id' })).decode([
        encrypted!,
      ]),
    );
    assert.equal(wrong.type, 'PayloadDecryptionFailed');
    assert.match(wrong.message, /encrypted with key "shared-id" cannot be decrypted/);

    const altered = Buffer.from(encrypted!.data!);
    altered[20]! ^= 1;
    const tampered = await failureOf(
      new EncryptionCodec(keyringOf({ RECOVERY_PAYLOAD_KEY: keyA, RECOVERY_PAYLOAD_KEY_ID: 'shared-id' })).decode([
        { ...encrypted!, data: altered },
      ]),
    );
    assert.equal(tampered.type, 'PayloadDecryptionFailed');
  });
});

describe('payload key variables', () => {
  it('reads the key from a file and old keys from a file with comments; the default id is a fingerprint', () => {
    const key = newKey();
    const old = newKey();
    const keyFile = join(scratch, 'payload.key');
    const oldFile = join(scratch, 'old.keys');
    writeFileSync(keyFile, `${key}\n`);
    writeFileSync(oldFile, `# retired in May\n2025-q4=${old}\n\n`);
    const keyring = keyringOf({ RECOVERY_PAYLOAD_KEY_FILE: keyFile, RECOVERY_PAYLOAD_OLD_KEYS_FILE: oldFile });
    assert.match(keyring.current!.id, /^k-[0-9a-f]{8}$/);
    assert.deepEqual(keyring.current!.key, Buffer.from(key, 'base64'));
    assert.deepEqual([...keyring.keys.keys()].sort(), ['2025-q4', keyring.current!.id].sort());
    // The same key gives the same id everywhere, without configuring one.
    assert.equal(keyringOf({ RECOVERY_PAYLOAD_KEY: key }).current!.id, keyring.current!.id);
  });

  it('names the variable of every problem and never shows a key', () => {
    const shortKey = randomBytes(16).toString('base64');
    /** A key pasted without its id: its padding "=" is no separator, and no part of it may show. */
    const bare = Buffer.alloc(32, 'k').toString('base64');
    const good = newKey();
    const { keyring, problems } = payloadKeyringFromEnv({
      RECOVERY_PAYLOAD_KEY: shortKey,
      RECOVERY_PAYLOAD_OLD_KEYS: `old=${good},old=${good},${bare},bad id=${good}`,
      RECOVERY_PAYLOAD_OLD_KEYS_FILE: join(scratch, 'missing.keys'),
    });
    assert.equal(keyring, undefined);
    assert.deepEqual(problems, [
      'RECOVERY_PAYLOAD_KEY must be the base64 of 32 random bytes (make one with: openssl rand -base64 32); it decodes to 16 bytes',
      'RECOVERY_PAYLOAD_OLD_KEYS: key id "old" is given more than once',
      'RECOVERY_PAYLOAD_OLD_KEYS entry 3 must be the base64 of 32 random bytes (make one with: openssl rand -base64 32); it is not base64 (the value is not shown: it is a secret)',
      "RECOVERY_PAYLOAD_OLD_KEYS entry 4 must be <id>=<base64 key>, the id made of letters, digits, '.', '_' or '-' (the value is not shown: it is a secret)",
      `RECOVERY_PAYLOAD_OLD_KEYS_FILE must name a readable file, got '${join(scratch, 'missing.keys')}': ENOENT`,
    ]);
    for (const problem of problems) {
      assert.equal(problem.includes(shortKey.slice(0, 12)), false);
      assert.equal(problem.includes(bare.slice(0, 12)), false);
      assert.equal(problem.includes(good), false);
    }
    assert.deepEqual(payloadKeyringFromEnv({ RECOVERY_PAYLOAD_KEY: good, RECOVERY_PAYLOAD_KEY_FILE: '/x' }).problems, [
      'RECOVERY_PAYLOAD_KEY and RECOVERY_PAYLOAD_KEY_FILE are both set: set one',
    ]);
    assert.deepEqual(payloadKeyringFromEnv({ RECOVERY_PAYLOAD_KEY: 'not base64!' }).problems, [
      'RECOVERY_PAYLOAD_KEY must be the base64 of 32 random bytes (make one with: openssl rand -base64 32); it is not base64 (the value is not shown: it is a secret)',
    ]);
    assert.deepEqual(
      payloadKeyringFromEnv({
        RECOVERY_PAYLOAD_KEY: good,
        RECOVERY_PAYLOAD_KEY_ID: 'k1',
        RECOVERY_PAYLOAD_OLD_KEYS: `k1=${newKey()}`,
      }).problems,
      [
        'key id "k1" names both the current key and a different old key (RECOVERY_PAYLOAD_OLD_KEYS): give each key its own id',
      ],
    );
    assert.deepEqual(payloadKeyringFromEnv({ RECOVERY_PAYLOAD_KEY_ID: 'k1' }).problems, [
      'RECOVERY_PAYLOAD_KEY_ID is set but no key is: set RECOVERY_PAYLOAD_KEY or RECOVERY_PAYLOAD_KEY_FILE',
    ]);
    assert.deepEqual(payloadKeyringFromEnv({}), { problems: [] });
  });
});

describe('codec server (real HTTP on loopback)', () => {
  const key = newKey();
  const TOKEN = 'codec-token-0123456789';
  const UI = 'http://127.0.0.1:8233';
  const codec = new EncryptionCodec(keyringOf({ RECOVERY_PAYLOAD_KEY: key, RECOVERY_PAYLOAD_KEY_ID: 'ui-key' }));
  const app = buildCodecServer({ codec, allowedOrigins: [UI], token: TOKEN, logger: false });
  let base: string;

  before(async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  after(() => app.close());

  const json = (payload: Payload) => ({
    metadata: Object.fromEntries(
      Object.entries(payload.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    ),
    data: Buffer.from(payload.data!).toString('base64'),
  });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, ...headers },
      body: JSON.stringify(body),
    });

  it('decodes what the worker encrypted, at /decode and under a namespace segment, as proto3 JSON', async () => {
    const [encrypted] = await codec.encode([plainPayload()]);
    for (const path of ['/decode', '/default/decode']) {
      const response = await post(path, { payloads: [json(encrypted!)] }, { 'x-namespace': 'default' });
      assert.equal(response.status, 200, path);
      const { payloads } = (await response.json()) as {
        payloads: { metadata: Record<string, string>; data: string }[];
      };
      assert.equal(Buffer.from(payloads[0]!.metadata.encoding!, 'base64').toString(), 'json/plain');
      assert.deepEqual(JSON.parse(Buffer.from(payloads[0]!.data, 'base64').toString()), SECRET_INPUT);
    }
  });

  it('encodes for the UI and the CLI: what it encrypts the worker decrypts', async () => {
    const response = await post('/encode', { payloads: [json(plainPayload())] });
    assert.equal(response.status, 200);
    const { payloads } = (await response.json()) as { payloads: { metadata: Record<string, string>; data: string }[] };
    assert.equal(Buffer.from(payloads[0]!.metadata.encoding!, 'base64').toString(), ENCRYPTED_ENCODING);
    const back = await codec.decode([
      {
        metadata: Object.fromEntries(
          Object.entries(payloads[0]!.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
        ),
        data: Buffer.from(payloads[0]!.data, 'base64'),
      },
    ]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(back[0]!), SECRET_INPUT);
  });

  it('refuses requests without the token, malformed bodies and undecodable payloads, saying why', async () => {
    const [encrypted] = await codec.encode([plainPayload()]);
    const anonymous = await post('/decode', { payloads: [json(encrypted!)] }, { authorization: '' });
    assert.equal(anonymous.status, 401);
    assert.deepEqual(await anonymous.json(), { error: 'no-token', message: 'send Authorization: Bearer <token>' });
    assert.equal((await post('/decode', { payloads: [] }, { authorization: 'Bearer wrong' })).status, 401);

    const malformed = await post('/decode', { payloads: [{ data: 'not base64!' }] });
    assert.equal(malformed.status, 400);
    assert.match(((await malformed.json()) as { message: string }).message, /payloads\.0\.data must be base64/);

    const [foreign] = await new EncryptionCodec(
      keyringOf({ RECOVERY_PAYLOAD_KEY: newKey(), RECOVERY_PAYLOAD_KEY_ID: 'other-team' }),
    ).encode([plainPayload()]);
    const unknown = await post('/decode', { payloads: [json(foreign!)] });
    assert.equal(unknown.status, 422);
    assert.match(((await unknown.json()) as { message: string }).message, /encrypted with key "other-team"/);
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });

  it('answers the preflight of the configured UI origin only', async () => {
    const preflight = (origin: string) =>
      fetch(`${base}/decode`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'content-type,x-namespace',
        },
      });
    const allowed = await preflight(UI);
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers.get('access-control-allow-origin'), UI);
    assert.match(allowed.headers.get('access-control-allow-methods') ?? '', /POST/);
    assert.match(allowed.headers.get('access-control-allow-headers') ?? '', /X-Namespace/i);

    const refused = await preflight('http://evil.example');
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get('access-control-allow-origin'), null);
    const [encrypted] = await codec.encode([plainPayload()]);
    const post403 = await post('/decode', { payloads: [json(encrypted!)] }, { origin: 'http://evil.example' });
    assert.equal(post403.status, 403);
    assert.equal(post403.headers.get('access-control-allow-origin'), null);
  });

  it('`recovery codec-server` refuses to start without a key, with a bad origin or listen address', async () => {
    const start = (options: Parameters<typeof codecServerCommand>[0]) =>
      codecServerCommand({ ...options, signal: AbortSignal.abort() });
    await assert.rejects(start({ env: {} }), (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.match(error.message, /no payload key: set RECOVERY_PAYLOAD_KEY/);
      return true;
    });
    await assert.rejects(
      start({ env: { RECOVERY_PAYLOAD_KEY: key }, uiOrigin: ['http://127.0.0.1:8233/'] }),
      /--ui-origin http:\/\/127.0.0.1:8233\/: an origin is scheme:\/\/host\[:port\] with no path/,
    );
    await assert.rejects(
      start({ env: { RECOVERY_PAYLOAD_KEY: key, RECOVERY_CODEC_CORS_ORIGINS: 'ui.example' } }),
      /RECOVERY_CODEC_CORS_ORIGINS ui.example: an origin is/,
    );
    await assert.rejects(
      start({ env: { RECOVERY_PAYLOAD_KEY: key }, listen: 'localhost' }),
      /--listen localhost: use <IP>:<port>/,
    );
  });
});
