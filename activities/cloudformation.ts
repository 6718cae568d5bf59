/**
 * CloudFormation stack recovery: validate the template and read the stack, update it (or create it
 * when missing; with `recreate`, delete and create again a stack left in a failed terminal state),
 * wait for a *_COMPLETE state, report the outputs. A healthy stack is never deleted.
 *
 * Idempotency. Every UpdateStack, CreateStack and DeleteStack carries a ClientRequestToken derived
 * from the recovery, the stack and the stack's state before the call: a call retried before the
 * stack moved (by the SDK, or by the activity after a lost response) is deduplicated by AWS. Once
 * the stack moved, the activity reads it first: an operation of this recovery in progress is not
 * started again (the wait follows it), and an update that is already applied answers "No updates
 * are to be performed", which is success.
 */
import {
  AlreadyExistsException,
  CreateStackCommand,
  DeleteStackCommand,
  DescribeStackEventsCommand,
  DescribeStacksCommand,
  GetTemplateCommand,
  UpdateStackCommand,
  ValidateTemplateCommand,
  type Capability,
  type Parameter,
  type Stack,
  type StackEvent,
} from '@aws-sdk/client-cloudformation';
import { activityInfo, heartbeat, log, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { AwsClients } from './aws-clients';
import { awsCall } from './aws-errors';

export interface CloudFormationStackRef {
  stackName: string;
  region: string;
}

export interface CloudFormationTemplate {
  /** Path of the template on the worker, sent as TemplateBody. */
  templateFile?: string;
  /** S3 URL of the template. */
  templateUrl?: string;
  /** A drill: the template of this (production) stack, only read. */
  templateFromStack?: string;
}

export interface CloudFormationDeployInput extends CloudFormationStackRef, CloudFormationTemplate {
  parameters?: Record<string, string>;
  capabilities?: string[];
  /** `update` (default) never deletes; `recreate` deletes and creates again a stack in a failed terminal state. */
  action?: 'update' | 'recreate';
}

/** A summary of a stack for results and heartbeats. */
export interface CloudFormationStackState {
  stackName: string;
  exists: boolean;
  stackId?: string;
  status?: string;
  statusReason?: string;
  lastChange?: string;
  outputs: Record<string, string>;
}

const nonRetryable = (message: string, type: string) => ApplicationFailure.nonRetryable(message, type);

/** States a stack stays in until someone acts, and that mean the last operation failed. */
const FAILED_TERMINAL = new Set(['CREATE_FAILED', 'ROLLBACK_COMPLETE', 'ROLLBACK_FAILED', 'DELETE_FAILED']);
const COMPLETE = new Set(['CREATE_COMPLETE', 'UPDATE_COMPLETE', 'IMPORT_COMPLETE']);
/** States after an update that did not go through: the wait fails on them. */
const FAILED = new Set([
  ...FAILED_TERMINAL,
  'UPDATE_FAILED',
  'UPDATE_ROLLBACK_COMPLETE',
  'UPDATE_ROLLBACK_FAILED',
  'IMPORT_ROLLBACK_COMPLETE',
  'IMPORT_ROLLBACK_FAILED',
  'DELETE_COMPLETE',
]);
/** CloudFormation refuses TemplateBody above 51,200 bytes: larger templates go through S3. */
const MAX_TEMPLATE_BODY = 51_200;

function stateOf(stackName: string, stack: Stack | undefined): CloudFormationStackState {
  if (!stack) return { stackName, exists: false, outputs: {} };
  return {
    stackName,
    exists: true,
    stackId: stack.StackId,
    status: stack.StackStatus,
    statusReason: stack.StackStatusReason,
    lastChange: (stack.LastUpdatedTime ?? stack.CreationTime)?.toISOString(),
    outputs: Object.fromEntries((stack.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? ''])),
  };
}

/** The recovery and component this call works for, without the run number (see activities/ecs.ts). */
const recoveryId = () => (activityInfo().workflowExecution?.workflowId ?? '').replace(/\/\d+$/, '');
const digest = (value: string, length: number) => createHash('sha256').update(value).digest('hex').slice(0, length);

