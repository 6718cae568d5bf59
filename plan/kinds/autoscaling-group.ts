import { z } from 'zod';
import type { AutoScalingCapacityInput } from '../../activities/autoscaling';
import { resource } from '../drill-guard';
import { automate, componentSchema, region, sh, type KindDefinition, type RunbookStep } from './define';

const size = z.number().int().nonnegative();

export const schema = componentSchema('autoscaling-group', {
  groupName: z.string().min(1).describe('Name of the EC2 Auto Scaling group'),
  region,
  minSize: size.optional().describe('Minimum size after recovery; unchanged when absent'),
  maxSize: size.optional().describe('Maximum size after recovery; unchanged when absent'),
  desiredCapacity: size.describe('Number of InService instances the group must have after recovery'),
  targetGroupArns: z
    .array(z.string().regex(/^arn:aws[a-z-]*:elasticloadbalancing:/, 'an ELB target group ARN'))
    .optional()
    .describe('Load balancer target groups whose targets must all be healthy'),
});

export type AutoScalingGroupComponent = z.infer<typeof schema>;

/** An EC2 Auto Scaling group scaled to its recovery capacity, waited InService, its targets checked healthy. */
export const autoScalingGroupKind: KindDefinition<AutoScalingGroupComponent> = {
  kind: 'autoscaling-group',
  title: 'Amazon EC2 Auto Scaling group',
  stateful: false,
  tier: 'stateless-app',
  defaultEstimate: '15m',
  schema,
  permissions: [
    'autoscaling:DescribeAutoScalingGroups',
    'autoscaling:UpdateAutoScalingGroup',
    'elasticloadbalancing:DescribeTargetHealth',
  ],
  productionResources(c) {
    return [resource.aws('autoscaling', c.region, c.groupName)];
  },
  steps(c, { mode }) {
    const aws = `aws autoscaling --region ${c.region}`;
    const group = `--auto-scaling-group-names ${sh(c.groupName)}`;
    const ref = { groupName: c.groupName, region: c.region };
    const sizes = `${aws} describe-auto-scaling-groups ${group} --query 'AutoScalingGroups[0].[MinSize,MaxSize,DesiredCapacity]' --output text`;
    const inService = `${aws} describe-auto-scaling-groups ${group} --query "length(AutoScalingGroups[0].Instances[?LifecycleState=='InService' && HealthStatus=='Healthy'])"`;
    const saved = `/tmp/${c.groupName}-before-recovery.txt`;
    const targets = c.targetGroupArns ?? [];
    const checkTargets: RunbookStep[] = targets.length
      ? [
          {
            id: 'check-targets',
            title: 'Check that every load balancer target is healthy',
            does: `Every target of ${targets.length === 1 ? 'the target group' : `the ${targets.length} target groups`} must be healthy; new instances may take a few health check intervals (the step is retried).`,
            command: targets
              .map(
                (arn) =>
                  `aws elbv2 --region ${c.region} describe-target-health --target-group-arn ${sh(arn)} --query 'TargetHealthDescriptions[].[Target.Id,TargetHealth.State,TargetHealth.Reason]' --output text`,
              )
              .join('\n'),
            validate: targets
              .map(
                (arn) =>
                  `aws elbv2 --region ${c.region} describe-target-health --target-group-arn ${sh(arn)} --query "TargetHealthDescriptions[?TargetHealth.State!='healthy'].Target.Id" --output text   # empty`,
              )
              .join('\n'),
            automation: automate('checkTargetHealth', { region: c.region, targetGroupArns: targets }, 'short', []),
          },
        ]
      : [];

    if (mode === 'drill') {
      return [
        {
          id: 'describe-group',
          title: 'Show the group’s capacity and instances',
          does: `A drill only reads: it never changes the capacity of ${c.groupName}, a production group. It checks that the group can reach ${c.desiredCapacity} (within its sizes) and that its current instances and targets are healthy.`,
          command: `${aws} describe-auto-scaling-groups ${group} --query 'AutoScalingGroups[0].{min:MinSize,max:MaxSize,desired:DesiredCapacity,instances:Instances[].[InstanceId,LifecycleState,HealthStatus]}'`,
          validate: `${sizes}   # max >= ${c.desiredCapacity}`,
          automation: { activity: 'describeAutoScalingGroup', input: ref, profile: 'short', writes: [] },
        },
        {
          id: 'check-in-service',
          title: 'Check that the group’s instances are InService',
          does: 'Read-only: the group has as many InService, Healthy instances as its own desired capacity.',
          command: inService,
          validate: `${sizes}   # the count above equals the third number`,
          // Without a desiredCapacity the wait compares with the group's own: it only reads.
          automation: { activity: 'waitForAutoScalingInService', input: ref, profile: 'long', writes: [] },
        },
        ...checkTargets,
      ];
    }

    const update = [
      `${aws} update-auto-scaling-group --auto-scaling-group-name ${sh(c.groupName)}`,
      ...(c.minSize !== undefined ? [`--min-size ${c.minSize}`] : []),
      ...(c.maxSize !== undefined ? [`--max-size ${c.maxSize}`] : []),
      `--desired-capacity ${c.desiredCapacity}`,
    ].join(' ');
    return [
      {
        id: 'record-current',
        title: 'Record the group’s current sizes',
        does: `Saves the min, max and desired capacity to ${saved}: a rollback returns to them.`,
        command: `${sizes} | tee ${sh(saved)}`,
        validate: `cat ${sh(saved)}   # three numbers`,
        automation: { activity: 'describeAutoScalingGroup', input: ref, profile: 'short' },
      },
      {
        id: 'set-capacity',
        title: `Set the group’s capacity to ${c.desiredCapacity}`,
        does: `Auto Scaling launches (or terminates) instances until ${c.groupName} has ${c.desiredCapacity}. Nothing is sent when the group already has these sizes.`,
        command: update,
        validate: `${sizes}   # ${c.minSize ?? '<min>'} ${c.maxSize ?? '<max>'} ${c.desiredCapacity}`,
        rollback: `read -r MIN MAX DESIRED < ${sh(saved)}\n${aws} update-auto-scaling-group --auto-scaling-group-name ${sh(c.groupName)} --min-size "$MIN" --max-size "$MAX" --desired-capacity "$DESIRED"`,
        automation: {
          activity: 'setAutoScalingCapacity',
          input: {
            ...ref,
            ...(c.minSize !== undefined ? { minSize: c.minSize } : {}),
            ...(c.maxSize !== undefined ? { maxSize: c.maxSize } : {}),
            desiredCapacity: c.desiredCapacity,
          } satisfies AutoScalingCapacityInput,
          profile: 'short',
        },
      },
      {
        id: 'wait-in-service',
        title: `Wait until ${c.desiredCapacity} instances are InService`,
        does: 'New instances boot, pass their lifecycle hooks and the group’s health checks.',
        command: `until [ "$(${inService})" -ge ${c.desiredCapacity} ]; do sleep 15; done`,
        validate: `${inService}   # ${c.desiredCapacity}`,
        automation: automate('waitForAutoScalingInService', { ...ref, desiredCapacity: c.desiredCapacity }, 'long'),
      },
      ...checkTargets,
    ];
  },
};
