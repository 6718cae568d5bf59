import { createHash } from 'node:crypto';
import { z } from 'zod';
import { AlertRejected } from './alert';

const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)$/i;

/** An RFC 3339 time as the sources write it (nanoseconds, `+0000`), kept as written: signatures cover it. */
export const rfc3339 = z
  .string()
  .regex(RFC3339, 'expected an RFC 3339 time such as 2024-05-01T10:00:00Z')
  .refine((text) => !Number.isNaN(Date.parse(text)), 'not a valid date');

/** The same, normalized to ISO-8601 UTC with milliseconds, so equal instants compare equal. */
export const isoTime = rfc3339.transform((text) => new Date(text).toISOString());

/** A short, stable, non-reversible digest: for long or revealing keys that end up in ids. */
export const shortHash = (text: string, length = 12): string =>
  createHash('sha256').update(text, 'utf8').digest('hex').slice(0, length);

/** Trims a line for people to the 300 characters the record keeps. */
export const oneLine = (text: string | undefined): string | undefined => {
  const line = text?.replace(/\s+/g, ' ').trim();
  return line ? line.slice(0, 300) : undefined;
};

function pathOf(path: readonly PropertyKey[]): string {
  return path.reduce<string>(
    (text, part) => (typeof part === 'number' ? `${text}[${part}]` : text ? `${text}.${String(part)}` : String(part)),
    '',
  );
}

function valueAt(body: unknown, path: readonly PropertyKey[]): unknown {
  return path.reduce<unknown>(
    (value, part) =>
      value !== null && typeof value === 'object' ? (value as Record<PropertyKey, unknown>)[part] : undefined,
    body,
  );
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`;
}

/** One line naming the field and what is wrong with it: what a sender needs to fix its payload. */
export function describeIssue(issue: z.core.$ZodIssue, body: unknown): string {
  const field = pathOf(issue.path) || '(body)';
  const value = valueAt(body, issue.path);
  switch (issue.code) {
    case 'invalid_type':
      return value === undefined
        ? `${field} is missing (expected ${issue.expected})`
        : `${field}: expected ${issue.expected}, got ${describe(value)}`;
    case 'invalid_value':
      return value === undefined
        ? `${field} is missing (expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')})`
        : `${field}: expected ${issue.values.map((v) => JSON.stringify(v)).join(' or ')}, got ${describe(value)}`;
    default:
      return `${field}: ${issue.message}`;
  }
}

/** Parses `body` with `schema`, or refuses the request with a 400 that names the first wrong fields. */
export function parseOrReject<T extends z.ZodType>(
  schema: T,
  body: unknown,
  what: string,
  reason = 'malformed',
): z.output<T> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const problems = result.error.issues.slice(0, 3).map((issue) => describeIssue(issue, body));
  throw new AlertRejected(400, reason, `${what}: ${problems.join('; ')}`);
}
