import { ApplicationFailure } from '@temporalio/common';
import assert from 'node:assert/strict';

/**
 * For `assert.rejects`: a non-retryable failure of `type` whose message names each of `names`
 * (the resource, the permission: what the operator needs to read).
 */
export function nonRetryable(type: string, ...names: string[]) {
  return (error: unknown) => {
    assert.ok(error instanceof ApplicationFailure, String(error));
    assert.equal(error.type, type, error.message);
    assert.equal(error.nonRetryable, true, error.message);
    for (const name of names) assert.ok(error.message.includes(name), `"${error.message}" names ${name}`);
    return true;
  };
}
