import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { RDSClient } from '@aws-sdk/client-rds';
import { Route53Client } from '@aws-sdk/client-route-53';
import { S3Client } from '@aws-sdk/client-s3';
import { SNSClient } from '@aws-sdk/client-sns';

/**
 * How the worker reaches AWS. Credentials always come from the standard AWS chain (environment,
 * profile, instance/task role); tests differ from production only by `endpoint`.
 */
export interface AwsSettings {
  /** Endpoint override, e.g. the emulator in tests. Default: AWS itself (or `AWS_ENDPOINT_URL`). */
  endpoint?: string;
  /** Region used when a step names none. Default: the SDK's (`AWS_REGION`, profile). */
  region?: string;
  /**
   * Attempts per AWS call before the activity's own retry takes over. During a regional outage AWS
   * throttles hard; five SDK attempts with backoff ride that out better than the SDK's default three.
   * @default 5
   */
  maxAttempts?: number;
}

/** AWS SDK v3 clients, one per service and region, created on first use and reused. */
export function createAwsClients(settings: AwsSettings = {}) {
  const clients = new Map<string, unknown>();
  const maxAttempts = settings.maxAttempts ?? 5;
  function client<T>(
    service: string,
    region: string | undefined,
    create: (config: { region?: string; endpoint?: string; maxAttempts: number }) => T,
  ): T {
    const key = `${service}:${region ?? ''}`;
    if (!clients.has(key)) clients.set(key, create({ region, endpoint: settings.endpoint, maxAttempts }));
    return clients.get(key) as T;
  }
  return {
    dynamodb: (region = settings.region) => client('dynamodb', region, (config) => new DynamoDBClient(config)),
    sns: (region = settings.region) => client('sns', region, (config) => new SNSClient(config)),
    rds: (region = settings.region) => client('rds', region, (config) => new RDSClient(config)),
    ecs: (region = settings.region) => client('ecs', region, (config) => new ECSClient(config)),
    cloudformation: (region = settings.region) =>
      client('cloudformation', region, (config) => new CloudFormationClient(config)),
    autoscaling: (region = settings.region) => client('autoscaling', region, (config) => new AutoScalingClient(config)),
    elbv2: (region = settings.region) => client('elbv2', region, (config) => new ElasticLoadBalancingV2Client(config)),
    // Emulators and S3-compatible stores answer path-style requests only.
    s3: (region = settings.region) =>
      client('s3', region, (config) => new S3Client({ ...config, forcePathStyle: settings.endpoint !== undefined })),
    /**
     * Clients for writes that must not be repeated blindly: the SDK retries a call whose response was
     * lost (a reset after AWS acted), and a repeated CopyObject or DeleteObject leaves one more
     * version or delete marker, a repeated forced UpdateService one more deployment. With one
     * attempt, the caller checks what the earlier try did before trying again.
     */
    s3SingleAttempt: (region = settings.region) =>
      client('s3-single-attempt', region, (config) => {
        return new S3Client({ ...config, maxAttempts: 1, forcePathStyle: settings.endpoint !== undefined });
      }),
    ecsSingleAttempt: (region = settings.region) =>
      client('ecs-single-attempt', region, (config) => new ECSClient({ ...config, maxAttempts: 1 })),
    // Route 53 is global: its API lives in us-east-1 whatever the records point at.
    route53: () => client('route53', 'us-east-1', (config) => new Route53Client(config)),
  };
}

export type AwsClients = ReturnType<typeof createAwsClients>;
