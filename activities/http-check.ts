import { ApplicationFailure } from '@temporalio/common';
import { cancellationSignal } from '@temporalio/activity';

export interface HttpCheckInput {
  url: string;
  expectStatus: number;
  expectBody?: string;
  timeoutMs: number;
}

/** Proves a recovered service answers: one GET, status (and body text) as expected, else a retryable failure. */
export async function httpCheck({
  url,
  expectStatus,
  expectBody,
  timeoutMs,
}: HttpCheckInput): Promise<{ status: number; ms: number }> {
  const started = Date.now();
  let response: Response;
  try {
    response = await fetch(url, {
      signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), cancellationSignal()]),
      redirect: 'manual',
    });
  } catch (error) {
    throw ApplicationFailure.retryable(`GET ${url} failed: ${(error as Error).message}`, 'HttpCheckUnreachable');
  }
  const body = await response.text();
  if (response.status !== expectStatus) {
    throw ApplicationFailure.retryable(
      `GET ${url} answered ${response.status}, expected ${expectStatus}`,
      'HttpCheckStatus',
    );
  }
  if (expectBody !== undefined && !body.includes(expectBody)) {
    throw ApplicationFailure.retryable(
      `GET ${url} answered ${response.status} without ${JSON.stringify(expectBody)} in the body`,
      'HttpCheckBody',
    );
  }
  return { status: response.status, ms: Date.now() - started };
}
