import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * The payload encryption keys, from the environment of every process that reads or writes
 * workflow payloads (worker, CLI, `recovery serve`, `recovery codec-server`):
 *
 *   RECOVERY_PAYLOAD_KEY            base64 of 32 random bytes (`openssl rand -base64 32`): encrypts new payloads
 *   RECOVERY_PAYLOAD_KEY_FILE       a file holding that base64 instead (a mounted secret); not both
 *   RECOVERY_PAYLOAD_KEY_ID         the id written next to every payload it encrypts
 *                                   (default: k-<first 8 hex digits of the key's SHA-256>)
 *   RECOVERY_PAYLOAD_OLD_KEYS       keys that only decrypt, `id=base64` separated by commas
 *   RECOVERY_PAYLOAD_OLD_KEYS_FILE  the same, one `id=base64` per line (# starts a comment)
 *
 * Each encrypted payload names its key id, so histories written under an old key stay readable as
 * long as that key is among the old ones. Rotating without a moment where some process cannot
 * read what another wrote: first add the new key to the old keys everywhere, then make it the
 * current key (the previous one moving to the old keys), and drop an old key only once no history
 * still open or retained needs it. With old keys but no current key, payloads are written in clear
 * and old ones still decrypt (turning encryption off). Key values never appear in a message.
 */
export const PAYLOAD_KEY_VARIABLES = {
  key: 'RECOVERY_PAYLOAD_KEY',
  keyFile: 'RECOVERY_PAYLOAD_KEY_FILE',
  keyId: 'RECOVERY_PAYLOAD_KEY_ID',
  oldKeys: 'RECOVERY_PAYLOAD_OLD_KEYS',
  oldKeysFile: 'RECOVERY_PAYLOAD_OLD_KEYS_FILE',
} as const;

export const KEY_BYTES = 32;

export interface PayloadKeyring {
  /** Encrypts new payloads; absent: they are written in clear. */
  current?: { id: string; key: Buffer };
  /** Every key that decrypts, the current one included, by the id payloads carry. */
  keys: ReadonlyMap<string, Buffer>;
}

export interface KeyringFromEnv {
  /** Undefined when no key variable is set (or when there are problems). */
  keyring?: PayloadKeyring;
  /** One line per problem, naming the variable, never showing a key. */
  problems: string[];
}

const KEY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** The default id of a key: a fingerprint that tells keys apart without revealing them. */
export const keyFingerprint = (key: Buffer) => `k-${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;

/** The 32 bytes of a base64 key, or the problem with it (its value never shown). */
function decodeKey(text: string, where: string): Buffer | string {
  const compact = text.replace(/\s+/g, '');
  if (!BASE64.test(compact))
    return `${where} must be the base64 of ${KEY_BYTES} random bytes (make one with: openssl rand -base64 32); it is not base64 (the value is not shown: it is a secret)`;
  const key = Buffer.from(compact, compact.includes('-') || compact.includes('_') ? 'base64url' : 'base64');
  if (key.length !== KEY_BYTES)
    return `${where} must be the base64 of ${KEY_BYTES} random bytes (make one with: openssl rand -base64 32); it decodes to ${key.length} bytes`;
  return key;
}

function readSecretFile(variable: string, path: string): string | { problem: string } {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    return {
      problem: `${variable} must name a readable file, got '${path}': ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    };
  }
}

/** `id=base64` entries (commas or lines), checked one by one. */
function parseOldKeys(text: string, variable: string, keys: Map<string, Buffer>, problems: string[]): void {
  const entries = text
    .split(/[,\n]/)
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter(Boolean);
  for (const [index, entry] of entries.entries()) {
    const equals = entry.indexOf('=');
    const id = equals > 0 ? entry.slice(0, equals).trim() : '';
    if (!KEY_ID.test(id)) {
      problems.push(
        `${variable} entry ${index + 1} must be <id>=<base64 key>, the id made of letters, digits, '.', '_' or '-' (the value is not shown: it is a secret)`,
      );
      continue;
    }
    // By position: a malformed entry's "id" may be a key pasted without one.
    const key = decodeKey(entry.slice(equals + 1), `${variable} entry ${index + 1}`);
    if (typeof key === 'string') problems.push(key);
    else if (keys.has(id)) problems.push(`${variable}: key id "${id}" is given more than once`);
    else keys.set(id, key);
  }
}

/** Reads and checks the key variables; see PAYLOAD_KEY_VARIABLES. */
export function payloadKeyringFromEnv(env: NodeJS.ProcessEnv = process.env): KeyringFromEnv {
  const V = PAYLOAD_KEY_VARIABLES;
  const value = (name: string) => env[name]?.trim() || undefined;
  const problems: string[] = [];
  const old = new Map<string, Buffer>();

  let current: PayloadKeyring['current'];
  const inline = value(V.key);
  const file = value(V.keyFile);
  if (inline && file) problems.push(`${V.key} and ${V.keyFile} are both set: set one`);
  else if (inline || file) {
    const text = file ? readSecretFile(V.keyFile, file) : inline!;
    if (typeof text !== 'string') problems.push(text.problem);
    else {
      const key = decodeKey(text, file ? `the content of ${V.keyFile}` : V.key);
      if (typeof key === 'string') problems.push(key);
      else {
        const id = value(V.keyId) ?? keyFingerprint(key);
        if (!KEY_ID.test(id))
          problems.push(
            `${V.keyId} must be 1 to 64 letters, digits, '.', '_' or '-' starting with a letter or digit, got '${id}'`,
          );
        else current = { id, key };
      }
    }
  } else if (value(V.keyId)) problems.push(`${V.keyId} is set but no key is: set ${V.key} or ${V.keyFile}`);

  const oldInline = value(V.oldKeys);
  if (oldInline) parseOldKeys(oldInline, V.oldKeys, old, problems);
  const oldFile = value(V.oldKeysFile);
  if (oldFile) {
    const text = readSecretFile(V.oldKeysFile, oldFile);
    if (typeof text === 'string') parseOldKeys(text, V.oldKeysFile, old, problems);
    else problems.push(text.problem);
  }
  if (current && old.has(current.id)) {
    if (old.get(current.id)!.equals(current.key)) old.delete(current.id);
    else
      problems.push(
        `key id "${current.id}" names both the current key and a different old key (${V.oldKeys}): give each key its own id`,
      );
  }

  if (problems.length > 0) return { problems };
  if (!current && old.size === 0) return { problems };
  const keys = new Map(old);
  if (current) keys.set(current.id, current.key);
  return { keyring: { ...(current ? { current } : {}), keys }, problems };
}

/** What to print about the keys: ids only. */
export function describeKeyring(keyring: PayloadKeyring | undefined): string {
  if (!keyring) return `off (${PAYLOAD_KEY_VARIABLES.key} not set)`;
  const old = [...keyring.keys.keys()].filter((id) => id !== keyring.current?.id);
  const decrypts = old.length ? `; also decrypts old keys ${old.map((id) => `"${id}"`).join(', ')}` : '';
  return keyring.current
    ? `AES-256-GCM with key "${keyring.current.id}"${decrypts}`
    : `off for new payloads${decrypts}`;
}
