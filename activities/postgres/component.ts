import { schema, type PostgresComponent } from '../../plan/kinds/postgres';
import { parsedComponent } from '../component-input';
import { parseTargetTime } from '../verified-chain';

/** The component as the plan gives it, with the kind's defaults; a malformed one is a plan error. */
export const postgresComponent = (value: unknown): PostgresComponent => parsedComponent(schema, 'postgres', value);

/** `latest`, or the time an ISO-8601 `targetTime` names; anything else is a plan error. */
export const targetOf = (c: PostgresComponent, targetTime: string) => parseTargetTime(targetTime, c.id);
