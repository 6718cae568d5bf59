/**
 * EC2 Auto Scaling group recovery: set the group's capacity (only when it differs: a retry changes
 * nothing), wait until the group has its desired count of InService instances, and check that every
 * target of its load balancer target groups is healthy. A drill only reads.
 */
import {
  DescribeAutoScalingGroupsCommand,
  UpdateAutoScalingGroupCommand,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import { DescribeTargetHealthCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { heartbeat, log, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { AwsClients } from './aws-clients';
import { awsCall } from './aws-errors';

export interface AutoScalingGroupRef {
  groupName: string;
  region: string;
}

export interface AutoScalingCapacityInput extends AutoScalingGroupRef {
  minSize?: number;
  maxSize?: number;
  desiredCapacity: number;
}

/** A summary of a group for results and heartbeats. */
export interface AutoScalingGroupState {
  groupName: string;
  minSize?: number;
  maxSize?: number;
  desiredCapacity?: number;
  inService: number;
  instances: { id?: string; lifecycle?: string; health?: string }[];
  targetGroupArns: string[];
}

const nonRetryable = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);

/** InService and Healthy: the instances that count. */
const isInService = (i: { LifecycleState?: string; HealthStatus?: string }) =>
  i.LifecycleState === 'InService' && (i.HealthStatus ?? 'Healthy') === 'Healthy';

function stateOf(group: AutoScalingGroup): AutoScalingGroupState {
  const instances = group.Instances ?? [];
  return {
    groupName: group.AutoScalingGroupName ?? '',
    minSize: group.MinSize,
    maxSize: group.MaxSize,
    desiredCapacity: group.DesiredCapacity,
    inService: instances.filter(isInService).length,
    instances: instances.map((i) => ({ id: i.InstanceId, lifecycle: i.LifecycleState, health: i.HealthStatus })),
    targetGroupArns: group.TargetGroupARNs ?? [],
  };
}

/** ValidationError is how Auto Scaling and ELB refuse a request (bad sizes, bad ARN): retrying cannot fix it. */
function call<T>(what: string, permission: string, run: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
  return awsCall(what, permission, async (abortSignal) => {
    try {
      return await run(abortSignal);
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'ValidationError' || name === 'TargetGroupNotFoundException' || name === 'InvalidTargetException')
        throw nonRetryable(`${what}: ${name}: ${(error as Error).message}`, name);
      throw error;
    }
  });
}

export function createAutoScalingActivities(
  aws: AwsClients,
  { pollIntervalMs = 15_000, maxWaitMs = 30 * 60_000 }: { pollIntervalMs?: number; maxWaitMs?: number } = {},
) {
  async function describe(ref: AutoScalingGroupRef, what: string): Promise<AutoScalingGroup> {
    const { AutoScalingGroups = [] } = await call(what, 'autoscaling:DescribeAutoScalingGroups', (abortSignal) =>
      aws
        .autoscaling(ref.region)
        .send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [ref.groupName] }), { abortSignal }),
    );
    const group = AutoScalingGroups.find((g) => g.AutoScalingGroupName === ref.groupName);
    if (!group)
      throw nonRetryable(
        `${what}: Auto Scaling group ${ref.groupName} does not exist in ${ref.region}`,
        'GroupNotFound',
      );
    return group;
  }

  return {
    /** Reads the group: sizes, instances, target groups. Never changes anything. */
    async describeAutoScalingGroup(input: AutoScalingGroupRef) {
      return stateOf(await describe(input, `describe Auto Scaling group ${input.groupName} (${input.region})`));
    },

    /**
     * Sets the group's min, max and desired capacity (UpdateAutoScalingGroup), only those that
     * differ: a retry, or a group already at that capacity, sends nothing.
     */
    async setAutoScalingCapacity(input: AutoScalingCapacityInput) {
      const what = `set capacity of Auto Scaling group ${input.groupName} (${input.region}) to ${input.desiredCapacity}`;
      const group = await describe(input, what);
      const before = { minSize: group.MinSize, maxSize: group.MaxSize, desiredCapacity: group.DesiredCapacity };
      const change = {
        ...(input.minSize !== undefined && input.minSize !== group.MinSize ? { MinSize: input.minSize } : {}),
        ...(input.maxSize !== undefined && input.maxSize !== group.MaxSize ? { MaxSize: input.maxSize } : {}),
        ...(input.desiredCapacity !== group.DesiredCapacity ? { DesiredCapacity: input.desiredCapacity } : {}),
      };
      const min = change.MinSize ?? group.MinSize ?? 0;
      const max = change.MaxSize ?? group.MaxSize ?? 0;
      if (input.desiredCapacity < min || input.desiredCapacity > max)
        throw nonRetryable(
          `${what}: ${input.desiredCapacity} is outside the group's sizes ${min}–${max}; set minSize/maxSize in the plan`,
          'CapacityOutOfRange',
        );
      if (Object.keys(change).length === 0) {
        log.info('The group already has this capacity; nothing to change', input);
        return { ...stateOf(group), before, changedNow: false };
      }
      await call(what, 'autoscaling:UpdateAutoScalingGroup', (abortSignal) =>
        aws
          .autoscaling(input.region)
          .send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: input.groupName, ...change }), {
            abortSignal,
          }),
      );
      log.info('Capacity set', { ...input, before });
      return { ...stateOf(await describe(input, what)), before, changedNow: true };
    },

    /**
     * Polls until the group has `desiredCapacity` (the group's own when absent) InService, Healthy
     * instances, heartbeating its state. After `maxWaitMs` the attempt fails retryably.
     */
    async waitForAutoScalingInService(input: AutoScalingGroupRef & { desiredCapacity?: number }) {
      const what = `wait for Auto Scaling group ${input.groupName} (${input.region}) to have its instances InService`;
      const deadline = Date.now() + maxWaitMs;
      for (;;) {
        const state = stateOf(await describe(input, what));
        const wanted = input.desiredCapacity ?? state.desiredCapacity ?? 0;
        if (state.inService >= wanted) return { ...state, wanted };
        heartbeat(state);
        if (Date.now() > deadline) {
          const others = state.instances
            .filter((i) => i.lifecycle !== 'InService' || i.health !== 'Healthy')
            .map((i) => `${i.id} ${i.lifecycle} ${i.health}`)
            .join(', ');
          throw ApplicationFailure.retryable(
            `${what}: ${state.inService} of ${wanted} instances InService after ${Math.round(maxWaitMs / 1000)} seconds${others ? `; others: ${others}` : ''}`,
            'AutoScalingNotInService',
          );
        }
        await sleep(pollIntervalMs); // rejects at once on cancellation
      }
    },

    /**
     * Checks every target of each target group (DescribeTargetHealth): all must be healthy, and each
     * group must have at least one target. Otherwise fails retryably, naming the unhealthy targets
     * and their reasons (targets may still be passing their health checks).
     */
    async checkTargetHealth(input: { region: string; targetGroupArns: string[] }) {
      const what = `check ELB target health in ${input.region}`;
      const groups = [];
      const problems: string[] = [];
      for (const arn of input.targetGroupArns) {
        const { TargetHealthDescriptions = [] } = await call(
          `${what}: target group ${arn}`,
          'elasticloadbalancing:DescribeTargetHealth',
          (abortSignal) =>
            aws.elbv2(input.region).send(new DescribeTargetHealthCommand({ TargetGroupArn: arn }), { abortSignal }),
        );
        const targets = TargetHealthDescriptions.map((d) => ({
          id: d.Target?.Id ?? '',
          port: d.Target?.Port,
          state: d.TargetHealth?.State ?? 'unknown',
          reason: d.TargetHealth?.Reason,
          description: d.TargetHealth?.Description,
        }));
        const unhealthy = targets.filter((t) => t.state !== 'healthy');
        if (targets.length === 0) problems.push(`${arn}: no targets registered`);
        if (unhealthy.length)
          problems.push(
            `${arn}: ${unhealthy.map((t) => `${t.id}${t.port ? `:${t.port}` : ''} ${t.state}${t.reason ? ` (${t.reason}${t.description ? `: ${t.description}` : ''})` : ''}`).join(', ')}`,
          );
        groups.push({ targetGroupArn: arn, healthy: targets.length - unhealthy.length, targets });
        heartbeat({ checked: groups.length });
      }
      if (problems.length)
        throw ApplicationFailure.retryable(`${what}: unhealthy targets: ${problems.join('; ')}`, 'TargetsUnhealthy');
      return { targetGroups: groups };
    },
  };
}
