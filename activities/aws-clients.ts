import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

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
  const dynamoDbClients = new Map<string, DynamoDBClient>();
  return {
    dynamodb(region = settings.region): DynamoDBClient {
      const key = region ?? '';
      let client = dynamoDbClients.get(key);
      if (!client) {
        client = new DynamoDBClient({ region, endpoint: settings.endpoint });
        dynamoDbClients.set(key, client);
      }
      return client;
    },
  };
}

export type AwsClients = ReturnType<typeof createAwsClients>;
