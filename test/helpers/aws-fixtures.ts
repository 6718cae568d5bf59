import { CreateAutoScalingGroupCommand, CreateLaunchConfigurationCommand } from '@aws-sdk/client-auto-scaling';
import { CreateStackCommand } from '@aws-sdk/client-cloudformation';
import { BatchWriteItemCommand, CreateTableCommand, UpdateContinuousBackupsCommand } from '@aws-sdk/client-dynamodb';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  RegisterTaskDefinitionCommand,
  type CreateServiceCommandInput,
} from '@aws-sdk/client-ecs';
import { CreateDBInstanceCommand } from '@aws-sdk/client-rds';
import { ChangeResourceRecordSetsCommand } from '@aws-sdk/client-route-53';
import { CreateBucketCommand, PutBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3';
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

/** A table of `count` items keyed by `id`, with point-in-time recovery on. */
export async function createPitrTable(aws: AwsClients, name: string, count: number): Promise<void> {
  await createTable(aws, name, count);
  const dynamodb = aws.dynamodb();
  await dynamodb.send(
    new UpdateContinuousBackupsCommand({
      TableName: name,
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    }),
  );
}

/** A table of `count` items keyed by `id`. */
export async function createTable(aws: AwsClients, name: string, count: number): Promise<void> {
  await aws.dynamodb().send(
    new CreateTableCommand({
      TableName: name,
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const items = Array.from({ length: count }, (_, i) => ({ PutRequest: { Item: { id: { S: `${name}-${i}` } } } }));
  for (let i = 0; i < items.length; i += 25)
    await aws.dynamodb().send(new BatchWriteItemCommand({ RequestItems: { [name]: items.slice(i, i + 25) } }));
}

/** A versioned bucket (in us-east-1) holding `objects`, each key written in turn. */
export async function createVersionedBucket(aws: AwsClients, bucket: string, objects: Record<string, string>) {
  const s3 = aws.s3();
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  for (const [key, body] of Object.entries(objects))
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
}

/** A template moto can create: one SNS topic named by its parameter. */
export const SNS_TOPIC_TEMPLATE = JSON.stringify({
  AWSTemplateFormatVersion: '2010-09-09',
  Description: 'Recovery Engine test stack',
  Parameters: { Environment: { Type: 'String' } },
  Resources: { Topic: { Type: 'AWS::SNS::Topic', Properties: { DisplayName: { Ref: 'Environment' } } } },
  Outputs: { TopicArn: { Value: { Ref: 'Topic' } } },
});

/** Stack `name` from SNS_TOPIC_TEMPLATE. */
export async function createStack(aws: AwsClients, name: string, environment = 'prod'): Promise<void> {
  await aws.cloudformation().send(
    new CreateStackCommand({
      StackName: name,
      TemplateBody: SNS_TOPIC_TEMPLATE,
      Parameters: [{ ParameterKey: 'Environment', ParameterValue: environment }],
    }),
  );
}

/** Auto Scaling group `name` of `desired` instances, from a launch configuration of the same name. */
export async function createAutoScalingGroup(aws: AwsClients, name: string, desired = 1): Promise<void> {
  const autoscaling = aws.autoscaling();
  await autoscaling.send(
    new CreateLaunchConfigurationCommand({
      LaunchConfigurationName: name,
      ImageId: 'ami-12c6146b',
      InstanceType: 't3.micro',
    }),
  );
  await autoscaling.send(
    new CreateAutoScalingGroupCommand({
      AutoScalingGroupName: name,
      LaunchConfigurationName: name,
      MinSize: 1,
      MaxSize: 4,
      DesiredCapacity: desired,
      AvailabilityZones: ['us-east-1a'],
    }),
  );
}
