import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { RECOVERY_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';

const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

/** The command that registers the recovery search attributes on a namespace, for people. */
export function searchAttributeCommand(namespace: string): string {
  return RECOVERY_SEARCH_ATTRIBUTES.map(
    (key) => `temporal operator search-attribute create --namespace ${namespace} --name ${key.name} --type Keyword`,
  ).join('\n');
}

/** The recovery search attributes the namespace lacks; undefined when the server will not say (e.g. no permission). */
export async function missingSearchAttributes(
  connection: Connection,
  namespace: string,
): Promise<string[] | undefined> {
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    return RECOVERY_SEARCH_ATTRIBUTES.map((key) => key.name).filter((name) => !customAttributes?.[name]);
  } catch {
    return undefined;
  }
}

/** Registers the missing recovery search attributes (dev and test servers; idempotent). */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const missing =
    (await missingSearchAttributes(connection, namespace)) ?? RECOVERY_SEARCH_ATTRIBUTES.map((key) => key.name);
  if (missing.length === 0) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((name) => [name, KEYWORD])),
  });
}
