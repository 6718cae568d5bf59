/**
 * The drill guard: a drill restores into copies and must never write a production resource of
 * its plan. Kinds name the production resources of a component and the resources each drill step
 * writes in one vocabulary (this file: kinds import it), and the engine refuses the drill before
 * any call when they meet (drill-guard-check.ts):
 *
 *   rds:us-east-1/orders-prod          an AWS resource: service, region, name (`s3:bucket/prefix`)
 *   dir:/var/lib/mysql                 a directory on the worker, and everything under it
 *   tcp:127.0.0.1:3306                 a listening port
 */
export const resource = {
  aws: (service: string, region: string, ...names: string[]) => `${service}:${region}/${names.join('/')}`,
  s3: (bucket: string, prefix = '') => `s3:${[bucket, prefix.replace(/^\/+|\/+$/g, '')].filter(Boolean).join('/')}`,
  dir: (path: string) => `dir:${normalizePath(path)}`,
  tcp: (host: string, port: number) => `tcp:${LOOPBACK.has(host) ? '127.0.0.1' : host}:${port}`,
};

const LOOPBACK = new Set(['localhost', '127.0.0.1', '::1']);

function normalizePath(path: string): string {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return `/${parts.join('/')}`;
}

/** Whether writing `written` touches `production`: the same resource, or one inside the other (folders, S3 prefixes). */
export function overlaps(written: string, production: string): boolean {
  if (written === production) return true;
  // `dir:/` is the root: everything is inside it.
  const nested = (inner: string, outer: string) => inner.startsWith(outer.endsWith('/') ? outer : `${outer}/`);
  if (written.startsWith('dir:') || written.startsWith('s3:'))
    return nested(written, production) || nested(production, written);
  if (written.startsWith('tcp:') && production.startsWith('tcp:')) {
    const [, wHost, wPort] = written.split(':');
    const [, pHost, pPort] = production.split(':');
    return wPort === pPort && (wHost === '0.0.0.0' || pHost === '0.0.0.0');
  }
  return false;
}