/** `re-<recovery+stack>-`: the prefix of every token this recovery sends for this stack. */
export const tokenPrefix = (stackName: string) => `re-${digest(`${recoveryId()}\n${stackName}`, 16)}-`;

/**
 * The ClientRequestToken of `operation` on the stack as it is now: the same for a retry before the
 * stack moved (deduplicated by AWS), another once it moved (a new operation of the same recovery).
 */
const requestToken = (stackName: string, operation: string, stack: Stack | undefined) =>
  `${tokenPrefix(stackName)}${operation}-${digest(`${stack?.StackId ?? 'none'}\n${stateOf(stackName, stack).lastChange ?? ''}\n${stack?.StackStatus ?? ''}`, 12)}`;

/** The reason of the first resource that failed in the stack's latest operation, for failure messages. */
export function firstFailure(events: StackEvent[], stackName: string): string | undefined {
  // Events come newest first; the latest operation starts at the newest "User Initiated" stack event.
  const start = events.findIndex(
    (e) => e.LogicalResourceId === stackName && e.ResourceStatusReason === 'User Initiated',
  );
  const latest = start === -1 ? events : events.slice(0, start + 1);
  const failed = latest.filter((e) => e.ResourceStatus?.endsWith('_FAILED') && e.ResourceStatusReason);
  const first = failed[failed.length - 1];
  return (
    first && `${first.LogicalResourceId} (${first.ResourceType}) ${first.ResourceStatus}: ${first.ResourceStatusReason}`
  );
}

