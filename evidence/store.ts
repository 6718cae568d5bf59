import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { RecoveryProgress } from '../workflows/progress';
import { evidenceHtml } from './html';
import { evidenceMarkdown } from './markdown';
import { drillSummary, type DrillSummary } from './summary';

/**
 * The drill evidence folder: `<reportsDir>/<plan>/<scenario>/<YYYY-MM-DDTHH-MM-SSZ>-<id8>[-simulated]/`
 * with report.md, report.json and report.html. The folder is named by the drill's start and a hash
 * of its recovery id, so the same drill always writes the same folder and no other drill ever does.
 */
export const REPORT_FILES = ['report.md', 'report.json', 'report.html'] as const;

/** `RECOVERY_REPORTS_DIR`, else `drill-reports/` under the current directory. */
export const defaultReportsDir = (env: NodeJS.ProcessEnv = process.env) =>
  resolve(env.RECOVERY_REPORTS_DIR || 'drill-reports');

/** What report.json holds: the summary every view shows, and the whole report it comes from. */
export interface EvidenceJson {
  evidence: 1;
  summary: DrillSummary;
  report: RecoveryProgress;
}

/** A plan or scenario name as one safe path segment (they are slugs; anything else is made one). */
const segment = (name: string) => name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+/, '') || 'unnamed';

/** `2026-11-21T14-05-00Z` */
export const folderDate = (iso: string) =>
  new Date(iso)
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');

/** The folder of a drill's evidence, relative to the reports dir. */
export function evidencePath(p: RecoveryProgress): string {
  const id = createHash('sha256').update(p.recoveryId).digest('hex').slice(0, 8);
  return join(
    segment(p.plan),
    segment(p.scenario),
    `${folderDate(p.startedAt)}-${id}${p.simulated ? '-simulated' : ''}`,
  );
}

/** Each file is written next to itself then renamed over: a reader sees the old bytes or the new, never half. */
async function writeAtomically(file: string, content: string): Promise<void> {
  const temporary = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, content);
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/**
 * Writes (or rewrites, for the same drill) the evidence of a drill: Markdown, JSON and HTML.
 * Idempotent: the same report gives the same folder and the same bytes.
 */
export async function saveEvidence(reportsDir: string, p: RecoveryProgress): Promise<{ dir: string; files: string[] }> {
  const dir = resolve(reportsDir, evidencePath(p));
  await mkdir(dir, { recursive: true });
  const json: EvidenceJson = { evidence: 1, summary: drillSummary(p), report: p };
  const contents: Record<(typeof REPORT_FILES)[number], string> = {
    'report.md': evidenceMarkdown(p),
    'report.json': `${JSON.stringify(json, null, 2)}\n`,
    'report.html': evidenceHtml(p),
  };
  const files: string[] = [];
  for (const name of REPORT_FILES) {
    await writeAtomically(join(dir, name), contents[name]);
    files.push(join(dir, name));
  }
  return { dir, files };
}

/** One drill found in the reports folder. */
export interface StoredDrill {
  dir: string;
  summary: DrillSummary;
  report: RecoveryProgress;
}

const entries = async (dir: string) => {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
};

/**
 * Every drill of `plan` in the reports folder, newest first; folders without a readable report.json
 * (a drill still being written, a stray folder) are skipped and named in `skipped`.
 */
export async function listEvidence(
  reportsDir: string,
  plan: string,
): Promise<{ drills: StoredDrill[]; skipped: string[] }> {
  const planDir = resolve(reportsDir, segment(plan));
  const drills: StoredDrill[] = [];
  const skipped: string[] = [];
  for (const scenario of await entries(planDir)) {
    if (!scenario.isDirectory()) continue;
    for (const run of await entries(join(planDir, scenario.name))) {
      if (!run.isDirectory()) continue;
      const dir = join(planDir, scenario.name, run.name);
      try {
        const json = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8')) as Partial<EvidenceJson>;
        if (!json.report?.recoveryId) throw new Error('no report');
        // The summary is computed again: a report saved by an older version reads the way this one writes.
        drills.push({ dir, summary: drillSummary(json.report), report: json.report });
      } catch {
        skipped.push(dir);
      }
    }
  }
  drills.sort(
    (a, b) => Date.parse(b.summary.startedAt) - Date.parse(a.summary.startedAt) || a.dir.localeCompare(b.dir),
  );
  return { drills, skipped };
}
