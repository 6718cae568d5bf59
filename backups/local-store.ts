import { constants, existsSync } from 'node:fs';
import { access, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { activityInfo } from '@temporalio/activity';
import { heartbeatWhile } from '../activities/heartbeat';
import { checksumTree, verifyTree } from './checksums';

/** Hashing a large backup takes minutes: inside an activity, heartbeat meanwhile so it is not timed out. */
function whileHashing<T>(work: Promise<T>, what: string): Promise<T> {
  try {
    activityInfo();
  } catch {
    return work; // not in an activity (tests, the CLI)
  }
  return heartbeatWhile(work, () => what);
}
import type { BackupManifest } from './manifest';

/**
 * A component's backups in a local directory (`backupDir` of the plan): one folder per backup,
 * named by its id, holding its files and `manifest.json`. A backup is built in `.staging/<id>` and
 * renamed into place with its manifest, so a crash mid-backup never leaves a folder that looks
 * complete; a retried backup starts its staging folder afresh.
 */
export class LocalBackupStore {
  constructor(readonly root: string) {}

  dirOf(id: string): string {
    return join(this.root, id);
  }

  /** An empty staging folder for backup `id` (whatever an earlier attempt left there is removed). */
  async stage(id: string): Promise<string> {
    const dir = join(this.root, '.staging', id);
    await this.assertWritable(dir);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /**
   * Says why a location cannot take a backup. Left to mkdir, a read-only file system reads "ENOENT:
   * no such file or directory" for a folder that exists; access() on the nearest existing folder
   * gives the real cause (EROFS, EACCES).
   */
  private async assertWritable(dir: string): Promise<void> {
    let existing = dir;
    while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
    try {
      await access(existing, constants.W_OK);
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      const cause = code === 'EROFS' ? 'is on a read-only file system' : 'cannot be written';
      throw new Error(`backup location ${this.root}: ${existing} ${cause} (${message})`, { cause: error });
    }
  }

  /** Checksums the staged files, writes the manifest and moves the backup into place. */
  async commit(staged: string, manifest: Omit<BackupManifest, 'files' | 'format'>): Promise<BackupManifest> {
    const files = await whileHashing(checksumTree(staged), `checksumming ${manifest.id}`);
    const complete: BackupManifest = { format: 1, ...manifest, files };
    await writeFile(join(staged, 'manifest.json'), `${JSON.stringify(complete, null, 2)}\n`);
    await rm(this.dirOf(manifest.id), { recursive: true, force: true });
    await rename(staged, this.dirOf(manifest.id));
    return complete;
  }

  async read(id: string): Promise<BackupManifest | undefined> {
    const file = join(this.dirOf(id), 'manifest.json');
    if (!existsSync(file)) return undefined;
    return JSON.parse(await readFile(file, 'utf8')) as BackupManifest;
  }

  /** Every complete backup, oldest recovery point first. */
  async list(): Promise<BackupManifest[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const manifests: BackupManifest[] = [];
    for (const name of names) {
      if (name.startsWith('.')) continue;
      const manifest = await this.read(name);
      if (manifest) manifests.push(manifest);
    }
    return manifests.sort((a, b) => a.recoveryPoint.localeCompare(b.recoveryPoint) || a.id.localeCompare(b.id));
  }

  /** Problems with a backup's files against its manifest; empty when intact. */
  async verify(manifest: BackupManifest): Promise<string[]> {
    if (!existsSync(this.dirOf(manifest.id))) return [`${manifest.id}: the backup folder is missing`];
    const problems = await whileHashing(
      verifyTree(this.dirOf(manifest.id), manifest.files),
      `verifying ${manifest.id}`,
    );
    return problems.map((p) => `${manifest.id}/${p}`);
  }

  async remove(id: string): Promise<void> {
    await rm(this.dirOf(id), { recursive: true, force: true });
  }
}
