/**
 * Replays the recorded histories of recoveries against today's workflow code. A failure here means a
 * change would break recoveries that are running when the worker is upgraded: keep the old
 * behaviour behind `patched()`, or record new histories only if no such recovery can exist.
 */
import { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { HISTORIES_DIR, readHistory } from './helpers/histories';
import { bundleWorkflows } from './helpers/servers';

const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

describe('replay of recorded recovery histories', () => {
  let bundle: WorkflowBundleWithSourceMap;
  before(async () => {
    bundle = await bundleWorkflows();
  });

  it('has histories to replay', () => assert.ok(files.length >= 2, `only ${files.length} in ${HISTORIES_DIR}`));

  for (const file of files) {
    it(`replays ${file} without nondeterminism`, async () => {
      const { workflowId, history } = readHistory(join(HISTORIES_DIR, file));
      const result = await Worker.runReplayHistory({ workflowBundle: bundle }, history, workflowId);
      assert.equal(result, undefined);
    });
  }
});
