/**
 * The alert receiver's plan registry on real files: a reload asked while another is reading must
 * not be answered with what that reading saw before the file changed.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import pino from 'pino';
import { PlanRegistry, type ReceiverLog } from '../triggers/plan-registry';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-plan-registry-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const agama = readFileSync(join(__dirname, '..', 'examples', 'agama.yaml'), 'utf8');
const alertnames = (registry: PlanRegistry) =>
  registry.plans.flatMap((p) => p.triggers.map((t) => ('match' in t ? t.match.alertname : undefined)));

describe('plan registry reloads', () => {
  it('a reload asked while one is reading gets a reading made after it: the file changed meanwhile is seen', async () => {
    const file = join(scratch, 'agama.yaml');
    writeFileSync(file, agama);
    const silent = pino({ level: 'silent' });
    let second: ReturnType<PlanRegistry['reload']> | undefined;
    // The hook: "plans loaded" is logged once a reading has read every file, before it returns.
    // That first time, the file changes and a second reload is asked, as a SIGHUP after an edit would.
    const log: ReceiverLog = {
      info: (...args: Parameters<ReceiverLog['info']>) => {
        if (!second && args[1] === 'plans loaded') {
          writeFileSync(file, agama.replace('alertname: AgamaDown', 'alertname: AgamaOutage'));
          second = registry.reload();
        }
        silent.info(...args);
      },
      warn: silent.warn.bind(silent),
      error: silent.error.bind(silent),
    };
    const registry = new PlanRegistry(scratch, log);

    const first = registry.reload();
    const [a, b] = await Promise.all([first, first.then(() => second!)]);

    assert.ok(second, 'the second reload was asked during the first reading');
    assert.deepEqual(a, b, 'both callers get the same, later, reading');
    assert.ok(alertnames(registry).includes('AgamaOutage'), JSON.stringify(alertnames(registry)));
    assert.ok(!alertnames(registry).includes('AgamaDown'));
  });

  it('without a change, one reload reads once', async () => {
    const dir = mkdtempSync(join(scratch, 'once-'));
    writeFileSync(join(dir, 'agama.yaml'), agama);
    let readings = 0;
    const silent = pino({ level: 'silent' });
    const registry = new PlanRegistry(dir, {
      info: (...args: Parameters<ReceiverLog['info']>) => {
        if (args[1] === 'plans loaded') readings++;
      },
      warn: silent.warn.bind(silent),
      error: silent.error.bind(silent),
    });
    const summary = await registry.reload();
    assert.deepEqual(summary.plans, ['agama']);
    assert.equal(readings, 1);
  });
});
