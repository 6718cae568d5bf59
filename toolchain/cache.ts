import { homedir } from 'node:os';
import { join } from 'node:path';

/** Environment variable that overrides where the toolchain is cached. */
export const CACHE_ENV_VAR = 'RECOVERY_ENGINE_CACHE';

/**
 * The per-user folder, outside any clone, where the bootstrap keeps what it installs, so fresh
 * clones (CI's included) reuse it: `$RECOVERY_ENGINE_CACHE`, else `$XDG_CACHE_HOME/recovery-engine`,
 * else `~/.cache/recovery-engine`.
 */
export function toolchainCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env[CACHE_ENV_VAR]) return env[CACHE_ENV_VAR];
  const xdg = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(xdg, 'recovery-engine');
}
