/**
 * `npm run demo` as a newcomer runs it: the whole region failover, started by an alarm, approved
 * by the demo's on-call, with its report; and Ctrl-C in the middle of it stops every process the
 * demo started. Each run gets its own ports and data folder.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort, isPortFree } from '../toolchain/net';
import { eventually } from './helpers/engine';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-demo-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Starts the demo on free ports; `output()` is what it printed so far. */
async function startDemo(name: string) {
  const ports = { port: await freePort(), uiPort: await freePort(), receiverPort: await freePort() };
  const dataDir = join(scratch, name);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'scripts/demo.ts',
      '--port',
      String(ports.port),
      '--ui-port',
      String(ports.uiPort),
      '--receiver-port',
      String(ports.receiverPort),
      '--data-dir',
      dataDir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let text = '';
  child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, ports, dataDir, exited, output: () => text };
}

/** Processes whose command line names `dir`: the demo's servers all keep their files there. */
function processesUsing(dir: string): string[] {
  return readdirSync('/proc')
    .filter((pid) => /^\d+$/.test(pid))
    .map((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      } catch {
        return '';
      }
    })
    .filter((cmdline) => cmdline.includes(dir));
}

describe('npm run demo', () => {
  it('recovers the shop from an alarm, end to end, and prints the report and the UI link', async () => {
    const demo = await startDemo('full');
    const code = await demo.exited;
    const out = demo.output();
    assert.equal(code, 0, out);
    const id = 'alert-aws-region-failover-region-failover';
    // The alarm went through the receiver, and the person's commands are shown before they run.
    assert.match(out, /Receiver answered 202: .*"outcome":"started"/);
    assert.match(out, new RegExp(`\\$ recovery approve ${id} start --by demo-on-call`));
    assert.match(out, new RegExp(`\\$ recovery approve ${id} dns-failover --by demo-on-call`));
    // Agama's chain, taken by the engine (MariaDB is part of this machine's toolchain).
    assert.match(out, /agama-mysql full backup .*\n.*agama-mysql incremental backup .*\n.*agama-mysql log backup/);
    assert.match(out, /agama-mysql +mysql +3 .* met/);
    assert.match(out, new RegExp(`http://127\\.0\\.0\\.1:${demo.ports.uiPort}/namespaces/default/workflows/${id}/`));
    const report = readFileSync(join(demo.dataDir, 'demo', 'report.md'), 'utf8');
    assert.match(report, /succeeded/);
    assert.match(report, /\| dns-failover \| approved \|/);
    assert.ok(existsSync(join(demo.dataDir, 'temporal.db')), 'the history is kept in the data folder');
    assert.deepEqual(processesUsing(demo.dataDir), [], 'every server the demo started is stopped');
  });

  it('stops every process it started on Ctrl-C, in the middle of the recovery', async () => {
    const demo = await startDemo('interrupted');
    const approving = () => (demo.output().includes('On call: approves "start"') ? true : undefined);
    await eventually('the on-call approving the start', approving, 180_000);
    demo.child.kill('SIGINT');
    const code = await demo.exited;
    assert.equal(code, 130, demo.output());
    assert.match(demo.output(), /Interrupted\.\n\nStopping everything the demo started/);
    assert.deepEqual(processesUsing(demo.dataDir), []);
    for (const port of Object.values(demo.ports)) assert.ok(await isPortFree(port), `port ${port} is free again`);
  });
});
