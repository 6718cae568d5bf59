/**
 * Restores of a git repository from a bundle: a clone into a checkout directory, its validation
 * against the manifest, and a push to a new remote. Each step checks before it acts, so a retry
 * finds its own work: a clone is marked with the backup it came from (git config
 * `recovery-engine.backup`), and a push only ever adds refs the bundle has to a remote that holds
 * nothing else.
 */
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackupManifest } from '../../backups/manifest';
import type { GitRepoComponent } from '../../plan/kinds/git-repo';
import { refDifferences, type GitBackupDetails } from './bundle';
import { parseRefs, redactUrl, type Git } from './git';

export const detailsOf = (m: BackupManifest) => m.details as unknown as GitBackupDetails;

/** What a directory is, as far as a restore is concerned. */
export type CheckoutState =
  | { kind: 'absent' }
  | { kind: 'ours'; backupId: string; clean: boolean }
  | { kind: 'same-repository' }
  | { kind: 'other'; why: string };

/** `git@host:a/b.git`, `ssh://git@host/a/b`, `https://u:t@host/a/b/` compare equal to each other's own forms. */
const normalize = (url: string) =>
  redactUrl(url)
    .replace(/\/+$/, '')
    .replace(/\.git$/, '');

export async function checkoutState(git: Git, dir: string, c: GitRepoComponent): Promise<CheckoutState> {
  if (!existsSync(dir) || (await readdir(dir)).length === 0) return { kind: 'absent' };
  const top = await git.run(['-C', dir, 'rev-parse', '--show-toplevel']);
  if (top.exitCode !== 0) return { kind: 'other', why: 'it is not a git checkout' };
  const config = async (key: string) => (await git.run(['-C', dir, 'config', '--get', key])).stdout.trim();
  const component = await config('recovery-engine.component');
  const backupId = await config('recovery-engine.backup');
  if (component === c.id && backupId) {
    const status = await git.run(['-C', dir, 'status', '--porcelain']);
    return { kind: 'ours', backupId, clean: status.exitCode === 0 && status.stdout.trim() === '' };
  }
  const origin = await config('remote.origin.url');
  const known = [c.url, c.restoreUrl].filter((u): u is string => !!u).map(normalize);
  if (origin && known.includes(normalize(origin))) return { kind: 'same-repository' };
  return {
    kind: 'other',
    why: origin ? `its origin is ${redactUrl(origin)}, not ${redactUrl(c.url)}` : 'it has no origin remote',
  };
}

export interface CloneResult {
  dir: string;
  backupId: string;
  branch: string;
  commit: string;
  /** This call cloned; false when the directory already held this backup's clone. */
  cloned: boolean;
  /** Where the checkout found in the directory was moved. */
  setAside?: string;
  origin?: string;
}

/**
 * Clones `bundle` into `dir` on the plan's branch. The clone is built beside (`<dir>.restoring`)
 * and renamed into place; what was in `dir` is, in order: nothing (cloned), this backup's clone
 * (kept: idempotent), an earlier clean restore of this component (replaced), a checkout of the same
 * repository (moved to `<dir>.before-restore` when `setAside`, else refused), anything else
 * (refused, non-retryable, naming it).
 */
export async function cloneInto(
  git: Git,
  c: GitRepoComponent,
  manifest: BackupManifest,
  bundle: string,
  dir: string,
  options: { setAside: boolean; origin?: string },
): Promise<CloneResult> {
  const details = detailsOf(manifest);
  const commit = details.branch.commit;
  if (!commit)
    throw ApplicationFailure.nonRetryable(
      `${c.id}: backup ${manifest.id} has no branch ${c.branch} (it has ${Object.keys(details.refs).join(', ')}): fix branch in the plan`,
      'BranchMissing',
    );
  const result = { dir, backupId: manifest.id, branch: c.branch, commit };
  const state = await checkoutState(git, dir, c);
  let setAside: string | undefined;
  if (state.kind === 'ours' && state.backupId === manifest.id) return { ...result, cloned: false };
  if (state.kind === 'other')
    throw ApplicationFailure.nonRetryable(
      `${c.id}: ${dir} is not empty and is not a clone of ${redactUrl(c.url)} (${state.why}): move it away; nothing was touched`,
      'CheckoutNotOurs',
    );
  if (state.kind === 'ours' && state.clean) {
    await rm(dir, { recursive: true, force: true });
  } else if (state.kind !== 'absent') {
    const aside = `${dir}.before-restore`;
    if (!options.setAside || existsSync(aside))
      throw ApplicationFailure.nonRetryable(
        options.setAside
          ? `${c.id}: ${dir} holds a checkout with changes and ${aside} exists already: move one of them away; nothing was touched`
          : `${c.id}: ${dir} holds a checkout of ${redactUrl(c.url)} that a drill must not replace: choose another directory`,
        'CheckoutInTheWay',
      );
    await rename(dir, aside);
    setAside = aside;
  }

  const building = `${dir}.restoring`;
  await rm(building, { recursive: true, force: true });
  await git.ok(['clone', '--quiet', '--branch', c.branch, bundle, building], `${c.id}: clone ${bundle}`);
  if (options.origin) await git.ok(['-C', building, 'remote', 'set-url', 'origin', options.origin], c.id);
  await git.ok(['-C', building, 'config', 'recovery-engine.component', c.id], c.id);
  await git.ok(['-C', building, 'config', 'recovery-engine.backup', manifest.id], c.id);
  if (existsSync(dir)) await rm(dir, { recursive: true, force: true }); // empty, or a leftover of a cut-short attempt
  await rename(building, dir);
  return {
    ...result,
    cloned: true,
    ...(setAside ? { setAside } : {}),
    ...(options.origin ? { origin: redactUrl(options.origin) } : {}),
  };
}

