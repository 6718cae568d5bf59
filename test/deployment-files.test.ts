/**
 * The team deployment (Dockerfile, docker-compose.yml, deploy/) checked without Docker, which this
 * machine and CI lack: the files parse and refer only to what exists, images are pinned, every
 * variable they set is one the code reads, the image holds everything its entry points load, and
 * the search attributes registered are the workflows'. The steps that can run outside Docker run
 * for real, on a Temporal dev server: `npm run build` makes the workflow bundle, the image's worker
 * command runs a recovery from it and passes the compose health check, and
 * deploy/temporal/setup-namespace.sh prepares a namespace with the Temporal CLI, twice. Never run
 * here: `docker build`, `docker compose up`, the images themselves, setup-postgres-schema.sh.
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { missingSearchAttributes } from '../workers/search-attributes';
import { recoveryWorkflow } from '../workflows';
import { RECOVERY_SEARCH_ATTRIBUTES } from '../workflows/search-attributes';
import { command, TEST_REPORTS_DIR, testPlan, waitFor } from './helpers/engine';
import { once, onCleanup } from './helpers/cleanup';
import { startDevServerEnv, testToolchain } from './helpers/servers';

const ROOT = resolve(__dirname, '..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

// ---------------------------------------------------------------- docker-compose.yml

type Environment = Record<string, string | number | null> | string[];
interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string | string[];
  environment?: Environment;
  volumes?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  healthcheck?: { test?: string | string[]; disable?: boolean };
  restart?: string;
  profiles?: string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** Compose's interpolation as a fresh clone without .env sees it: defaults, and a stand-in where a value is required. */
function interpolate(text: string): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}/g,
    (_match, _name, operator: string | undefined, argument: string | undefined) =>
      operator?.endsWith('-') ? (argument ?? '') : operator ? '<required>' : '',
  );
}

function interpolated<T>(value: T): T {
  if (typeof value === 'string') return interpolate(value) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => interpolated(item)) as T;
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, interpolated(item)])) as T;
  return value;
}

const compose = interpolated(parse(read('docker-compose.yml'), { merge: true }) as Compose);
const services = Object.entries(compose.services);
/** The services that run this repository's image. */
const imageServices = services.filter(([, service]) => service.build !== undefined);

const dependenciesOf = (service: Service): [string, string][] =>
  Array.isArray(service.depends_on)
    ? service.depends_on.map((name) => [name, 'service_started'])
    : Object.entries(service.depends_on ?? {}).map(([name, { condition }]) => [name, condition ?? 'service_started']);

const environmentNames = (service: Service): string[] =>
  Array.isArray(service.environment)
    ? service.environment.map((entry) => entry.split('=')[0]!)
    : Object.keys(service.environment ?? {});

const commandOf = (service: Service): string[] =>
  typeof service.command === 'string' ? service.command.split(/\s+/) : (service.command ?? []);

/** `host:container[:mode]` entries whose host side is a path (named volumes are not). */
function bindMounts(service: Service): { host: string; container: string }[] {
  return (service.volumes ?? [])
    .map((entry) => entry.split(':'))
    .filter(([host]) => host!.startsWith('.') || host!.startsWith('/'))
    .map(([host, container]) => ({ host: host!, container: container! }));
}

// ---------------------------------------------------------------- Dockerfile

interface Stage {
  name: string;
  from: string;
  /** Sources of the COPY instructions that take from the build context (not --from). */
  sources: string[];
  env: Record<string, string>;
}

