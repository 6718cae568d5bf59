/**
 * The Temporal Web UI reading an encrypted recovery through `recovery codec-server`: the dev server
 * started with `--ui-codec-endpoint`, a recovery worker and client with a payload key, Debian's
 * Chromium. The workflow page shows the recovery's input in clear, decrypted by the codec server
 * the page calls from the browser (CORS for the UI's origin), while the server holds ciphertext.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { codecServerCommand } from '../cli/commands/codec-server';
import { connectTemporal, type TemporalTarget } from '../cli/temporal-client';
import { payloadCodecs } from '../codec/encryption-codec';
import { payloadKeyringFromEnv } from '../codec/keys';
import { loadPlan } from '../plan/load';
import { freePort } from '../toolchain/net';
import type { RecoveryProgress } from '../workflows/progress';
import { saveScreenshot } from './helpers/browser';
import { once, onCleanup } from './helpers/cleanup';
import { startUiStack, type UiStack } from './helpers/ui-stack';

const PLAN = 'ui-codec-plan';
const TASK_QUEUE = 'ui-codec';
const WORKFLOW_ID = 'ui-codec-recovery';
/** In the recovery's input only (not in its id or search attributes): readable only once decrypted. */
const DETECTED_AT = new Date(Date.now() - 1_000).toISOString();
const PLAN_YAML = `name: ${PLAN}
components:
  - { id: settle, kind: wait, duration: 1s, estimate: 1s }
scenarios:
  - { name: full-restore }
`;

describe('Temporal Web UI: encrypted payloads shown in clear through the codec server (dev server + Chromium)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'recovery-ui-codec-'));
  process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
  const keyEnv = { RECOVERY_PAYLOAD_KEY: randomBytes(32).toString('base64'), RECOVERY_PAYLOAD_KEY_ID: 'ui-2026' };
  let stack: UiStack;
  let target: TemporalTarget;
  const stopCodecServer = new AbortController();
  let codecServerRun: Promise<unknown>;

  const stopAll = once(async () => {
    stopCodecServer.abort();
    await codecServerRun?.catch(() => undefined);
    await target?.close();
    await stack?.stop();
  });

  before(async () => {
    onCleanup(stopAll);
    assert.deepEqual(loadPlan(PLAN_YAML).errors, [], 'the plan is valid');
    writeFileSync(join(scratch, `${PLAN}.yaml`), PLAN_YAML);
    const codecPort = await freePort();
    const keys = payloadKeyringFromEnv(keyEnv).keyring;
    stack = await startUiStack({
      scratch,
      taskQueue: TASK_QUEUE,
      uiCodecEndpoint: `http://127.0.0.1:${codecPort}`,
      dataConverter: { payloadCodecs: payloadCodecs(keys) },
    });
    codecServerRun = codecServerCommand({
      listen: `127.0.0.1:${codecPort}`,
      uiOrigin: [stack.uiUrl],
      env: keyEnv,
      signal: stopCodecServer.signal,
      logger: pino({ level: 'warn' }),
    });
    target = await connectTemporal({
      TEMPORAL_ADDRESS: stack.address,
      TEMPORAL_CONFIG_FILE: join(scratch, 'none.toml'),
      RECOVERY_TASK_QUEUE: TASK_QUEUE,
      ...keyEnv,
    });
  });
  after(() => stopAll());

  it("shows the recovery's input decrypted on the workflow page", async () => {
    const handle = await target.client.workflow.start('recoveryWorkflow', {
      taskQueue: TASK_QUEUE,
      workflowId: WORKFLOW_ID,
      args: [{ plan: PLAN, scenario: 'full-restore', incident: { id: 'INC-UI', detectedAt: DETECTED_AT } }],
    });
    assert.equal(((await handle.result()) as RecoveryProgress).status, 'succeeded');

    // What the server holds: ciphertext (the stack's client has no codec).
    const { events } = await stack.client.workflow.getHandle(WORKFLOW_ID).fetchHistory();
    const input = events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    assert.equal(Buffer.from(input.metadata!.encoding!).toString(), 'binary/encrypted');
    assert.equal(Buffer.from(input.data!).includes(DETECTED_AT), false);

    const page = await stack.browser.newPage({ viewport: { width: 1600, height: 1000 } });
    page.setDefaultTimeout(60_000);
    const codecCalls: { url: string; status: number }[] = [];
    page.on('response', (response) => {
      if (/\/(en|de)code$/.test(response.url())) codecCalls.push({ url: response.url(), status: response.status() });
    });
    await page.goto(`${stack.uiUrl}/namespaces/default/workflows/${WORKFLOW_ID}`);
    await page.getByText(DETECTED_AT).first().waitFor();
    await saveScreenshot(page, 'web-ui-codec', 'workflow-input-decrypted');
    assert.ok(codecCalls.length > 0, 'the page called the codec server');
    assert.ok(
      codecCalls.every((call) => call.status === 200),
      `every codec call answered 200: ${JSON.stringify(codecCalls)}`,
    );
  });
});
