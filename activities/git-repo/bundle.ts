/**
 * Checks of a bundle file in an empty scratch repository: `git bundle verify` (its header, and that
 * it needs no other objects: it only reads the header, so a damaged pack passes it), then a fetch of
 * every ref, whose index-pack and connectivity check read every object (a damaged pack fails there).
 * The scratch repository holds a copy of the objects for that time: fine for configuration
 * repositories, slow for huge ones.
 */
import { ApplicationFailure } from '@temporalio/common';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRefs, redactUrl, type Git } from './git';

/** The bundle file inside a backup's folder. */
export const BUNDLE_NAME = 'repo.bundle';

/** The manifest's `details` for this kind. */
export interface GitBackupDetails {
  /** The remote, without user information. */
  url: string;
  /** Every ref of the bundle and its object id (tags: the tag object). */
  refs: Record<string, string>;
  /** The remote's HEAD: the branch it names and its commit, when it resolves. */
  head: { ref?: string; commit?: string };
  /** The plan's branch: its commit and commit time, or null when the repository has no such branch. */
  branch: { name: string; commit: string | null; committedAt?: string };
  /** The plan's `paths` and whether each exists in that branch's commit. */
  paths: Record<string, boolean>;
  bundle: string;
}

/** Verifies `bundle` and returns its refs; a bundle git cannot use is a non-retryable BundleCorrupt. */
export async function verifyBundle(git: Git, bundle: string, what: string): Promise<Record<string, string>> {
  const scratch = await mkdtemp(join(tmpdir(), 'git-bundle-verify-'));
  const corrupt = (message: string) => ApplicationFailure.nonRetryable(`${what}: ${message}`, 'BundleCorrupt');
  try {
    await git.ok(['init', '-q', '--bare', scratch], `${what}: a scratch repository to verify the bundle in`);
    const verify = await git.run(['--git-dir', scratch, 'bundle', 'verify', bundle]);
    if (verify.exitCode !== 0)
      throw corrupt(`git bundle verify rejects ${bundle}: ${redactUrl(verify.tail).slice(-600)}`);
    const heads = await git.run(['--git-dir', scratch, 'bundle', 'list-heads', bundle]);
    if (heads.exitCode !== 0) throw corrupt(`cannot list the refs of ${bundle}: ${heads.tail.slice(-600)}`);
    const fetch = await git.run(['--git-dir', scratch, 'fetch', '--quiet', '--no-tags', bundle, 'refs/*:refs/*']);
    if (fetch.exitCode !== 0)
      throw corrupt(`the objects in ${bundle} are damaged (git fetch from it failed): ${fetch.tail.slice(-600)}`);
    const fetched = await git.run(['--git-dir', scratch, 'for-each-ref', '--format=%(objectname) %(refname)']);
    const listed = parseRefs(heads.stdout).refs;
    const problems = refDifferences(listed, parseRefs(fetched.stdout).refs);
    if (problems.length > 0) throw corrupt(`the refs of ${bundle} do not read back: ${problems.join('; ')}`);
    return listed;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Differences between two ref maps, as lines for a report (`expected` is the manifest's). */
export function refDifferences(expected: Record<string, string>, actual: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const [ref, sha] of Object.entries(expected)) {
    if (!(ref in actual)) problems.push(`${ref} is missing`);
    else if (actual[ref] !== sha)
      problems.push(`${ref} is at ${actual[ref]!.slice(0, 12)}, the manifest says ${sha.slice(0, 12)}`);
  }
  for (const ref of Object.keys(actual)) if (!(ref in expected)) problems.push(`${ref} is not in the manifest`);
  return problems;
}
