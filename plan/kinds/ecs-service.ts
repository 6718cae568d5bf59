import { z } from 'zod';
import type { EcsDeployInput, EcsDrillInput, EcsServiceRef } from '../../activities/ecs';
import { resource } from '../drill-guard';
import { automate, componentSchema, region, sh, type KindDefinition } from './define';

export const schema = componentSchema('ecs-service', {
  cluster: z.string(),
  service: z.string(),
  region,
  desiredCount: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe('Desired task count after recovery; unchanged when absent'),
  taskDefinition: z
    .string()
    .optional()
    .describe('Task definition (family:revision or ARN) to deploy; unchanged when absent'),
  stateful: z
    .boolean()
    .default(false)
    .describe('true for an application that keeps state of its own (recovered before stateless ones)'),
});

export type EcsServiceComponent = z.infer<typeof schema>;

/** An ECS service redeployed (new deployment, optional task definition and count) and waited stable. */
export const ecsServiceKind: KindDefinition<EcsServiceComponent> = {
  kind: 'ecs-service',
  title: 'Amazon ECS service',
  stateful: false,
  tier: (c) => (c.stateful ? 'stateful-app' : 'stateless-app'),
  defaultEstimate: '15m',
  schema,
  // No iam:PassRole: the drill's CreateService passes no `role` (only allowed with a load balancer,
  // which a drill copy never has); the task definition's roles were passed when it was registered.
  permissions: [
    'ecs:DescribeServices',
    'ecs:DescribeTaskDefinition',
    'ecs:ListTagsForResource',
    'ecs:TagResource',
    'ecs:UpdateService',
    'ecs:CreateService',
    'ecs:DeleteService',
  ],
  productionResources(c) {
    return [resource.aws('ecs', c.region, c.cluster, c.service)];
  },
  teardown(c, { drillSuffix }) {
    const drill = `${c.service}${drillSuffix}`;
    const aws = `aws ecs --region ${c.region}`;
    const cluster = `--cluster ${sh(c.cluster)}`;
    return [
      {
        id: 'delete-drill-service',
        title: `Delete the drill service ${drill} of cluster ${c.cluster} in ${c.region}`,
        does: `Scales ${drill} to 0, deletes it and waits until it is INACTIVE (its tasks stopped). Nothing to do when it does not exist. Only a service tagged as a drill copy of ${c.service} is deleted.`,
        command: [
          `${aws} update-service ${cluster} --service ${sh(drill)} --desired-count 0`,
          `${aws} delete-service ${cluster} --service ${sh(drill)} --force`,
          `${aws} wait services-inactive ${cluster} --services ${sh(drill)}`,
        ].join('\n'),
        validate: `${aws} describe-services ${cluster} --services ${sh(drill)} --query 'services[0].status' --output text   # INACTIVE, or None`,
        automation: automate(
          'deleteEcsDrillService',
          {
            cluster: c.cluster,
            region: c.region,
            sourceService: c.service,
            drillService: drill,
          } satisfies EcsDrillInput,
          'long',
          [resource.aws('ecs', c.region, c.cluster, drill)],
        ),
      },
    ];
  },
  steps(c, { mode, drillSuffix }) {
    const aws = `aws ecs --region ${c.region}`;
    const cluster = `--cluster ${sh(c.cluster)}`;
    const describe = (service: string) =>
      `${aws} describe-services ${cluster} --services ${sh(service)} --query 'services[0].{status:status,taskDefinition:taskDefinition,desired:desiredCount,running:runningCount,pending:pendingCount,deployments:deployments[].[status,rolloutState,taskDefinition,runningCount]}'`;
    const waitStable = (service: string) => `${aws} wait services-stable ${cluster} --services ${sh(service)}`;
    const stable = (service: string) =>
      `${aws} describe-services ${cluster} --services ${sh(service)} --query "services[0].[runningCount,desiredCount,length(deployments),deployments[?status=='PRIMARY'] | [0].rolloutState]" --output text   # running = desired, 1 deployment, COMPLETED`;
    const waitDoes = 'The waiter gives up after 10 minutes: run it again while tasks are still starting.';
    const ref = (service: string): EcsServiceRef => ({ cluster: c.cluster, service, region: c.region });
    const describeAutomation = {
      activity: 'describeEcsService' as const,
      input: { ...ref(c.service) },
      profile: 'short' as const,
      writes: [],
    };
    const waitAutomation = (service: string) => ({
      activity: 'waitForEcsServiceStable' as const,
      input: { ...ref(service) },
      profile: 'long' as const,
      writes: [],
    });

    const checkTaskDefinition = c.taskDefinition
      ? [
          {
            id: 'check-task-definition',
            title: 'Check that the task definition to deploy exists',
            does: `Task definitions are regional and can be deregistered: ${c.taskDefinition} must be ACTIVE in ${c.region}. If it is missing or INACTIVE, register it again from its saved JSON with \`${aws} register-task-definition --cli-input-json file://<TASK_DEFINITION_JSON>\` and deploy the revision it prints.`,
            command: `${aws} describe-task-definition --task-definition ${sh(c.taskDefinition)} --query 'taskDefinition.[taskDefinitionArn,status]' --output text`,
            validate: `${aws} describe-task-definition --task-definition ${sh(c.taskDefinition)} --query 'taskDefinition.status' --output text   # ACTIVE`,
            automation: automate(
              'checkEcsTaskDefinition',
              { taskDefinition: c.taskDefinition, region: c.region },
              'short',
              [],
            ),
          },
        ]
      : [];

    if (mode === 'drill') {
      const drill = `${c.service}${drillSuffix}`;
      const input = `/tmp/${drill}.json`;
      const taskDefinition = c.taskDefinition ? '$td' : '.taskDefinition';
      const teardown = `${aws} delete-service ${cluster} --service ${sh(drill)} --force`;
      return [
        {
          id: 'describe-service',
          title: 'Show the production service',
          does: `${c.service} is only read: the drill copies its task definition and network settings.`,
          command: describe(c.service),
          validate: `${aws} describe-services ${cluster} --services ${sh(c.service)} --query 'services[0].status' --output text   # ACTIVE`,
          automation: describeAutomation,
        },
        ...checkTaskDefinition,
        {
          id: 'create-drill-service',
          title: 'Start a drill copy of the service',
          does: `A drill never touches ${c.service}: it starts ${drill} in the same cluster, from ${c.taskDefinition ?? 'the same task definition'} with the same network settings, one task, no load balancer and no service discovery, so it takes no production traffic. Its tasks run with the production settings: if they consume queues or write to production stores, point a drill task definition at the drill resources first.`,
          command: [
            `${aws} describe-services ${cluster} --services ${sh(c.service)} --query 'services[0]' --output json \\`,
            `  | jq${c.taskDefinition ? ` --arg td ${sh(c.taskDefinition)}` : ''} --arg name ${sh(drill)} '{cluster: .clusterArn, serviceName: $name, taskDefinition: ${taskDefinition}, desiredCount: 1, launchType, capacityProviderStrategy, platformVersion, networkConfiguration, placementConstraints, placementStrategy} | with_entries(select(.value != null and .value != [] and .value != ""))' > ${sh(input)}`,
            `${aws} create-service --cli-input-json ${sh(`file://${input}`)}`,
          ].join('\n'),
          validate: `${aws} describe-services ${cluster} --services ${sh(drill)} --query 'services[0].status' --output text   # ACTIVE`,
          rollback: `${teardown}   # tears the drill service down once the drill is over`,
          automation: {
            activity: 'createEcsDrillService' as const,
            input: {
              cluster: c.cluster,
              region: c.region,
              sourceService: c.service,
              drillService: drill,
              ...(c.taskDefinition ? { taskDefinition: c.taskDefinition } : {}),
            } satisfies EcsDrillInput,
            profile: 'short' as const,
            writes: [resource.aws('ecs', c.region, c.cluster, drill)],
          },
        },
        {
          id: 'wait-stable',
          title: 'Wait until the drill service is stable',
          does: `Its task starts, passes its health checks and keeps running. ${waitDoes}`,
          command: waitStable(drill),
          validate: stable(drill),
          automation: waitAutomation(drill),
        },
      ];
    }

    const saved = `/tmp/${c.service}-before-recovery.txt`;
    const update = [
      `${aws} update-service ${cluster} --service ${sh(c.service)} --force-new-deployment`,
      ...(c.taskDefinition ? [`--task-definition ${sh(c.taskDefinition)}`] : []),
      ...(c.desiredCount !== undefined ? [`--desired-count ${c.desiredCount}`] : []),
      `--query "service.deployments[?status=='PRIMARY'] | [0].[id,taskDefinition,desiredCount]" --output text`,
    ].join(' ');
    return [
      {
        id: 'record-current',
        title: 'Record the service’s current task definition and count',
        does: `Saves what runs now to ${saved}: a rollback returns to it.`,
        command: `${aws} describe-services ${cluster} --services ${sh(c.service)} --query 'services[0].[taskDefinition,desiredCount]' --output text | tee ${sh(saved)}`,
        validate: `cat ${sh(saved)}   # a task definition ARN and a count`,
        // The activity's result, kept in the recovery's history, is the record a rollback returns to.
        automation: describeAutomation,
      },
      ...checkTaskDefinition,
      {
        id: 'deploy',
        title: 'Start a new deployment of the service',
        does: `Replaces every task of ${c.service}${c.taskDefinition ? ` with ${c.taskDefinition}` : ': same task definition, fresh tasks that resolve their settings and dependencies again'}${c.desiredCount !== undefined ? `, ${c.desiredCount} of them` : ''}.`,
        command: update,
        validate: `${describe(c.service)}   # a new PRIMARY deployment, IN_PROGRESS`,
        rollback: `read -r TASK_DEFINITION DESIRED_COUNT < ${sh(saved)}\n${aws} update-service ${cluster} --service ${sh(c.service)} --task-definition "$TASK_DEFINITION" --desired-count "$DESIRED_COUNT"`,
        automation: {
          activity: 'deployEcsService' as const,
          input: {
            ...ref(c.service),
            ...(c.taskDefinition ? { taskDefinition: c.taskDefinition } : {}),
            ...(c.desiredCount !== undefined ? { desiredCount: c.desiredCount } : {}),
          } satisfies EcsDeployInput,
          profile: 'short' as const,
          writes: [resource.aws('ecs', c.region, c.cluster, c.service)],
        },
      },
      {
        id: 'wait-stable',
        title: 'Wait until the service is stable',
        does: `The new tasks pass their health checks and the old ones are drained. ${waitDoes}`,
        command: waitStable(c.service),
        validate: stable(c.service),
        automation: waitAutomation(c.service),
      },
    ];
  },
};
