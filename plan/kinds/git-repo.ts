import { z } from 'zod';
import { resource } from '../drill-guard';
import { automate, dataComponentSchema, sh, type KindDefinition, type RunbookStep } from './define';

/** A remote without credentials in it: they would show on command lines and in the restored checkout. */
const remote = z
  .string()
  .refine(
    (url) => !/:\/\/[^/@]*:[^/@]*@/.test(url),
    'no credentials in the URL: give the worker an SSH key or a git credential helper',
  );

export const schema = dataComponentSchema('git-repo', {
  url: remote.describe('Remote of the repository (credentials come from the worker: SSH keys, a credential helper)'),
  branch: z.string().default('main'),
  backupDir: z
    .string()
    .describe('Where verified bundles (git bundle create --all) are kept, and the mirror they are made from (.mirror)'),
  checkoutDir: z.string().optional().describe('Where the repository is used, e.g. /etc/ansible'),
  paths: z
    .array(z.string())
    .default([])
    .describe('What matters inside: playbooks, inventory, configuration; every backup and restore checks they exist'),
  restoreUrl: remote
    .optional()
    .describe(
      'A new, empty remote a recovery pushes the bundle to (the lost server re-created, or its replacement); the restored checkout then uses it as origin',
    ),
});

export type GitRepoComponent = z.infer<typeof schema>;

/** Where a drill clones: beside the checkout (`<checkoutDir><suffix>`), or /tmp/<id><suffix> without one. */
export const drillCloneDirOf = (c: GitRepoComponent, drillSuffix: string) =>
  `${c.checkoutDir ?? `/tmp/${c.id}`}${drillSuffix}`;

/**
 * A git repository (e.g. Ansible playbooks) kept as verified bundles, made from a mirror of the
 * server, and restored by clone (and, to a new server, by push).
 */
