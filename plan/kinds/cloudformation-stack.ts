import { z } from 'zod';
import type { CloudFormationDeployInput } from '../../activities/cloudformation';
import { resource } from '../drill-guard';
import { automate, componentSchema, region, sh, type KindDefinition, type RunbookStep } from './define';

/** Parameter names that look like secrets: their values would land in the plan, the history and the runbook. */
const SECRET_KEY = /pass(word|wd|phrase)?$|secret|token|private.?key|api.?key|credential/i;

export const schema = componentSchema('cloudformation-stack', {
  stackName: z.string().regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'a CloudFormation stack name'),
  region,
  templateFile: z
    .string()
    .optional()
    .describe(
      'Path of the template on the worker (not with templateUrl); the stack keeps its template when neither is given',
    ),
  templateUrl: z.string().url().optional().describe('S3 URL of the template (not with templateFile)'),
  parameters: z
    .record(z.string(), z.string())
    .default({})
    .refine((p) => !Object.keys(p).some((key) => SECRET_KEY.test(key)), {
      message:
        'parameters are written in plans, histories and runbooks: pass secrets through SSM or Secrets Manager dynamic references in the template, never as a parameter here',
    })
    .describe('Stack parameters (never secrets); parameters not named keep their values when the template is kept'),
  capabilities: z
    .array(z.enum(['CAPABILITY_IAM', 'CAPABILITY_NAMED_IAM', 'CAPABILITY_AUTO_EXPAND']))
    .optional()
    .describe('Capabilities the template needs'),
  action: z
    .enum(['update', 'recreate'])
    .default('update')
    .describe(
      'update: update the stack (create it when missing); recreate: also delete and create again a stack left in a failed state such as ROLLBACK_COMPLETE (a healthy stack is never deleted)',
    ),
});

export type CloudFormationStackComponent = z.infer<typeof schema>;