/** The Dockerfile's instructions, continuation lines joined, comments dropped. */
function dockerfileInstructions(): string[] {
  return read('Dockerfile')
    .split('\n')
    .filter((line) => !/^\s*#/.test(line))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
}

function parseDockerfile(): { args: Record<string, string>; stages: Stage[] } {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  const expand = (text: string) => text.replace(/\$\{?([A-Z_]+)\}?/g, (match, name: string) => args[name] ?? match);
  for (const instruction of dockerfileInstructions()) {
    const [keyword, ...rest] = instruction.split(/\s+/);
    const stage = stages.at(-1);
    switch (keyword!.toUpperCase()) {
      case 'ARG': {
        const [name, value] = rest.join(' ').split(/=(.*)/s);
        args[name!] = (value ?? '').replace(/^"(.*)"$/, '$1');
        break;
      }
      case 'FROM':
        stages.push({ from: expand(rest[0]!), name: rest[2] ?? String(stages.length), sources: [], env: {} });
        break;
      case 'COPY':
        if (!rest.some((word) => word.startsWith('--from')))
          stage!.sources.push(...rest.filter((word) => !word.startsWith('--')).slice(0, -1));
        break;
      case 'ENV':
        for (const [, name, value] of rest.join(' ').matchAll(/([A-Za-z_][A-Za-z0-9_]*)=(\S*)/g))
          stage!.env[name!] = value!;
        break;
    }
  }
  return { args, stages };
}

const dockerfile = parseDockerfile();
const stage = (name: string) => {
  const found = dockerfile.stages.find((s) => s.name === name);
  assert.ok(found, `the Dockerfile has no stage ${name}`);
  return found;
};

/** .dockerignore as Docker reads it: a path is out when it or a folder above it matches a pattern. */
function dockerIgnored(): (path: string) => string | undefined {
  const patterns = read('.dockerignore')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const regexes = patterns.map((pattern) => {
    const source = pattern
      .replace(/^\/+/, '')
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*\*\/?/g, '\uE000')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')
      .replace(/\uE000/g, '(?:.*/)?');
    return { pattern, regex: new RegExp(`^${source}$`) };
  });
  return (path) => {
    const parts = path.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      const hit = regexes.find(({ regex }) => regex.test(prefix));
      if (hit) return hit.pattern;
    }
    return undefined;
  };
}

function filesUnder(path: string): string[] {
  const absolute = join(ROOT, path);
  if (!statSync(absolute).isDirectory()) return [path];
  return readdirSync(absolute, { recursive: true, encoding: 'utf8' })
    .map((file) => join(path, file))
    .filter((file) => statSync(join(ROOT, file)).isFile());
}

// ---------------------------------------------------------------- what the entry points load

/** Every project file `entries` load (relative imports, followed) and every package they import. */
function importClosure(entries: string[]): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const resolveRelative = (from: string, spec: string) => {
    const base = join(dirname(from), spec);
    const found = [
      base,
      `${base}.ts`,
      `${base}.js`,
      `${base}.json`,
      join(base, 'index.ts'),
      join(base, 'index.js'),
    ].find((candidate) => existsSync(join(ROOT, candidate)) && statSync(join(ROOT, candidate)).isFile());
    assert.ok(found, `${from} imports ${spec}, which does not exist`);
    return found;
  };
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    if (!/\.[jt]s$/.test(file)) return;
    const source = read(file);
    // `import type` and `export type` are erased: they load nothing.
    const statements =
      /(?:^|\n)\s*(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]|require(?:\.resolve)?\(\s*['"]([^'"]+)['"]\s*\)|import\(\s*['"]([^'"]+)['"]\s*\)/g;
    for (const match of source.matchAll(statements)) {
      if (match[1]) continue;
      const spec = (match[2] ?? match[3] ?? match[4])!;
      if (spec.startsWith('.')) visit(resolveRelative(file, spec));
      else packages.add(spec);
    }
  };
  entries.forEach(visit);
  return { files, packages };
}

const packageName = (spec: string) =>
  spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
const isBuiltin = (spec: string) => spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]!);
const inStage = (file: string, copied: Stage) =>
  copied.sources.some((source) => file === source || file.startsWith(`${source.replace(/\/$/, '')}/`));

