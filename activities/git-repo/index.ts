import type { DataStoreDependencies } from '../data-stores';

/** The git-repo kind's activities: backups, restores, validation. */
export function createGitRepoActivities(_deps: DataStoreDependencies) {
  return {};
}
