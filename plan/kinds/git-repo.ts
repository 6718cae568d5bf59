import { z } from 'zod';
import { dataComponentSchema, sh, type KindDefinition } from './define';

export const schema = dataComponentSchema('git-repo', {
  url: z.string().describe('Remote of the repository'),
  branch: z.string().default('main'),
  backupDir: z.string().describe('Where verified bundles (git bundle create --all) are kept'),
  checkoutDir: z.string().optional().describe('Where the repository is used, e.g. /etc/ansible'),
  paths: z
    .array(z.string())
    .default([])
    .describe('What matters inside, for the runbook: playbooks, inventory, configuration'),
});

export type GitRepoComponent = z.infer<typeof schema>;

/** A git repository (e.g. Ansible playbooks) kept as verified bundles and restored by clone. */
export const gitRepoKind: KindDefinition<GitRepoComponent> = {
  kind: 'git-repo',
  title: 'Git repository',
  stateful: true,
  tier: 'data',
  defaultEstimate: '10m',
  schema,
  steps(c, { mode, targetTime, drillSuffix }) {
    const drill = mode === 'drill';
    const tmp = `/tmp/${c.id}${drill ? drillSuffix : ''}`;
    const bundle = `${sh(c.backupDir)}/<BUNDLE>.bundle`;
    const heads = `git bundle list-heads ${bundle} | grep -v ' HEAD$'`;
    const verify = {
      id: 'verify-bundle',
      title: 'Choose the bundle for the target time and verify it',
      does: `The newest bundle taken before ${targetTime}. git needs a repository to verify a bundle: an empty scratch one is used.`,
      command: [
        `ls -1t ${sh(c.backupDir)}/*.bundle`,
        `git init -q --bare ${sh(`${tmp}-verify.git`)}`,
        `git --git-dir=${sh(`${tmp}-verify.git`)} bundle verify ${bundle}`,
      ].join('\n'),
      validate: `git bundle list-heads ${bundle}   # ends with "is okay" above; the branches and tags expected, ${c.branch} among them`,
      rollback: `rm -rf ${sh(`${tmp}-verify.git`)}`,
    };
    const mirror = `${tmp}-mirror.git`;
    const pushMirror = {
      id: 'push-mirror',
      title: c.checkoutDir
        ? 'If the remote was lost, push the bundle to the re-created remote'
        : 'Push the bundle to the re-created remote',
      does: `Only into an empty, re-created ${c.url}: --mirror makes the remote's branches and tags exactly those of the bundle, deleting or overwriting any others.`,
      command: `git clone -q --mirror ${bundle} ${sh(mirror)}\ngit -C ${sh(mirror)} push --mirror ${sh(c.url)}`,
      validate: `diff <(${heads} | sort -k2) <(git ls-remote ${sh(c.url)} | grep -v -e 'HEAD$' -e '\\^{}$' | tr '\\t' ' ' | sort -k2) && echo same   # same`,
      rollback: `rm -rf ${sh(mirror)}`,
    };

    if (!c.checkoutDir && !drill) return [verify, pushMirror];

    const dir = drill ? `${c.checkoutDir ?? `/tmp/${c.id}`}${drillSuffix}` : (c.checkoutDir ?? '');
    const aside = `${dir}.before-restore`;
    const clone = drill
      ? {
          id: 'clone',
          title: 'Clone the bundle into a scratch directory',
          does: `A drill never touches ${c.checkoutDir ?? c.url}: it clones into ${dir}, with no remote to push to.`,
          command: `git clone -q --branch ${sh(c.branch)} ${bundle} ${sh(dir)}`,
          validate: `git -C ${sh(dir)} log -1 --format='%H %cI %s'   # the last commit expected on ${c.branch}`,
          rollback: `rm -rf ${sh(dir)}   # removes the drill clone once the drill is over`,
        }
      : {
          id: 'clone',
          title: 'Set the old checkout aside and clone the bundle in its place',
          does: `The old checkout is kept as ${aside}: copy back from it any untracked files the new one needs (vault password files, local inventory). origin then points at ${c.url} again.`,
          command: [
            `test ! -e ${sh(dir)} || mv ${sh(dir)} ${sh(aside)}`,
            `git clone -q --branch ${sh(c.branch)} ${bundle} ${sh(dir)}`,
            `git -C ${sh(dir)} remote set-url origin ${sh(c.url)}`,
          ].join('\n'),
          validate: `git -C ${sh(dir)} status --short --branch; git -C ${sh(dir)} remote -v   # on ${c.branch}, clean, origin ${c.url}`,
          rollback: `rm -rf ${sh(dir)}; test ! -e ${sh(aside)} || mv ${sh(aside)} ${sh(dir)}`,
        };
    const checks = [
      {
        id: 'validate',
        title: 'Check that the refs match the bundle',
        does: `Every branch and tag of the bundle is in the clone, at the same commit${c.paths.length ? `, and ${c.paths.join(', ')} exist` : ''}.`,
        command: `diff <(${heads} | sed 's# refs/heads/# refs/remotes/origin/#' | sort -k2) <(git -C ${sh(dir)} show-ref | grep -v -e ' refs/heads/' -e ' refs/remotes/origin/HEAD$' | sort -k2) && echo same`,
        validate: c.paths.length
          ? `ls -ld ${c.paths.map((p) => sh(`${dir}/${p}`)).join(' ')}   # same above, and every path listed`
          : `git -C ${sh(dir)} log -1 --format='%H %cI %s'   # same above; the last commit expected`,
      },
    ];
    return drill ? [verify, clone, ...checks] : [verify, clone, ...checks, pushMirror];
  },
};
