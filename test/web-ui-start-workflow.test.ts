/**
 * The Temporal Web UI path, as a person takes it: the dev server's Start Workflow form starts
 * `recoveryWorkflow` with a plan name and a scenario, and the workflow page shows the recovery's
 * progress summary once it completed. Real dev server, real recovery worker, Debian's Chromium.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadPlan } from '../plan/load';
import { DEFAULT_TASK_QUEUE } from '../workers/config';
import type { RecoveryProgress } from '../workflows/progress';
import { saveScreenshot } from './helpers/browser';
import { startUiStack, type UiStack } from './helpers/ui-stack';

const PLAN = 'shop-restart';
const SCENARIO = 'full-restore';
const WORKFLOW_ID = 'web-ui-shop-restart-1';
/** Exactly what a person types into the form's Input field. */
const INPUT = JSON.stringify({ plan: PLAN, scenario: SCENARIO });

/** A plan that completes in seconds: two short waits around one real command, no approval. */
const planYaml = (restartsLog: string) => `name: ${PLAN}
objectives: { rpo: 1h, rto: 30m }
contacts:
  - { name: On-call SRE, role: primary, phone: '+1 555 0100' }
components:
  - id: drain-traffic
    kind: wait
    duration: 3s
    reason: Load balancers stop sending requests
  - id: restart-app
    kind: command
    dependsOn: [drain-traffic]
    run: echo restarted >> '${restartsLog}'
    estimate: 1m
  - id: warm-caches
    kind: wait
    duration: 3s
    dependsOn: [restart-app]
scenarios:
  - { name: ${SCENARIO} }
`;

describe('Temporal Web UI: a recovery started from the Start Workflow form (dev server + Chromium)', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'recovery-web-ui-'));
  // Removed on exit, also after an interruption cut the cleanup short.
  process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
  const restartsLog = join(scratch, 'restarts.log');
  let stack: UiStack;
  /** Requests the page sent anywhere but the dev server: the UI must work without internet. */
  const outside: string[] = [];

  before(async () => {
    const yaml = planYaml(restartsLog);
    assert.deepEqual(loadPlan(yaml).errors, [], 'the plan is valid');
    // The worker's plans directory: the form names the plan, the worker reads <plansDir>/<name>.yaml.
    writeFileSync(join(scratch, `${PLAN}.yaml`), yaml);
    stack = await startUiStack({ scratch, taskQueue: DEFAULT_TASK_QUEUE });
  });
  after(() => stack?.stop());

  it('starts recoveryWorkflow from the form and shows the completed recovery with its progress summary', async () => {
    const handle = stack.client.workflow.getHandle(WORKFLOW_ID);
    const page = await stack.browser.newPage({ viewport: { width: 1600, height: 1000 } });
    // Generous: two cores shared with other test runs.
    page.setDefaultTimeout(60_000);
    page.on('request', (request) => {
      if (!request.url().startsWith(`${stack.uiUrl}/`)) outside.push(request.url());
    });

    await page.goto(`${stack.uiUrl}/namespaces/default/workflows`);
    await page.getByRole('button', { name: 'Start Workflow' }).click();
    await page.getByLabel('Workflow ID').fill(WORKFLOW_ID);
    await page.getByLabel('Task Queue').fill(DEFAULT_TASK_QUEUE);
    await page.getByLabel('Workflow Type').fill('recoveryWorkflow');
    const input = page.getByRole('textbox').and(page.locator('[data-language="json"]'));
    await input.fill(INPUT);
    // The editor reformats its JSON when it loses focus, which moves the button below it: blur
    // first, or the click lands where the button was.
    await input.blur();
    await input.filter({ hasText: `"plan": "${PLAN}"` }).waitFor();
    assert.deepEqual(JSON.parse(await input.innerText()), { plan: PLAN, scenario: SCENARIO });
    await page.getByLabel('json/plain').check();
    await page.getByText('Task Queue is Active').waitFor();
    await saveScreenshot(page, 'web-ui', '1-start-workflow-form');

    await page.getByRole('button', { name: 'Start Workflow' }).click();
    const started = page.getByRole('link', { name: 'Workflow started successfully' });
    // The link of a toast that fades: read it once it shows, then follow it.
    const href = (await started.getAttribute('href')) ?? '';
    assert.match(href, new RegExp(`^/namespaces/default/workflows/${WORKFLOW_ID}/[0-9a-f-]+/history$`));
    await page.goto(new URL(href, stack.uiUrl).href);
    // The page follows the running workflow by itself: no reload, as for a person watching it.
    await page.locator('header').getByText('Completed', { exact: true }).waitFor({ timeout: 180_000 });
    await saveScreenshot(page, 'web-ui', '2-workflow-completed');

    await page.getByRole('tab', { name: 'User Metadata' }).click();
    const details = page.getByTitle('output').contentFrame();
    await details.getByRole('heading', { name: `Recovery ${PLAN} / ${SCENARIO}: succeeded` }).waitFor();
    for (const component of ['drain-traffic', 'restart-app', 'warm-caches'])
      await details.getByRole('row', { name: new RegExp(`${component} succeeded`) }).waitFor();
    await details.getByText(/RTO: .* of 30m used/).waitFor();
    await saveScreenshot(page, 'web-ui', '3-current-details');

    const report = (await handle.result()) as RecoveryProgress;
    assert.equal(report.status, 'succeeded');
    assert.deepEqual(
      report.components.map((c) => [c.id, c.status]),
      [
        ['drain-traffic', 'succeeded'],
        ['restart-app', 'succeeded'],
        ['warm-caches', 'succeeded'],
      ],
    );
    assert.equal(readFileSync(restartsLog, 'utf8'), 'restarted\n', 'the command ran once');
    assert.deepEqual(outside, [], 'the UI asked for nothing outside the dev server');
  });
});
