/** Files generated from code and checked in (paths relative to the project root). */
export const JSON_SCHEMA_PATH = 'schema/recovery-plan.schema.json';
export const RUNBOOKS_DIR = 'docs/runbooks';
export const EXAMPLE_PLANS = [
  'examples/agama.yaml',
  'examples/agama-compliant.yaml',
  'examples/aws-region-failover.yaml',
];
