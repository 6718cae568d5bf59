/**
 * Regenerates the checked-in files that come from code: the plan JSON Schema and the runbooks of
 * the example plans. A test fails when they are stale.
 *
 *   npm run generate
 */
import { writeFile } from 'node:fs/promises';
import { docsCommand } from '../cli/commands/docs';
import { EXAMPLE_PLANS, JSON_SCHEMA_PATH, RUNBOOKS_DIR } from '../plan/generated-files';
import { planJsonSchema } from '../plan/json-schema';

async function main(): Promise<void> {
  await writeFile(JSON_SCHEMA_PATH, `${JSON.stringify(planJsonSchema(), null, 2)}\n`);
  console.log(JSON_SCHEMA_PATH);
  for (const plan of EXAMPLE_PLANS) process.stdout.write((await docsCommand(plan, { out: RUNBOOKS_DIR })).stdout);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
