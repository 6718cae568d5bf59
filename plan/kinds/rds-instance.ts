import { z } from 'zod';
import type { RdsRestoreInput, RdsSource } from '../../activities/rds';
import { resource } from '../drill-guard';
import { automate, dataComponentSchema, region, sh, type KindDefinition } from './define';

export const schema = dataComponentSchema('rds-instance', {
  instanceId: z
    .string()
    .regex(/^[a-zA-Z][a-zA-Z0-9-]{0,62}$/, 'expected an RDS DB instance identifier')
    .describe('Source DB instance'),
  region,
  sourceRegion: region
    .optional()
    .describe(
      'Region of the source instance when it is not `region`: the restore then reads its automated backups replicated into `region`',
    ),
  targetInstanceId: z.string().optional().describe('Instance to restore into; default <instanceId>-restored'),
  instanceClass: z
    .string()
    .optional()
    .describe('DB instance class of the restored instance; the source class when absent'),
  subnetGroup: z.string().optional().describe('DB subnet group of the restored instance'),
  cutover: z
    .enum(['none', 'rename'])
    .default('none')
    .describe('rename: swap identifiers so clients reach the restored instance at the old endpoint'),
});

export type RdsInstanceComponent = z.infer<typeof schema>;

/** An RDS DB instance restored to a point in time into a new instance. */
export const rdsInstanceKind: KindDefinition<RdsInstanceComponent> = {
  kind: 'rds-instance',
  title: 'Amazon RDS DB instance',
  stateful: true,
  tier: 'data',
  defaultEstimate: '1h',
  schema,
  permissions: [
    'rds:DescribeDBInstances',
    'rds:DescribeDBInstanceAutomatedBackups',
    'rds:RestoreDBInstanceToPointInTime',
    'rds:AddTagsToResource',
    'rds:ModifyDBInstance',
    'rds:DeleteDBInstance',
  ],
  productionResources(c) {
    const crossRegion = c.sourceRegion !== undefined && c.sourceRegion !== c.region;
    return [
      resource.aws('rds', c.sourceRegion ?? c.region, c.instanceId),
      resource.aws('rds', c.region, c.targetInstanceId ?? `${c.instanceId}-restored`),
      ...(c.cutover === 'rename' && !crossRegion
        ? [resource.aws('rds', c.region, c.instanceId), resource.aws('rds', c.region, `${c.instanceId}-before-restore`)]
        : []),
    ];
  },
  teardown(c, { drillSuffix }) {
    const drill = `${c.instanceId}${drillSuffix}`;
    const aws = `aws rds --region ${c.region}`;
    const from: RdsSource = {
      sourceInstanceId: c.instanceId,
      region: c.region,
      ...(c.sourceRegion !== undefined && c.sourceRegion !== c.region ? { sourceRegion: c.sourceRegion } : {}),
    };
    return [
      {
        id: 'delete-drill-instance',
        title: `Delete the drill instance ${drill} in ${c.region}`,
        does: `Deletes ${drill} without a final snapshot, once RDS accepts it (an instance still being restored is waited for), and waits until it is gone. Nothing to do when it does not exist.`,
        command: `${aws} delete-db-instance --db-instance-identifier ${sh(drill)} --skip-final-snapshot --delete-automated-backups\n${aws} wait db-instance-deleted --db-instance-identifier ${sh(drill)}`,
        validate: `${aws} describe-db-instances --db-instance-identifier ${sh(drill)}   # DBInstanceNotFound`,
        automation: automate('deleteRdsDrillInstance', { ...from, instanceId: drill }, 'long', [
          resource.aws('rds', c.region, drill),
        ]),
      },
    ];
  },
  steps(c, { mode, targetTime, drillSuffix }) {
    const aws = `aws rds --region ${c.region}`;
    const source = c.instanceId;
    const target = mode === 'drill' ? `${source}${drillSuffix}` : (c.targetInstanceId ?? `${source}-restored`);
    const aside = `${source}-before-restore`;
    const crossRegion = c.sourceRegion !== undefined && c.sourceRegion !== c.region;
    /** A value of the source instance, looked up when the command runs. */
    const fromSource = (query: string) =>
      `$(${aws} describe-db-instances --db-instance-identifier ${sh(source)} --query ${sh(query)} --output text)`;
    /** The source's automated backups replicated into this region (identifiers are plain: no quoting needed). */
    const replicated = (path: string) =>
      `${aws} describe-db-instance-automated-backups --query "DBInstanceAutomatedBackups[?DBInstanceIdentifier=='${source}']${path}"`;
    const describe = (id: string) =>
      `${aws} describe-db-instances --db-instance-identifier ${sh(id)} --query 'DBInstances[0].[DBInstanceStatus,Endpoint.Address,Endpoint.Port]' --output text`;
    /** A rename makes the new identifier unknown for a while, which ends `aws rds wait` at once: poll instead. */
    const rename = (from: string, to: string) =>
      [
        `${aws} modify-db-instance --db-instance-identifier ${sh(from)} --new-db-instance-identifier ${sh(to)} --apply-immediately`,
        `until [ "$(${aws} describe-db-instances --db-instance-identifier ${sh(to)} --query 'DBInstances[0].DBInstanceStatus' --output text 2>/dev/null)" = available ]; do sleep 30; done`,
      ].join('\n');
    const deleteTarget = `${aws} delete-db-instance --db-instance-identifier ${sh(target)} --skip-final-snapshot`;
    /** Names the source in every activity's input: the restored instance is tagged with it, and checked against it. */
    const from: RdsSource = {
      sourceInstanceId: source,
      region: c.region,
      ...(crossRegion ? { sourceRegion: c.sourceRegion } : {}),
    };
    const checkSource = {
      activity: 'checkRdsRestoreSource' as const,
      input: { ...from, targetTime },
      profile: 'short' as const,
      writes: [],
    };

    const steps = [
      crossRegion
        ? {
            id: 'check-source',
            title: 'Find the replicated backups and their restorable window',
            does: `${source} lives in ${c.sourceRegion}; its automated backups replicated into ${c.region} are what is restored. The target time must lie inside their restore window.`,
            command: replicated(
              '.[DBInstanceAutomatedBackupsArn,Status,RestoreWindow.EarliestTime,RestoreWindow.LatestTime]',
            ),
            validate: `${replicated(' | [0].RestoreWindow')}   # EarliestTime ≤ ${targetTime} ≤ LatestTime`,
            automation: checkSource,
          }
        : {
            id: 'check-source',
            title: 'Check the source instance and its restorable window',
            does: `The target time must lie between the earliest automated backup of ${source} and its LatestRestorableTime, usually about five minutes ago.`,
            command: `${aws} describe-db-instances --db-instance-identifier ${sh(source)} --query 'DBInstances[0].[DBInstanceStatus,LatestRestorableTime,BackupRetentionPeriod,DBInstanceClass,MultiAZ]'`,
            validate: `${aws} describe-db-instance-automated-backups --db-instance-identifier ${sh(source)} --query 'DBInstanceAutomatedBackups[0].RestoreWindow'   # EarliestTime ≤ ${targetTime} ≤ LatestTime`,
            automation: checkSource,
          },
      {
        id: 'restore',
        title: 'Restore the instance to the target time into a new instance',
        does: [
          `Creates ${target} as of ${targetTime}; RDS never restores over an existing instance. For the latest restorable time instead, replace \`--restore-time …\` with \`--use-latest-restorable-time\`.`,
          crossRegion
            ? `The source's security groups and parameter group belong to ${c.sourceRegion}: RDS gives the new instance the default ones of ${c.region}${c.subnetGroup ? '' : ' and the default subnet group'}, set right in apply-settings.`
            : 'RDS would otherwise use the default subnet group, security group and parameter group: the source’s are passed.',
        ].join(' '),
        command: [
          `${aws} restore-db-instance-to-point-in-time \\`,
          crossRegion
            ? `  --source-db-instance-automated-backups-arn "$(${replicated(' | [0].DBInstanceAutomatedBackupsArn')} --output text)" \\`
            : `  --source-db-instance-identifier ${sh(source)} \\`,
          `  --target-db-instance-identifier ${sh(target)} \\`,
          ...(c.instanceClass ? [`  --db-instance-class ${sh(c.instanceClass)} \\`] : []),
          ...(c.subnetGroup
            ? [`  --db-subnet-group-name ${sh(c.subnetGroup)} \\`]
            : crossRegion
              ? []
              : [`  --db-subnet-group-name ${fromSource('DBInstances[0].DBSubnetGroup.DBSubnetGroupName')} \\`]),
          ...(crossRegion
            ? []
            : [
                `  --vpc-security-group-ids ${fromSource('DBInstances[0].VpcSecurityGroups[].VpcSecurityGroupId')} \\`,
                `  --db-parameter-group-name ${fromSource('DBInstances[0].DBParameterGroups[0].DBParameterGroupName')} \\`,
              ]),
          targetTime === 'latest' ? '  --use-latest-restorable-time' : `  --restore-time ${sh(targetTime)}`,
        ].join('\n'),
        validate: `${aws} describe-db-instances --db-instance-identifier ${sh(target)} --query 'DBInstances[0].DBInstanceStatus'   # "creating"`,
        rollback:
          mode === 'drill' ? `${deleteTarget}   # tears the drill instance down once the drill is over` : deleteTarget,
        automation: {
          activity: 'restoreRdsInstanceToPointInTime' as const,
          input: {
            ...from,
            targetInstanceId: target,
            targetTime,
            ...(c.instanceClass ? { instanceClass: c.instanceClass } : {}),
            ...(c.subnetGroup ? { subnetGroup: c.subnetGroup } : {}),
          } satisfies RdsRestoreInput,
          profile: 'short' as const,
          writes: [resource.aws('rds', c.region, target)],
        },
      },
      {
        id: 'wait-available',
        title: 'Wait until the restored instance is available',
        does: 'Replaying the logs takes from minutes to hours. The waiter gives up after 30 minutes: run it again until it returns.',
        command: `${aws} wait db-instance-available --db-instance-identifier ${sh(target)}`,
        validate: `${describe(target)}   # available, with an endpoint address and port`,
        automation: automate('waitForRdsInstanceAvailable', { instanceId: target, region: c.region }, 'long', []),
      },
      {
        id: 'validate',
        title: 'Check the restored instance’s settings and data',
        does: `Compare ${target}'s settings with the source's, then connect to its endpoint with the database client and count the rows of a few key tables.`,
        command: `${aws} describe-db-instances --db-instance-identifier ${sh(target)} --query 'DBInstances[0].{status:DBInstanceStatus,endpoint:Endpoint.Address,class:DBInstanceClass,multiAZ:MultiAZ,securityGroups:VpcSecurityGroups[].VpcSecurityGroupId,parameterGroups:DBParameterGroups[].DBParameterGroupName}'`,
        validate: `${describe(target)}   # available; row counts of key tables are those expected at ${targetTime}`,
        // Checks status, endpoint and settings, and reports the recovery point; row counts need the database's own client.
        automation: automate('validateRdsInstance', { ...from, instanceId: target }, 'short', []),
      },
    ];
    if (mode === 'drill') return steps;

    const cutover =
      c.cutover === 'rename' && !crossRegion
        ? [
            {
              id: 'rename-old',
              title: 'Rename the old instance aside',
              does: `Frees the identifier ${source}, and with it its endpoint name, for the restored instance. The old instance is kept, renamed ${aside}; its clients lose their connections.`,
              command: rename(source, aside),
              validate: `${describe(aside)}   # available`,
              rollback: rename(aside, source),
              automation: automate(
                'renameRdsInstanceAside',
                { ...from, asideInstanceId: aside, restoredInstanceId: target },
                'long',
              ),
            },
            {
              id: 'rename-restored',
              title: 'Give the restored instance the original identifier',
              does: `${target} becomes ${source}, so clients reach it at the old endpoint once DNS follows (a few minutes).`,
              command: rename(target, source),
              validate: `${describe(source)}   # available, at the old endpoint address`,
              rollback: `${rename(source, target)}\n${rename(aside, source)}`,
              automation: automate('renameRestoredRdsInstance', { ...from, restoredInstanceId: target }, 'long'),
            },
          ]
        : [
            {
              id: 'cut-over',
              title: 'Point the applications at the restored instance',
              does: `Switch the applications' database host to ${target}'s endpoint (the ecs-service steps redeploy them).${c.cutover === 'rename' ? ' Endpoints are regional: a rename cannot give the restored instance the old endpoint.' : ''}`,
              command: `# set the database host your services read (parameter, secret, environment) to the endpoint of ${target}:\n${aws} describe-db-instances --db-instance-identifier ${sh(target)} --query 'DBInstances[0].Endpoint.Address' --output text`,
              rollback: `# set it back to the endpoint of ${source}`,
            },
          ];
    const renamed = c.cutover === 'rename' && !crossRegion;
    const settings = crossRegion
      ? {
          id: 'apply-settings',
          title: 'Give the restored instance its security groups and parameter group',
          does: `The ones ${c.region}'s infrastructure defines for this database (its Terraform outputs, for instance). A restored instance is single-AZ: add \`--multi-az\` if the source was Multi-AZ.`,
          command: `${aws} modify-db-instance --db-instance-identifier ${sh(target)} --vpc-security-group-ids <SECURITY_GROUP_IDS> --db-parameter-group-name <PARAMETER_GROUP> --apply-immediately`,
          validate: `${aws} describe-db-instances --db-instance-identifier ${sh(target)} --query 'DBInstances[0].[VpcSecurityGroups[].VpcSecurityGroupId,DBParameterGroups[].[DBParameterGroupName,ParameterApplyStatus]]'   # the new groups; reboot if the parameter group is pending-reboot`,
        }
      : {
          id: 'multi-az',
          title: 'Make the restored instance Multi-AZ if the source was',
          does: 'A restored instance is single-AZ; the conversion runs in the background, without downtime.',
          command: [
            `if [ "$(${aws} describe-db-instances --db-instance-identifier ${sh(renamed ? aside : source)} --query 'DBInstances[0].MultiAZ' --output text)" = True ]; then`,
            `  ${aws} modify-db-instance --db-instance-identifier ${sh(renamed ? source : target)} --multi-az --apply-immediately`,
            'fi',
          ].join('\n'),
          validate: `${aws} describe-db-instances --db-instance-identifier ${sh(renamed ? source : target)} --query 'DBInstances[0].[MultiAZ,DBInstanceStatus]'   # same MultiAZ as the source once the modification ends`,
          automation: automate('matchRdsMultiAz', {
            ...from,
            instanceId: renamed ? source : target,
            referenceInstanceId: renamed ? aside : source,
          }),
        };
    // Renames need an available instance, so a Multi-AZ conversion waits until after them.
    return crossRegion ? [...steps, settings, ...cutover] : [...steps, ...cutover, settings];
  },
};
