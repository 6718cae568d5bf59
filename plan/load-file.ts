import { readFile } from 'node:fs/promises';
import { loadPlan, type LoadResult } from './load';

/** Reads and loads a plan file; a file that cannot be read is one error, like any other problem. */
export async function loadPlanFile(path: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message;
    return {
      errors: [
        {
          severity: 'error',
          rule: 'file',
          file: path,
          line: 1,
          col: 1,
          path: '(file)',
          message: `cannot read the plan: ${reason}`,
        },
      ],
      warnings: [],
    };
  }
  return loadPlan(text, path);
}
