import type { FastifyBaseLogger } from 'fastify';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { formatIssue } from '../plan/issues';
import { loadPlanFile } from '../plan/load-file';
import type { RecoveryPlan } from '../plan/schema/plan';

export type ReceiverLog = Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>;

/** What a (re)load did: plans in effect, files refused (with the previous good version kept, if any). */
export interface ReloadSummary {
  plans: string[];
  /** Why the directory could not be read (the plans in effect were kept). */
  unreadable?: string;
  invalid: { file: string; problems: string[]; kept: boolean }[];
}

const PLAN_FILE = /\.ya?ml$/;

/**
 * The plans whose triggers the receiver routes alerts with: every plan file of the plans directory
 * (the worker's: a recovery names its plan, and the worker reads `<name>.yaml` there), loaded at
 * start and again on reload. A plan that became invalid is logged and its previous good version
 * stays in effect, so a typo in one file does not switch off its alarms; a deleted file is dropped.
 */
export class PlanRegistry {
  private byFile = new Map<string, RecoveryPlan>();
  private loading: Promise<ReloadSummary> | undefined;
  /** A reload was asked while one was reading: it may have read a file before it changed. */
  private dirty = false;

  constructor(
    readonly dir: string,
    private readonly log: ReceiverLog,
  ) {}

  /** The plans in effect, in file order. */
  get plans(): RecoveryPlan[] {
    return [...this.byFile.values()];
  }

  /**
   * Reads the directory again. A call during a reading gets the reading after it (one more at
   * most, shared by every call meanwhile): the one in progress may have read a file before it changed.
   */
  reload(): Promise<ReloadSummary> {
    if (this.loading) {
      this.dirty = true;
      return this.loading;
    }
    const loading = (async () => {
      let summary: ReloadSummary;
      do {
        this.dirty = false;
        summary = await this.read();
      } while (this.dirty);
      return summary;
    })().finally(() => (this.loading = undefined));
    this.loading = loading;
    return loading;
  }

  private async read(): Promise<ReloadSummary> {
    let files: string[];
    try {
      files = (await readdir(this.dir)).filter((f) => PLAN_FILE.test(f)).sort();
    } catch (error) {
      // A directory that is gone for a moment (a deploy) keeps every plan in effect.
      this.log.error({ dir: this.dir, err: error }, 'cannot read the plans directory; keeping the plans in effect');
      return { plans: this.plans.map((p) => p.name), invalid: [], unreadable: (error as Error).message };
    }
    const next = new Map<string, RecoveryPlan>();
    const invalid: ReloadSummary['invalid'] = [];
    for (const file of files) {
      const result = await loadPlanFile(join(this.dir, file));
      const base = file.replace(PLAN_FILE, '');
      const problems = result.plan
        ? result.plan.name === base
          ? []
          : [`the plan is named "${result.plan.name}": name the file ${result.plan.name}.yaml, the worker finds it so`]
        : result.errors.map(formatIssue);
      if (problems.length === 0) {
        next.set(file, result.plan!);
        continue;
      }
      const previous = this.byFile.get(file);
      if (previous) next.set(file, previous);
      invalid.push({ file, problems, kept: previous !== undefined });
      this.log.warn(
        { file: join(this.dir, file), problems },
        previous ? 'invalid plan skipped; its previous version stays in effect' : 'invalid plan skipped',
      );
    }
    this.byFile = next;
    const summary = { plans: this.plans.map((p) => p.name), invalid };
    this.log.info(
      { plans: summary.plans, triggers: this.plans.reduce((n, p) => n + p.triggers.length, 0) },
      'plans loaded',
    );
    return summary;
  }
}
