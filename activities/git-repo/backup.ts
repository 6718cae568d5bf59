/**
 * Backups of a git repository as a verified bundle of every ref. A mirror clone kept in
 * `<backupDir>/.mirror` is fetched (`git remote update --prune`), so each backup transfers only
 * what changed on the server; `git bundle create --all` then writes the mirror's refs into the
 * staged backup, and `git bundle verify` checks it against an empty repository before the
 * LocalBackupStore commits it. Every backup gets a bundle of its own, also when nothing changed:
 * bundles of a repository like the Ansible one are small, and separate files never share a fault
 * (a hardlink to the previous bundle would).
 */
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupActivityInput, BackupManifest } from '../../backups/manifest';
import type { GitRepoComponent } from '../../plan/kinds/git-repo';
import { BUNDLE_NAME, verifyBundle, type GitBackupDetails } from './bundle';
import { redactUrl, type Git } from './git';

/** The mirror clone the bundles are made from (a dot folder: the store ignores it). */
export const mirrorOf = (c: GitRepoComponent) => join(c.backupDir, '.mirror');

/** Clones the mirror on first use, else points it at the plan's URL and fetches, pruning deleted refs. */
async function updateMirror(git: Git, c: GitRepoComponent): Promise<string> {
  const mirror = mirrorOf(c);
  const what = `${c.id}: fetch from ${redactUrl(c.url)}`;
  const usable =
    existsSync(mirror) && (await git.run(['-C', mirror, 'rev-parse', '--is-bare-repository'])).exitCode === 0;
  if (!usable) {
    // Cloned beside, then renamed: a clone cut short never looks like a mirror.
    const partial = `${mirror}.partial`;
    await rm(partial, { recursive: true, force: true });
    await git.ok(['clone', '--quiet', '--mirror', c.url, partial], what);
    await rm(mirror, { recursive: true, force: true });
    await rename(partial, mirror);
    return mirror;
  }
  await git.ok(['-C', mirror, 'remote', 'set-url', 'origin', c.url], what);
  await git.ok(['-C', mirror, 'remote', 'update', '--prune'], what);
  return mirror;
}

/** The plan's branch, HEAD and paths as the mirror has them now. */
async function describeMirror(git: Git, c: GitRepoComponent, mirror: string, refs: Record<string, string>) {
  const headRef = (await git.run(['-C', mirror, 'symbolic-ref', '-q', 'HEAD'])).stdout.trim() || undefined;
  const branchCommit = refs[`refs/heads/${c.branch}`] ?? null;
  const paths: Record<string, boolean> = {};
  for (const path of c.paths)
    paths[path] =
      branchCommit !== null &&
      (await git.run(['-C', mirror, 'cat-file', '-e', `${branchCommit}:${path.replace(/^\.?\/+/, '')}`])).exitCode ===
        0;
  const committedAt = branchCommit
    ? (await git.run(['-C', mirror, 'show', '-s', '--format=%cI', branchCommit])).stdout.trim()
    : undefined;
  return {
    head: { ...(headRef ? { ref: headRef } : {}), ...(headRef && refs[headRef] ? { commit: refs[headRef] } : {}) },
    branch: { name: c.branch, commit: branchCommit, ...(committedAt ? { committedAt } : {}) },
    paths,
  };
}

export async function backupGitRepo(
  git: Git,
  { component: c, type, backupId }: BackupActivityInput<GitRepoComponent>,
): Promise<BackupManifest> {
  const store = new LocalBackupStore(c.backupDir);
  const done = await store.read(backupId);
  if (done) return done;
  if (type !== 'full' && type !== 'snapshot')
    throw ApplicationFailure.nonRetryable(
      `${c.id}: git repository backups are whole bundles (full or snapshot), not ${type}`,
      'UnsupportedBackupType',
    );

  // What the server holds at this moment is in the bundle (fetched after it): its recovery point.
  const startedAt = new Date().toISOString();
  const mirror = await updateMirror(git, c);
  const staged = await store.stage(backupId);
  const bundle = join(staged, BUNDLE_NAME);
  const create = await git.run(['-C', mirror, 'bundle', 'create', '--quiet', bundle, '--all']);
  if (create.exitCode !== 0) {
    if (/empty bundle/i.test(create.tail))
      throw ApplicationFailure.nonRetryable(
        `${c.id}: ${redactUrl(c.url)} has no branches or tags: there is nothing to back up`,
        'EmptyRepository',
      );
    throw ApplicationFailure.retryable(`${c.id}: git bundle create failed: ${create.tail.slice(-600)}`, 'GitFailed');
  }
  const refs = await verifyBundle(git, bundle, c.id);
  const details: GitBackupDetails = {
    url: redactUrl(c.url),
    refs,
    ...(await describeMirror(git, c, mirror, refs)),
    bundle: BUNDLE_NAME,
  };
  return store.commit(staged, {
    component: c.id,
    kind: 'git-repo',
    id: backupId,
    type,
    startedAt,
    finishedAt: new Date().toISOString(),
    recoveryPoint: startedAt,
    details: details as unknown as Record<string, unknown>,
  });
}
