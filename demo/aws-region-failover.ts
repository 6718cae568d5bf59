/**
 * The `aws-region-failover` example brought to life on moto: its AWS resources staged as they are
 * before the incident (production in us-east-1, a pilot light in us-west-2), and the handful of
 * values that only exist in a real account (hosted zone and health check ids, the Terraform module,
 * the health URLs) replaced by local ones. Used by the end-to-end test and the demo.
 */
import { CreateTableCommand, UpdateContinuousBackupsCommand, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { CreateSubnetCommand, CreateVpcCommand, EC2Client } from '@aws-sdk/client-ec2';
import { CreateClusterCommand, CreateServiceCommand, RegisterTaskDefinitionCommand } from '@aws-sdk/client-ecs';
import { CreateDBInstanceCommand, CreateDBSubnetGroupCommand } from '@aws-sdk/client-rds';
import {
  ChangeResourceRecordSetsCommand,
  CreateHealthCheckCommand,
  CreateHostedZoneCommand,
  DeleteHostedZoneCommand,
} from '@aws-sdk/client-route-53';
import {
  type BucketLocationConstraint,
  CreateBucketCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { parseDocument } from 'yaml';
import { createAwsClients, type AwsClients } from '../activities/aws-clients';
import { failoverChangeBatch, type Route53FailoverComponent } from '../plan/kinds/route53-failover';
import type { RecoveryPlan } from '../plan/schema/plan';

/** A hosted zone with an id like AWS's (Z…), which plans require; moto draws ids from A-Z and 0-9. */
export async function createHostedZone(aws: AwsClients, name = 'example.com'): Promise<string> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    const { HostedZone } = await aws
      .route53()
      .send(new CreateHostedZoneCommand({ Name: name, CallerReference: `zone-${Date.now()}-${attempt}` }));
    const id = HostedZone!.Id!.replace('/hostedzone/', '');
    if (id.startsWith('Z')) return id;
    await aws.route53().send(new DeleteHostedZoneCommand({ Id: id }));
  }
  throw new Error('moto gave no hosted zone id starting with Z in 1000 attempts');
}

export async function createHealthCheck(aws: AwsClients, ip: string): Promise<string> {
  const { HealthCheck } = await aws.route53().send(
    new CreateHealthCheckCommand({
      CallerReference: `hc-${ip}-${Date.now()}`,
      HealthCheckConfig: { Type: 'HTTP', IPAddress: ip, Port: 80, ResourcePath: '/health' },
    }),
  );
  return HealthCheck!.Id!;
}

/** Values of the example that only exist in a real account, and their local stand-ins. */
export interface LocalEnvironment {
  hostedZoneId: string;
  healthCheckId: string;
  /** A root module standing in for infra/regions/us-west-2 (providers cannot be downloaded here). */
  terraformDir: string;
  /** Base URL of an HTTP server answering `/health` for both regions. */
  healthBaseUrl: string;
  /** The session cache: a local redis-server, where its snapshots go, and where a restore puts it. */
  redis: { port: number; dataDir: string; backupDir: string; restoreDir: string; restorePort: number };
}

/** The hosted zone and the primary's health check, which the plan must name before it is loaded. */
export async function createDnsPrerequisites(aws: AwsClients) {
  return {
    hostedZoneId: await createHostedZone(aws),
    healthCheckId: await createHealthCheck(aws, '10.0.0.1'),
  };
}

/**
 * The example's YAML with the local stand-ins written in. Everything else stays as shipped, except
 * `orders-db`'s `sourceRegion`: moto cannot restore from backups replicated across regions, so
 * the instance is staged in us-west-2 itself (the cross-region call is tested with a client mock).
 */
export function localizeRegionFailover(yamlText: string, local: LocalEnvironment): string {
  const doc = parseDocument(yamlText);
  const components = (doc.toJS() as RecoveryPlan).components;
  const at = (id: string, ...path: string[]) => ['components', components.findIndex((c) => c.id === id), ...path];
  doc.setIn(at('network-us-west-2', 'workingDir'), local.terraformDir);
  doc.deleteIn(at('orders-db', 'sourceRegion'));
  doc.setIn(at('shop-health', 'url'), `${local.healthBaseUrl}/us-west-2/health`);
  doc.setIn(at('primary-health', 'url'), `${local.healthBaseUrl}/us-east-1/health`);
  doc.setIn(at('cache', 'host'), '127.0.0.1');
  for (const [key, value] of Object.entries(local.redis)) doc.setIn(at('cache', key), value);
  for (const id of ['dns-failover', 'dns-failback']) {
    doc.setIn(at(id, 'hostedZoneId'), local.hostedZoneId);
    doc.setIn(at(id, 'primary', 'healthCheckId'), local.healthCheckId);
  }
  return doc.toString();
}

