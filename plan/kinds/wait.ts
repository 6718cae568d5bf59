import { z } from 'zod';
import { parseDuration } from '../duration';
import { duration } from '../schema/common';
import { componentSchema, type KindDefinition } from './define';

export const schema = componentSchema('wait', {
  duration: duration.describe('How long to wait, e.g. 5m for a DNS TTL to expire'),
  reason: z.string().optional().describe('Why, for the runbook: "old DNS answers expire"'),
});

export type WaitComponent = z.infer<typeof schema>;

/** A pause the recovery needs: DNS TTLs expiring, caches warming, a soak before traffic moves. */
export const waitKind: KindDefinition<WaitComponent> = {
  kind: 'wait',
  title: 'Wait',
  stateful: false,
  tier: 'check',
  defaultEstimate: '5m',
  schema,
  steps(c) {
    return [
      {
        id: 'wait',
        title: `Wait ${c.duration}`,
        does: c.reason ? `${c.reason}.` : 'The plan asks for this pause before what depends on it.',
        command: `sleep ${Math.round(parseDuration(c.duration)! / 1000)}`,
        automation: { timer: c.duration },
      },
    ];
  },
};