/** A CloudFormation stack updated (or created) from its template and waited complete. */
export const cloudFormationStackKind: KindDefinition<CloudFormationStackComponent> = {
  kind: 'cloudformation-stack',
  title: 'AWS CloudFormation stack',
  stateful: false,
  tier: 'infrastructure',
  defaultEstimate: '30m',
  schema,
  // Plus whatever the template's resources need, unless the stack has a service role.
  permissions: [
    'cloudformation:DescribeStacks',
    'cloudformation:DescribeStackEvents',
    'cloudformation:ValidateTemplate',
    'cloudformation:GetTemplate',
    'cloudformation:UpdateStack',
    'cloudformation:CreateStack',
    'cloudformation:DeleteStack',
  ],
  productionResources(c) {
    return [resource.aws('cloudformation', c.region, c.stackName)];
  },
  teardown(c, { drillSuffix }) {
    const drill = `${c.stackName}${drillSuffix}`;
    const aws = `aws cloudformation --region ${c.region}`;
    return [
      {
        id: 'delete-drill-stack',
        title: `Delete the drill stack ${drill} in ${c.region}`,
        does: `Deletes ${drill} and every resource it created, and waits until it is DELETE_COMPLETE; an operation still in progress on it is waited for first. Nothing to do when it does not exist.`,
        command: `${aws} delete-stack --stack-name ${sh(drill)}\n${aws} wait stack-delete-complete --stack-name ${sh(drill)}`,
        validate: `${aws} describe-stacks --stack-name ${sh(drill)}   # "Stack with id ${drill} does not exist"`,
        automation: automate(
          'deleteCloudFormationDrillStack',
          { stackName: drill, region: c.region, sourceStackName: c.stackName },
          'long',
          [resource.aws('cloudformation', c.region, drill)],
        ),
      },
    ];
  },
  steps(c, { mode, drillSuffix }) {
    const stackName = mode === 'drill' ? `${c.stackName}${drillSuffix}` : c.stackName;
    const aws = `aws cloudformation --region ${c.region}`;
    const stack = `--stack-name ${sh(stackName)}`;
    const drillTemplate = mode === 'drill' && !c.templateFile && !c.templateUrl;
    const templateFile = drillTemplate ? `/tmp/${stackName}.template` : c.templateFile;
    const template = templateFile
      ? `--template-body ${sh(`file://${templateFile}`)}`
      : c.templateUrl
        ? `--template-url ${sh(c.templateUrl)}`
        : undefined;
    const parameters = Object.entries(c.parameters).map(([key, value]) =>
      sh(`ParameterKey=${key},ParameterValue=${value}`),
    );
    const args = [
      ...(parameters.length ? [`--parameters ${parameters.join(' ')}`] : []),
      ...(c.capabilities?.length ? [`--capabilities ${c.capabilities.join(' ')}`] : []),
    ].join(' ');
    const create = `${aws} create-stack ${stack} ${template ?? '--template-body file://<TEMPLATE>'} ${args}`.trimEnd();
    const update = `${aws} update-stack ${stack} ${template ?? '--use-previous-template'} ${args}`.trimEnd();
    const status = `${aws} describe-stacks ${stack} --query 'Stacks[0].[StackStatus,StackStatusReason]' --output text`;
    const ref = { stackName, region: c.region };
    const source = drillTemplate ? { templateFromStack: c.stackName } : {};
    const templateInput = {
      ...(c.templateFile ? { templateFile: c.templateFile } : {}),
      ...(c.templateUrl ? { templateUrl: c.templateUrl } : {}),
      ...source,
    };
    const recreate = c.action === 'recreate';
    const failedStates = 'ROLLBACK_COMPLETE|ROLLBACK_FAILED|CREATE_FAILED|DELETE_FAILED';

    const copyTemplate: RunbookStep[] = drillTemplate
      ? [
          {
            id: 'copy-template',
            title: 'Copy the production stack’s template',
            does: `${c.stackName} is only read: the drill stack ${stackName} is created from its template. Resources with fixed names in the template collide with production's: give the drill its own template (templateFile) if it has any.`,
            command: `${aws} get-template --stack-name ${sh(c.stackName)} --template-stage Original --query TemplateBody --output json | jq -r 'if type == "string" then . else tojson end' > ${sh(templateFile!)}`,
            validate: `${aws} validate-template --template-body ${sh(`file://${templateFile}`)}   # no error`,
            automation: { coveredBy: 'deploy' },
          },
        ]
      : [];

    const deploy = [
      `STATUS=$(${aws} describe-stacks ${stack} --query 'Stacks[0].StackStatus' --output text 2>/dev/null || echo MISSING)`,
      'case "$STATUS" in',
      `  MISSING) ${create} ;;`,
      ...(recreate
        ? [
            `  ${failedStates}) ${aws} delete-stack ${stack} && ${aws} wait stack-delete-complete ${stack} && ${create} ;;`,
          ]
        : [`  ${failedStates}) echo "$STATUS: cannot be updated; delete the stack and create it again" >&2 ;;`]),
      `  *) ${update} ;;   # "No updates are to be performed" means the stack is already as asked`,
      'esac',
    ].join('\n');

    return [
      ...copyTemplate,
      {
        id: 'check',
        title:
          mode === 'drill'
            ? 'Validate the template and read the drill stack'
            : 'Validate the template and read the stack',
        does: `${template ? 'Checks the template, then shows' : 'Shows'} the stack's state: missing (it is created), *_COMPLETE (it is updated)${recreate ? ', or a failed state such as ROLLBACK_COMPLETE (it is deleted and created again)' : ', or a failed state such as ROLLBACK_COMPLETE (it cannot be updated: delete it by hand or set action: recreate)'}.`,
        command: `${template ? `${aws} validate-template ${template}\n` : ''}${status}`,
        validate: `${status}   # a *_COMPLETE state, or "does not exist"`,
        automation: automate('describeCloudFormationStack', { ...ref, ...templateInput }, 'short', []),
      },
      {
        id: 'deploy',
        title:
          mode === 'drill'
            ? `Create or update the drill stack ${stackName}`
            : 'Update the stack, or create it when missing',
        does: `${mode === 'drill' ? `A drill never touches ${c.stackName}: it creates or updates ${stackName} only. ` : ''}Updates ${stackName} from ${template ? 'the template' : 'its current template'} with the plan's parameters, or creates it when missing.${recreate ? ' A stack left in a failed state is deleted first; a healthy stack is never deleted.' : ''}`,
        command: deploy,
        validate: `${status}   # *_IN_PROGRESS, then *_COMPLETE`,
        rollback:
          mode === 'drill'
            ? `${aws} delete-stack ${stack}   # tears the drill stack down once the drill is over`
            : `${aws} cancel-update-stack ${stack}   # while the update runs; a failed update rolls itself back`,
        automation: {
          activity: 'deployCloudFormationStack',
          input: {
            ...ref,
            ...templateInput,
            parameters: c.parameters,
            ...(c.capabilities?.length ? { capabilities: c.capabilities } : {}),
            action: c.action,
          } satisfies CloudFormationDeployInput,
          profile: 'short',
          writes: [resource.aws('cloudformation', c.region, stackName)],
        },
      },
      {
        id: 'wait-complete',
        title: 'Wait until the stack operation is complete',
        does: 'The stack reaches CREATE_COMPLETE or UPDATE_COMPLETE. A rollback (ROLLBACK_COMPLETE, UPDATE_ROLLBACK_COMPLETE) means the change failed: the first failed resource in the events says why.',
        command: `${aws} wait stack-update-complete ${stack} || ${aws} wait stack-create-complete ${stack}`,
        validate: `${status}   # CREATE_COMPLETE or UPDATE_COMPLETE\n${aws} describe-stack-events ${stack} --query "StackEvents[?ends_with(ResourceStatus, '_FAILED')].[LogicalResourceId,ResourceStatusReason]" --output text   # empty when nothing failed`,
        automation: { activity: 'waitForCloudFormationStack', input: ref, profile: 'long', writes: [] },
      },
      {
        id: 'outputs',
        title: 'Report the stack outputs',
        does: 'The outputs (endpoints, ARNs) that the next components may need.',
        command: `${aws} describe-stacks ${stack} --query 'Stacks[0].Outputs' --output table`,
        automation: { coveredBy: 'wait-complete' },
      },
    ];
  },
};
