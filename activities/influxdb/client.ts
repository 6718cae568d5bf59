/**
 * InfluxQL over the HTTP API (/query, /ping) with Node's fetch. Credentials come from the plan's
 * environment variable or file and travel only in the Authorization header: never on a command line,
 * in a URL, an activity result or an error.
 */
import { ApplicationFailure } from '@temporalio/common';
import { passwordOf } from '../component-input';
import type { InfluxDbComponent } from '../../plan/kinds/influxdb';

export interface InfluxCredentials {
  username: string;
  password: string;
}

/** One series of a statement's result: `SHOW …` lists, `SELECT count(*)` rows. */
export interface InfluxSeries {
  name?: string;
  tags?: Record<string, string>;
  columns: string[];
  values?: unknown[][];
}

interface StatementResult {
  statement_id?: number;
  series?: InfluxSeries[];
  error?: string;
}

/** A statement the server answered with an error (bad query, missing database): not transient. */
export class InfluxQueryError extends Error {
  override name = 'InfluxQueryError';
}

/** `"name"` with `\` and `"` escaped: database, retention policy, measurement and user names. */
export function ident(name: string): string {
  return `"${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** The plan's credentials for the HTTP API, or undefined when it names none (auth disabled). */
export function credentialsOf(
  c: Pick<InfluxDbComponent, 'id' | 'usernameEnv' | 'passwordEnv' | 'passwordFile'>,
): InfluxCredentials | undefined {
  if (!c.usernameEnv) {
    if (c.passwordEnv || c.passwordFile)
      throw ApplicationFailure.nonRetryable(
        `${c.id}: a password without usernameEnv: name the user too`,
        'MissingCredentials',
      );
    return undefined;
  }
  const username = process.env[c.usernameEnv];
  if (!username)
    throw ApplicationFailure.nonRetryable(
      `${c.id}: environment variable ${c.usernameEnv} (usernameEnv) is not set on this worker`,
      'MissingCredentials',
    );
  const password = passwordOf(c) ?? '';
  return { username, password };
}

export class InfluxClient {
  /** `what` names the server in messages: "metrics (127.0.0.1:8086)". */
  constructor(
    readonly url: string,
    readonly what: string,
    private readonly credentials?: InfluxCredentials,
  ) {}

  private headers(): Record<string, string> {
    if (!this.credentials) return {};
    const token = Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString('base64');
    return { Authorization: `Basic ${token}` };
  }

  private async send(path: string, init: RequestInit): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(`${this.url}${path}`, { ...init, headers: { ...this.headers(), ...init.headers } });
    } catch (error) {
      // Connection refused or reset: the server may be starting or restarting. Retryable.
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw ApplicationFailure.retryable(
        `InfluxDB ${this.what} is unreachable: ${cause?.code ?? cause?.message ?? String(error)}`,
        'InfluxdbUnreachable',
      );
    }
    if (response.status === 401 || response.status === 403)
      throw ApplicationFailure.nonRetryable(
        `InfluxDB ${this.what} refused the credentials (HTTP ${response.status}): check usernameEnv/passwordEnv and the user's privileges`,
        'InfluxdbAuthFailed',
      );
    return response;
  }

  /** The server's version (X-Influxdb-Version of /ping). */
  async ping(): Promise<string> {
    const response = await this.send('/ping', { method: 'GET' });
    if (response.status !== 204)
      throw ApplicationFailure.retryable(
        `InfluxDB ${this.what}: /ping answered ${response.status}`,
        'InfluxdbUnhealthy',
      );
    return response.headers.get('x-influxdb-version') ?? 'unknown';
  }

  /** Runs one statement; its error becomes an InfluxQueryError. POST: reads and writes alike. */
  async query(statement: string, database?: string): Promise<InfluxSeries[]> {
    const body = new URLSearchParams({ q: statement });
    if (database !== undefined) body.set('db', database);
    const response = await this.send('/query', { method: 'POST', body });
    const text = await response.text();
    let parsed: { results?: StatementResult[]; error?: string };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch {
      throw ApplicationFailure.retryable(
        `InfluxDB ${this.what} answered HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 200)}`,
        'InfluxdbUnhealthy',
      );
    }
    const error = parsed.error ?? parsed.results?.[0]?.error;
    if (error) throw new InfluxQueryError(`${this.what}: ${error} (in: ${statement.slice(0, 200)})`);
    if (!response.ok)
      throw ApplicationFailure.retryable(`InfluxDB ${this.what} answered HTTP ${response.status}`, 'InfluxdbUnhealthy');
    return parsed.results?.[0]?.series ?? [];
  }

  /** The rows of every series of a statement's result, as objects by column name. */
  async rows(statement: string, database?: string): Promise<{ series?: string; row: Record<string, unknown> }[]> {
    return (await this.query(statement, database)).flatMap((s) =>
      (s.values ?? []).map((values) => ({
        series: s.name,
        row: Object.fromEntries(s.columns.map((column, i) => [column, values[i]])),
      })),
    );
  }
}
