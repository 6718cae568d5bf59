/**
 * The git-repo kind on real git: a local bare repository is the "server" (file:// URL). Bundles of
 * every ref, verified and checksummed; restores by clone to a point in time, validated against the
 * manifest; a push to a new remote; and the failures an SRE must see before anything is touched.
 */
import { ApplicationFailure } from '@temporalio/common';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { AwsClients } from '../activities/aws-clients';
import { createGitRepoActivities } from '../activities/git-repo';
import { verifyBundle, type GitBackupDetails } from '../activities/git-repo/bundle';
import { Git } from '../activities/git-repo/git';
import { LocalBackupStore } from '../backups/local-store';
import { backupIdOf, type BackupManifest } from '../backups/manifest';
import { DRILL_SUFFIX } from '../plan/kinds/define';
import { gitRepoKind, schema, type GitRepoComponent } from '../plan/kinds/git-repo';
import { runActivity } from './helpers/activity';
import { nonRetryable } from './helpers/assertions';
import { onCleanup } from './helpers/cleanup';
import { assertGuardSeesDrillDir, assertNothingLeft, runTeardown } from './helpers/self-hosted-drill';
import { testToolchain } from './helpers/servers';

const scratch = mkdtempSync(join(tmpdir(), 'recovery-git-'));
const cleanup = () => rm(scratch, { recursive: true, force: true });
onCleanup(cleanup);
after(cleanup);

