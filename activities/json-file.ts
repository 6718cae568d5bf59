/**
 * JSON state files that the steps of a restore hand to each other (plans, progress records). A
 * worker killed mid-write must never leave half a file that the retried step then cannot parse, or
 * worse, parses: the file is written beside its final name, flushed, then renamed over it.
 */
import { existsSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';

/** Writes `value` as pretty JSON to `file` atomically: readers see the old content or the new, never a mix. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  // Unique per writer, so two attempts racing each other never share a temp file.
  const temp = `${file}.${process.pid}-${Math.random().toString(36).slice(2, 10)}.tmp`;
  try {
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/** The JSON in `file`, or undefined when there is no such file. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  return existsSync(file) ? (JSON.parse(await readFile(file, 'utf8')) as T) : undefined;
}
