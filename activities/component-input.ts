/**
 * What the data-store activities read from a component as the plan gives it: the component itself
 * (validated against its kind), its target time, and its secrets — from the worker's environment
 * or a file on the worker, never from the workflow.
 */
import { ApplicationFailure } from '@temporalio/common';
import { existsSync, readFileSync } from 'node:fs';
import type { z } from 'zod';

/** The component with its kind's defaults; a malformed one is a plan error, not worth a retry. */
export function parsedComponent<T>(schema: z.ZodType<T>, kind: string, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw ApplicationFailure.nonRetryable(
      `not a ${kind} component: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      'InvalidComponent',
    );
  return parsed.data;
}

/** Where a component keeps a secret: an environment variable of the worker, or a file on it. */
export interface SecretSource {
  id: string;
  passwordEnv?: string;
  passwordFile?: string;
}

/**
 * The component's password, or undefined when the plan names none. Missing ones fail for a person
 * to fix (`MissingSecret`), naming the variable or file, never the value.
 */
export function passwordOf(c: SecretSource): string | undefined {
  if (c.passwordEnv && c.passwordFile)
    throw ApplicationFailure.nonRetryable(`${c.id}: set passwordEnv or passwordFile, not both`, 'InvalidConfiguration');
  if (c.passwordEnv) {
    const value = process.env[c.passwordEnv];
    if (!value)
      throw ApplicationFailure.nonRetryable(
        `${c.id}: the worker's environment has no ${c.passwordEnv} (passwordEnv): set it where the worker runs, then retry`,
        'MissingSecret',
      );
    return value;
  }
  if (c.passwordFile) {
    if (!existsSync(c.passwordFile))
      throw ApplicationFailure.nonRetryable(
        `${c.id}: password file ${c.passwordFile} (passwordFile) does not exist on the worker`,
        'MissingSecret',
      );
    return readFileSync(c.passwordFile, 'utf8').replace(/\r?\n$/, '');
  }
  return undefined;
}
