import { mkdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { analyzeScenario, scenariosOf } from '../../plan/analysis';
import { renderRunbook } from '../../plan/docs/runbook';
import { loadValidPlan } from '../load-or-fail';
import type { CommandResult } from '../result';

/** `recovery docs <plan.yaml> --out <dir>`: one runbook per scenario in <dir>/<plan>/<scenario>.md. */
export async function docsCommand(file: string, options: { out: string; cwd?: string }): Promise<CommandResult> {
  const { plan, warnings } = await loadValidPlan(file);
  const dir = join(options.out, plan.name);
  await mkdir(dir, { recursive: true });
  const source = relative(options.cwd ?? process.cwd(), file) || file;
  const written: string[] = [];
  for (const scenario of scenariosOf(plan)) {
    const path = join(dir, `${scenario.name}.md`);
    await writeFile(path, renderRunbook(plan, analyzeScenario(plan, scenario.name), source));
    written.push(path);
  }
  return {
    stdout: `${written.join('\n')}\n`,
    stderr: warnings.length ? `${warnings.join('\n')}\n` : undefined,
    exitCode: 0,
  };
}
