/**
 * Amazon ECS service recovery: a new deployment of the service (optionally with another task
 * definition and task count), a wait until it is stable, and in a drill a copy of the service that
 * takes no traffic. Every activity reads before it writes, so a retry (after a crash, a lost response,
 * an operator's "retry") never forces a second deployment nor creates a second drill service.
 */
import {
  ClientException,
  ClusterNotFoundException,
  CreateServiceCommand,
  DeleteServiceCommand,
  DescribeServicesCommand,
  DescribeTaskDefinitionCommand,
  InvalidParameterException,
  ListTagsForResourceCommand,
  PlatformTaskDefinitionIncompatibilityException,
  PlatformUnknownException,
  ServiceNotActiveException,
  ServiceNotFoundException,
  TagResourceCommand,
  UnsupportedFeatureException,
  UpdateServiceCommand,
  type CreateServiceRequest,
  type Deployment,
  type Service,
} from '@aws-sdk/client-ecs';
import { activityInfo, heartbeat, log, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsClients } from './aws-clients';
import { awsCall } from './aws-errors';

/** A service as every ECS activity names it. */
export interface EcsServiceRef {
  cluster: string;
  service: string;
  region: string;
}

export interface EcsDeployInput extends EcsServiceRef {
  /** Task definition (family, family:revision or ARN) to deploy; unchanged when absent. */
  taskDefinition?: string;
  /** Task count after the deployment; unchanged when absent. */
  desiredCount?: number;
}

export interface EcsDrillInput {
  cluster: string;
  region: string;
  /** The production service: only read. */
  sourceService: string;
  /** `${sourceService}${drillSuffix}`: the only service a drill creates. */
  drillService: string;
  /** Task definition of the drill copy; the production service's when absent. */
  taskDefinition?: string;
}

/**
 * Tags Recovery Engine writes on a service it deploys (and on a drill copy it creates): the record
 * that makes a deployment idempotent.
 */
export const ECS_TAGS = {
  /** `<recovery>/<component>`: the recovery that last deployed (or created) the service. */
  recovery: 'recovery-engine:recovery',
  /** The PRIMARY deployment the recovery's UpdateService replaces, written before the call. */
  replaces: 'recovery-engine:replaces-deployment',
  /** The deployment the call created; `pending` from just before the call until its response is read. */
  deployment: 'recovery-engine:deployment',
  /** On a drill copy: the production service it copies. */
  drillOf: 'recovery-engine:drill-of',
} as const;
const PENDING = 'pending';

/** A summary of a service for results and heartbeats. */
export interface EcsServiceState {
  cluster: string;
  service: string;
  status?: string;
  taskDefinition?: string;
  desiredCount?: number;
  runningCount?: number;
  pendingCount?: number;
  /** The PRIMARY deployment: the one ECS rolls out. */
  deploymentId?: string;
  rolloutState?: string;
  deployments: { id?: string; status?: string; rolloutState?: string; taskDefinition?: string; running?: number }[];
}

// Bound: the static factory uses `this`.
const nonRetryable = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);

/** ECS tag values allow letters, digits, spaces and `+ - = . _ : / @`, up to 256 characters. */
const tagValue = (value: string) => value.replace(/[^\p{L}\p{Z}\p{N}_.:/=+\-@]/gu, '_').slice(0, 256);

/**
 * The recovery (and component) this call works for. The engine runs a component as the child
 * workflow `<recovery>/<component>/<run>`: the run number is dropped, so an operator's retry (a new
 * run) is the same recovery, while a later recovery is another one.
 */
const recoveryTag = () => tagValue((activityInfo().workflowExecution?.workflowId ?? '').replace(/\/\d+$/, ''));

const primaryOf = (service: Service): Deployment | undefined =>
  service.deployments?.find((d) => d.status === 'PRIMARY');

/** The newest service events (ECS lists them newest first), for failure messages. */
const latestEvents = (service: Service, count = 3) =>
  (service.events ?? [])
    .slice(0, count)
    .map((e) => e.message)
    .filter(Boolean)
    .join(' | ');