export function createCloudFormationActivities(
  aws: AwsClients,
  { pollIntervalMs = 15_000, maxWaitMs = 2 * 60 * 60_000 }: { pollIntervalMs?: number; maxWaitMs?: number } = {},
) {
  /** One call through awsCall; CloudFormation's ValidationError (a bad template or request) is non-retryable. */
  function cfnCall<T>(what: string, permission: string, run: (abortSignal: AbortSignal) => Promise<T>): Promise<T> {
    return awsCall(what, permission, async (abortSignal) => {
      try {
        return await run(abortSignal);
      } catch (error) {
        if (
          (error as Error).name === 'ValidationError' ||
          (error as Error).name === 'InsufficientCapabilitiesException'
        )
          throw nonRetryable(`${what}: ${(error as Error).name}: ${(error as Error).message}`, (error as Error).name);
        throw error;
      }
    });
  }

  /** The stack, any status; undefined when CloudFormation has no (undeleted) stack of that name. */
  async function describe(ref: CloudFormationStackRef, what: string): Promise<Stack | undefined> {
    try {
      const { Stacks = [] } = await awsCall(what, 'cloudformation:DescribeStacks', (abortSignal) =>
        aws.cloudformation(ref.region).send(new DescribeStacksCommand({ StackName: ref.stackName }), { abortSignal }),
      );
      return Stacks.find((s) => s.StackStatus !== 'DELETE_COMPLETE');
    } catch (error) {
      if ((error as Error).name === 'ValidationError' && /does not exist/.test((error as Error).message))
        return undefined;
      throw error;
    }
  }

  async function failureOf(ref: CloudFormationStackRef, stack: Stack, what: string): Promise<string | undefined> {
    const { StackEvents = [] } = await awsCall(what, 'cloudformation:DescribeStackEvents', (abortSignal) =>
      aws
        .cloudformation(ref.region)
        .send(new DescribeStackEventsCommand({ StackName: stack.StackId ?? ref.stackName }), { abortSignal }),
    );
    return firstFailure(StackEvents, ref.stackName);
  }

  /** The template to send: TemplateBody from a file or a production stack, or TemplateURL; none: the stack's own. */
  async function templateOf(input: CloudFormationTemplate, region: string, what: string) {
    const given = [input.templateFile, input.templateUrl, input.templateFromStack].filter(Boolean).length;
    if (given > 1) throw nonRetryable(`${what}: give templateFile or templateUrl, not both`, 'InvalidTemplateSource');
    if (input.templateUrl) return { TemplateURL: input.templateUrl };
    if (input.templateFromStack) {
      const source = input.templateFromStack;
      const { TemplateBody } = await cfnCall(what, 'cloudformation:GetTemplate', (abortSignal) =>
        aws
          .cloudformation(region)
          .send(new GetTemplateCommand({ StackName: source, TemplateStage: 'Original' }), { abortSignal }),
      );
      if (!TemplateBody) throw nonRetryable(`${what}: stack ${source} returned no template`, 'NoTemplate');
      return { TemplateBody };
    }
    if (input.templateFile) {
      let body: string;
      try {
        body = await readFile(input.templateFile, 'utf8');
      } catch (error) {
        throw nonRetryable(
          `${what}: cannot read template ${input.templateFile} on the worker: ${(error as Error).message}`,
          'TemplateNotReadable',
        );
      }
      if (Buffer.byteLength(body) > MAX_TEMPLATE_BODY)
        throw nonRetryable(
          `${what}: template ${input.templateFile} is over ${MAX_TEMPLATE_BODY} bytes: upload it to S3 and give templateUrl`,
          'TemplateTooLarge',
        );
      return { TemplateBody: body };
    }
    return undefined;
  }

  /**
   * Polls until the stack leaves its *_IN_PROGRESS states, heartbeating its state; `deleted` waits
   * for it to be gone. Returns the final stack (undefined once deleted).
   */
  async function settle(ref: CloudFormationStackRef, what: string, first: Stack | undefined) {
    const deadline = Date.now() + maxWaitMs;
    let stack = first;
    for (;;) {
      if (!stack || !stack.StackStatus?.endsWith('_IN_PROGRESS')) return stack;
      heartbeat(stateOf(ref.stackName, stack));
      if (Date.now() > deadline)
        throw ApplicationFailure.retryable(
          `${what}: stack ${ref.stackName} still ${stack.StackStatus} after ${Math.round(maxWaitMs / 1000)} seconds`,
          'CloudFormationStackInProgress',
        );
      await sleep(pollIntervalMs); // rejects at once on cancellation
      stack = await describe(ref, what);
    }
  }

  return {
    /**
     * Reads the stack (any state, or missing) and, when a template is given, validates it
     * (ValidateTemplate). Never changes anything.
     */
    async describeCloudFormationStack(input: CloudFormationStackRef & CloudFormationTemplate) {
      const what = `check CloudFormation stack ${input.stackName} (${input.region})`;
      const template = await templateOf(input, input.region, what);
      let templateValid: boolean | undefined;
      if (template) {
        await cfnCall(`${what}: validate template`, 'cloudformation:ValidateTemplate', (abortSignal) =>
          aws.cloudformation(input.region).send(new ValidateTemplateCommand(template), { abortSignal }),
        );
        templateValid = true;
      }
      return { ...stateOf(input.stackName, await describe(input, what)), templateValid };
    },

    /**
     * Updates the stack (UpdateStack; "No updates are to be performed" is success), or creates it
     * when missing. A stack in a failed terminal state (ROLLBACK_COMPLETE and the like) cannot be
     * updated: with `recreate` it is deleted and created again, otherwise the activity fails saying
     * so. A stack busy with this recovery's operation is left to the wait; with someone else's, the
     * attempt fails retryably. Does not wait for the operation: waitForCloudFormationStack does.
     */
    async deployCloudFormationStack(input: CloudFormationDeployInput) {
      const ref = { stackName: input.stackName, region: input.region };
      const action = input.action ?? 'update';
      const what = `${action === 'recreate' ? 'recreate or update' : 'update'} CloudFormation stack ${input.stackName} (${input.region})`;
      const template = await templateOf(input, input.region, what);
      const capabilities = input.capabilities?.length ? (input.capabilities as Capability[]) : undefined;
      const given: Parameter[] = Object.entries(input.parameters ?? {}).map(([ParameterKey, ParameterValue]) => ({
        ParameterKey,
        ParameterValue,
      }));
      const result = (stack: Stack | undefined, operation: string, sentNow: boolean) => ({
        ...stateOf(input.stackName, stack),
        operation,
        sentNow,
      });
      const cfn = aws.cloudformation(input.region);

      let stack = await describe(ref, what);
      if (stack?.StackStatus?.endsWith('_IN_PROGRESS')) {
        const { StackEvents = [] } = await awsCall(what, 'cloudformation:DescribeStackEvents', (abortSignal) =>
          cfn.send(new DescribeStackEventsCommand({ StackName: stack!.StackId }), { abortSignal }),
        );
        const latest = StackEvents.find((e) => e.LogicalResourceId === input.stackName);
        if (latest?.ClientRequestToken?.startsWith(tokenPrefix(input.stackName))) {
          log.info('This recovery already started an operation on the stack; the wait follows it', {
            ...ref,
            status: stack.StackStatus,
          });
          return result(stack, 'in-progress', false);
        }
        if (stack.StackStatus !== 'DELETE_IN_PROGRESS')
          throw ApplicationFailure.retryable(
            `${what}: stack ${input.stackName} is ${stack.StackStatus} (an operation not started by this recovery); retrying once it settles`,
            'CloudFormationStackBusy',
          );
        stack = await settle(ref, what, stack);
      }

      if (stack && FAILED_TERMINAL.has(stack.StackStatus ?? '')) {
        if (action !== 'recreate')
          throw nonRetryable(
            `${what}: stack ${input.stackName} is ${stack.StackStatus} and cannot be updated; set action: recreate to delete and create it again, or delete it by hand`,
            'CloudFormationStackNotUpdatable',
          );
        const reason = await failureOf(ref, stack, what);
        log.warn('Deleting the stack left in a failed state to create it again', {
          ...ref,
          status: stack.StackStatus,
          reason,
        });
        const token = requestToken(input.stackName, 'delete', stack);
        const stackId = stack.StackId;
        await cfnCall(what, 'cloudformation:DeleteStack', (abortSignal) =>
          cfn.send(new DeleteStackCommand({ StackName: stackId, ClientRequestToken: token }), { abortSignal }),
        );
        stack = await settle(ref, what, await describe(ref, what));
        if (stack)
          throw nonRetryable(
            `${what}: deleting stack ${input.stackName} ended ${stack.StackStatus}: ${(await failureOf(ref, stack, what)) ?? stack.StackStatusReason ?? 'no reason given'}`,
            'CloudFormationDeleteFailed',
          );
      }

      if (!stack) {
        if (!template)
          throw nonRetryable(
            `${what}: stack ${input.stackName} does not exist and no template is given (templateFile or templateUrl)`,
            'NoTemplate',
          );
        const token = requestToken(input.stackName, 'create', stack);
        try {
          await cfnCall(what, 'cloudformation:CreateStack', (abortSignal) =>
            cfn.send(
              new CreateStackCommand({
                StackName: input.stackName,
                ...template,
                Parameters: given,
                Capabilities: capabilities,
                ClientRequestToken: token,
              }),
              { abortSignal },
            ),
          );
        } catch (error) {
          // Created by an earlier attempt whose response was lost: the wait follows it.
          if (!(error instanceof AlreadyExistsException)) throw error;
          log.info('The stack appeared while creating it; the wait follows it', ref);
          return result(await describe(ref, what), 'create', false);
        }
        log.info('Stack creation started', ref);
        return result(await describe(ref, what), 'create', true);
      }

      if (stack.StackStatus === 'UPDATE_ROLLBACK_FAILED')
        throw nonRetryable(
          `${what}: stack ${input.stackName} is UPDATE_ROLLBACK_FAILED: fix the resources named in its events and run aws cloudformation continue-update-rollback by hand`,
          'CloudFormationStackNotUpdatable',
        );
      // Parameters the stack has and the plan does not name keep their values when the template is kept.
      const kept: Parameter[] = template
        ? []
        : (stack.Parameters ?? [])
            .filter((p) => p.ParameterKey && !(p.ParameterKey in (input.parameters ?? {})))
            .map((p) => ({ ParameterKey: p.ParameterKey, UsePreviousValue: true }));
      const token = requestToken(input.stackName, 'update', stack);
      try {
        await cfnCall(what, 'cloudformation:UpdateStack', (abortSignal) =>
          cfn.send(
            new UpdateStackCommand({
              StackName: input.stackName,
              ...(template ?? { UsePreviousTemplate: true }),
              Parameters: [...given, ...kept],
              Capabilities: capabilities,
              ClientRequestToken: token,
            }),
            { abortSignal },
          ),
        );
      } catch (error) {
        if (error instanceof ApplicationFailure && /No updates are to be performed/.test(error.message)) {
          log.info('The stack is already as asked; nothing to update', ref);
          return result(stack, 'none', false);
        }
        throw error;
      }
      log.info('Stack update started', ref);
      return result(await describe(ref, what), 'update', true);
    },

    /**
     * Polls until the stack reaches a *_COMPLETE state, heartbeating its state, and returns its
     * outputs. A failed state (ROLLBACK_COMPLETE, UPDATE_ROLLBACK_COMPLETE, *_FAILED) fails at once,
     * non-retryably, naming the stack and the first failed resource's reason.
     */
    async waitForCloudFormationStack(input: CloudFormationStackRef) {
      const what = `wait for CloudFormation stack ${input.stackName} (${input.region})`;
      const stack = await settle(input, what, await describe(input, what));
      if (!stack) throw nonRetryable(`${what}: stack ${input.stackName} does not exist`, 'CloudFormationStackNotFound');
      const state = stateOf(input.stackName, stack);
      if (COMPLETE.has(stack.StackStatus ?? '')) return state;
      const reason = FAILED.has(stack.StackStatus ?? '') ? await failureOf(input, stack, what) : undefined;
      throw nonRetryable(
        `CloudFormation stack ${input.stackName} (${input.region}) is ${stack.StackStatus}: ${reason ?? stack.StackStatusReason ?? 'no reason given'}`,
        'CloudFormationStackFailed',
      );
    },

    /**
     * Drill teardown: deletes the drill stack and waits until it is DELETE_COMPLETE; succeeds when
     * it does not exist. An operation still in progress on it (the drill's create) is waited for
     * first. The production stack is never deleted.
     */
    async deleteCloudFormationDrillStack(input: CloudFormationStackRef & { sourceStackName: string }) {
      const ref = { stackName: input.stackName, region: input.region };
      const what = `delete CloudFormation drill stack ${input.stackName} (${input.region})`;
      if (input.stackName === input.sourceStackName)
        throw nonRetryable(`${what}: it is the production stack itself`, 'DrillIsProduction');
      let stack = await describe(ref, what);
      if (stack && stack.StackStatus !== 'DELETE_IN_PROGRESS') stack = await settle(ref, what, stack);
      const deletedNow = !!stack && stack.StackStatus !== 'DELETE_IN_PROGRESS';
      if (stack && deletedNow) {
        const token = requestToken(input.stackName, 'delete', stack);
        const stackId = stack.StackId;
        await cfnCall(what, 'cloudformation:DeleteStack', (abortSignal) =>
          aws
            .cloudformation(input.region)
            .send(new DeleteStackCommand({ StackName: stackId, ClientRequestToken: token }), { abortSignal }),
        );
        log.info('Drill stack deletion started', { ...ref, status: stack.StackStatus });
      }
      if (stack) stack = await settle(ref, what, await describe(ref, what));
      if (stack)
        throw nonRetryable(
          `${what}: deleting it ended ${stack.StackStatus}: ${(await failureOf(ref, stack, what)) ?? stack.StackStatusReason ?? 'no reason given'}`,
          'CloudFormationDeleteFailed',
        );
      return { stackName: input.stackName, region: input.region, deletedNow };
    },
  };
}
