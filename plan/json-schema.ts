import { z } from 'zod';
import { planSchema } from './schema/plan';

/** JSON Schema of the plan format, for editors (yaml-language-server, VS Code). Generated, never edited. */
export function planJsonSchema(): Record<string, unknown> {
  return {
    title: 'Recovery Engine plan',
    description: 'A recovery plan: the components of a system, their dependencies, objectives, backups and contacts.',
    ...z.toJSONSchema(planSchema, { io: 'input', unrepresentable: 'any' }),
  };
}
