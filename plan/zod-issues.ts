import { z } from 'zod';
import type { Finding } from './issues';
import { componentSchema, KIND_NAMES } from './kinds';
import type { FieldPath } from './positions';
import { planSchema } from './schema/plan';

type AnySchema = z.core.$ZodType;

/** The object schema that applies at `path` of the raw plan, to list the fields allowed there. */
function objectSchemaAt(raw: unknown, path: FieldPath): z.ZodObject | undefined {
  let schema: AnySchema | undefined = planSchema;
  let value = raw;
  for (const part of path) {
    schema = unwrap(schema);
    if (schema === componentSchema) {
      const kind = (value as { kind?: unknown } | undefined)?.kind;
      schema = componentSchema.options.find((option) => option.shape.kind.value === kind);
      schema = unwrap(schema);
    }
    if (schema instanceof z.ZodObject) schema = (schema.shape as Record<string, AnySchema>)[String(part)];
    else if (schema instanceof z.ZodArray) schema = schema.element;
    else return undefined;
    value = (value as Record<string | number, unknown> | undefined)?.[part];
  }
  schema = unwrap(schema);
  if (schema === componentSchema)
    schema = unwrap(componentSchema.options.find((o) => o.shape.kind.value === (value as { kind?: unknown })?.kind));
  return schema instanceof z.ZodObject ? schema : undefined;
}

function unwrap(schema: AnySchema | undefined): AnySchema | undefined {
  let current = schema;
  while (current instanceof z.ZodOptional || current instanceof z.ZodDefault) current = current.unwrap();
  return current;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** The allowed name closest to `key`, when it is close enough to be a typo. */
export function closest(key: string, allowed: readonly string[]): string | undefined {
  const ranked = allowed
    .map((name) => ({ name, distance: name.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, name) }))
    .sort((a, b) => a.distance - b.distance);
  return ranked[0] && ranked[0].distance <= Math.max(1, Math.floor(key.length / 4)) ? ranked[0].name : undefined;
}

function valueAt(raw: unknown, path: FieldPath): unknown {
  return path.reduce<unknown>((value, part) => (value as Record<string | number, unknown> | undefined)?.[part], raw);
}

/** Turns zod's issues into findings whose messages name the field and say what to do. */
export function findingsFromZod(error: z.ZodError, raw: unknown): Finding[] {
  return error.issues.flatMap((issue): Finding[] => {
    const path = issue.path as (string | number)[];
    const field = String(path.at(-1) ?? 'plan');
    switch (issue.code) {
      case 'unrecognized_keys': {
        const allowed = Object.keys(objectSchemaAt(raw, path)?.shape ?? {});
        return issue.keys.map((key) => {
          const suggestion = closest(key, allowed);
          return {
            severity: 'error',
            path: [...path, key],
            at: 'key',
            message: suggestion
              ? `unknown field "${key}": did you mean "${suggestion}"?`
              : `unknown field "${key}": remove it${allowed.length ? ` (allowed here: ${allowed.join(', ')})` : ''}`,
          };
        });
      }
      case 'invalid_union':
        if ('discriminator' in issue && issue.discriminator === 'kind') {
          const kind = valueAt(raw, path);
          const suggestion = typeof kind === 'string' ? closest(kind, KIND_NAMES) : undefined;
          return [
            {
              severity: 'error',
              path,
              message:
                kind === undefined
                  ? `missing required field "kind": one of ${KIND_NAMES.join(', ')}`
                  : `unknown kind ${JSON.stringify(kind)}: ${suggestion ? `did you mean "${suggestion}"? ` : ''}use one of ${KIND_NAMES.join(', ')} ("command" for anything else)`,
            },
          ];
        }
        return [{ severity: 'error', path, message: issue.message }];
      case 'invalid_type':
        return [
          {
            severity: 'error',
            path,
            message:
              valueAt(raw, path) === undefined
                ? `missing required field "${field}": add it (${issue.expected})`
                : `expected ${issue.expected}, got ${describe(valueAt(raw, path))}`,
          },
        ];
      case 'invalid_value':
        return [
          {
            severity: 'error',
            path,
            message: `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${describe(valueAt(raw, path))}`,
          },
        ];
      default:
        return [{ severity: 'error', path, message: issue.message }];
    }
  });
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'nothing (null)';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}
