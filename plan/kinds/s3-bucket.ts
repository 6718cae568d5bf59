import { z } from 'zod';
import type { S3DrillBucketInput } from '../../activities/s3-restore';
import { resource } from '../drill-guard';
import { dataComponentSchema, region, sh, type KindDefinition, type RunbookStep } from './define';

export const schema = dataComponentSchema('s3-bucket', {
  bucket: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name'),
  region,
  prefix: z.string().optional().describe('Restore only keys under this prefix'),
  replica: z
    .object({ bucket: z.string(), region })
    .strict()
    .optional()
    .describe('Cross-region replica read from when the primary region is down'),
});

export type S3BucketComponent = z.infer<typeof schema>;

/**
 * jq program head over a `list-object-versions` listing: for each key, `$key`, the versions and delete
 * markers written after the target time (`$after`) and the one current at the target time (`$was`, null
 * when the key did not exist then). Times are compared as epoch seconds, whatever the CLI's format.
 */
const BY_KEY = [
  String.raw`def ts: sub("\\.[0-9]+"; "") | sub("\\+00:00$"; "Z") | fromdateiso8601;`,
  '($t | ts) as $target',
  '| [(.Versions // [])[] + {marker: false}, (.DeleteMarkers // [])[] + {marker: true}]',
  '| group_by(.Key)[]',
  '| .[0].Key as $key',
  '| map(select(.LastModified | ts > $target)) as $after',
  '| (map(select(.LastModified | ts <= $target)) | max_by(.LastModified | ts)) as $was',
];

const EXISTED = '$was != null and ($was.marker | not)';
const COPY_WAS = String.raw`"aws s3api --region \($r) copy-object --bucket \($dst) --key \($key | @sh) --copy-source \("\($b)/\($key)?versionId=\($was.VersionId)" | @sh)"`;

/** Commands that bring each key of $b back to its state at $t, in place. */
const RESTORE_IN_PLACE = [
  ...BY_KEY,
  '| select($after != [])',
  `| if ${EXISTED} then`,
  '    if ($after | all(.marker))',
  String.raw`    then $after[] | "aws s3api --region \($r) delete-object --bucket \($b) --key \($key | @sh) --version-id \(.VersionId | @sh)"`,
  `    else ${COPY_WAS} end`,
  String.raw`  elif (map(select(.IsLatest)) | .[0].marker | not)`,
  String.raw`  then "aws s3api --region \($r) delete-object --bucket \($b) --key \($key | @sh)"`,
  '  else empty end',
];

/** Commands that copy every key of $b that existed at $t, as it was then, into $dst. */
const COPY_INTO = [...BY_KEY, `| select(${EXISTED})`, `| ${COPY_WAS}`];

/** How many keys existed at $t. */
const COUNT_AT_TARGET = ['[', ...BY_KEY, `| select(${EXISTED})`, '] | length'];

/**
 * Run on a listing taken after the restore, with the one taken before as $before: commands that delete
 * every version and marker added since, and delete again every key whose delete markers were removed.
 */
const UNDO = [
  'def entries: [(.Versions // [])[], (.DeleteMarkers // [])[]] | map({key: .Key, id: .VersionId});',
  '($before[0] | entries) as $old',
  '| entries as $new',
  String.raw`| (($new - $old)[] | "aws s3api --region \($r) delete-object --bucket \($b) --key \(.key | @sh) --version-id \(.id | @sh)"),`,
  String.raw`  (($old - $new) | map(.key) | unique[] | "aws s3api --region \($r) delete-object --bucket \($b) --key \(@sh)")`,
];

/** Commands that delete every version and delete marker of $b. */
const DELETE_VERSIONS = String.raw`(.Versions // [])[], (.DeleteMarkers // [])[] | "aws s3api --region \($r) delete-object --bucket \($b) --key \(.Key | @sh) --version-id \(.VersionId | @sh)"`;

