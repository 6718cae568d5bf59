import { z } from 'zod';
import type { TerraformInput, TerraformPlanInput } from '../../activities/terraform';
import { resource } from '../drill-guard';
import { automate, componentSchema, sh, type KindDefinition } from './define';

export const schema = componentSchema('terraform', {
  workingDir: z.string().describe('Directory of the root module'),
  binary: z.enum(['terraform', 'tofu']).default('terraform'),
  workspace: z.string().optional(),
  vars: z.record(z.string(), z.string()).default({}).describe('Input variables (-var name=value); never secrets'),
  varFiles: z.array(z.string()).default([]),
});

export type TerraformComponent = z.infer<typeof schema>;

/** Infrastructure re-created from code: plan, then apply that saved plan. */
export const terraformKind: KindDefinition<TerraformComponent> = {
  kind: 'terraform',
  title: 'Terraform / OpenTofu root module',
  stateful: false,
  tier: 'infrastructure',
  defaultEstimate: '30m',
  schema,
  productionResources(c) {
    const dir = resource.dir(c.workingDir);
    return [dir, `terraform:${dir.slice('dir:'.length)}#${c.workspace ?? 'default'}`];
  },
  teardown(c, { drillSuffix }) {
    const planFile = `recovery${drillSuffix}.tfplan`;
    return [
      {
        id: 'remove-drill-plan',
        title: `Remove the drill's saved plan ${planFile} from ${c.workingDir}`,
        does: `The drill only planned: the infrastructure and its state are unchanged. Its saved plan, ${planFile}, is deleted; nothing else in ${c.workingDir} is touched.`,
        command: `rm -f ${sh(`${c.workingDir}/${planFile}`)}`,
        // The drill's own file, which its plan step wrote: no production resource.
        automation: automate('removeTerraformDrillPlan', { workingDir: c.workingDir, planFile }, 'short', []),
      },
    ];
  },
  steps(c, { mode, drillSuffix }) {
    const tf = c.binary;
    const cd = `cd ${sh(c.workingDir)}`;
    const planFile = mode === 'drill' ? `recovery${drillSuffix}.tfplan` : 'recovery.tfplan';
    // Later options win: the plan's own vars override its var files.
    const inputs = [
      ...c.varFiles.map((file) => `-var-file=${sh(file)}`),
      ...Object.entries(c.vars).map(([name, value]) => `-var ${sh(`${name}=${value}`)}`),
    ];
    const ref = {
      workingDir: c.workingDir,
      binary: c.binary,
      ...(c.workspace ? { workspace: c.workspace } : {}),
    } satisfies TerraformInput;
    const planInput = (lock: boolean) =>
      ({
        ...ref,
        vars: c.vars,
        varFiles: c.varFiles,
        planFile,
        ...(lock ? {} : { lock: false }),
      }) satisfies TerraformPlanInput;
    const lock =
      'If it fails with "Error acquiring the state lock", another run holds the state: wait for it. Only a person who knows that no one else is running may release the lock, with `' +
      `${tf} force-unlock <LOCK_ID>\`.`;

    /**
     * A drill only plans, without the lock: neither the infrastructure nor its state changes. init's
     * provider cache (.terraform) and the saved drill plan are the worker's working files.
     */
    const readOnly = mode === 'drill' ? { writes: [] } : {};
    const steps = [
      {
        id: 'init',
        title: 'Initialise the working directory',
        does: `Installs the providers and modules of ${c.workingDir} and connects to its state backend. ${lock}`,
        command: `${cd}\n${tf} init -input=false`,
        validate: `${cd} && ${tf} validate   # "Success! The configuration is valid."`,
        automation: { activity: 'terraformInit' as const, input: ref, profile: 'short' as const, ...readOnly },
      },
      ...(c.workspace
        ? [
            {
              id: 'select-workspace',
              title: `Select the ${c.workspace} workspace`,
              does: `The state of workspace ${c.workspace} is the one planned and applied.`,
              command: `${cd}\n${tf} workspace select ${sh(c.workspace)}`,
              validate: `${cd} && ${tf} workspace show   # ${c.workspace}`,
              automation: {
                ...automate('terraformSelectWorkspace', { ...ref, workspace: c.workspace }),
                ...readOnly,
              },
            },
          ]
        : []),
    ];

    if (mode === 'drill') {
      return [
        ...steps,
        {
          id: 'plan',
          title: 'Plan the recovery, without applying it',
          does: `A drill never applies: it shows what a recovery would change. -lock=false keeps it from holding the state lock a real recovery needs.`,
          command: `${cd}\n${[tf, 'plan', '-input=false', '-lock=false', `-out=${planFile}`, ...inputs].join(' ')}`,
          validate: `${cd} && ls -l ${planFile}   # the saved plan`,
          rollback: `${cd} && rm -f ${planFile}`,
          automation: {
            activity: 'terraformPlan' as const,
            input: planInput(false),
            profile: 'short' as const,
            writes: [],
          },
        },
        {
          id: 'show-plan',
          title: 'Review the plan',
          does: 'For an intact environment the plan shows no changes; otherwise it lists what a recovery would create, change or destroy.',
          command: `${cd}\n${tf} show ${planFile}`,
          validate: `${cd} && ${tf} show -no-color ${planFile} | grep -E '^(Plan:|No changes)'   # "No changes." for an intact environment, or a Plan: line you can explain`,
          automation: { coveredBy: 'plan' }, // the plan activity's result holds its summary line
        },
      ];
    }

    return [
      ...steps,
      {
        id: 'plan',
        title: 'Plan the recovery and save the plan',
        does: `Compares the code with what exists and saves the actions to ${planFile}, so that exactly what was reviewed is applied. ${lock}`,
        command: `${cd}\n${[tf, 'plan', '-input=false', `-out=${planFile}`, ...inputs].join(' ')}`,
        validate: `${cd} && ${tf} show -no-color ${planFile} | grep -E '^(Plan:|No changes)|will be destroyed'   # review the actions; stop if it destroys anything that holds data`,
        rollback: `${cd} && rm -f ${planFile}   # nothing is changed until apply`,
        automation: { activity: 'terraformPlan' as const, input: planInput(true), profile: 'short' as const },
      },
      {
        id: 'apply',
        title: 'Apply the saved plan',
        does: 'Carries out the reviewed plan without asking again. If the state changed since the plan, apply refuses the stale plan: plan again.',
        command: `${cd}\n${tf} apply -input=false ${planFile}`,
        validate: `${cd}\n${[tf, 'plan', '-input=false', '-detailed-exitcode', ...inputs].join(' ')}   # exit status 0: nothing is left to change`,
        rollback: [
          '# no automatic undo: check out the previous revision of the code and variables, then plan and apply again;',
          `# a resource that should not exist: ${tf} destroy -target=<ADDRESS>`,
        ].join('\n'),
        // Applies the saved plan; a retry plans again and applies only if something is left to change.
        automation: { activity: 'terraformApply' as const, input: planInput(true), profile: 'long' as const },
      },
      {
        id: 'outputs',
        title: 'Capture the outputs',
        does: 'Endpoints and identifiers of what was created, for the steps that follow. The file holds sensitive outputs in clear text: keep it private and delete it when the recovery is over.',
        command: `${cd}\n(umask 077 && ${tf} output -json > recovery-outputs.json)`,
        validate: `jq 'keys' ${sh(`${c.workingDir}/recovery-outputs.json`)}`,
        // The outputs go into the report, sensitive ones redacted; no file is written.
        automation: { activity: 'terraformOutputs' as const, input: ref, profile: 'short' as const },
      },
    ];
  },
};
