/**
 * What every benchmark of bench/ returns: its figures, each next to the baseline measured in the
 * same run, so that `npm run bench` can print one table and save one JSON file.
 */
export interface Figure {
  /** Which benchmark, e.g. `overhead`. */
  bench: string;
  /** What is measured, e.g. `wall time of the 40-component plan`. */
  figure: string;
  value: number;
  unit: string;
  /** The baseline it is compared with, measured in the same run. */
  baseline?: { what: string; value: number };
  /** value ÷ baseline.value, when there is a baseline. */
  ratio?: number;
  /** A limit it must stay under (e.g. Temporal's 50 K events), or a remark. */
  note?: string;
}

export interface BenchResult {
  bench: string;
  /** Settings used (rates, counts, worker options), recorded with the figures. */
  settings: Record<string, unknown>;
  figures: Figure[];
}

/** A benchmark: bounded in time, starts what it needs on loopback and stops it, throws on failure. */
export type Benchmark = (args: string[]) => Promise<BenchResult>;

/** p-th percentile (nearest rank) of numbers, NaN when there are none. */
export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0
    ? NaN
    : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A figure with its ratio against the baseline filled in; none against a baseline of 0 (one that rounds to 0). */
export function compared(figure: Omit<Figure, 'ratio'>): Figure {
  return figure.baseline && figure.baseline.value > 0
    ? { ...figure, ratio: figure.value / figure.baseline.value }
    : figure;
}
