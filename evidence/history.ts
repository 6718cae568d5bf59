import type { DrillSummary } from './summary';

/** Pure reading of past drills: is a component getting slower, and how long does it really take. */

/** A component is flagged when its last achieved RTO exceeds this many times the median of the earlier ones. */
export const SLOWER_FACTOR = 1.2;

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

export interface ComponentTrend {
  component: string;
  /** Achieved RTO (minutes from the start of the RTO clock until it was back), oldest first. */
  values: { startedAt: string; minutes: number }[];
  /** Median of the values before the last; absent with a single value. */
  medianBefore?: number;
  last: number;
  /** last / medianBefore − 1, e.g. 0.43 for 43 % slower. */
  change?: number;
  /** last > SLOWER_FACTOR × medianBefore. */
  slower: boolean;
}

/**
 * The achieved RTO of every component across the last `n` real drills that recovered it, oldest
 * first, and whether the last one is slower than the median of those before. Simulated drills show
 * estimates, not the system, so they are left out.
 */
export function componentTrends(drills: DrillSummary[], n = 5): ComponentTrend[] {
  const real = drills.filter((d) => !d.simulated).sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
  const byComponent = new Map<string, { startedAt: string; minutes: number }[]>();
  for (const drill of real)
    for (const c of drill.components) {
      if (c.status !== 'succeeded' || c.rto.achievedMinutes === undefined) continue;
      const values = byComponent.get(c.id) ?? [];
      values.push({ startedAt: drill.startedAt, minutes: c.rto.achievedMinutes });
      byComponent.set(c.id, values);
    }
  return [...byComponent.entries()].map(([component, all]) => {
    const values = all.slice(-n);
    const last = values[values.length - 1]!.minutes;
    if (values.length < 2) return { component, values, last, slower: false };
    const medianBefore = median(values.slice(0, -1).map((v) => v.minutes));
    return {
      component,
      values,
      medianBefore,
      last,
      change: medianBefore > 0 ? last / medianBefore - 1 : undefined,
      slower: last > SLOWER_FACTOR * medianBefore,
    };
  });
}

export interface ComponentHistory {
  /** Median of the component's own duration (finishedAt − startedAt) over its last real drills. */
  minutes: number;
  /** How many drills that median is of. */
  drills: number;
}

/**
 * How long each component really took in its last `n` real drills that recovered it (any scenario
 * of the plan): the median of finishedAt − startedAt. Components never drilled for real are absent.
 */
export function componentHistory(drills: DrillSummary[], n = 5): Map<string, ComponentHistory> {
  const newestFirst = drills
    .filter((d) => !d.simulated)
    .sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt));
  const durations = new Map<string, number[]>();
  for (const drill of newestFirst)
    for (const c of drill.components) {
      if (c.status !== 'succeeded' || c.durationMinutes === undefined) continue;
      const values = durations.get(c.id) ?? [];
      if (values.length < n) values.push(c.durationMinutes);
      durations.set(c.id, values);
    }
  return new Map(
    [...durations.entries()].map(([id, values]) => [id, { minutes: median(values), drills: values.length }]),
  );
}
