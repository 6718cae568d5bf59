import { z } from 'zod';
import { componentSchema, sh, type KindDefinition } from './define';

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

/**
 * The change batch that makes Route 53 serve `serve` as the PRIMARY record and `standby` as the
 * SECONDARY one. Each record keeps its SetIdentifier and failover role; values and health checks move.
 */
function changeBatch(c: Route53FailoverComponent, serve: Endpoint, standby: Endpoint, comment: string): string {
  const record = (setIdentifier: string, failover: 'PRIMARY' | 'SECONDARY', target: Endpoint) => ({
    Action: 'UPSERT',
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
  return JSON.stringify(
    {
      Comment: comment,
      Changes: [
        record(c.primary.setIdentifier, 'PRIMARY', serve),
        record(c.secondary.setIdentifier, 'SECONDARY', standby),
      ],
    },
    null,
    2,
  );
}

/** Route 53 failover records flipped between the primary and the secondary region. */
export const route53FailoverKind: KindDefinition<Route53FailoverComponent> = {
  kind: 'route53-failover',
  title: 'Amazon Route 53 DNS failover',
  stateful: false,
  tier: 'traffic',
  defaultEstimate: '10m',
  schema,
  steps(c, { mode, drillSuffix }) {
    const toSecondary = c.failoverTo === 'secondary';
    const [serve, standby] = toSecondary ? [c.secondary, c.primary] : [c.primary, c.secondary];
    const batch = changeBatch(
      c,
      serve,
      standby,
      `${c.id}: ${toSecondary ? 'fail over' : 'fail back'} ${c.recordName} to ${serve.setIdentifier}`,
    );
    const undo = changeBatch(
      c,
      standby,
      serve,
      `${c.id}: undo, serve ${c.recordName} from ${standby.setIdentifier} again`,
    );
    const zone = `--hosted-zone-id ${c.hostedZoneId}`;
    const changeIdFile = `/tmp/${c.id}-change-id`;
    const change = (json: string) =>
      `aws route53 change-resource-record-sets ${zone} --change-batch ${sh(json)} --query 'ChangeInfo.Id' --output text | tee ${sh(changeIdFile)}`;
    const name = c.recordName.endsWith('.') ? c.recordName : `${c.recordName}.`;
    const records = (fields: string) =>
      `aws route53 list-resource-record-sets ${zone} --query "ResourceRecordSets[?Name == '${name}' && Type == '${c.recordType}']${fields}"`;
    const authoritative = `$(aws route53 get-hosted-zone --id ${c.hostedZoneId} --query 'DelegationSet.NameServers[0]' --output text)`;
    const dig = `dig +short ${sh(c.recordName)} ${c.recordType} @${authoritative}`;

    const steps = [
      {
        id: 'inspect',
        title: 'Show the failover records as they are now',
        does: `Lists the PRIMARY and SECONDARY ${c.recordType} records of ${c.recordName}: which value each carries, with which health check.`,
        command: records(''),
        validate: `${records('.[SetIdentifier,Failover,ResourceRecords[0].Value,HealthCheckId]')} --output text   # ${c.primary.setIdentifier} PRIMARY and ${c.secondary.setIdentifier} SECONDARY; note the value PRIMARY carries now`,
      },
      ...(serve.healthCheckId
        ? [
            {
              id: 'check-health',
              title: `Check the health of ${serve.setIdentifier}`,
              does: `Traffic must only move to an endpoint that answers: Route 53's checkers of ${serve.setIdentifier} (${serve.value}) should report success.`,
              command: `aws route53 get-health-check-status --health-check-id ${sh(serve.healthCheckId)} --query 'HealthCheckObservations[].[Region,StatusReport.Status]' --output text`,
              validate: `aws route53 get-health-check-status --health-check-id ${sh(serve.healthCheckId)} --query 'HealthCheckObservations[].StatusReport.Status' --output text | tr '\\t' '\\n' | grep -c '^Success'   # most of the checkers`,
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
        },
        {
          id: 'validate',
          title: 'Check that DNS still answers as before',
          does: `Nothing was changed: the zone's name server still answers with the value PRIMARY carries (SECONDARY's if PRIMARY is unhealthy).`,
          command: dig,
          validate: `${records('.[Failover,ResourceRecords[0].Value]')} --output text   # the answer above is the PRIMARY value noted in inspect`,
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
      },
      {
        id: 'wait-insync',
        title: 'Wait until the change has reached every Route 53 server',
        does: 'Usually within 60 seconds.',
        command: `aws route53 wait resource-record-sets-changed --id "$(cat ${sh(changeIdFile)})"`,
        validate: `aws route53 get-change --id "$(cat ${sh(changeIdFile)})" --query 'ChangeInfo.Status' --output text   # INSYNC`,
      },
      {
        id: 'validate',
        title: 'Check what the name resolves to',
        does: `The zone's name server answers ${serve.value} at once; other resolvers once their cached answer expires (TTL ${c.ttl}s).`,
        command: dig,
        validate: `${answers(serve.value)}   # ${serve.value}`,
      },
    ];
  },
};