/** Whether code in `dirs` reads the variable: its name as a string or a property (`env.NAME`, `'NAME'`). */
function readsVariable(name: string, dirs: string[]): boolean {
  try {
    execFileSync(
      'grep',
      [
        '-rqE',
        '--include=*.ts',
        '--include=*.js',
        `["'\`.]${name}([^A-Za-z0-9_]|$)`,
        ...dirs.map((d) => join(ROOT, d)),
      ],
      { stdio: 'ignore' },
    );
    return true;
  } catch {
    return false;
  }
}

/** The Temporal CLI's name for each search attribute type of the SDK. */
const CLI_TYPE: Record<string, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

function scriptSearchAttributes(): Record<string, string> {
  const list = /^SEARCH_ATTRIBUTES='([^']*)'/m.exec(read('deploy/temporal/setup-namespace.sh'))?.[1];
  assert.ok(list, 'deploy/temporal/setup-namespace.sh sets no SEARCH_ATTRIBUTES');
  return Object.fromEntries(list.split(/\s+/).map((entry) => entry.split('=') as [string, string]));
}

describe('deployment files (Dockerfile, docker-compose.yml, deploy/), without Docker', () => {
  it('docker-compose.yml parses, and every service has an image or a build whose context and Dockerfile exist', () => {
    assert.deepEqual(services.map(([name]) => name).sort(), [
      'codec-server',
      'postgresql',
      'receiver',
      'temporal',
      'temporal-schema',
      'temporal-setup',
      'ui',
      'worker',
    ]);
    for (const [name, service] of services) {
      assert.ok(service.image ?? service.build, `${name} has neither image nor build`);
      if (service.build === undefined) continue;
      const { context = '.', dockerfile: file = 'Dockerfile' } =
        typeof service.build === 'string' ? { context: service.build } : service.build;
      assert.ok(existsSync(join(ROOT, context)), `${name}: build context ${context} does not exist`);
      assert.ok(existsSync(join(ROOT, context, file)), `${name}: ${join(context, file)} does not exist`);
    }
  });

  it('pins every image to a version, never latest; Temporal server and admin-tools at the same one', () => {
    const images = [
      ...services.filter(([, s]) => s.build === undefined).map(([name, s]) => [`service ${name}`, s.image!]),
      ...dockerfile.stages
        .filter(({ from }) => !dockerfile.stages.some((s) => s.name === from))
        .map(({ name, from }) => [`Dockerfile stage ${name}`, from]),
    ];
    for (const [where, image] of images) {
      const tag = /:([^/:@]+)(?:@sha256:[0-9a-f]{64})?$/.exec(image!)?.[1];
      assert.ok(tag && tag !== 'latest' && /\d/.test(tag), `${where}: image ${image} is not pinned to a version`);
    }
    const tagOf = (repository: string) =>
      services.map(([, s]) => s.image).find((image) => image?.startsWith(`${repository}:`));
    assert.equal(tagOf('temporalio/server')?.split(':')[1], tagOf('temporalio/admin-tools')?.split(':')[1]);
  });

  it('starts each service after what it needs: dependencies exist, have the health check or end as the condition says', () => {
    const byName = new Map(services);
    const oneShots = new Set<string>();
    for (const [name, service] of services)
      for (const [target, condition] of dependenciesOf(service)) {
        const dependency = byName.get(target);
        assert.ok(dependency, `${name} depends on ${target}, which is not a service`);
        assert.ok(!dependency.profiles, `${name} depends on ${target}, which only starts with a profile`);
        if (condition === 'service_healthy')
          assert.ok(
            dependency.healthcheck?.test,
            `${name} waits for ${target} to be healthy, which has no health check`,
          );
        if (condition === 'service_completed_successfully') {
          assert.equal(dependency.restart, undefined, `${target} runs once: a restart policy would run it forever`);
          oneShots.add(target);
        }
      }
    const { worker, receiver } = compose.services;
    for (const service of [worker!, receiver!])
      assert.deepEqual(dependenciesOf(service), [['temporal-setup', 'service_completed_successfully']]);
    assert.deepEqual([...oneShots].sort(), ['temporal-schema', 'temporal-setup']);
    for (const [name, service] of services.filter(([name]) => !oneShots.has(name))) {
      assert.ok(service.healthcheck?.test && !service.healthcheck.disable, `${name} runs on and has no health check`);
      assert.ok(service.restart, `${name} runs on and has no restart policy`);
    }
  });

  it('mounts only paths of the repository and declared volumes; the setup scripts it runs exist', () => {
    for (const [name, service] of services) {
      for (const { host } of bindMounts(service))
        assert.ok(existsSync(join(ROOT, host)), `${name} mounts ${host}, which is not in the repository`);
      for (const entry of service.volumes ?? []) {
        const source = entry.split(':')[0]!;
        if (!source.startsWith('.') && !source.startsWith('/'))
          assert.ok(compose.volumes && source in compose.volumes, `${name} uses volume ${source}, not declared`);
      }
      // A script given by its path inside the container comes from a bind mount: it must be in the repository.
      for (const word of commandOf(service).filter((w) => w.endsWith('.sh'))) {
        const mount = bindMounts(service).find(({ container }) => word.startsWith(`${container}/`));
        assert.ok(mount, `${name} runs ${word}, which no bind mount provides`);
        const host = join(mount.host, relative(mount.container, word));
        assert.ok(existsSync(join(ROOT, host)), `${name} runs ${word}: ${host} does not exist`);
      }
    }
    assert.equal(
      compose.services.temporal!.environment &&
        (compose.services.temporal!.environment as Record<string, string>).DYNAMIC_CONFIG_FILE_PATH,
      'config/dynamicconfig/recovery-engine.yaml',
    );
    const dynamicConfig = parse(read('deploy/temporal/dynamicconfig/recovery-engine.yaml')) as Record<string, unknown>;
    assert.deepEqual(dynamicConfig['frontend.enableUpdateWorkflowExecution'], [{ value: true }]);
  });

  it('documents in deploy/compose/env.example every setting docker-compose.yml takes, and only those', () => {
    const raw = read('docker-compose.yml');
    const interpolatedNames = new Set([...raw.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
    const required = new Set([...raw.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*):?\?/g)].map((m) => m[1]!));
    const passedThrough = new Set(services.flatMap(([, s]) => environmentNames(s)));
    const example = read('deploy/compose/env.example');
    const documented = [...example.matchAll(/^#?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!);
    const uncommented = new Set([...example.matchAll(/^([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
    assert.deepEqual(
      [...interpolatedNames].filter((name) => !documented.includes(name)),
      [],
      'used by docker-compose.yml, missing from env.example',
    );
    assert.deepEqual(
      documented.filter((name) => !interpolatedNames.has(name) && !passedThrough.has(name)),
      [],
      'in env.example, used by nothing',
    );
    assert.deepEqual(
      [...required].filter((name) => !uncommented.has(name)),
      [],
      'required, but commented out in env.example',
    );
  });

  it('copies into the image only files that exist and that .dockerignore lets through', () => {
    const ignored = dockerIgnored();
    const sources = dockerfile.stages.flatMap((s) => s.sources);
    assert.ok(sources.length > 10, 'the Dockerfile COPYs the application');
    for (const source of sources) {
      assert.ok(existsSync(join(ROOT, source)), `the Dockerfile copies ${source}, which does not exist`);
      for (const file of filesUnder(source)) {
        const pattern = ignored(file);
        assert.equal(pattern, undefined, `the Dockerfile copies ${file}, which .dockerignore leaves out (${pattern})`);
      }
    }
    for (const secret of ['.env', 'deploy/.env', 'node_modules', 'dist/workflow-bundle.js', '.git/config'])
      assert.ok(ignored(secret), `${secret} would enter the build context`);
  });

  it('holds in the image every project file the worker, the CLI and the bundle build load, and installs every package they import', () => {
    const dependencies = Object.keys(
      (JSON.parse(read('package.json')) as { dependencies: Record<string, string> }).dependencies,
    );
    const stages: [string, string[]][] = [
      ['app', ['workers/main.ts', 'bin/recovery.js', 'scripts/build-workflow-bundle.ts']],
      ['opentofu', ['deploy/docker/build-opentofu.ts']],
    ];
    for (const [name, entries] of stages) {
      const { files, packages } = importClosure(entries);
      for (const file of files)
        assert.ok(inStage(file, stage(name)), `stage ${name} lacks ${file}, which ${entries.join(', ')} load`);
      for (const spec of [...packages].filter((p) => !isBuiltin(p)))
        assert.ok(
          dependencies.includes(packageName(spec)),
          `${spec} is imported by what stage ${name} runs but is not a production dependency (npm ci --omit=dev leaves it out)`,
        );
    }
    assert.ok(importClosure(['workers/main.ts']).files.has('workflows/index.ts'));
  });

  it('sets only variables that the code in the image, or the SDKs it uses, reads', () => {
    const runtime = stage('runtime');
    const names = new Set([...Object.keys(runtime.env), ...imageServices.flatMap(([, s]) => environmentNames(s))]);
    assert.ok(names.has('RECOVERY_WORKFLOW_BUNDLE') && names.has('RECOVERY_METRICS_ADDRESS'));
    const code = stage('app').sources.filter((source) => /\.ts$|^[a-z]+$/.test(source));
    const sdks = ['node_modules/@temporalio', 'node_modules/@aws-sdk', 'node_modules/@smithy'];
    const unread = [...names].filter((name) => !readsVariable(name, code) && !readsVariable(name, sdks));
    assert.deepEqual(unread, [], 'set for the image but read by nothing in it');
  });

  it('gives the image the paths the worker reads, prebuilt bundle included, and runs it as an unprivileged user', () => {
    const { env } = stage('runtime');
    assert.equal(env.RECOVERY_WORKFLOW_BUNDLE, '/app/dist/workflow-bundle.js', 'where `npm run build` puts it in /app');
    assert.equal(env.RECOVERY_PLANS_DIR, '/plans');
    const plansMounts = imageServices
      .filter(([name]) => name !== 'codec-server')
      .map(([, s]) => bindMounts(s).find(({ container }) => container === env.RECOVERY_PLANS_DIR));
    assert.ok(
      plansMounts.every((mount) => mount?.host === './examples'),
      'worker and receiver read the same plans',
    );
    const reports = compose.services.worker!.volumes!.find((v) => v.split(':')[1] === env.RECOVERY_REPORTS_DIR);
    assert.ok(reports && !reports.startsWith('.'), 'drill evidence goes to a named volume');
    const user = dockerfileInstructions()
      .reverse()
      .find((line) => /^USER\s/i.test(line));
    assert.match(user ?? '', /^USER\s+[1-9]\d*(:\d+)?$/, 'the image runs as a numeric non-root user');
  });

  it('installs the Debian packages of every self-hosted kind (toolchain/data-servers.ts)', () => {
    const source = read('toolchain/data-servers.ts');
    const needed = new Set([
      ...[...source.matchAll(/pkg: '([^']+)'/g)].map((m) => m[1]!),
      ...[...source.matchAll(/missing\.add\('([^']+)'\)/g)].map((m) => m[1]!),
    ]);
    assert.ok(needed.size >= 8, `found the packages of toolchain/data-servers.ts: ${[...needed].join(' ')}`);
    const installRun = dockerfileInstructions().find((line) => /apt-get install/.test(line));
    const installed = new Set(
      `${installRun} ${dockerfile.args.DATA_STORE_PACKAGES}`
        .split(/[\s;]+/)
        .filter((word) => /^[a-z][a-z0-9.+-]+$/.test(word)),
    );
    assert.deepEqual(
      [...needed].filter((pkg) => !installed.has(pkg)),
      [],
    );
    assert.ok(installed.has('tini') && installed.has('git'));
  });

  it('registers the same search attributes as the workflows use, with their types', () => {
    assert.deepEqual(
      scriptSearchAttributes(),
      Object.fromEntries(RECOVERY_SEARCH_ATTRIBUTES.map((key) => [key.name, CLI_TYPE[key.type]])),
    );
  });

  it('runs the recovery command with subcommands and flags it has', async () => {
    for (const [name, service] of imageServices) {
      const words = commandOf(service);
      const at = words.indexOf('bin/recovery.js');
      if (at < 0) continue;
      const subcommand = words[at + 1]!;
      const help = await new Promise<string>((done, fail) =>
        execFile(process.execPath, ['bin/recovery.js', subcommand, '--help'], { cwd: ROOT }, (error, stdout) =>
          error ? fail(new Error(`${name}: recovery ${subcommand} --help failed: ${error.message}`)) : done(stdout),
        ),
      );
      for (const flag of words.slice(at + 2).filter((w) => w.startsWith('--')))
        assert.ok(new RegExp(`\\s${flag}[\\s,=]`).test(help), `${name}: recovery ${subcommand} has no ${flag}`);
    }
  });
});

/** A loopback port nothing listens on right now. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => done(port));
    });
  });
}

describe('deployment steps run outside Docker, on a real Temporal server', () => {
  let env: TestWorkflowEnvironment;
  let temporalCliDir: string;

  before(async () => {
    [env, { temporalCli: temporalCliDir }] = await Promise.all([startDevServerEnv(), testToolchain()]);
    temporalCliDir = dirname(temporalCliDir);
  });
  after(async () => {
    await env?.teardown();
  });

  /** deploy/temporal/setup-namespace.sh as the temporal-setup container runs it, with the toolchain's Temporal CLI. */
  function setupNamespace(namespace: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((done) =>
      execFile(
        'sh',
        [join(ROOT, 'deploy/temporal/setup-namespace.sh')],
        {
          env: {
            PATH: `${temporalCliDir}:${process.env.PATH}`,
            HOME: process.env.HOME,
            TEMPORAL_ADDRESS: env.address,
            TEMPORAL_NAMESPACE: namespace,
          },
          timeout: 180_000,
        },
        (error, stdout, stderr) =>
          done({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
      ),
    );
  }

  it('setup-namespace.sh creates the namespace and registers the search attributes; a second run changes nothing', async () => {
    const first = await setupNamespace('team-dr');
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /namespace team-dr: creating, retention 720h/);
    assert.deepEqual(await missingSearchAttributes(env.connection, 'team-dr'), []);
    const { customAttributes } = await env.connection.operatorService.listSearchAttributes({ namespace: 'team-dr' });
    for (const key of RECOVERY_SEARCH_ATTRIBUTES)
      assert.equal(customAttributes?.[key.name], temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD);
    const { config } = await env.connection.workflowService.describeNamespace({ namespace: 'team-dr' });
    assert.equal(Number(config?.workflowExecutionRetentionTtl?.seconds), 30 * 24 * 3600);

    const second = await setupNamespace('team-dr');
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /namespace team-dr exists/);
    assert.match(second.stdout, /namespace team-dr is ready for the recovery worker/);
  });

  it('setup-namespace.sh stops, naming the attribute, when the namespace has it with another type', async () => {
    execFileSync(join(temporalCliDir, 'temporal'), [
      'operator',
      'namespace',
      'create',
      '--namespace',
      'clash',
      '--address',
      env.address,
    ]);
    const status = defineSearchAttributeKey('RecoveryStatus', 'TEXT');
    for (let attempt = 0; ; attempt++) {
      try {
        await env.connection.operatorService.addSearchAttributes({
          namespace: 'clash',
          searchAttributes: { [status.name]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT },
        });
        break;
      } catch (error) {
        if (attempt > 50) throw error; // a new namespace takes a moment to be known everywhere
        await sleep(200);
      }
    }
    const run = await setupNamespace('clash');
    assert.equal(run.code, 1);
    assert.match(
      run.stderr,
      /search attribute RecoveryStatus exists in namespace clash with another type than Keyword/,
    );
  });

  it("npm run build writes the workflow bundle; the image's worker command runs a recovery from it and passes its health check", async () => {
    const started = Date.now();
    await new Promise<void>((done, fail) =>
      execFile('npm', ['run', 'build'], { cwd: ROOT }, (error, _stdout, stderr) =>
        error ? fail(new Error(`npm run build failed: ${stderr}`)) : done(),
      ),
    );
    // The image's paths, relative to its WORKDIR /app, are the repository's.
    const bundle = relative('/app', stage('runtime').env.RECOVERY_WORKFLOW_BUNDLE!);
    assert.equal(bundle, join('dist', 'workflow-bundle.js'));
    assert.ok(statSync(join(ROOT, bundle)).mtimeMs >= started - 1000, `${bundle} was not written by npm run build`);

    // The compose health check, against the port the compose worker's metrics listen on (a free one here).
    const worker = compose.services.worker!;
    const metricsPort = /:(\d+)$/.exec(
      String((worker.environment as Record<string, string>).RECOVERY_METRICS_ADDRESS),
    )![1]!;
    const check = worker.healthcheck!.test as string[];
    assert.deepEqual(check.slice(0, 3), ['CMD', 'node', '-e']);
    assert.ok(check[3]!.includes(`:${metricsPort}/metrics`), 'the health check asks the metrics port');
    const port = await freePort();
    const healthy = () =>
      new Promise<boolean>((done) =>
        execFile(process.execPath, ['-e', check[3]!.replace(`:${metricsPort}/`, `:${port}/`)], (error) => done(!error)),
      );

    const cmd = JSON.parse(/^CMD\s+(\[.*\])$/m.exec(read('Dockerfile'))![1]!) as string[];
    assert.equal(cmd[0], 'node');
    const child = spawn(process.execPath, cmd.slice(1), {
      cwd: ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: env.address,
        TEMPORAL_NAMESPACE: env.namespace ?? 'default',
        RECOVERY_TASK_QUEUE: 'prebuilt-bundle',
        RECOVERY_WORKFLOW_BUNDLE: bundle,
        RECOVERY_METRICS_ADDRESS: `127.0.0.1:${port}`,
        RECOVERY_LOG_FORMAT: 'json',
        RECOVERY_PLANS_DIR: 'examples',
        RECOVERY_REPORTS_DIR: TEST_REPORTS_DIR,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const stop = once(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    onCleanup(stop);
    let stdout = '';
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const polling = await new Promise<boolean>((done) => {
        child.stdout.on('data', () => {
          if (stdout.includes('Recovery worker polling')) done(true);
        });
        void exited.then(() => done(false));
        setTimeout(() => done(false), 60_000).unref();
      });
      assert.ok(polling, `the worker did not start polling (exit ${child.exitCode}):\n${output}`);
      const configuration = stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { msg: string; workflowBundle?: string })
        .find((line) => line.msg === 'Recovery worker configuration');
      assert.equal(configuration?.workflowBundle, join(ROOT, bundle), 'the worker loads the prebuilt bundle');
      assert.equal(await healthy(), true, `the health check fails:\n${output}`);

      const report = await env.client.workflow.execute(recoveryWorkflow, {
        taskQueue: 'prebuilt-bundle',
        workflowId: 'prebuilt-bundle-recovery',
        args: [
          { plan: testPlan([waitFor('settle', '2s'), command('done', 'true', ['settle'])]), scenario: 'full-restore' },
        ],
      });
      assert.equal(report.status, 'succeeded');
      assert.deepEqual(Object.fromEntries(report.components.map((c) => [c.id, c.status])), {
        settle: 'succeeded',
        done: 'succeeded',
      });

      child.kill('SIGTERM'); // what `docker compose stop` sends, through tini
      assert.equal(await exited, 0, output);
      assert.equal(await healthy(), false, 'the health check notices a stopped worker');
    } finally {
      await stop();
    }
  });
});
