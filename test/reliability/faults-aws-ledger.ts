/**
 * A pass-through in front of the AWS emulator that writes down every call that reached it and what
 * it answered: the ledger of what AWS did, against which "exactly once" is checked. It sits behind
 * the fault proxy (engine → fault proxy → ledger → moto), so a call whose response the fault proxy
 * then loses is in it, as it would be in a real account's CloudTrail.
 */
import { startFaultProxy } from '../helpers/fault-proxy';

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

/** A fault proxy that injects no fault: its answers are the ledger. */
export async function startAwsLedger(target: string): Promise<AwsLedger> {
  const entries: LedgerEntry[] = [];
  const { endpoint, stop } = await startFaultProxy(target, { rate: 0, faults: [] }, (request, status) => {
    const operation = request.headers['x-amz-target'];
    const copySource = request.headers['x-amz-copy-source'];
    entries.push({
      operation: typeof operation === 'string' ? operation : `${request.method} ${(request.url ?? '').split('?')[0]}`,
      ...(typeof copySource === 'string' ? { copySource: decodeURIComponent(copySource) } : {}),
      status,
    });
  });
  return {
    endpoint,
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