/** A versioned S3 bucket (or prefix) restored to the object versions current at the target time. */
export const s3BucketKind: KindDefinition<S3BucketComponent> = {
  kind: 's3-bucket',
  title: 'Amazon S3 bucket (versioned)',
  stateful: true,
  tier: 'data',
  defaultEstimate: '30m',
  schema,
  permissions: [
    's3:GetBucketVersioning',
    's3:ListBucket',
    's3:ListBucketVersions',
    's3:GetObjectVersion',
    's3:GetObjectVersionTagging',
    's3:PutObject',
    's3:PutObjectTagging',
    's3:DeleteObject',
    's3:CreateBucket',
    's3:PutBucketVersioning',
    's3:DeleteObjectVersion',
    's3:DeleteBucket',
  ],
  productionResources(c) {
    return [resource.s3(c.bucket, c.prefix), ...(c.replica ? [resource.s3(c.replica.bucket, c.prefix)] : [])];
  },
  teardown(c, { drillSuffix }) {
    const drill = `${c.bucket}${drillSuffix}`;
    return [
      {
        id: 'delete-drill-bucket',
        title: `Delete the drill bucket ${drill} in ${c.region}`,
        does: `Deletes every object version and delete marker of ${drill}, then the bucket. Nothing to do when it does not exist.`,
        // rb --force removes current objects only: a versioned bucket's versions and markers go first.
        command: [
          `aws s3api --region ${c.region} list-object-versions --bucket ${sh(drill)} --output json \\`,
          `  | jq -r --arg b ${sh(drill)} --arg r ${c.region} ${sh(DELETE_VERSIONS)} | sh -e`,
          `aws s3api --region ${c.region} delete-bucket --bucket ${sh(drill)}`,
        ].join('\n'),
        validate: `aws s3api --region ${c.region} head-bucket --bucket ${sh(drill)}   # 404 Not Found`,
        automation: {
          activity: 'deleteS3DrillBucket',
          input: {
            bucket: drill,
            region: c.region,
            productionBuckets: [c.bucket, ...(c.replica ? [c.replica.bucket] : [])],
          } satisfies S3DrillBucketInput,
          profile: 'long',
          writes: [resource.s3(drill)],
        },
      },
    ];
  },
  steps(c, { mode, targetTime, drillSuffix }) {
    const prefix = c.prefix ?? '';
    /** The engine's restore of this component: the same key-by-key decisions as the jq programs below. */
    const restore = (more: Record<string, unknown>) => ({
      activity: 'restoreS3Objects' as const,
      input: { bucket: c.bucket, region: c.region, ...(c.prefix ? { prefix: c.prefix } : {}), targetTime, ...more },
      profile: 'long' as const,
    });
    /** Working files of one bucket: its listing, the generated commands. */
    const files = (name: string) => ({
      listing: `/tmp/${name}-versions.json`,
      script: `/tmp/${name}-restore.sh`,
      after: `/tmp/${name}-versions-after.json`,
      undo: `/tmp/${name}-undo.sh`,
    });
    const list = (bucket: string, region: string, file: string) =>
      `aws s3api --region ${region} list-object-versions --bucket ${sh(bucket)}${prefix ? ` --prefix ${sh(prefix)}` : ''} --output json > ${sh(file)}`;
    /** jq over a listing, with the target time as $t and, for commands, source bucket $b, region $r, destination $dst. */
    const jq = (program: string[], target?: { bucket: string; region: string; dst: string }, extra = '') =>
      [
        `jq -r --arg t ${sh(targetTime)}`,
        ...(target ? [`--arg b ${sh(target.bucket)} --arg r ${target.region} --arg dst ${sh(target.dst)}`] : []),
        ...(extra ? [extra] : []),
        `'\n  ${program.join('\n  ')}\n'`,
      ].join(' ');
    const countNow = (bucket: string, region: string) =>
      `aws s3 ls ${sh(`s3://${bucket}/${prefix}`)} --recursive --region ${region} | wc -l`;
    const sameCount = (bucket: string, region: string, listing: string) =>
      `test $(${countNow(bucket, region)}) -eq $(${jq(COUNT_AT_TARGET)} ${sh(listing)}) && echo equal   # equal: as many keys as existed at ${targetTime}`;
    const checkVersioning = (bucket: string, region: string): RunbookStep => ({
      id: 'check-versioning',
      title: 'Check that the bucket is versioned',
      does: `Only a versioned bucket keeps the object versions current at ${targetTime}. The commands below need the AWS CLI and jq.`,
      command: `aws s3api --region ${region} get-bucket-versioning --bucket ${sh(bucket)}`,
      validate: `aws s3api --region ${region} get-bucket-versioning --bucket ${sh(bucket)} --query Status --output text   # Enabled (or Suspended: older versions are still there)`,
      automation: { activity: 'checkS3Bucket', input: { bucket, region }, profile: 'short', writes: [] },
    });
    /** The listing and the plan are what the restore activity does first, in memory. */
    const listVersions = (bucket: string, region: string, listing: string, coveredBy: string): RunbookStep => ({
      id: 'list-versions',
      title: `List every version and delete marker${prefix ? ' under the prefix' : ''}`,
      does: `Saves the version history of ${bucket}${prefix ? ` under ${prefix}` : ''} to a file; the next steps work out from it what to change.`,
      command: list(bucket, region, listing),
      validate: `jq '[.Versions[]?, .DeleteMarkers[]?] | length' ${sh(listing)}   # how many versions and delete markers were listed`,
      automation: { coveredBy },
    });
    /** The in-place restore of `bucket`, with an undo generated from the listings before and after. */
    const restoreInPlace = (
      bucket: string,
      region: string,
    ): Record<'check' | 'list' | 'plan' | 'restore', RunbookStep> => {
      const f = files(bucket);
      const target = { bucket, region, dst: bucket };
      return {
        check: checkVersioning(bucket, region),
        list: listVersions(bucket, region, f.listing, 'restore'),
        plan: {
          id: 'plan-restore',
          title: 'Work out, key by key, what to change',
          does: `For each key changed after ${targetTime}: delete the delete markers written since when that alone brings back the version current then, otherwise copy that version over the current one; delete keys created since. Every change adds a version or removes a marker, so nothing is lost.`,
          command: `${jq(RESTORE_IN_PLACE, target)} ${sh(f.listing)} > ${sh(f.script)}`,
          validate: `wc -l < ${sh(f.script)}; head -n 20 ${sh(f.script)}   # review the commands before running them`,
          automation: { coveredBy: 'restore' },
        },
        restore: {
          id: 'restore',
          title: 'Run the restore commands',
          does: 'Runs them one by one, stopping at the first error. copy-object handles objects up to 5 GB; archived (Glacier) versions must be restored with restore-object first.',
          command: `sh -ex ${sh(f.script)}`,
          validate: sameCount(bucket, region, f.listing),
          rollback: [
            '# removes every version added since the listing and deletes again the keys whose markers were removed',
            '# (run it soon: it also removes what applications wrote since)',
            list(bucket, region, f.after),
            `${jq(UNDO, target, `--slurpfile before ${sh(f.listing)}`)} ${sh(f.after)} > ${sh(f.undo)}`,
            `sh -ex ${sh(f.undo)}`,
          ].join('\n'),
          // Copies back instead of removing delete markers: every change is a new version, which replication carries.
          automation: restore({}),
        },
      };
    };

    if (mode === 'drill') {
      const drillBucket = `${c.bucket}${drillSuffix}`;
      const f = files(drillBucket);
      // `s3 rb --force` leaves a versioned bucket's versions: the teardown deletes them, then the bucket.
      const teardown = `# the drill's teardown deletes ${drillBucket} with every version once the drill is over`;
      return [
        checkVersioning(c.bucket, c.region),
        listVersions(c.bucket, c.region, f.listing, 'copy'),
        {
          id: 'create-drill-bucket',
          title: 'Create the drill bucket',
          does: `A drill never writes to ${c.bucket}: it copies the versions current at ${targetTime} into ${drillBucket}.`,
          command: `aws s3api --region ${c.region} create-bucket --bucket ${sh(drillBucket)}${c.region === 'us-east-1' ? '' : ` --create-bucket-configuration LocationConstraint=${c.region}`}`,
          validate: `aws s3api --region ${c.region} head-bucket --bucket ${sh(drillBucket)}   # exits 0`,
          rollback: teardown,
          automation: { coveredBy: 'copy' },
        },
        {
          id: 'plan-copy',
          title: 'Work out the copy commands',
          does: `Writes one copy-object per key that existed at ${targetTime}, copying the version current then into ${drillBucket}.`,
          command: `${jq(COPY_INTO, { bucket: c.bucket, region: c.region, dst: drillBucket })} ${sh(f.listing)} > ${sh(f.script)}`,
          validate: `wc -l < ${sh(f.script)}; head -n 20 ${sh(f.script)}   # every line copies into ${drillBucket}`,
          automation: { coveredBy: 'copy' },
        },
        {
          id: 'copy',
          title: 'Copy the versions into the drill bucket',
          does: 'Runs them one by one, stopping at the first error. copy-object handles objects up to 5 GB; archived (Glacier) versions must be restored with restore-object first.',
          command: `sh -ex ${sh(f.script)}`,
          validate: sameCount(drillBucket, c.region, f.listing),
          rollback: teardown,
          automation: { ...restore({ mode: 'drill', drillSuffix }), writes: [resource.s3(drillBucket)] },
        },
        ...(c.replica
          ? [
              {
                id: 'check-replica',
                title: 'Check that the replica is versioned and up to date',
                does: `${c.replica.bucket} (${c.replica.region}) is what a recovery restores when ${c.region} is down; a drill only reads it.`,
                command: `aws s3api --region ${c.replica.region} get-bucket-versioning --bucket ${sh(c.replica.bucket)} --query Status --output text\n${countNow(c.replica.bucket, c.replica.region)}\n${countNow(c.bucket, c.region)}`,
                validate: `${countNow(c.replica.bucket, c.replica.region)}   # Enabled, and as many keys as the primary, give or take the replication lag`,
                automation: {
                  activity: 'checkS3Bucket' as const,
                  input: {
                    ...c.replica,
                    ...(c.prefix ? { prefix: c.prefix } : {}),
                    compareWith: { bucket: c.bucket, region: c.region },
                  },
                  profile: 'short' as const,
                  writes: [],
                },
              },
            ]
          : []),
      ];
    }

    const primary = restoreInPlace(c.bucket, c.region);
    const steps = [primary.check, primary.list, primary.plan, primary.restore];
    if (!c.replica) return steps;
    // When the primary region is down, the same restore runs on the replica, in one step.
    const replica = restoreInPlace(c.replica.bucket, c.replica.region);
    return [
      ...steps,
      {
        id: 'replica',
        title: 'If the primary region is down, restore the replica instead',
        does: `Only when ${c.region} is down, instead of the steps above: the cross-region replica ${c.replica.bucket} (${c.replica.region}) keeps the same version ids and is what the applications read meanwhile. The same listing, plan and restore, on the replica; review the plan before the last line.`,
        command: [replica.list.command, replica.plan.command, replica.restore.command].join('\n'),
        validate: replica.restore.validate,
        rollback: replica.restore.rollback,
        // Runs after the in-place restore too: it does nothing while the primary bucket answers.
        automation: restore({ source: 'replica', replica: c.replica, skipIfPrimaryAnswers: true }),
      },
    ];
  },
};
