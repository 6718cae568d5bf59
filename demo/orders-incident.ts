import {
  BatchWriteItemCommand,
  CreateBackupCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DynamoDBClient,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';

export interface OrdersIncident {
  tableName: string;
  backupArn: string;
  /** The orders as they were when the backup was taken. */
  orders: { id: string; customer: string; total: number }[];
}

/**
 * Sets the scene of the demo and of the end-to-end test: an `orders` table with items, a backup
 * of it, then the incident: every item deleted by mistake.
 */
export async function stageOrdersIncident(
  client: DynamoDBClient,
  tableName = 'orders',
  count = 25,
): Promise<OrdersIncident> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  await waitUntilTableExists({ client, maxWaitTime: 120 }, { TableName: tableName });
  const orders = Array.from({ length: count }, (_, i) => ({
    id: `order-${String(i + 1).padStart(4, '0')}`,
    customer: `customer-${(i % 7) + 1}`,
    total: 10 + i * 3,
  }));
  for (let i = 0; i < orders.length; i += 25) {
    await client.send(
      new BatchWriteItemCommand({
        RequestItems: {
          [tableName]: orders.slice(i, i + 25).map((order) => ({
            PutRequest: {
              Item: { id: { S: order.id }, customer: { S: order.customer }, total: { N: String(order.total) } },
            },
          })),
        },
      }),
    );
  }
  const { BackupDetails } = await client.send(
    new CreateBackupCommand({ TableName: tableName, BackupName: `${tableName}-nightly` }),
  );
  for (const order of orders) {
    await client.send(new DeleteItemCommand({ TableName: tableName, Key: { id: { S: order.id } } }));
  }
  return { tableName, backupArn: BackupDetails!.BackupArn!, orders };
}
