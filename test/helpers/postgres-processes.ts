import { readdirSync, readFileSync } from 'node:fs';

/**
 * Pids of the PostgreSQL servers running on `dataDir`: processes whose command line has
 * `-D <dataDir>` (the postmaster; its children rename themselves `postgres: …`).
 */
export function serverProcessesOn(dataDir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    const flag = argv.indexOf('-D');
    if (flag >= 0 && argv[flag + 1] === dataDir) pids.push(Number(entry));
  }
  return pids;
}
