import { Cron } from 'croner';

/**
 * 5-field cron expressions as plans write them ("10 16 * * 1"), read like Vixie cron: day-of-month
 * and day-of-week combine with OR when both are restricted. Pure code: workflows import it.
 */
export function parseCron(expression: string, timezone?: string): Cron {
  return new Cron(expression, { mode: '5-part', timezone: timezone ?? 'UTC', domAndDow: false, paused: true });
}

/** Why `expression` is not a valid 5-field cron expression, or undefined when it is. */
export function cronProblem(expression: string, timezone?: string): string | undefined {
  if (expression.trim().split(/\s+/).length !== 5) {
    return `expected 5 fields (minute hour day-of-month month day-of-week), got "${expression}"`;
  }
  try {
    if (parseCron(expression, timezone).nextRun(new Date(Date.UTC(2024, 0, 1))) === null) return 'it never fires';
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** Whether `timezone` is an IANA time zone this runtime knows ("Europe/Tallinn"). */
export function isKnownTimezone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}
