/**
 * Runs git for the git-repo activities: through runProcess (heartbeats, cancellation), never
 * prompting (a missing credential fails instead of hanging), in the C locale so output parses.
 */
import { ApplicationFailure } from '@temporalio/common';
import { runProcess } from '../process';

export interface GitRun {
  exitCode: number;
  stdout: string;
  tail: string;
}

const STDOUT_LIMIT = 64 * 1024 * 1024;

/** Text without the user information of URLs in it (`https://user:token@host/…` → `https://host/…`). */
export function redactUrl(url: string): string {
  return url.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1');
}

export class Git {
  constructor(private readonly program: string) {}

  /** Runs `git <args>`; the caller looks at the exit code. */
  async run(args: string[], cwd?: string): Promise<GitRun> {
    const run = await runProcess(this.program, args, {
      cwd,
      stdoutLimit: STDOUT_LIMIT,
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_ASKPASS: 'true', LC_ALL: 'C' },
      details: () => ({ git: args[0] === '-C' ? args[2] : args[0] }),
    });
    return { exitCode: run.exitCode, stdout: run.stdout, tail: run.tail };
  }

  /**
   * Runs `git <args>` and returns its standard output; a failure is retryable (network, a busy
   * server) unless `nonRetryableType` is given, and its message says `what` failed.
   */
  async ok(args: string[], what: string, nonRetryableType?: string): Promise<string> {
    const run = await this.run(args);
    if (run.exitCode === 0) return run.stdout;
    const command = args.map(redactUrl).join(' ');
    const message = `${what}: git ${command} exited with ${run.exitCode}: ${redactUrl(run.tail).slice(-800)}`;
    throw nonRetryableType
      ? ApplicationFailure.nonRetryable(message, nonRetryableType)
      : ApplicationFailure.retryable(message, 'GitFailed');
  }
}

/** `<sha> <ref>` lines (list-heads, for-each-ref, ls-remote with tabs) as a map; `HEAD` kept apart. */
export function parseRefs(text: string): { refs: Record<string, string>; head?: string } {
  const refs: Record<string, string> = {};
  let head: string | undefined;
  for (const line of text.split('\n')) {
    const match = /^([0-9a-f]{40,64})\s+(\S+)$/.exec(line.trim());
    if (!match) continue;
    if (match[2] === 'HEAD') head = match[1];
    else refs[match[2]!] = match[1]!;
  }
  return { refs, head };
}
