import { cancellationSignal } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';

/**
 * AWS error names that retrying cannot fix: the resource or the permission has to change first.
 * Anything else (throttling, 5xx, network) is left to the activity's retry policy.
 */
const NON_RETRYABLE = new Set([
  'AccessDeniedException',
  'AccessDenied',
  'UnauthorizedOperation',
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'ExpiredTokenException',
  'ValidationException',
  'ResourceNotFoundException',
  'BackupNotFoundException',
  'TableNotFoundException',
  'DBInstanceNotFoundFault',
  'InvalidRestoreFault',
  'PointInTimeRestoreNotEnabledFault',
  'NoSuchBucket',
  'BucketAlreadyExists',
  'NoSuchHostedZone',
  'NoSuchHealthCheck',
  'InvalidChangeBatch',
  'InvalidInput',
  'NotFound',
  'InvalidBucketName',
]);

const ACCESS_DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'UnauthorizedOperation']);

const NAMED = Symbol('names its AWS call');

/**
 * Puts the call in the message of an error left to retry: after the retries, that message is what
 * the operator reads, and the SDK's alone may say nothing useful (a 500 with an HTML body reads
 * "SyntaxError: Unexpected token … is not valid JSON"). The error keeps its class and name, which
 * callers test (an instance appearing after a lost response, a stack that does not exist).
 */
function named(error: Error & { [NAMED]?: true }, what: string): Error {
  if (error[NAMED] || error instanceof ApplicationFailure) return error;
  const meta = error as { $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number } };
  const status = meta.$metadata?.httpStatusCode ?? meta.$response?.statusCode;
  // The SDK's hint to inspect a hidden field of the error object means nothing to an operator.
  const sdkMessage = error.message.replace(/\n\s*Deserialization error: to see the raw response[^]*$/, '');
  error.message = `${what}: ${status ? `HTTP ${status} ` : ''}${error.name}: ${sdkMessage}`;
  error[NAMED] = true;
  return error;
}

/**
 * Decides at the activity edge whether an AWS failure is worth retrying. `what` names the operation
 * and resource ("restore table orders-restored from backup arn:…") so the operator sees what failed;
 * `permission` names the IAM action the call needs, said when access is denied.
 */
export function awsFailure(error: unknown, what: string, permission?: string): Error {
  if (!(error instanceof Error)) return new Error(`${what}: ${String(error)}`);
  if (error.message === 'Region is missing') {
    return ApplicationFailure.nonRetryable(
      `${what}: no AWS region; set AWS_REGION on the worker or "region" on the step`,
      'AwsConfiguration',
    );
  }
  if (ACCESS_DENIED.has(error.name) && permission) {
    return ApplicationFailure.nonRetryable(
      `${what}: access denied: the worker's role needs ${permission} (${error.message})`,
      error.name,
    );
  }
  if (NON_RETRYABLE.has(error.name)) {
    return ApplicationFailure.nonRetryable(`${what}: ${error.name}: ${error.message}`, error.name);
  }
  return named(error, what);
}

/**
 * Runs one AWS call of an activity: a cancelled activity stays cancelled (the call is aborted), any
 * other error goes through awsFailure, naming the operation and, on access denied, the permission.
 */
export async function awsCall<T>(
  what: string,
  permission: string,
  run: (abortSignal: AbortSignal) => Promise<T>,
): Promise<T> {
  const signal = cancellationSignal();
  try {
    return await run(signal);
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw awsFailure(error, what, permission);
  }
}
