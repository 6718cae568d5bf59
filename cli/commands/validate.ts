import { formatIssue } from '../../plan/issues';
import { loadPlanFile } from '../../plan/load-file';
import type { CommandResult } from '../result';

/** `recovery validate <plan.yaml>…`: `ok`, or one line per problem; warnings never fail. */
export async function validateCommand(files: string[]): Promise<CommandResult> {
  const results = await Promise.all(files.map((file) => loadPlanFile(file)));
  const errors = results.flatMap((r) => r.errors);
  const warnings = results.flatMap((r) => r.warnings);
  const lines = [...errors, ...warnings].map(formatIssue);
  return errors.length > 0
    ? { stdout: `${lines.join('\n')}\n`, exitCode: 2 }
    : { stdout: [...lines, 'ok'].join('\n') + '\n', exitCode: 0 };
}
