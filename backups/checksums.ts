import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import type { BackupFile } from './manifest';

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every regular file under `dir` with its size and SHA-256, sorted by path; `manifest.json` excluded. */
export async function checksumTree(dir: string): Promise<BackupFile[]> {
  const files: BackupFile[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    const path = relative(dir, full).split(sep).join('/');
    if (path === 'manifest.json') continue;
    files.push({ path, bytes: (await stat(full)).size, sha256: await sha256File(full) });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** What differs between `dir` and the files a manifest lists: missing, resized, altered, unexpected. */
export async function verifyTree(dir: string, expected: BackupFile[]): Promise<string[]> {
  const actual = new Map((await checksumTree(dir)).map((f) => [f.path, f]));
  const problems: string[] = [];
  for (const file of expected) {
    const found = actual.get(file.path);
    actual.delete(file.path);
    if (!found) problems.push(`${file.path}: missing`);
    else if (found.bytes !== file.bytes)
      problems.push(`${file.path}: ${found.bytes} bytes, the manifest says ${file.bytes}`);
    else if (found.sha256 !== file.sha256)
      problems.push(`${file.path}: checksum differs from the manifest (altered or corrupt)`);
  }
  for (const path of actual.keys()) problems.push(`${path}: not in the manifest`);
  return problems;
}
