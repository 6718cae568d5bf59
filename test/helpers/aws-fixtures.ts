import {
  CreateClusterCommand,
  CreateServiceCommand,
  RegisterTaskDefinitionCommand,
  type CreateServiceCommandInput,
} from '@aws-sdk/client-ecs';
import { CreateDBInstanceCommand } from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import type { AwsClients } from '../../activities/aws-clients';
import { createHealthCheck, createHostedZone } from '../../demo/aws-region-failover';
import { failoverChangeBatch, schema as route53FailoverSchema } from '../../plan/kinds/route53-failover';

/** Production resources of the shop, staged in moto for the AWS tests. */

export const PRIMARY_IP = '192.0.2.10';
export const SECONDARY_IP = '198.51.100.20';

/** An RDS PostgreSQL instance with automated backups kept 7 days. */
export async function createRdsInstance(
  aws: AwsClients,
  id: string,
  tags: { Key: string; Value: string }[] = [],
  extra: { MultiAZ?: boolean } = {},
): Promise<void> {
  await aws.rds().send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: id,
      DBInstanceClass: 'db.t3.micro',
      Engine: 'postgres',
      MasterUsername: 'orders',
      MasterUserPassword: 'not-a-secret-moto-only',
      AllocatedStorage: 20,
      BackupRetentionPeriod: 7,
      Tags: tags,
      ...extra,
    }),
  );
}

/** Cluster `prod`, task definitions orders-api:1 and :2, and the service running :1 (with `extra` settings). */
export async function createEcsService(aws: AwsClients, extra: Partial<CreateServiceCommandInput> = {}): Promise<void> {
  const ecs = aws.ecs();
  await ecs.send(new CreateClusterCommand({ clusterName: 'prod' }));
  for (const version of ['1.0', '1.1']) {
    await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: 'orders-api',
        containerDefinitions: [{ name: 'api', image: `registry.example.com/orders-api:${version}`, memory: 512 }],
      }),
    );
  }
  await ecs.send(
    new CreateServiceCommand({
      cluster: 'prod',
      serviceName: 'orders-api',
      taskDefinition: 'orders-api:1',
      desiredCount: 1,
      launchType: 'EC2',
      ...extra,
    }),
  );
}

/** shop.example.com served by the primary region, each endpoint with its health check; returns the plan component. */
export async function createFailoverRecords(aws: AwsClients) {
  const zone = await createHostedZone(aws);
  const component = route53FailoverSchema.parse({
    kind: 'route53-failover',
    id: 'dns',
    hostedZoneId: zone,
    recordName: 'shop.example.com',
    primary: {
      setIdentifier: 'Primary Region',
      value: PRIMARY_IP,
      healthCheckId: await createHealthCheck(aws, PRIMARY_IP),
    },
    secondary: {
      setIdentifier: 'Secondary Region',
      value: SECONDARY_IP,
      healthCheckId: await createHealthCheck(aws, SECONDARY_IP),
    },
  });
  await aws.route53().send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: zone,
      ChangeBatch: failoverChangeBatch(component, component.primary, component.secondary, 'before the incident'),
    }),
  );
  return component;
}
