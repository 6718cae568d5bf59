/** The checked-in generated files match what the code generates now. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { analyzeScenario, scenariosOf } from '../plan/analysis';
import { renderRunbook } from '../plan/docs/runbook';
import { EXAMPLE_PLANS, JSON_SCHEMA_PATH, RUNBOOKS_DIR } from '../plan/generated-files';
import { planJsonSchema } from '../plan/json-schema';
import { loadPlanFile } from '../plan/load-file';

const STALE = 'is stale: run `npm run generate` and commit the result';

describe('generated files', () => {
  it(`${JSON_SCHEMA_PATH} is up to date`, () => {
    assert.equal(
      readFileSync(JSON_SCHEMA_PATH, 'utf8'),
      `${JSON.stringify(planJsonSchema(), null, 2)}\n`,
      `${JSON_SCHEMA_PATH} ${STALE}`,
    );
  });

  it(`the runbooks of the examples in ${RUNBOOKS_DIR} are up to date`, async () => {
    for (const file of EXAMPLE_PLANS) {
      const { plan } = await loadPlanFile(file);
      for (const scenario of scenariosOf(plan!)) {
        const path = join(RUNBOOKS_DIR, plan!.name, `${scenario.name}.md`);
        assert.equal(
          readFileSync(path, 'utf8'),
          renderRunbook(plan!, analyzeScenario(plan!, scenario.name), file),
          `${path} ${STALE}`,
        );
      }
    }
  });
});