const server = join(scratch, 'server.git');
const work = join(scratch, 'work');
const env = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Ops',
  GIT_AUTHOR_EMAIL: 'ops@example.com',
  GIT_COMMITTER_NAME: 'Ops',
  GIT_COMMITTER_EMAIL: 'ops@example.com',
};
let gitPath: string;
const git = (cwd: string, ...args: string[]) =>
  execFileSync(gitPath, args, { cwd, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();

function commit(file: string, content: string, message: string): string {
  mkdirSync(join(work, file, '..'), { recursive: true });
  writeFileSync(join(work, file), content);
  git(work, 'add', '-A');
  git(work, 'commit', '-q', '-m', message);
  return git(work, 'rev-parse', 'HEAD');
}

let component: GitRepoComponent;
let activities: ReturnType<typeof createGitRepoActivities>;

before(async () => {
  gitPath = (await testToolchain()).data.git;
  git(scratch, 'init', '-q', '--bare', '-b', 'main', server);
  git(scratch, 'clone', '-q', `file://${server}`, work);
  git(work, 'checkout', '-q', '-b', 'main');
  component = schema.parse({
    kind: 'git-repo',
    id: 'ansible',
    url: `file://${server}`,
    backupDir: join(scratch, 'backups'),
    checkoutDir: join(scratch, 'etc-ansible'),
    paths: ['site.yml', 'inventory/production', 'ansible.cfg'],
    restoreUrl: `file://${join(scratch, 'new-server.git')}`,
  });
  activities = createGitRepoActivities({
    binaries: () => ({ git: gitPath }) as never,
    aws: undefined as unknown as AwsClients,
  });
});

const drillContext = { mode: 'drill' as const, targetTime: 'latest', drillSuffix: DRILL_SUFFIX };

/** Runs the automated steps of a runbook in order, as the component workflow would. */
async function runSteps(c: GitRepoComponent, mode: 'recover' | 'drill', targetTime: string) {
  const all = activities as unknown as Record<string, (input: unknown) => Promise<unknown>>;
  const results: Record<string, unknown> = {};
  for (const step of gitRepoKind.steps(c, { mode, targetTime, drillSuffix: DRILL_SUFFIX })) {
    if (!step.automation || !('activity' in step.automation)) continue;
    results[step.id] = await runActivity(all[step.automation.activity]!, step.automation.input);
  }
  return results;
}

const refsOf = (m: BackupManifest) => (m.details as unknown as GitBackupDetails).refs;

describe('git-repo: bundles and restores on real git', () => {
  let first: BackupManifest;
  let second: BackupManifest;
  let firstMain: string;

  it('backs up every ref into a verified bundle, with the branch commit and the plan’s paths', async () => {
    commit('site.yml', '- hosts: agama\n', 'site');
    commit('inventory/production', '[agama]\nagama-1\n', 'inventory');
    firstMain = commit('ansible.cfg', '[defaults]\ninventory = inventory/production\n', 'config');
    git(work, 'tag', '-a', 'v1', '-m', 'release 1');
    git(work, 'push', '-q', 'origin', 'main', 'v1');
    git(work, 'checkout', '-q', '-b', 'feature');
    commit('roles/web/tasks/main.yml', '- name: web\n', 'web role');
    git(work, 'push', '-q', 'origin', 'feature');
    git(work, 'checkout', '-q', 'main');

    first = await runActivity(activities.backupGitRepo, {
      component,
      type: 'full',
      backupId: backupIdOf('full', new Date('2026-11-16T10:00:00Z')),
    });
    const details = first.details as unknown as GitBackupDetails;
    assert.deepEqual(Object.keys(details.refs).sort(), ['refs/heads/feature', 'refs/heads/main', 'refs/tags/v1']);
    assert.equal(details.refs['refs/heads/main'], firstMain);
    assert.deepEqual(details.head, { ref: 'refs/heads/main', commit: firstMain });
    assert.equal(details.branch.commit, firstMain);
    assert.deepEqual(details.paths, { 'site.yml': true, 'inventory/production': true, 'ansible.cfg': true });
    assert.deepEqual(
      first.files.map((f) => f.path),
      ['repo.bundle'],
    );
    assert.ok(existsSync(join(component.backupDir, '.mirror', 'HEAD')), 'the mirror is kept for the next fetch');
  });

  it('backs up once per id: a retried backup returns the committed manifest', async () => {
    const again = await runActivity(activities.backupGitRepo, { component, type: 'full', backupId: first.id });
    assert.deepEqual(again, first);
  });

  it('a later backup fetches the changes: moved branch, deleted branch pruned, new branch', async () => {
    await new Promise((resolve) => setTimeout(resolve, 20)); // distinct recovery points
    commit('site.yml', '- hosts: agama\n  roles: [web]\n', 'site: web role');
    git(work, 'push', '-q', 'origin', 'main');
    git(work, 'push', '-q', 'origin', '--delete', 'feature');
    git(work, 'checkout', '-q', '-b', 'hotfix');
    commit('ansible.cfg', '[defaults]\nforks = 20\n', 'forks');
    git(work, 'push', '-q', 'origin', 'hotfix');
    git(work, 'checkout', '-q', 'main');

    second = await runActivity(activities.backupGitRepo, {
      component,
      type: 'snapshot',
      backupId: backupIdOf('snapshot', new Date('2026-11-16T11:00:00Z')),
    });
    assert.deepEqual(Object.keys(refsOf(second)).sort(), ['refs/heads/hotfix', 'refs/heads/main', 'refs/tags/v1']);
    assert.notEqual(refsOf(second)['refs/heads/main'], firstMain);
    assert.ok(first.recoveryPoint < second.recoveryPoint);
  });

  it('after the server is lost, restores to a time between the backups: the first backup’s refs, pushed to a new remote', async () => {
    rmSync(server, { recursive: true, force: true });
    git(scratch, 'init', '-q', '--bare', '-b', 'main', join(scratch, 'new-server.git'));
    // The old checkout on the machine: a clone of the same repository, with a local change.
    git(scratch, 'clone', '-q', work, component.checkoutDir!);
    git(component.checkoutDir!, 'remote', 'set-url', 'origin', component.url);
    writeFileSync(join(component.checkoutDir!, 'vault-password'), 'kept aside\n');

    const between = new Date(Date.parse(first.recoveryPoint) + 1).toISOString();
    assert.ok(between < second.recoveryPoint);
    const results = await runSteps(component, 'recover', between);

    assert.equal((results['verify-bundle'] as { backupId: string }).backupId, first.id);
    const cloned = results.clone as { cloned: boolean; setAside: string; commit: string };
    assert.equal(cloned.cloned, true);
    assert.equal(cloned.setAside, `${component.checkoutDir}.before-restore`);
    assert.ok(existsSync(join(cloned.setAside, 'vault-password')), 'the old checkout is kept');
    assert.equal(cloned.commit, firstMain);
    const validation = results.validate as { problems: string[]; refs: number; paths: Record<string, boolean> };
    assert.deepEqual(validation.problems, []);
    assert.equal(validation.refs, 3);
    assert.deepEqual(validation.paths, { 'site.yml': true, 'inventory/production': true, 'ansible.cfg': true });
    assert.equal(git(component.checkoutDir!, 'rev-parse', 'HEAD'), firstMain);
    assert.equal(git(component.checkoutDir!, 'remote', 'get-url', 'origin'), component.restoreUrl);

    const pushed = results['push-mirror'] as { pushed: number };
    assert.equal(pushed.pushed, 3);
    const remoteRefs = git(scratch, 'ls-remote', component.restoreUrl!)
      .split('\n')
      .filter((l) => !l.endsWith('HEAD') && !l.endsWith('^{}'))
      .map((l) => l.split('\t').reverse().join(' '))
      .sort();
    assert.deepEqual(
      remoteRefs,
      Object.entries(refsOf(first))
        .map(([ref, sha]) => `${ref} ${sha}`)
        .sort(),
    );
  });

  it('re-running a restore changes nothing; a push never overwrites what a remote holds', async () => {
    const between = new Date(Date.parse(first.recoveryPoint) + 1).toISOString();
    const again = await runSteps(component, 'recover', between);
    assert.equal((again.clone as { cloned: boolean }).cloned, false);
    assert.deepEqual(again['push-mirror'], {
      remote: component.restoreUrl,
      backupId: first.id,
      pushed: 0,
      alreadyThere: 3,
    });
    // The latest bundle moves main: the remote's main is not the bundle's, so nothing is pushed.
    await assert.rejects(
      runActivity(activities.pushGitRepoBundle, { component, targetTime: 'latest', remoteUrl: component.restoreUrl! }),
      nonRetryable('RemoteNotEmpty', 'refs/heads/main'),
    );
  });

  it('refuses to clone over a directory that is not a clone of the repository, naming it', async () => {
    const dir = join(scratch, 'not-a-clone');
    mkdirSync(dir);
    writeFileSync(join(dir, 'notes.txt'), 'mine\n');
    await assert.rejects(
      runActivity(activities.cloneGitRepoBundle, { component, targetTime: 'latest', dir, mode: 'recover' }),
      nonRetryable('CheckoutNotOurs', dir),
    );
    assert.deepEqual(readdirSync(dir), ['notes.txt']);
  });

  it('a drill clones the latest bundle into a scratch directory, checks it and removes it', async () => {
    const results = await runSteps(component, 'drill', 'latest');
    const dir = `${component.checkoutDir}${DRILL_SUFFIX}`;
    assert.equal((results.clone as { dir: string; backupId: string }).dir, dir);
    assert.equal((results.clone as { backupId: string }).backupId, second.id);
    assert.deepEqual((results.validate as { problems: string[] }).problems, []);
    assert.ok(!('remove-clone' in results), 'the drill runbook ends with its validation');
    assert.ok(!('push-mirror' in results), 'a drill never pushes');
    const teardown = await runTeardown(component, drillContext, activities, (a, i) => runActivity(a, i));
    assert.deepEqual(teardown['remove-clone'], { dir, removed: true, paths: [dir] });
    assertNothingLeft([dir, `${dir}.restoring`]);
  });

  it('a drill cut short mid-clone: the teardown removes the half-built clone, and finds nothing the second time', async () => {
    const dir = `${component.checkoutDir}${DRILL_SUFFIX}`;
    // The worker died while git clone wrote <dir>.restoring, after an earlier clone of the drill.
    await runActivity(activities.cloneGitRepoBundle, { component, targetTime: 'latest', dir, mode: 'drill' });
    mkdirSync(join(`${dir}.restoring`, '.git'), { recursive: true });
    writeFileSync(join(`${dir}.restoring`, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    // The validation fails: a file of the plan's paths is gone from the clone.
    rmSync(join(dir, 'site.yml'));
    await assert.rejects(
      runActivity(activities.validateGitRepoClone, { component, dir }),
      nonRetryable('RestoreValidationFailed', 'site.yml'),
    );
    const first = await runTeardown(component, drillContext, activities, (a, i) => runActivity(a, i));
    assert.deepEqual(first['remove-clone'], { dir, removed: true, paths: [dir, `${dir}.restoring`] });
    assertNothingLeft([dir, `${dir}.restoring`]);
    const again = await runTeardown(component, drillContext, activities, (a, i) => runActivity(a, i));
    assert.deepEqual(again['remove-clone'], { dir, removed: false, paths: [] });
  });

  it('the drill guard sees a drill step writing where another component keeps its checkout', () => {
    const dir = `${component.checkoutDir}${DRILL_SUFFIX}`;
    const other = schema.parse({ ...component, id: 'other-repo', url: 'git@example.com:other.git', checkoutDir: dir });
    assertGuardSeesDrillDir(component, other, dir);
  });

  it('a scheduled verification clones a backup into a scratch directory and removes it', async () => {
    const result = await runActivity(activities.verifyGitRepoRestore, { component, backupId: first.id });
    assert.equal(result.refs, 3);
    assert.deepEqual(result.paths, { 'site.yml': true, 'inventory/production': true, 'ansible.cfg': true });
    assert.deepEqual(
      readdirSync(tmpdir()).filter((n) => n.startsWith('git-verify-ansible-')),
      [],
    );
  });

  it('a corrupted bundle is caught by the checksums and by git bundle verify', async () => {
    const store = new LocalBackupStore(component.backupDir);
    const path = join(store.dirOf(second.id), 'repo.bundle');
    const original = readFileSync(path);
    const corrupt = Buffer.from(original);
    const at = corrupt.length - 30; // inside the pack
    corrupt[at] = corrupt[at]! ^ 0xff;
    writeFileSync(path, corrupt);
    try {
      assert.deepEqual(await store.verify(second), [
        `${second.id}/repo.bundle: checksum differs from the manifest (altered or corrupt)`,
      ]);
      await assert.rejects(
        runActivity(activities.verifyGitRepoBundle, { component, targetTime: 'latest' }),
        nonRetryable('BackupCorrupt', 'repo.bundle'),
      );
      // Without the checksums, git itself rejects the bundle.
      await assert.rejects(
        runActivity((bundle: string) => verifyBundle(new Git(gitPath), bundle, 'ansible'), path),
        nonRetryable('BundleCorrupt', path),
      );
    } finally {
      writeFileSync(path, original);
    }
  });

  it('a backup from a lost server fails retryably, naming the remote', async () => {
    const lost = schema.parse({ ...component, backupDir: join(scratch, 'other-backups') });
    await assert.rejects(
      runActivity(activities.backupGitRepo, {
        component: lost,
        type: 'full',
        backupId: backupIdOf('full', new Date()),
      }),
      (error: unknown) => error instanceof ApplicationFailure && !error.nonRetryable && error.message.includes(server),
    );
  });
});
