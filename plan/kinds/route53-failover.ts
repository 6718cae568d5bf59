import { z } from 'zod';
import { resource } from '../drill-guard';
import { componentSchema, sh, type KindDefinition, type RunbookStep } from './define';

const endpoint = z
  .object({
    setIdentifier: z.string().describe('SetIdentifier of the record, e.g. "Primary Region"'),
    value: z.string().describe('Record value: an IP address or host name'),
    healthCheckId: z.string().optional(),
  })
  .strict();

export const schema = componentSchema('route53-failover', {
  hostedZoneId: z.string().regex(/^Z[A-Z0-9]+$/, 'expected a hosted zone id such as Z123456ABCDEFG'),
  recordName: z.string().describe('e.g. myapp.example.com'),
  recordType: z.enum(['A', 'AAAA', 'CNAME']).default('A'),
  ttl: z.number().int().positive().default(60),
  primary: endpoint,
  secondary: endpoint,
  failoverTo: z
    .enum(['secondary', 'primary'])
    .default('secondary')
    .describe('secondary: fail over; primary: fail back'),
});

export type Route53FailoverComponent = z.infer<typeof schema>;
type Endpoint = z.infer<typeof endpoint>;

/** One failover record as Route 53's API takes it (and the AWS CLI's --change-batch JSON). */
export interface FailoverRecordSet {
  Name: string;
  Type: 'A' | 'AAAA' | 'CNAME';
  SetIdentifier: string;
  Failover: 'PRIMARY' | 'SECONDARY';
  TTL: number;
  ResourceRecords: { Value: string }[];
  HealthCheckId?: string;
}

export interface FailoverChangeBatch {
  Comment: string;
  Changes: { Action: 'UPSERT'; ResourceRecordSet: FailoverRecordSet }[];
}

/**
 * The change batch that makes Route 53 serve `serve` as the PRIMARY record and `standby` as the
 * SECONDARY one. Each record keeps its SetIdentifier and failover role; values and health checks move.
 * The runbook's manual command and the engine's activity send this very batch.
 */
export function failoverChangeBatch(
  c: Route53FailoverComponent,
  serve: Endpoint,
  standby: Endpoint,
  comment: string,
): FailoverChangeBatch {
  const record = (setIdentifier: string, failover: 'PRIMARY' | 'SECONDARY', target: Endpoint) => ({
    Action: 'UPSERT' as const,
    ResourceRecordSet: {
      Name: c.recordName,
      Type: c.recordType,
      SetIdentifier: setIdentifier,
      Failover: failover,
      TTL: c.ttl,
      ResourceRecords: [{ Value: target.value }],
      ...(target.healthCheckId ? { HealthCheckId: target.healthCheckId } : {}),
    },
  });
  return {
    Comment: comment,
    Changes: [
      record(c.primary.setIdentifier, 'PRIMARY', serve),
      record(c.secondary.setIdentifier, 'SECONDARY', standby),
    ],
  };
}

/** The failover record set, in the drill guard's names; Route 53 is global: the hosted zone takes the region's place. */
const recordSetOf = (c: Route53FailoverComponent) =>
  resource.aws('route53', c.hostedZoneId, c.recordName.replace(/\.$/, ''), c.recordType);