function stateOf(cluster: string, service: Service): EcsServiceState {
  const primary = primaryOf(service);
  return {
    cluster,
    service: service.serviceName ?? '',
    status: service.status,
    taskDefinition: service.taskDefinition,
    desiredCount: service.desiredCount,
    runningCount: service.runningCount,
    pendingCount: service.pendingCount,
    deploymentId: primary?.id,
    rolloutState: primary?.rolloutState,
    deployments: (service.deployments ?? []).map((d) => ({
      id: d.id,
      status: d.status,
      rolloutState: d.rolloutState,
      taskDefinition: d.taskDefinition,
      running: d.runningCount,
    })),
  };
}

/** ECS errors that retrying cannot fix and that awsCall does not know: the request must change first. */
const INVALID_REQUEST = [
  ClientException,
  InvalidParameterException,
  PlatformUnknownException,
  PlatformTaskDefinitionIncompatibilityException,
  UnsupportedFeatureException,
];

export function createEcsActivities(
  aws: AwsClients,
  { pollIntervalMs = 15_000, maxWaitMs = 30 * 60_000 }: { pollIntervalMs?: number; maxWaitMs?: number } = {},
) {
  /**
   * One ECS call through awsCall (cancellation, access denied naming `permission`), with the ECS
   * errors retrying cannot fix made non-retryable, naming the cluster or the service.
   */
  function ecsCall<T>(
    where: { cluster: string; region: string; service?: string },
    what: string,
    permission: string,
    run: (abortSignal: AbortSignal) => Promise<T>,
  ): Promise<T> {
    return awsCall(what, permission, async (abortSignal) => {
      try {
        return await run(abortSignal);
      } catch (error) {
        if (error instanceof ClusterNotFoundException)
          throw nonRetryable(`${what}: cluster ${where.cluster} does not exist in ${where.region}`, 'ClusterNotFound');
        if (error instanceof ServiceNotFoundException)
          throw nonRetryable(
            `${what}: service ${where.service} does not exist in cluster ${where.cluster} (${where.region})`,
            'ServiceNotFound',
          );
        if (error instanceof ServiceNotActiveException)
          throw nonRetryable(
            `${what}: service ${where.service} in cluster ${where.cluster} is not ACTIVE (deleted or being deleted)`,
            'ServiceNotActive',
          );
        if (INVALID_REQUEST.some((type) => error instanceof type))
          throw nonRetryable(`${what}: ${(error as Error).name}: ${(error as Error).message}`, (error as Error).name);
        throw error;
      }
    });
  }

  /** The service as ECS describes it, any status; undefined when ECS has never heard of it. */
  async function describe(ref: EcsServiceRef, what: string): Promise<Service | undefined> {
    const { services = [] } = await ecsCall(ref, what, 'ecs:DescribeServices', (abortSignal) =>
      aws
        .ecs(ref.region)
        .send(new DescribeServicesCommand({ cluster: ref.cluster, services: [ref.service] }), { abortSignal }),
    );
    return services.find((s) => s.serviceName === ref.service);
  }

  /** The service, which must exist and be ACTIVE (INACTIVE: deleted; DRAINING: being deleted). */
  async function describeActive(ref: EcsServiceRef, what: string): Promise<Service> {
    const service = await describe(ref, what);
    if (!service || service.status === 'INACTIVE')
      throw nonRetryable(
        `${what}: service ${ref.service} does not exist in cluster ${ref.cluster} (${ref.region})`,
        'ServiceNotFound',
      );
    if (service.status !== 'ACTIVE')
      throw nonRetryable(
        `${what}: service ${ref.service} in cluster ${ref.cluster} is ${service.status}, not ACTIVE`,
        'ServiceNotActive',
      );
    return service;
  }

  async function tagsOf(ref: EcsServiceRef, service: Service, what: string): Promise<Map<string, string>> {
    const { tags = [] } = await ecsCall(ref, what, 'ecs:ListTagsForResource', (abortSignal) =>
      aws.ecs(ref.region).send(new ListTagsForResourceCommand({ resourceArn: service.serviceArn }), { abortSignal }),
    );
    return new Map(tags.map((t) => [t.key ?? '', t.value ?? '']));
  }

  async function tag(ref: EcsServiceRef, service: Service, tags: Record<string, string>, what: string) {
    await ecsCall(ref, what, 'ecs:TagResource', (abortSignal) =>
      aws.ecs(ref.region).send(
        new TagResourceCommand({
          resourceArn: service.serviceArn,
          tags: Object.entries(tags).map(([key, value]) => ({ key, value })),
        }),
        { abortSignal },
      ),
    );
  }

  /**
   * Why the deployment this recovery recorded did not succeed (undefined when it is still rolling
   * out or done): FAILED, or no longer listed while another is PRIMARY (a circuit-breaker rollback
   * or someone else's deployment replaced it).
   */
  function deploymentLost(service: Service, deploymentId: string): string | undefined {
    const ours = service.deployments?.find((d) => d.id === deploymentId);
    if (ours?.rolloutState === 'FAILED')
      return `deployment ${deploymentId} FAILED: ${ours.rolloutStateReason ?? 'no reason given'}`;
    if (!ours) return `deployment ${deploymentId} was replaced by ${primaryOf(service)?.id ?? 'none'} (rolled back?)`;
    return undefined;
  }

  return {
    /** Reads a service: status, task definition, counts, deployments. Never changes anything. */
    async describeEcsService(input: EcsServiceRef): Promise<EcsServiceState> {
      const what = `describe ECS service ${input.service} in cluster ${input.cluster} (${input.region})`;
      return stateOf(input.cluster, await describeActive(input, what));
    },

    /** Checks that a task definition exists and is ACTIVE in the region: deregistered ones cannot be deployed. */
    async checkEcsTaskDefinition(input: { taskDefinition: string; region: string }) {
      const what = `check ECS task definition ${input.taskDefinition} in ${input.region}`;
      let found;
      try {
        ({ taskDefinition: found } = await awsCall(what, 'ecs:DescribeTaskDefinition', (abortSignal) =>
          aws
            .ecs(input.region)
            .send(new DescribeTaskDefinitionCommand({ taskDefinition: input.taskDefinition }), { abortSignal }),
        ));
      } catch (error) {
        // ECS answers ClientException for a task definition it does not know.
        if (error instanceof ClientException || error instanceof InvalidParameterException)
          throw nonRetryable(
            `${what}: it does not exist in ${input.region} (${error.message}); register it again from its saved JSON`,
            'TaskDefinitionNotFound',
          );
        throw error;
      }
      if (found?.status !== 'ACTIVE')
        throw nonRetryable(
          `${what}: it is ${found?.status ?? 'unknown'}, not ACTIVE; register it again from its saved JSON and deploy the new revision`,
          'TaskDefinitionNotActive',
        );
      return { taskDefinitionArn: found.taskDefinitionArn, status: found.status };
    },

    /**
     * Starts a new deployment of the service (UpdateService with forceNewDeployment), with the
     * task definition and count when given. Does not wait: waitForEcsServiceStable does.
     *
     * Idempotency. A forced deployment is not idempotent by itself (each call replaces every task)
     * and a retry cannot tell from the service alone whether its earlier call went through: the
     * response may have been lost after ECS acted. So the service carries the record, in its tags,
     * written BEFORE the call: this recovery's id, the PRIMARY deployment it is about to replace, and
     * `deployment: pending`; after the call, the id of the deployment it created. A later attempt
     * (activity retry, worker crash, operator retry: same recovery id) reads the tags:
     * - the recorded deployment is listed and not FAILED: done, nothing is sent again;
     * - `pending`, and the PRIMARY deployment is no longer the one recorded as replaced: the call went
     *   through and only its response was lost; its deployment is recorded, nothing is sent again;
     * - `pending`, and the PRIMARY is still the replaced one: the call never happened; it is sent;
     * - the recorded deployment FAILED or was rolled back: it is over, a new one is started.
     * A later recovery (another id) deploys anew. Tags, unlike heartbeat details, survive a new
     * workflow run; unlike comparing the PRIMARY's createdAt with the activity's start, they do not
     * depend on the worker's and AWS's clocks agreeing.
     */
    async deployEcsService(input: EcsDeployInput) {
      const ref = { cluster: input.cluster, service: input.service, region: input.region };
      const changes = [
        ...(input.taskDefinition ? [`task definition ${input.taskDefinition}`] : []),
        ...(input.desiredCount !== undefined ? [`${input.desiredCount} tasks`] : []),
      ];
      const what = `deploy ECS service ${input.service} in cluster ${input.cluster} (${input.region})${changes.length ? ` with ${changes.join(', ')}` : ''}`;
      const service = await describeActive(ref, what);
      const controller = service.deploymentController?.type ?? 'ECS';
      if (controller !== 'ECS')
        throw nonRetryable(
          `${what}: its deployments are made by ${controller}, not ECS rolling updates: deploy it through ${controller} by hand`,
          'UnsupportedDeploymentController',
        );
      const result = (current: Service, deployedNow: boolean, replacedDeploymentId: string | undefined) => ({
        ...stateOf(input.cluster, current),
        deployedNow,
        replacedDeploymentId,
      });

      const recovery = recoveryTag();
      const tags = await tagsOf(ref, service, what);
      const primary = primaryOf(service);
      if (tags.get(ECS_TAGS.recovery) === recovery) {
        const recorded = tags.get(ECS_TAGS.deployment);
        const replaced = tags.get(ECS_TAGS.replaces);
        if (recorded && recorded !== PENDING) {
          const lost = deploymentLost(service, recorded);
          if (!lost) {
            log.info('This recovery already deployed the service; not deploying again', { ...ref, recorded });
            return result(service, false, replaced);
          }
          log.warn('The deployment this recovery started did not succeed; deploying again', { ...ref, lost });
        } else if (recorded === PENDING && primary?.id && primary.id !== replaced) {
          // The earlier call went through; its response was lost before the new deployment was recorded.
          await tag(ref, service, { [ECS_TAGS.deployment]: primary.id }, what);
          log.info('An earlier attempt deployed the service; recorded its deployment', { ...ref, id: primary.id });
          return result(service, false, replaced);
        }
      }

      const replaces = primary?.id ?? 'none';
      await tag(
        ref,
        service,
        { [ECS_TAGS.recovery]: recovery, [ECS_TAGS.replaces]: replaces, [ECS_TAGS.deployment]: PENDING },
        what,
      );
      // Sent once: a lost response leaves the tags at pending, and the activity's next attempt (above)
      // tells from the PRIMARY deployment whether ECS acted. An SDK retry would deploy a second time.
      const { service: updated } = await ecsCall(ref, what, 'ecs:UpdateService', (abortSignal) =>
        aws.ecsSingleAttempt(input.region).send(
          new UpdateServiceCommand({
            cluster: input.cluster,
            service: input.service,
            forceNewDeployment: true,
            ...(input.taskDefinition ? { taskDefinition: input.taskDefinition } : {}),
            ...(input.desiredCount !== undefined ? { desiredCount: input.desiredCount } : {}),
          }),
          { abortSignal },
        ),
      );
      const created = updated && primaryOf(updated)?.id;
      if (!updated || !created)
        throw ApplicationFailure.retryable(`${what}: ECS answered without a PRIMARY deployment`, 'NoDeployment');
      await tag(ref, updated, { [ECS_TAGS.deployment]: created }, what);
      log.info('Deployment started', { ...ref, deploymentId: created, replaces });
      return result(updated, true, replaces);
    },

    /**
     * Polls until the service is stable, heartbeating its state: one deployment left, the PRIMARY,
     * with rolloutState COMPLETED, or (services without a rollout state: behind a Classic Load
     * Balancer) as many tasks running as desired. A FAILED rollout, or the deployment this recovery
     * started being rolled back, stops the wait at once (non-retryable), naming the service and
     * ECS's reason. After `maxWaitMs` the attempt fails retryably: tasks may still be starting.
     * Cancellation ends the wait at once.
     */
    async waitForEcsServiceStable(input: EcsServiceRef) {
      const ref = { cluster: input.cluster, service: input.service, region: input.region };
      const what = `wait for ECS service ${input.service} in cluster ${input.cluster} (${input.region}) to be stable`;
      const first = await describeActive(ref, what);
      const tags = await tagsOf(ref, first, what);
      const recorded = tags.get(ECS_TAGS.deployment);
      // The deployment this recovery started, if it started one: its fate decides.
      const ours = tags.get(ECS_TAGS.recovery) === recoveryTag() && recorded !== PENDING ? recorded : undefined;
      const deadline = Date.now() + maxWaitMs;
      const bound =
        maxWaitMs >= 60_000 ? `${Math.round(maxWaitMs / 60_000)} minutes` : `${Math.round(maxWaitMs / 1000)} seconds`;
      let service = first;
      for (;;) {
        const state = stateOf(input.cluster, service);
        const primary = primaryOf(service);
        const failed = primary?.rolloutState === 'FAILED' ? primary : undefined;
        const why = failed
          ? `deployment ${failed.id} FAILED: ${failed.rolloutStateReason ?? 'no reason given'}`
          : ours && deploymentLost(service, ours);
        if (why) {
          const events = latestEvents(service);
          throw nonRetryable(
            `ECS service ${input.service} in cluster ${input.cluster} (${input.region}): ${why}${events ? `; latest events: ${events}` : ''}`,
            'EcsDeploymentFailed',
          );
        }
        const alone = (service.deployments ?? []).length === 1 && primary !== undefined;
        const stable =
          alone &&
          (primary.rolloutState === 'COMPLETED' ||
            (primary.rolloutState === undefined && service.runningCount === service.desiredCount));
        if (stable) return state;
        heartbeat(state);
        if (Date.now() > deadline) {
          const events = latestEvents(service, 1);
          throw ApplicationFailure.retryable(
            `${what}: not stable after ${bound}: ${state.runningCount} of ${state.desiredCount} tasks running, ${state.deployments.length} deployments, PRIMARY ${state.deploymentId} ${state.rolloutState ?? ''}${events ? `; latest event: ${events}` : ''}`,
            'EcsServiceNotStable',
          );
        }
        await sleep(pollIntervalMs); // rejects at once on cancellation
        service = await describeActive(ref, what);
      }
    },

    /**
     * A drill: starts `drillService` in the same cluster from the production service's task
     * definition (or `taskDefinition`) with its network and placement settings, one task, no load
     * balancer and no service discovery. The production service is only read. Idempotent: an ACTIVE
     * service of that name (created by an earlier attempt, or left by an earlier drill) is reused.
     */
    async createEcsDrillService(input: EcsDrillInput) {
      const drillRef = { cluster: input.cluster, service: input.drillService, region: input.region };
      const sourceRef = { cluster: input.cluster, service: input.sourceService, region: input.region };
      const what = `create drill service ${input.drillService} from ECS service ${input.sourceService} in cluster ${input.cluster} (${input.region})`;
      if (input.drillService === input.sourceService)
        throw nonRetryable(`${what}: the drill service would be the production service`, 'DrillIsProduction');
      const result = (service: Service, createdNow: boolean) => ({
        ...stateOf(input.cluster, service),
        sourceService: input.sourceService,
        createdNow,
      });

      const existing = await describe(drillRef, what);
      if (existing?.status === 'ACTIVE') {
        log.info('Drill service already exists; reusing it', drillRef);
        return result(existing, false);
      }
      if (existing?.status === 'DRAINING')
        throw ApplicationFailure.retryable(
          `${what}: ${input.drillService} is being deleted (DRAINING); it can be created again once INACTIVE`,
          'DrillServiceDraining',
        );

      const source = await describeActive(sourceRef, what);
      const capacityProviders = source.capacityProviderStrategy?.length ? source.capacityProviderStrategy : undefined;
      const request: CreateServiceRequest = {
        cluster: input.cluster,
        serviceName: input.drillService,
        taskDefinition: input.taskDefinition ?? source.taskDefinition,
        desiredCount: 1,
        // A service has a launch type or a capacity provider strategy, never both.
        ...(capacityProviders ? { capacityProviderStrategy: capacityProviders } : { launchType: source.launchType }),
        platformVersion: source.platformVersion,
        // Only an awsvpc service has one (moto answers `{}` for the others, which it then refuses).
        networkConfiguration: source.networkConfiguration?.awsvpcConfiguration
          ? source.networkConfiguration
          : undefined,
        placementConstraints: source.placementConstraints?.length ? source.placementConstraints : undefined,
        placementStrategy: source.placementStrategy?.length ? source.placementStrategy : undefined,
        // No loadBalancers, serviceRegistries or role: the copy takes no production traffic, and
        // without a load balancer there is no role to pass (no iam:PassRole).
        tags: [
          { key: ECS_TAGS.drillOf, value: tagValue(input.sourceService) },
          { key: ECS_TAGS.recovery, value: recoveryTag() },
        ],
      };
      const { service } = await ecsCall(
        drillRef,
        what,
        'ecs:CreateService (and ecs:TagResource for its tags)',
        async (abortSignal) => {
          try {
            return await aws.ecs(input.region).send(new CreateServiceCommand(request), { abortSignal });
          } catch (error) {
            // An earlier attempt created it and its response was lost: the describe decides on retry.
            if (error instanceof InvalidParameterException && /idempotent/i.test(error.message))
              throw ApplicationFailure.retryable(
                `${what}: the service appeared while creating it; checking it on retry`,
                'DrillServiceAppeared',
              );
            throw error;
          }
        },
      );
      if (!service) throw ApplicationFailure.retryable(`${what}: ECS answered without the service`, 'NoService');
      log.info('Drill service created', { ...drillRef, taskDefinition: request.taskDefinition });
      return result(service, true);
    },

    /**
     * Drill teardown: scales the drill service to 0, deletes it (force) and waits until it is
     * INACTIVE or gone; succeeds when it does not exist. Only a service tagged as a drill copy of the
     * source is deleted: a production service is never touched.
     */
    async deleteEcsDrillService(input: EcsDrillInput) {
      const drillRef = { cluster: input.cluster, service: input.drillService, region: input.region };
      const what = `delete drill service ${input.drillService} in cluster ${input.cluster} (${input.region})`;
      if (input.drillService === input.sourceService)
        throw nonRetryable(`${what}: the drill service would be the production service`, 'DrillIsProduction');
      const deadline = Date.now() + maxWaitMs;
      let deletedNow = false;
      for (;;) {
        let service: Service | undefined;
        try {
          service = await describe(drillRef, what);
        } catch (error) {
          // No cluster, no service.
          if (error instanceof ApplicationFailure && error.type === 'ClusterNotFound') break;
          throw error;
        }
        if (!service || service.status === 'INACTIVE') break;
        if (service.status === 'ACTIVE') {
          const tags = await tagsOf(drillRef, service, what);
          if (tags.get(ECS_TAGS.drillOf) !== tagValue(input.sourceService))
            throw nonRetryable(
              `${what}: refusing to delete ${input.drillService}: it is not tagged as a drill copy of ${input.sourceService} (${ECS_TAGS.drillOf})`,
              'NotADrillService',
            );
          if (service.desiredCount)
            await ecsCall(drillRef, what, 'ecs:UpdateService', (abortSignal) =>
              aws
                .ecs(input.region)
                .send(
                  new UpdateServiceCommand({ cluster: input.cluster, service: input.drillService, desiredCount: 0 }),
                  {
                    abortSignal,
                  },
                ),
            );
          await ecsCall(drillRef, what, 'ecs:DeleteService', async (abortSignal) => {
            try {
              await aws
                .ecs(input.region)
                .send(new DeleteServiceCommand({ cluster: input.cluster, service: input.drillService, force: true }), {
                  abortSignal,
                });
            } catch (error) {
              // Deleted meanwhile: the next describe says INACTIVE.
              if (!(error instanceof ServiceNotFoundException || error instanceof ServiceNotActiveException))
                throw error;
            }
          });
          deletedNow = true;
          log.info('Drill service deletion started', drillRef);
        }
        const state = stateOf(input.cluster, service);
        heartbeat(state);
        if (Date.now() > deadline)
          throw ApplicationFailure.retryable(
            `${what}: still ${service.status} after ${Math.round(maxWaitMs / 1000)} seconds: ${state.runningCount} tasks running`,
            'EcsServiceNotDeleted',
          );
        await sleep(pollIntervalMs); // rejects at once on cancellation
      }
      return { cluster: input.cluster, service: input.drillService, region: input.region, deletedNow };
    },
  };
}