export interface CloneValidation {
  dir: string;
  backupId: string;
  /** Branches and tags compared. */
  refs: number;
  commit: string;
  paths: Record<string, boolean>;
  problems: string[];
  /** Refs of the bundle a clone does not carry (notes, pull requests): only a mirror push restores them. */
  notCloned: string[];
}

/**
 * Compares a clone with its manifest: each branch of the bundle as `refs/remotes/origin/<branch>`,
 * each tag as itself, the checked-out commit with the plan's branch, and the plan's paths in the
 * working tree.
 */
export async function validateClone(
  git: Git,
  c: GitRepoComponent,
  manifest: BackupManifest,
  dir: string,
): Promise<CloneValidation> {
  const details = detailsOf(manifest);
  const expected: Record<string, string> = {};
  const notCloned: string[] = [];
  for (const [ref, sha] of Object.entries(details.refs)) {
    if (ref.startsWith('refs/heads/')) expected[`refs/remotes/origin/${ref.slice('refs/heads/'.length)}`] = sha;
    else if (ref.startsWith('refs/tags/')) expected[ref] = sha;
    else notCloned.push(ref);
  }
  const shown = await git.ok(
    ['-C', dir, 'for-each-ref', '--format=%(objectname) %(refname)'],
    `${c.id}: refs of ${dir}`,
  );
  const actual = Object.fromEntries(
    Object.entries(parseRefs(shown).refs).filter(
      ([ref]) =>
        ref.startsWith('refs/tags/') || (ref.startsWith('refs/remotes/origin/') && ref !== 'refs/remotes/origin/HEAD'),
    ),
  );
  const problems = refDifferences(expected, actual);
  const commit = (await git.ok(['-C', dir, 'rev-parse', 'HEAD'], `${c.id}: HEAD of ${dir}`)).trim();
  if (commit !== details.branch.commit)
    problems.push(
      `HEAD is ${commit.slice(0, 12)}, ${c.branch} in the manifest is ${String(details.branch.commit).slice(0, 12)}`,
    );
  const paths: Record<string, boolean> = {};
  for (const path of c.paths) {
    paths[path] = existsSync(join(dir, path));
    if (!paths[path]) problems.push(`${path} is missing from the checkout`);
  }
  return { dir, backupId: manifest.id, refs: Object.keys(expected).length, commit, paths, problems, notCloned };
}

/**
 * Pushes every ref of `bundle` to `remote`, which must hold nothing but refs of the bundle (a new,
 * empty remote, or one an earlier attempt pushed part of): anything else there is refused, never
 * overwritten. Returns how many refs were pushed now.
 */
export async function pushBundle(
  git: Git,
  c: GitRepoComponent,
  manifest: BackupManifest,
  bundle: string,
  remote: string,
): Promise<{ remote: string; backupId: string; pushed: number; alreadyThere: number }> {
  const what = `${c.id}: push to ${redactUrl(remote)}`;
  const bundleRefs = detailsOf(manifest).refs;
  const listRemote = async () => parseRefs((await git.ok(['ls-remote', remote], what)).replace(/\t/g, ' ')).refs;
  const before = Object.fromEntries(Object.entries(await listRemote()).filter(([ref]) => !ref.endsWith('^{}')));
  const foreign = Object.entries(before).filter(([ref, sha]) => bundleRefs[ref] !== sha);
  if (foreign.length > 0)
    throw ApplicationFailure.nonRetryable(
      `${what}: the remote is not empty and holds refs the bundle of ${manifest.id} does not (${foreign
        .slice(0, 5)
        .map(([ref]) => ref)
        .join(', ')}${foreign.length > 5 ? ', …' : ''}): nothing was pushed; push only into a new, empty remote`,
      'RemoteNotEmpty',
    );
  const missing = Object.keys(bundleRefs).filter((ref) => before[ref] === undefined);
  if (missing.length === 0)
    return {
      remote: redactUrl(remote),
      backupId: manifest.id,
      pushed: 0,
      alreadyThere: Object.keys(bundleRefs).length,
    };

  const mirror = await mkdtemp(join(tmpdir(), `git-push-${c.id}-`));
  try {
    await git.ok(['clone', '--quiet', '--mirror', bundle, join(mirror, 'repo.git')], what);
    // Every ref of the bundle, none deleted on the remote (it holds only bundle refs, checked above).
    await git.ok(['-C', join(mirror, 'repo.git'), 'push', '--quiet', remote, 'refs/*:refs/*'], what, 'PushRejected');
  } finally {
    await rm(mirror, { recursive: true, force: true });
  }
  const after = await listRemote();
  const problems = refDifferences(
    bundleRefs,
    Object.fromEntries(Object.entries(after).filter(([r]) => !r.endsWith('^{}'))),
  );
  if (problems.length > 0)
    throw ApplicationFailure.retryable(
      `${what}: after the push the remote differs: ${problems.join('; ')}`,
      'PushIncomplete',
    );
  return {
    remote: redactUrl(remote),
    backupId: manifest.id,
    pushed: missing.length,
    alreadyThere: Object.keys(bundleRefs).length - missing.length,
  };
}