export const gitRepoKind: KindDefinition<GitRepoComponent> = {
  kind: 'git-repo',
  title: 'Git repository',
  stateful: true,
  tier: 'data',
  defaultEstimate: '10m',
  schema,
  backups: {
    types: ['full', 'snapshot'],
    take: 'backupGitRepo',
    verifyByRestore: 'verifyGitRepoRestore',
  },
  productionResources: (c) => [
    ...(c.checkoutDir ? [resource.dir(c.checkoutDir)] : []),
    `git:${c.url}`,
    ...(c.restoreUrl ? [`git:${c.restoreUrl}`] : []),
  ],
  teardown(c, { drillSuffix }): RunbookStep[] {
    const dir = drillCloneDirOf(c, drillSuffix);
    return [
      {
        id: 'remove-clone',
        title: `Remove the drill clone ${dir}`,
        does: `Deletes ${dir}, and ${dir}.restoring that a clone cut short leaves; only a clone the drill made for ${c.id} (its git config names it), never a checkout in use.`,
        command: `git -C ${sh(dir)} config --get recovery-engine.component   # ${c.id}, or no ${dir} at all\nrm -rf ${sh(dir)} ${sh(`${dir}.restoring`)}`,
        validate: `test ! -e ${sh(dir)} && test ! -e ${sh(`${dir}.restoring`)} && echo removed   # removed`,
        automation: automate('removeGitRepoClone', { component: c, dir }, 'short', [
          resource.dir(dir),
          resource.dir(`${dir}.restoring`),
        ]),
      },
    ];
  },
  steps(c, { mode, targetTime, drillSuffix }) {
    const drill = mode === 'drill';
    const tmp = `/tmp/${c.id}${drill ? drillSuffix : ''}`;
    const bundle = `${sh(c.backupDir)}/'<BACKUP>'/repo.bundle`;
    const heads = `git bundle list-heads ${bundle} | grep -v ' HEAD$'`;
    const verify = {
      id: 'verify-bundle',
      title: 'Choose the bundle for the target time and verify it',
      does: `The newest backup taken at or before ${targetTime}; its bundle is checked against the checksums of its manifest, then by git in an empty scratch repository (git needs one): bundle verify reads only the bundle's header, a fetch of every ref reads every object.`,
      command: [
        `ls -1t ${sh(c.backupDir)}`,
        `git init -q --bare ${sh(`${tmp}-verify.git`)}`,
        `git --git-dir=${sh(`${tmp}-verify.git`)} bundle verify ${bundle}`,
        `git --git-dir=${sh(`${tmp}-verify.git`)} fetch -q ${bundle} 'refs/*:refs/*'`,
      ].join('\n'),
      validate: `git bundle list-heads ${bundle}   # "is okay" and no error above; the branches and tags expected, ${c.branch} among them`,
      rollback: `rm -rf ${sh(`${tmp}-verify.git`)}`,
      // Its scratch repository is a temporary directory it removes: it writes nothing of the drill's.
      automation: automate('verifyGitRepoBundle', { component: c, targetTime }, 'short', drill ? [] : undefined),
    };
    const remote = c.restoreUrl ?? c.url;
    const mirror = `${tmp}-mirror.git`;
    const pushMirror = {
      id: 'push-mirror',
      title: c.restoreUrl ? `Push the bundle to the new remote` : 'Push the bundle to the re-created remote',
      does: c.restoreUrl
        ? `Every branch and tag of the bundle goes to ${c.restoreUrl}, which must be new and empty: a remote holding any ref the bundle does not is refused, never overwritten. Set its default branch (HEAD) to ${c.branch} on the server.`
        : `Only into an empty, re-created ${c.url}: --mirror makes the remote's branches and tags exactly those of the bundle, deleting or overwriting any others.`,
      command: `git clone -q --mirror ${bundle} ${sh(mirror)}\ngit -C ${sh(mirror)} push --mirror ${sh(remote)}`,
      validate: `diff <(${heads} | sort -k2) <(git ls-remote ${sh(remote)} | grep -v -e 'HEAD$' -e '\\^{}$' | tr '\\t' ' ' | sort -k2) && echo same   # same`,
      rollback: `rm -rf ${sh(mirror)}`,
      ...(c.restoreUrl
        ? {
            automation: automate('pushGitRepoBundle', { component: c, targetTime, remoteUrl: c.restoreUrl }),
          }
        : {}),
    };

    if (!c.checkoutDir && !drill) return [verify, pushMirror];

    const dir = drill ? drillCloneDirOf(c, drillSuffix) : (c.checkoutDir ?? '');
    const aside = `${dir}.before-restore`;
    const cloneAutomation = automate(
      'cloneGitRepoBundle',
      { component: c, targetTime, dir, mode },
      'short',
      drill ? [resource.dir(dir), resource.dir(`${dir}.restoring`)] : undefined,
    );
    const clone = drill
      ? {
          id: 'clone',
          title: 'Clone the bundle into a scratch directory',
          does: `A drill never touches ${c.checkoutDir ?? c.url}: it clones into ${dir}, with no remote to push to.`,
          command: `git clone -q --branch ${sh(c.branch)} ${bundle} ${sh(dir)}`,
          validate: `git -C ${sh(dir)} log -1 --format='%H %cI %s'   # the last commit expected on ${c.branch}`,
          rollback: `rm -rf ${sh(dir)}   # the drill's teardown removes it once the drill is over`,
          automation: cloneAutomation,
        }
      : {
          id: 'clone',
          title: 'Set the old checkout aside and clone the bundle in its place',
          does: `A checkout of ${c.url} found in ${dir} is kept as ${aside}: copy back from it any untracked files the new one needs (vault password files, local inventory). Anything else in ${dir} stops the recovery untouched. origin then points at ${remote}.${c.restoreUrl ? '' : ' If the git server itself was lost, name its replacement as restoreUrl in the plan: the recovery then pushes the bundle to it.'}`,
          command: [
            `test ! -e ${sh(dir)} || mv ${sh(dir)} ${sh(aside)}`,
            `git clone -q --branch ${sh(c.branch)} ${bundle} ${sh(dir)}`,
            `git -C ${sh(dir)} remote set-url origin ${sh(remote)}`,
          ].join('\n'),
          validate: `git -C ${sh(dir)} status --short --branch; git -C ${sh(dir)} remote -v   # on ${c.branch}, clean, origin ${remote}`,
          rollback: `rm -rf ${sh(dir)}; test ! -e ${sh(aside)} || mv ${sh(aside)} ${sh(dir)}`,
          automation: cloneAutomation,
        };
    const checks = {
      id: 'validate',
      title: 'Check that the refs match the bundle',
      does: `Every branch and tag of the bundle's manifest is in the clone, at the same commit, and the checkout is at ${c.branch}'s commit${c.paths.length ? `; the plan's paths are there: ${c.paths.join(', ')}` : ''}.`,
      command: `diff <(${heads} | sed 's# refs/heads/# refs/remotes/origin/#' | sort -k2) <(git -C ${sh(dir)} show-ref | grep -v -e ' refs/heads/' -e ' refs/remotes/origin/HEAD$' | sort -k2) && echo same`,
      validate: c.paths.length
        ? `ls -ld ${c.paths.map((p) => sh(`${dir}/${p}`)).join(' ')}   # same above, and every path listed`
        : `git -C ${sh(dir)} log -1 --format='%H %cI %s'   # same above; the last commit expected`,
      automation: automate('validateGitRepoClone', { component: c, dir }, 'short', drill ? [] : undefined),
    };
    if (drill) return [verify, clone, checks];
    return c.restoreUrl ? [verify, clone, checks, pushMirror] : [verify, clone, checks];
  },
};