/** main.tf of the stand-in module: the variables the example passes, built-in resources only. */
export const STAND_IN_MODULE = `
variable "region" {
  type = string
}

variable "environment" {
  type = string
}

resource "terraform_data" "network" {
  input = "vpc-\${var.environment}-\${var.region}"
}

output "vpc" {
  value = terraform_data.network.output
}
`;

const component = <T>(plan: RecoveryPlan, id: string) => plan.components.find((c) => c.id === id) as T;

/**
 * Stages, in moto, what the example's region-failover scenario finds on the day: the RDS instance
 * with automated backups, the sessions table with PITR, the versioned asset buckets, the
 * secondary region's ECS services scaled to zero, and DNS pointing at the primary region.
 */
export async function seedRegionFailover(endpoint: string, plan: RecoveryPlan): Promise<void> {
  const aws = createAwsClients({ endpoint });
  const db = component<{ instanceId: string; region: string; subnetGroup: string }>(plan, 'orders-db');
  await createSubnetGroup(endpoint, aws, db.region, db.subnetGroup);
  await aws.rds(db.region).send(
    new CreateDBInstanceCommand({
      DBInstanceIdentifier: db.instanceId,
      DBInstanceClass: 'db.r6g.large',
      Engine: 'mysql',
      MasterUsername: 'shop',
      MasterUserPassword: 'not-a-secret-moto-only',
      AllocatedStorage: 100,
      BackupRetentionPeriod: 35,
      DBSubnetGroupName: db.subnetGroup,
    }),
  );

  const table = component<{ tableName: string; region: string }>(plan, 'sessions-table');
  const dynamodb = aws.dynamodb(table.region);
  await dynamodb.send(
    new CreateTableCommand({
      TableName: table.tableName,
      KeySchema: [{ AttributeName: 'session', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'session', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await waitUntilTableExists({ client: dynamodb, maxWaitTime: 60 }, { TableName: table.tableName });
  await dynamodb.send(
    new UpdateContinuousBackupsCommand({
      TableName: table.tableName,
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    }),
  );

  const assets = component<{ bucket: string; region: string; replica: { bucket: string; region: string } }>(
    plan,
    'assets-bucket',
  );
  for (const { bucket, region } of [assets, assets.replica]) {
    const s3 = aws.s3(region);
    await s3.send(
      new CreateBucketCommand({
        Bucket: bucket,
        ...(region === 'us-east-1'
          ? {}
          : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
      }),
    );
    await s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'images/logo.png', Body: 'logo' }));
  }

  const services = ['orders-api', 'web'].map((id) =>
    component<{ cluster: string; service: string; region: string }>(plan, id),
  );
  const ecs = aws.ecs(services[0]!.region);
  await ecs.send(new CreateClusterCommand({ clusterName: services[0]!.cluster }));
  for (const { cluster, service } of services) {
    await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: service,
        containerDefinitions: [{ name: service, image: `registry.example.com/shop/${service}:1.0`, memory: 512 }],
      }),
    );
    // Pilot light: the service is defined in the secondary region and scaled up on failover.
    await ecs.send(
      new CreateServiceCommand({ cluster, serviceName: service, taskDefinition: service, desiredCount: 0 }),
    );
  }

  const dns = component<Route53FailoverComponent>(plan, 'dns-failover');
  await aws.route53().send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: dns.hostedZoneId,
      ChangeBatch: failoverChangeBatch(dns, dns.primary, dns.secondary, 'before the incident'),
    }),
  );
}

/** A DB subnet group in a fresh VPC (moto needs real subnets behind it), as the Terraform module would make. */
async function createSubnetGroup(endpoint: string, aws: AwsClients, region: string, name: string): Promise<void> {
  const ec2 = new EC2Client({ endpoint, region });
  const { Vpc } = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.1.0.0/16' }));
  const subnets = await Promise.all(
    ['a', 'b'].map((zone, i) =>
      ec2.send(
        new CreateSubnetCommand({
          VpcId: Vpc!.VpcId!,
          CidrBlock: `10.1.${i}.0/24`,
          AvailabilityZone: `${region}${zone}`,
        }),
      ),
    ),
  );
  await aws.rds(region).send(
    new CreateDBSubnetGroupCommand({
      DBSubnetGroupName: name,
      DBSubnetGroupDescription: 'Subnets of the DR database',
      SubnetIds: subnets.map((s) => s.Subnet!.SubnetId!),
    }),
  );
  ec2.destroy();
}
