import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalBackupStore } from '../../backups/local-store';
import type { BackupActivityInput, BackupManifest } from '../../backups/manifest';
import type { GitRepoComponent } from '../../plan/kinds/git-repo';
import type { DataStoreDependencies } from '../data-stores';
// Generic (manifests and the store only); it would sit better in a module shared by every store.
import { parseTargetTime, verifiedChain, verifiedChainEndingAt } from '../verified-chain';
import { backupGitRepo } from './backup';
import { BUNDLE_NAME, refDifferences, verifyBundle } from './bundle';
import { Git } from './git';
import { checkoutState, cloneInto, detailsOf, pushBundle, validateClone, type CloneValidation } from './restore';

export interface GitRepoRestoreInput {
  component: GitRepoComponent;
  /** ISO-8601, or `latest`. */
  targetTime: string;
}

const what = (c: GitRepoComponent) => `git repository ${c.id}`;

function failValidation(c: GitRepoComponent, result: CloneValidation): never {
  throw ApplicationFailure.nonRetryable(
    `${what(c)}: the clone in ${result.dir} does not match backup ${result.backupId}: ${result.problems.join('; ')}`,
    'RestoreValidationFailed',
    result,
  );
}

/** The git-repo kind's activities: backups, restores, validation. */
export function createGitRepoActivities(deps: DataStoreDependencies) {
  const git = () => new Git(deps.binaries().git);

  /**
   * The bundle for the target time, checked: checksums against the manifest, `git bundle verify`,
   * and its refs against the manifest's.
   */
  async function verifiedBundle(c: GitRepoComponent, target: Date | 'latest' | { backupId: string }) {
    const store = new LocalBackupStore(c.backupDir);
    const chain =
      typeof target === 'object' && 'backupId' in target
        ? await verifiedChainEndingAt(store, what(c), target.backupId)
        : await verifiedChain(store, what(c), target);
    const manifest: BackupManifest = chain.links.at(-1)!;
    const bundle = join(store.dirOf(manifest.id), detailsOf(manifest).bundle ?? BUNDLE_NAME);
    const refs = await verifyBundle(git(), bundle, what(c));
    const differences = refDifferences(detailsOf(manifest).refs, refs);
    if (differences.length > 0)
      throw ApplicationFailure.nonRetryable(
        `${what(c)}: the bundle of ${manifest.id} does not hold the refs of its manifest: ${differences.join('; ')}`,
        'BundleCorrupt',
      );
    return { manifest, bundle, chain };
  }

  return {
    /** Fetches into the mirror and commits a verified bundle of every ref (idempotent by id). */
    backupGitRepo: (input: BackupActivityInput<GitRepoComponent>) => backupGitRepo(git(), input),

    /** Clones backup `backupId` into a scratch directory, validates refs and paths, removes it. */
    verifyGitRepoRestore: async ({ component: c, backupId }: { component: GitRepoComponent; backupId: string }) => {
      const { manifest, bundle } = await verifiedBundle(c, { backupId });
      const scratch = await mkdtemp(join(tmpdir(), `git-verify-${c.id}-`));
      try {
        const dir = join(scratch, 'checkout');
        await cloneInto(git(), c, manifest, bundle, dir, { setAside: false });
        const result = await validateClone(git(), c, manifest, dir);
        if (result.problems.length > 0) failValidation(c, result);
        return { backupId, refs: result.refs, commit: result.commit, paths: result.paths, notCloned: result.notCloned };
      } finally {
        await rm(scratch, { recursive: true, force: true });
      }
    },

    /** Picks the bundle for the target time and verifies it (checksums, git bundle verify, refs); touches nothing. */
    verifyGitRepoBundle: async ({ component: c, targetTime }: GitRepoRestoreInput) => {
      const { manifest, chain } = await verifiedBundle(c, parseTargetTime(targetTime, what(c)));
      const details = detailsOf(manifest);
      return {
        backupId: manifest.id,
        recoveryPoint: manifest.recoveryPoint,
        reaches: chain.reaches,
        short: chain.short,
        refs: Object.keys(details.refs).length,
        branch: details.branch,
        paths: details.paths,
      };
    },

    /**
     * Clones the bundle for the target time into `dir` on the plan's branch (see cloneInto for what
     * happens to what is there). A recovery sets a checkout of the same repository aside and points
     * origin at the plan's restoreUrl or url; a drill clones into its scratch directory only.
     */
    cloneGitRepoBundle: async ({
      component: c,
      targetTime,
      dir,
      mode,
    }: GitRepoRestoreInput & { dir: string; mode: 'recover' | 'drill' }) => {
      const { manifest, bundle } = await verifiedBundle(c, parseTargetTime(targetTime, what(c)));
      return cloneInto(git(), c, manifest, bundle, dir, {
        setAside: mode === 'recover',
        ...(mode === 'recover' ? { origin: c.restoreUrl ?? c.url } : {}),
      });
    },

    /** Compares the clone in `dir` with the manifest of the backup it came from: refs, HEAD, the plan's paths. */
    validateGitRepoClone: async ({ component: c, dir }: { component: GitRepoComponent; dir: string }) => {
      const state = await checkoutState(git(), dir, c);
      if (state.kind !== 'ours')
        throw ApplicationFailure.nonRetryable(
          `${what(c)}: ${dir} holds no clone restored for ${c.id}: run the clone step first`,
          'RestoreNotFinished',
        );
      const manifest = await new LocalBackupStore(c.backupDir).read(state.backupId);
      if (!manifest)
        throw ApplicationFailure.nonRetryable(
          `${what(c)}: backup ${state.backupId}, which ${dir} was cloned from, is gone from ${c.backupDir}`,
          'BackupNotFound',
        );
      const result = await validateClone(git(), c, manifest, dir);
      if (result.problems.length > 0) failValidation(c, result);
      return result;
    },

    /** Pushes every ref of the bundle for the target time to a new, empty remote (the plan's restoreUrl). */
    pushGitRepoBundle: async ({ component: c, targetTime, remoteUrl }: GitRepoRestoreInput & { remoteUrl: string }) => {
      const { manifest, bundle } = await verifiedBundle(c, parseTargetTime(targetTime, what(c)));
      return pushBundle(git(), c, manifest, bundle, remoteUrl);
    },

    /**
     * Drill teardown: removes the drill's clone, and the half-built one (`<dir>.restoring`) a clone
     * cut short leaves; only a clone restored for this component. Nothing there: nothing to do.
     */
    removeGitRepoClone: async ({ component: c, dir }: { component: GitRepoComponent; dir: string }) => {
      const building = `${dir}.restoring`;
      const removed = [dir, building].filter((path) => existsSync(path));
      if (existsSync(dir)) {
        const state = await checkoutState(git(), dir, c);
        if (state.kind !== 'absent' && state.kind !== 'ours')
          throw ApplicationFailure.nonRetryable(
            `${what(c)}: ${dir} is not a clone restored for ${c.id}: left in place`,
            'CheckoutNotOurs',
          );
      }
      for (const path of removed) await rm(path, { recursive: true, force: true });
      return { dir, removed: removed.length > 0, paths: removed };
    },
  };
}
