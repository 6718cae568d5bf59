import { ApplicationFailure } from '@temporalio/common';
import { schema, type PostgresComponent } from '../../plan/kinds/postgres';

/** The component as the plan gives it, with the kind's defaults; a malformed one is a plan error. */
export function postgresComponent(value: unknown): PostgresComponent {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw ApplicationFailure.nonRetryable(
      `not a postgres component: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      'InvalidComponent',
    );
  return parsed.data;
}

/** `latest`, or the time an ISO-8601 `targetTime` names; anything else is a plan error. */
export function targetOf(c: PostgresComponent, targetTime: string): Date | 'latest' {
  if (targetTime === 'latest') return 'latest';
  const time = new Date(targetTime);
  if (Number.isNaN(time.getTime()))
    throw ApplicationFailure.nonRetryable(
      `${c.id}: targetTime "${targetTime}" is neither "latest" nor an ISO-8601 time`,
      'InvalidTargetTime',
    );
  return time;
}
