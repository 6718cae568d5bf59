import { ApplicationFailure, METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { PAYLOAD_KEY_VARIABLES, type PayloadKeyring } from './keys';

/** The encoding of an encrypted payload; its data is IV (12 bytes) ‖ ciphertext ‖ GCM tag (16 bytes). */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** Metadata naming the key that encrypted the payload, so that keys can rotate. */
export const KEY_ID_METADATA = 'encryption-key-id';

const IV_BYTES = 12;
const TAG_BYTES = 16;
const utf8 = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/**
 * Encrypts workflow payloads at rest with AES-256-GCM: the whole payload (its metadata and data,
 * serialized as the Payload protobuf) becomes the ciphertext, so the Temporal server and anyone
 * reading its database see neither values nor their encodings. Decoding passes payloads that are
 * not encrypted through (histories from before encryption was turned on), and refuses, naming the
 * key id, a payload whose key this process lacks or that does not authenticate: never garbage.
 * Without a keyring it encrypts nothing, and still says clearly what is missing when it meets an
 * encrypted payload.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keyring: PayloadKeyring | undefined) {}

  encode(payloads: Payload[]): Promise<Payload[]> {
    const current = this.keyring?.current;
    if (!current) return Promise.resolve(payloads);
    return Promise.resolve(
      payloads.map((payload) => {
        const iv = randomBytes(IV_BYTES);
        const cipher = createCipheriv('aes-256-gcm', current.key, iv);
        const plain = temporal.api.common.v1.Payload.encode(payload).finish();
        const data = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
        return {
          metadata: {
            [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
            [KEY_ID_METADATA]: Buffer.from(current.id),
          },
          data,
        };
      }),
    );
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    return new Promise((resolve) => resolve(payloads.map((payload) => this.decrypt(payload)))); // a throw rejects
  }

  private decrypt(payload: Payload): Payload {
    if (utf8(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const keyId = utf8(payload.metadata?.[KEY_ID_METADATA]);
    if (!keyId)
      throw ApplicationFailure.nonRetryable(
        `an encrypted payload names no key (${KEY_ID_METADATA} metadata missing): it was not written by Recovery Engine's codec`,
        'PayloadKeyUnknown',
      );
    const key = this.keyring?.keys.get(keyId);
    if (!key) {
      const known = [...(this.keyring?.keys.keys() ?? [])];
      throw ApplicationFailure.nonRetryable(
        known.length === 0
          ? `a payload is encrypted with key "${keyId}" and this process has no payload key: set ${PAYLOAD_KEY_VARIABLES.key} (or ${PAYLOAD_KEY_VARIABLES.oldKeys}) as the worker has it`
          : `a payload is encrypted with key "${keyId}", which this process does not have (it has ${known.map((id) => `"${id}"`).join(', ')}): add it to ${PAYLOAD_KEY_VARIABLES.oldKeys}`,
        'PayloadKeyUnknown',
      );
    }
    const data = Buffer.from(payload.data ?? []);
    try {
      if (data.length < IV_BYTES + TAG_BYTES) throw new Error('too short');
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([
        decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)),
        decipher.final(),
      ]);
      return temporal.api.common.v1.Payload.decode(plain);
    } catch {
      throw ApplicationFailure.nonRetryable(
        `a payload encrypted with key "${keyId}" cannot be decrypted: the key with that id here is not the one that encrypted it, or the payload was altered`,
        'PayloadDecryptionFailed',
      );
    }
  }
}

/** The codecs of every client and worker: encryption when a key is configured, clear errors when one is missing. */
export const payloadCodecs = (keyring: PayloadKeyring | undefined): PayloadCodec[] => [new EncryptionCodec(keyring)];
