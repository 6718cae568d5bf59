import { z } from 'zod';
import { backup } from '../schema/common';
import { automate, componentSchema, sh, type KindDefinition } from './define';

export const schema = componentSchema('command', {
  run: z.string().min(1).describe('Shell command that performs the recovery'),
  validate: z.string().optional().describe('Shell command; a non-zero exit fails the step'),
  rollback: z.string().optional().describe('Shell command that undoes `run`'),
  workingDir: z.string().optional(),
  stateful: z
    .boolean()
    .default(false)
    .describe('true when the component carries data: it may have `backup` and gets an RPO verdict'),
  backup: backup.optional().describe('Backup schedules; only for stateful commands'),
});

export type CommandComponent = z.infer<typeof schema>;

/** The escape hatch: a store without a kind of its own, or a manual procedure. */
export const commandKind: KindDefinition<CommandComponent> = {
  kind: 'command',
  title: 'Command',
  stateful: (c) => c.stateful,
  tier: (c) => (c.stateful ? 'data' : 'stateless-app'),
  defaultEstimate: '15m',
  schema,
  steps(c, { mode }) {
    // A drill runs the plan's own command, whose effects the engine cannot know: an opaque resource
    // that no production resource equals, so the guard lets it through on the author's word.
    const writes = mode === 'drill' ? [`command:${c.id}`] : undefined;
    const inDir = (command: string) => (c.workingDir ? `cd ${sh(c.workingDir)}\n${command}` : command);
    const drillNote =
      mode === 'drill'
        ? ' A drill runs the same command: the plan author is responsible for making it safe to run in a drill.'
        : '';
    return [
      {
        id: 'run',
        title: 'Run the recovery command',
        does: `${c.description?.replace(/\.\s*$/, '') ?? `The recovery procedure of ${c.id}, as the plan gives it`}${c.workingDir ? `, run in ${c.workingDir}` : ''}.${drillNote}`,
        command: inDir(c.run),
        ...(c.rollback ? { rollback: inDir(c.rollback) } : {}),
        automation: automate('runCommand', { command: c.run, workingDir: c.workingDir }, 'short', writes),
      },
      ...(c.validate
        ? [
            {
              id: 'validate',
              title: 'Check that the recovery worked',
              does: `The plan's check for ${c.id}: it fails with a non-zero exit status.${drillNote}`,
              command: inDir(c.validate),
              automation: automate('runCommand', { command: c.validate, workingDir: c.workingDir }, 'short', writes),
            },
          ]
        : []),
    ];
  },
};
