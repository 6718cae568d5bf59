/**
 * A pass-through in front of the AWS emulator that writes down every call that reached it and what
 * it answered: the ledger of what AWS did, against which "exactly once" is checked. It sits behind
 * the fault proxy (engine → fault proxy → ledger → moto), so a call whose response the fault proxy
 * then loses is in it, as it would be in a real account's CloudTrail.
 */
import { createServer, request as httpRequest } from 'node:http';
import { once, onCleanup } from '../helpers/cleanup';

export interface LedgerEntry {
  /** `DynamoDB_20120810.RestoreTableFromBackup`, `AmazonEC2ContainerServiceV20141113.UpdateService`, or for S3 (REST) `PUT /bucket/key`. */
  operation: string;
  /** S3 only: the x-amz-copy-source of a CopyObject. */
  copySource?: string;
  status: number;
}

export interface AwsLedger {
  endpoint: string;
  entries: LedgerEntry[];
  /** Calls AWS carried out (2xx) whose operation matches. */
  done: (operation: string | RegExp) => LedgerEntry[];
  stop: () => Promise<void>;
}

export async function startAwsLedger(target: string): Promise<AwsLedger> {
  const upstream = new URL(target);
  const entries: LedgerEntry[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const target = request.headers['x-amz-target'];
      const entry: LedgerEntry = {
        operation: typeof target === 'string' ? target : `${request.method} ${(request.url ?? '').split('?')[0]}`,
        ...(typeof request.headers['x-amz-copy-source'] === 'string'
          ? { copySource: decodeURIComponent(request.headers['x-amz-copy-source']) }
          : {}),
        status: 0,
      };
      const forward = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: request.method,
          path: request.url,
          headers: request.headers,
        },
        (answer) => {
          entry.status = answer.statusCode ?? 0;
          entries.push(entry);
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
        },
      );
      forward.on('error', () => response.destroy());
      forward.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  const { port } = server.address() as { port: number };
  const stop = once(
    () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  );
  onCleanup(stop);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    entries,
    done: (operation) =>
      entries.filter(
        (e) =>
          e.status >= 200 &&
          e.status < 300 &&
          (typeof operation === 'string' ? e.operation === operation : operation.test(e.operation)),
      ),
    stop,
  };
}
