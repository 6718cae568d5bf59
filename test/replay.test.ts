/**
 * Replays the recorded histories of recoveries and of their component workflows (child workflows)
 * against today's workflow code. A failure here means a change would break recoveries that are
 * running when the worker is upgraded: keep the old behaviour behind `patched()`, or record new
 * histories only if no such recovery can exist.
 */
import { Worker } from '@temporalio/worker';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { HISTORIES_DIR, readHistory, workflowTypeOf } from './helpers/histories';
import { bundleWorkflows } from './helpers/servers';

const fixtures = readdirSync(HISTORIES_DIR)
  .filter((f) => f.endsWith('.json'))
  .map((file) => ({ file, ...readHistory(join(HISTORIES_DIR, file)) }));

describe('replay of recorded recovery histories', () => {
  let bundle: WorkflowBundleWithSourceMap;
  before(async () => {
    bundle = await bundleWorkflows();
  });

  it('has histories of recoveries and of their component workflows to replay', () => {
    const types = new Set(fixtures.map((f) => workflowTypeOf(f.history)));
    assert.deepEqual([...types].sort(), ['componentRecoveryWorkflow', 'recoveryWorkflow'], HISTORIES_DIR);
  });

  // The replayer runs the workflow type named in the history's first event; child workflows need no
  // parent: what they received from it (results of signals, cancellation) is in their own history.
  for (const { file, workflowId, history } of fixtures) {
    it(`replays ${file} (${workflowTypeOf(history)}) without nondeterminism`, async () => {
      const result = await Worker.runReplayHistory({ workflowBundle: bundle }, history, workflowId);
      assert.equal(result, undefined);
    });
  }
});