/** Route 53 failover records flipped between the primary and the secondary region. */
export const route53FailoverKind: KindDefinition<Route53FailoverComponent> = {
  kind: 'route53-failover',
  title: 'Amazon Route 53 DNS failover',
  stateful: false,
  tier: 'traffic',
  defaultEstimate: '10m',
  schema,
  permissions: [
    'route53:ListResourceRecordSets',
    'route53:GetHealthCheckStatus',
    'route53:ChangeResourceRecordSets',
    'route53:GetChange',
  ],
  productionResources(c) {
    return [recordSetOf(c)];
  },
  steps(c, { mode, drillSuffix }) {
    const toSecondary = c.failoverTo === 'secondary';
    const [serve, standby] = toSecondary ? [c.secondary, c.primary] : [c.primary, c.secondary];
    const changeBatch = failoverChangeBatch(
      c,
      serve,
      standby,
      `${c.id}: ${toSecondary ? 'fail over' : 'fail back'} ${c.recordName} to ${serve.setIdentifier}`,
    );
    const batch = JSON.stringify(changeBatch, null, 2);
    const undo = JSON.stringify(
      failoverChangeBatch(
        c,
        standby,
        serve,
        `${c.id}: undo, serve ${c.recordName} from ${standby.setIdentifier} again`,
      ),
      null,
      2,
    );
    // Read-only: the records named by the batch, compared with it; never changes anything.
    const inspect = {
      activity: 'checkRoute53Failover' as const,
      input: { hostedZoneId: c.hostedZoneId, changeBatch },
      profile: 'short' as const,
      writes: [],
    };
    const zone = `--hosted-zone-id ${c.hostedZoneId}`;
    const changeIdFile = `/tmp/${c.id}-change-id`;
    const change = (json: string) =>
      `aws route53 change-resource-record-sets ${zone} --change-batch ${sh(json)} --query 'ChangeInfo.Id' --output text | tee ${sh(changeIdFile)}`;
    const name = c.recordName.endsWith('.') ? c.recordName : `${c.recordName}.`;
    const records = (fields: string) =>
      `aws route53 list-resource-record-sets ${zone} --query "ResourceRecordSets[?Name == '${name}' && Type == '${c.recordType}']${fields}"`;
    const authoritative = `$(aws route53 get-hosted-zone --id ${c.hostedZoneId} --query 'DelegationSet.NameServers[0]' --output text)`;
    const dig = `dig +short ${sh(c.recordName)} ${c.recordType} @${authoritative}`;

    const steps: RunbookStep[] = [
      {
        id: 'inspect',
        title: 'Show the failover records as they are now',
        does: `Lists the PRIMARY and SECONDARY ${c.recordType} records of ${c.recordName}: which value each carries, with which health check.`,
        command: records(''),
        validate: `${records('.[SetIdentifier,Failover,ResourceRecords[0].Value,HealthCheckId]')} --output text   # ${c.primary.setIdentifier} PRIMARY and ${c.secondary.setIdentifier} SECONDARY; note the value PRIMARY carries now`,
        automation: inspect,
      },
      ...(serve.healthCheckId
        ? [
            {
              id: 'check-health',
              title: `Check the health of ${serve.setIdentifier}`,
              does: `Traffic must only move to an endpoint that answers: Route 53's checkers of ${serve.setIdentifier} (${serve.value}) should report success.`,
              command: `aws route53 get-health-check-status --health-check-id ${sh(serve.healthCheckId)} --query 'HealthCheckObservations[].[Region,StatusReport.Status]' --output text`,
              validate: `aws route53 get-health-check-status --health-check-id ${sh(serve.healthCheckId)} --query 'HealthCheckObservations[].StatusReport.Status' --output text | tr '\\t' '\\n' | grep -c '^Success'   # most of the checkers`,
              automation: {
                activity: 'checkRoute53Failover' as const,
                input: { hostedZoneId: c.hostedZoneId, healthCheckId: serve.healthCheckId },
                profile: 'short' as const,
                writes: [],
              },
            },
          ]
        : []),
    ];

    if (mode === 'drill') {
      const batchFile = `/tmp/${c.id}${drillSuffix}-change-batch.json`;
      return [
        ...steps,
        {
          id: 'show-change',
          title: 'Write down the change a recovery would make, without sending it',
          does: `A drill never changes DNS. A recovery sends this batch with \`aws route53 change-resource-record-sets ${zone} --change-batch file://${batchFile}\`: ${c.primary.setIdentifier} (PRIMARY) would carry ${serve.value}, ${c.secondary.setIdentifier} (SECONDARY) ${standby.value}.`,
          command: `cat > ${sh(batchFile)} <<'EOF'\n${batch}\nEOF\njq . ${sh(batchFile)}`,
          validate: `jq -r '.Changes[].ResourceRecordSet | [.Failover, .ResourceRecords[0].Value] | @tsv' ${sh(batchFile)}   # PRIMARY ${serve.value}, SECONDARY ${standby.value}`,
          // inspect compared the records with this very batch, without sending it.
          automation: { coveredBy: 'inspect' },
        },
        {
          id: 'validate',
          title: 'Check that DNS still answers as before',
          does: `Nothing was changed: the zone's name server still answers with the value PRIMARY carries (SECONDARY's if PRIMARY is unhealthy).`,
          command: dig,
          validate: `${records('.[Failover,ResourceRecords[0].Value]')} --output text   # the answer above is the PRIMARY value noted in inspect`,
          // A drill sends no change, so the records inspect read are still the ones served.
          automation: { coveredBy: 'inspect' },
        },
      ];
    }

    const answers = (value: string) => `${dig} | grep -Fx -e ${sh(value)} -e ${sh(`${value}.`)}`;
    return [
      ...steps,
      {
        id: 'change',
        title: toSecondary
          ? `Fail ${c.recordName} over to ${serve.setIdentifier}`
          : `Fail ${c.recordName} back to ${serve.setIdentifier}`,
        does: `UPSERTs both failover records in one atomic batch, so that the PRIMARY record (${c.primary.setIdentifier}) carries ${serve.value} and the SECONDARY one (${c.secondary.setIdentifier}) ${standby.value}, each value with its own health check. Saves the change id.`,
        command: change(batch),
        validate: `cat ${sh(changeIdFile)}   # /change/C…`,
        rollback: change(undo),
        // Sends nothing when the records already carry these values; waits for INSYNC and reads them back.
        automation: {
          activity: 'changeRoute53Failover',
          input: {
            hostedZoneId: c.hostedZoneId,
            changeBatch,
            ...(serve.healthCheckId ? { healthCheckId: serve.healthCheckId } : {}),
          },
          profile: 'short',
          writes: [recordSetOf(c)],
        },
      },
      {
        id: 'wait-insync',
        title: 'Wait until the change has reached every Route 53 server',
        does: 'Usually within 60 seconds.',
        command: `aws route53 wait resource-record-sets-changed --id "$(cat ${sh(changeIdFile)})"`,
        validate: `aws route53 get-change --id "$(cat ${sh(changeIdFile)})" --query 'ChangeInfo.Status' --output text   # INSYNC`,
        automation: { coveredBy: 'change' },
      },
      {
        id: 'validate',
        title: 'Check what the name resolves to',
        does: `The zone's name server answers ${serve.value} at once; other resolvers once their cached answer expires (TTL ${c.ttl}s).`,
        command: dig,
        validate: `${answers(serve.value)}   # ${serve.value}`,
        // change reads the records back from Route 53 after INSYNC; resolvers' caches are not checked.
        automation: { coveredBy: 'change' },
      },
    ];
  },
};
