import { z } from 'zod';
import { componentSchema } from '../kinds';
import { checkCron, contact, cronFields, objectives, slug } from './common';

export const PLAN_DEFAULT_OBJECTIVES = { rpo: '1h', rto: '4h' } as const;

export const scenarioSchema = z
  .object({
    name: slug.describe('Name of the scenario, e.g. "full-restore"'),
    description: z.string().optional(),
    mode: z
      .enum(['recover', 'drill'])
      .default('recover')
      .describe('recover: production; drill: isolated copies, torn down after'),
    components: z
      .array(z.string())
      .min(1, 'list at least one component, or remove `components` to recover all')
      .optional()
      .describe('Components to recover; all when absent. Their dependencies are pulled in'),
    schedule: z
      .object(cronFields)
      .strict()
      .optional()
      .describe(
        'Drills only: when `recovery schedules apply` runs it; the first Monday of every month, 10:00 UTC, when absent',
      ),
  })
  .strict()
  .superRefine((scenario, ctx) => {
    if (!scenario.schedule) return;
    if (scenario.mode !== 'drill')
      ctx.addIssue({ code: 'custom', path: ['schedule'], message: 'only drills (mode: drill) run on a schedule' });
    checkCron(scenario.schedule, ctx, ['schedule']);
  });

export const triggerSchema = z
  .object({
    source: z.enum(['alertmanager', 'cloudwatch', 'generic']),
    match: z
      .record(z.string(), z.string())
      .refine((m) => Object.keys(m).length > 0, 'give at least one label to match, e.g. { alertname: AgamaDown }')
      .describe('Labels (Alertmanager), alarm name (CloudWatch) or fields (generic) that must all match'),
    scenario: z.string(),
    requireApproval: z.boolean().default(false).describe('Start the recovery held at a gate until a person approves'),
  })
  .strict();

/** A recovery plan: the components of a system, how they depend on each other, and how to recover them. */
export const planSchema = z
  .object({
    name: slug.describe('Name of the plan, e.g. "agama"'),
    description: z.string().optional(),
    objectives: objectives
      .default(PLAN_DEFAULT_OBJECTIVES)
      .describe('Plan-wide objectives; 1h RPO and 4h RTO when absent'),
    contacts: z.array(contact).default([]).describe('Escalation chain, in order'),
    components: z.array(componentSchema).min(1, 'a plan needs at least one component'),
    scenarios: z
      .array(scenarioSchema)
      .default([])
      .describe('Ways to run the plan; one "full-restore" of everything when absent'),
    triggers: z.array(triggerSchema).default([]).describe('Alarms that start a scenario'),
  })
  .strict();

export type RecoveryPlan = z.infer<typeof planSchema>;
export type Scenario = z.infer<typeof scenarioSchema>;
export type Trigger = z.infer<typeof triggerSchema>;
export type { Component } from '../kinds';
