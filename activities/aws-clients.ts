import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
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
}

/** AWS SDK v3 clients, one per service and region, created on first use and reused. */
export function createAwsClients(settings: AwsSettings = {}) {
  const clients = new Map<string, unknown>();
  function client<T>(
    service: string,
    region: string | undefined,
    create: (config: { region?: string; endpoint?: string }) => T,
  ): T {
    const key = `${service}:${region ?? ''}`;
    if (!clients.has(key)) clients.set(key, create({ region, endpoint: settings.endpoint }));
    return clients.get(key) as T;
  }
  return {
    dynamodb: (region = settings.region) => client('dynamodb', region, (config) => new DynamoDBClient(config)),
    sns: (region = settings.region) => client('sns', region, (config) => new SNSClient(config)),
  };
}

export type AwsClients = ReturnType<typeof createAwsClients>;
