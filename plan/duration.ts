/**
 * Durations as plans write them: `90s`, `45m`, `4h`, `1d`, or combinations from the largest unit down
 * such as `1h30m`. Pure code: workflows import it.
 */
const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;
const DURATION = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** Milliseconds in `text`, or undefined when it is not a duration of the form above (or is zero). */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (!match || text.trim() === '') return undefined;
  const [d, h, m, s] = match.slice(1).map((part) => Number(part ?? 0)) as [number, number, number, number];
  const ms = d * UNIT_MS.d + h * UNIT_MS.h + m * UNIT_MS.m + s * UNIT_MS.s;
  return ms > 0 ? ms : undefined;
}

/** The shortest plan-style text for `ms` (rounded down to whole seconds): 5_400_000 → `1h30m`. */
export function formatDuration(ms: number): string {
  let rest = Math.floor(ms / 1000) * 1000;
  if (rest <= 0) return '0s';
  let text = '';
  for (const [unit, size] of Object.entries(UNIT_MS)) {
    const count = Math.floor(rest / size);
    if (count > 0) text += `${count}${unit}`;
    rest -= count * size;
  }
  return text;
}

export const DURATION_HINT = 'a duration such as 90s, 45m, 4h, 1d or 1h30m';
