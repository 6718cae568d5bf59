import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { LocalBackupStore } from '../../backups/local-store';
import { backupIdOf } from '../../backups/manifest';

/** A git-repo snapshot taken at `at`, committed into `store` with `files` (path → content); its id. */
export async function commitSnapshot(
  store: LocalBackupStore,
  component: string,
  at: string,
  files: Record<string, string>,
): Promise<string> {
  const id = backupIdOf('snapshot', new Date(at));
  const staged = await store.stage(id);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(staged, path)), { recursive: true });
    writeFileSync(join(staged, path), content);
  }
  await store.commit(staged, {
    component,
    kind: 'git-repo',
    id,
    type: 'snapshot',
    startedAt: at,
    finishedAt: at,
    recoveryPoint: at,
    details: {},
  });
  return id;
}
